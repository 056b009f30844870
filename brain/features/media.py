"""Reading stimulus media: audio as mono float32 at a chosen rate, video frames at given times.

Audio files (wav, flac, ogg, often mp3) are read with soundfile; audio tracks of
containers (mp4, mkv, webm, ...) are decoded with PyAV. Resampling uses soxr. Video
frames are decoded with PyAV, forward only while the requested times increase, so a
whole stimulus is decoded once. The heavy modules are imported on first use, so this
module imports without them; using it without them raises an ``ImportError`` that says
how to install them. The ``write_test_*`` helpers make small deterministic files for
tests and the offline demo: frame ``k`` of a test video encodes ``k`` in its intensities
(``decode_test_frame_index`` reads it back).
"""

from __future__ import annotations

import importlib
import math
import struct
from fractions import Fraction
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, Self

import numpy as np

from brain.loaders import existing_file

INSTALL_HINT = 'pip install -e ".[features]"'
SOUNDFILE_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif")
TEST_TONE_HZ = 440.0

# Test-video pattern: three vertical bands, each a base-16 digit of the frame index,
# digit d drawn at grey level 16 + 14 d (codec error of a few levels is tolerated).
_BANDS, _BASE, _LEVEL0, _LEVEL_STEP = 3, 16, 16, 14


def _require(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise ImportError(
            f"reading media needs the optional module {name!r}; install it with {INSTALL_HINT}"
        ) from err


def _open_container(p: Path) -> Any:
    av = _require("av")
    try:
        return av.open(str(p))
    except (av.FFmpegError, UnicodeDecodeError) as err:
        raise ValueError(f"{p}: cannot read as a media file ({err}); is it truncated or not audio/video?") from err


def _stream_types(container: Any) -> str:
    return ", ".join(s.type for s in container.streams) or "none"


def _check_decoder(stream: Any, p: Path) -> None:
    """ValueError when FFmpeg has no decoder for ``stream`` (an unknown or corrupt codec tag)."""
    if stream.codec_context is None:
        raise ValueError(f"{p}: no decoder for its {stream.type} stream (unknown or corrupt codec); "
                         "is the file corrupt?")


# --------------------------------------------------------------------------------------
# Audio
# --------------------------------------------------------------------------------------

def _audio_frame_to_float(frame: Any) -> np.ndarray:
    """One decoded audio frame as float32 (channels, samples) in [-1, 1], any sample format."""
    arr = frame.to_ndarray()
    n_channels = frame.layout.nb_channels
    if not frame.format.is_planar:  # packed: one row of interleaved samples
        arr = arr.reshape(-1, n_channels).T
    if arr.dtype == np.uint8:
        return (arr.astype(np.float32) - 128.0) / 128.0
    if np.issubdtype(arr.dtype, np.integer):
        return (arr / float(2 ** (8 * arr.dtype.itemsize - 1))).astype(np.float32)
    return arr.astype(np.float32)


def _decode_audio_av(p: Path) -> tuple[np.ndarray, int]:
    """All audio of the first audio stream, (samples, channels) float32, and its rate."""
    av = _require("av")
    with _open_container(p) as container:
        if not container.streams.audio:
            raise ValueError(f"{p}: no audio stream (streams in the file: {_stream_types(container)})")
        stream = container.streams.audio[0]
        _check_decoder(stream, p)
        chunks: list[np.ndarray] = []
        rate = stream.rate
        try:
            for frame in container.decode(stream):
                rate = frame.sample_rate or rate
                chunks.append(_audio_frame_to_float(frame))
        except av.FFmpegError as err:
            raise ValueError(f"{p}: cannot decode audio ({err}); is the file truncated or corrupt?") from err
        claimed = _claimed_duration(container, stream)
    if not chunks:
        raise ValueError(f"{p}: the audio stream holds no samples")
    if not rate:
        raise ValueError(f"{p}: the audio stream has no sampling rate")
    samples = np.concatenate(chunks, axis=1).T
    decoded = samples.shape[0] / rate
    if claimed is not None and decoded < claimed - max(0.5, 0.02 * claimed):
        raise ValueError(
            f"{p}: decoded {decoded:.3f} s of audio although the file claims {claimed:.3f} s; "
            "is the file truncated?"
        )
    return samples, int(rate)


def _claimed_duration(container: Any, stream: Any) -> float | None:
    """The stream's duration (s) from the file's headers, if it states one."""
    if stream.duration:
        return float(stream.duration * stream.time_base)
    text = stream.metadata.get("DURATION")  # matroska / webm: per-track "HH:MM:SS.nnnnnnnnn"
    if text:
        try:
            h, m, sec = text.split(":")
            return int(h) * 3600 + int(m) * 60 + float(sec)
        except ValueError:
            pass
    if container.duration and len(container.streams) == 1:
        return float(container.duration / _require("av").time_base)
    return None


def _wav_shortfall(p: Path) -> tuple[int, int] | None:
    """(declared, present) bytes of a RIFF/WAVE file's data chunk when the file ends before
    the chunk does (a truncated wav, which soundfile reads silently up to the cut), else None."""
    size = p.stat().st_size
    with open(p, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk, n = struct.unpack("<4sI", f.read(8))
            if chunk == b"data":
                present = size - pos - 8
                if n in (0, 0xFFFFFFFF):  # streaming writers leave the size unset
                    return None
                return (n, present) if present < n else None
            pos += 8 + n + (n & 1)
    return None


def _check_not_truncated(p: Path) -> None:
    short = _wav_shortfall(p)
    if short is not None:
        raise ValueError(f"{p}: the wav header claims {short[0]} bytes of audio but the file holds "
                         f"{short[1]}; is the file truncated?")


def _read_soundfile(p: Path) -> tuple[np.ndarray, int] | Exception:
    """(samples, channels) float32 and rate via soundfile, or the error it raised."""
    sf = _require("soundfile")
    try:
        data, rate = sf.read(str(p), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, TypeError, ValueError) as err:
        return err
    return data, int(rate)


def load_audio(path: str | Path, sampling_rate: int = 16000) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] at ``sampling_rate`` (channels averaged), and that rate.

    soundfile reads plain audio files; anything it cannot read (mp4, mkv, webm, some mp3)
    is decoded with PyAV. Resampling with soxr (high quality) keeps the spectrum intact.
    """
    try:
        valid = int(sampling_rate) == sampling_rate and sampling_rate > 0
    except (TypeError, ValueError, OverflowError):  # None, strings, NaN, inf
        valid = False
    if not valid:
        raise ValueError(f"sampling_rate must be a positive integer, got {sampling_rate!r}")
    p = existing_file(path)
    _check_not_truncated(p)
    read = _read_soundfile(p)
    if isinstance(read, Exception):
        try:
            data, rate = _decode_audio_av(p)
        except ValueError as err:
            if p.suffix.lower() in SOUNDFILE_SUFFIXES:
                raise ValueError(f"{err}; soundfile also failed: {read}") from err
            raise
    else:
        data, rate = read
    if data.shape[0] == 0:
        raise ValueError(f"{p}: the audio holds no samples")
    finite = np.isfinite(data)
    if not finite.all():  # float wav / flac can store NaN and inf
        raise ValueError(f"{p}: the audio holds {int(finite.size - finite.sum())} NaN or infinite samples")
    mono = data.mean(axis=1, dtype=np.float32)
    if rate != sampling_rate:
        soxr = _require("soxr")
        mono = soxr.resample(mono, rate, int(sampling_rate), quality="HQ")
    return np.clip(mono, -1.0, 1.0).astype(np.float32, copy=False), int(sampling_rate)


# --------------------------------------------------------------------------------------
# Video
# --------------------------------------------------------------------------------------

class VideoReader:
    """Frames of a video file at arbitrary times, decoding forward once for increasing times.

    ``frames_at(t)`` returns, for each time, the last frame shown at ``t`` (largest pts <=
    t; times before the first frame get the first frame). Use as a context manager.
    Attributes: ``duration`` (s), ``fps``, ``size`` (height, width).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = existing_file(path)
        self._frames: Any = None
        self._rgb: tuple[Any, tuple[int, int] | None, np.ndarray] | None = None
        self._av = _require("av")
        self._container = _open_container(self.path)
        try:
            if not self._container.streams.video:
                raise ValueError(
                    f"{self.path}: no video stream (streams in the file: {_stream_types(self._container)})"
                )
            self._stream = self._container.streams.video[0]
            _check_decoder(self._stream, self.path)
            self._stream.thread_type = "AUTO"
            cc = self._stream.codec_context
            self.size: tuple[int, int] = (int(cc.height), int(cc.width))
            rate = self._stream.average_rate or self._stream.guessed_rate
            self.fps: float = float(rate) if rate else 0.0
            self._restart()
            if self._cur is None:
                raise ValueError(f"{self.path}: the video stream holds no decodable frames")
            self._first_time = self._cur_time
            self.duration: float = self._read_duration()
            if self.fps <= 0:
                self.fps = self._estimate_fps()
        except BaseException:
            self._container.close()
            raise

    # -- state: _cur is the last decoded frame at or before the latest request, _next the
    # one after it (or None at the end of the stream).
    def _decode_next(self) -> Any:
        try:
            frame = next(self._frames, None)
        except self._av.FFmpegError as err:
            raise ValueError(f"{self.path}: cannot decode video ({err}); is the file truncated or corrupt?") from err
        if frame is not None:
            self._count += 1
        return frame

    def _time(self, frame: Any) -> float:
        if frame.pts is None or frame.time is None:
            return (self._count - 1) / self.fps if self.fps > 0 else float(self._count - 1)
        return float(frame.time)

    def _start_decoding(self) -> None:
        self._frames = self._container.decode(self._stream)
        self._cur = self._decode_next()
        self._cur_time = self._time(self._cur) if self._cur is not None else 0.0
        self._next = self._decode_next()
        self._next_time = self._time(self._next) if self._next is not None else math.inf
        self._rgb = None

    def _restart(self) -> None:
        self._count = 0
        if self._frames is not None:
            self._container.seek(0, backward=True, any_frame=False)
        self._start_decoding()

    def _seek(self, t: float) -> None:
        """Jump to the keyframe at or before ``t``; from the start if that overshoots."""
        tb = self._stream.time_base
        self._container.seek(math.floor(t / tb), stream=self._stream, backward=True, any_frame=False)
        self._count = 0
        self._start_decoding()
        if self._cur is None or self._cur_time > t:
            self._restart()

    def _advance_to(self, t: float) -> None:
        if t < self._cur_time and self._cur_time > self._first_time:
            if t <= self._first_time:
                self._restart()
            else:
                self._seek(t)
        while self._next is not None and self._next_time <= t:
            self._cur, self._cur_time = self._next, self._next_time
            self._next = self._decode_next()
            self._next_time = self._time(self._next) if self._next is not None else math.inf
        if self._next is None and t > self._cur_time:
            period = 1.0 / self.fps if self.fps > 0 else 0.0
            if self._cur_time + 2 * period < min(t, self.duration):
                raise ValueError(
                    f"{self.path}: frames stop at {self._cur_time:.3f} s although the file claims "
                    f"{self.duration:.3f} s (requested {t:.3f} s); is the file truncated?"
                )

    def _current_rgb(self, size: tuple[int, int] | None) -> np.ndarray:
        if self._rgb is not None and self._rgb[0] is self._cur and self._rgb[1] == size:
            return self._rgb[2]
        frame = self._cur
        if size is None:
            frame = frame.reformat(format="rgb24")
        else:
            frame = frame.reformat(width=size[1], height=size[0], format="rgb24")
        rgb = frame.to_ndarray()
        self._rgb = (self._cur, size, rgb)
        return rgb

    def frames_at(self, times: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """uint8 RGB frames (n, H, W, 3) shown at ``times`` (s), optionally resized to ``size`` (h, w).

        Increasing times decode the stream forward once; a time earlier than the previous
        one seeks back to the preceding keyframe.
        """
        times = np.asarray(times, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(times)):
            raise ValueError(f"{self.path}: frame times must be finite, got {times[~np.isfinite(times)][:3]}")
        if size is not None:
            if len(size) != 2 or min(size) < 1:
                raise ValueError(f"size must be (height, width) with positive entries, got {size}")
            size = (int(size[0]), int(size[1]))
        height, width = size if size is not None else self.size
        out = np.empty((times.size, height, width, 3), dtype=np.uint8)
        for i, t in enumerate(times):
            self._advance_to(float(t))
            out[i] = self._current_rgb(size)
        return out

    def _read_duration(self) -> float:
        """Stream duration, else the container's, else the end of the last frame."""
        stream = self._stream
        if stream.duration is not None and stream.duration > 0:
            start = stream.start_time or 0
            return float((start + stream.duration) * stream.time_base)
        if self._container.duration is not None and self._container.duration > 0:
            return float(self._container.duration / self._av.time_base)
        last = self._cur_time
        while self._next is not None:  # no header duration: decode to the end once
            last = self._next_time
            self._next = self._decode_next()
            self._next_time = self._time(self._next) if self._next is not None else math.inf
        period = 1.0 / self.fps if self.fps > 0 else 0.0
        self._restart()
        return last + period

    def _estimate_fps(self) -> float:
        if self._next is not None and self._next_time > self._cur_time:
            return 1.0 / (self._next_time - self._cur_time)
        return 1.0 / self.duration if self.duration > 0 else 0.0

    def close(self) -> None:
        """Release the file and the decoder."""
        self._container.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def media_duration(path: str | Path) -> float:
    """Duration in seconds of an audio or video file (the video stream's, when there is one)."""
    p = existing_file(path)
    _check_not_truncated(p)
    sf = _require("soundfile")
    try:
        info = sf.info(str(p))
        known = info.samplerate > 0 and info.frames > 0
    except (sf.SoundFileError, RuntimeError, TypeError, ValueError):
        known = False
    if known:
        return float(info.frames / info.samplerate)
    with _open_container(p) as container:
        has_video, has_audio = bool(container.streams.video), bool(container.streams.audio)
        if not (has_video or has_audio):
            raise ValueError(f"{p}: no audio or video stream (streams in the file: {_stream_types(container)})")
        stream = container.streams.audio[0] if not has_video else None
        if stream is not None and stream.duration:
            return float(stream.duration * stream.time_base)
        if stream is not None and container.duration:
            return float(container.duration / _require("av").time_base)
    if has_video:
        with VideoReader(p) as reader:
            return reader.duration
    samples, rate = _decode_audio_av(p)
    return samples.shape[0] / rate


# --------------------------------------------------------------------------------------
# Deterministic test media
# --------------------------------------------------------------------------------------

def _video_codec(av: ModuleType) -> str:
    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def pattern_frame(index: int, size: tuple[int, int]) -> np.ndarray:
    """RGB frame (h, w, 3) of the test video for frame ``index``: bands of grey = its digits."""
    height, width = size
    if index < 0 or index >= _BASE ** _BANDS:
        raise ValueError(f"test frames encode indices 0..{_BASE ** _BANDS - 1}, got {index}")
    img = np.empty((height, width, 3), dtype=np.uint8)
    edges = np.linspace(0, width, _BANDS + 1).round().astype(int)
    for b in range(_BANDS):
        digit = (index // _BASE ** b) % _BASE
        img[:, edges[b]:edges[b + 1]] = _LEVEL0 + _LEVEL_STEP * digit
    return img


def decode_test_frame_index(frame: np.ndarray) -> int:
    """Frame index encoded by ``pattern_frame`` in an RGB frame (h, w, 3), robust to codec error."""
    frame = np.asarray(frame, dtype=np.float64)
    width = frame.shape[1]
    edges = np.linspace(0, width, _BANDS + 1)
    index = 0
    for b in range(_BANDS):
        lo, hi = edges[b], edges[b + 1]
        margin = (hi - lo) / 4  # centre of the band: away from blurred band edges
        lo_i = round(lo + margin)
        band = frame[:, lo_i:max(round(hi - margin), lo_i + 1)]
        digit = int(np.clip(round((np.median(band) - _LEVEL0) / _LEVEL_STEP), 0, _BASE - 1))
        index += digit * _BASE ** b
    return index


def _test_signal(n: int, sr: int, seed: int) -> np.ndarray:
    """A 440 Hz tone (dominant), a quieter 100 Hz-2 kHz chirp and faint seeded noise."""
    t = np.arange(n) / sr
    total = max(n / sr, 1.0 / sr)
    f0, f1 = 100.0, 2000.0
    chirp = np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * total)))
    noise = np.random.default_rng(seed).standard_normal(n)
    return (0.5 * np.sin(2 * np.pi * TEST_TONE_HZ * t) + 0.15 * chirp + 0.01 * noise).astype(np.float32)


def write_test_audio(path: str | Path, duration: float, sr: int = 16000, seed: int = 0) -> np.ndarray:
    """Write a deterministic audio file (format from the suffix, e.g. wav); returns its samples.

    The signal (440 Hz tone + chirp + faint noise, peak < 0.7) is returned as float32 before
    the file's own quantisation (16-bit PCM for wav).
    """
    sf = _require("soundfile")
    n = round(duration * sr)
    if n < 1:
        raise ValueError(f"duration {duration} s at {sr} Hz gives no samples")
    signal = _test_signal(n, sr, seed)
    sf.write(str(path), signal, sr)
    return signal


def write_test_video(
    path: str | Path,
    duration: float,
    fps: float = 10,
    size: tuple[int, int] = (32, 48),
    with_audio: bool = True,
    seed: int = 0,
) -> Path:
    """Write a small video (container from the suffix: .mp4, .mkv) whose frame k shows ``pattern_frame(k)``.

    Video: libx264 (near-lossless, crf 12) when the PyAV build has it, else mpeg4; yuv420p,
    a keyframe every second so backward seeks land mid-file. Audio (``with_audio``): the
    ``write_test_audio`` signal at 16 kHz mono, AAC. ``size`` is (height, width), both even
    (4:2:0 chroma); ``seed`` seeds the audio's faint noise. Returns the path.
    """
    av = _require("av")
    height, width = size
    if height % 2 or width % 2 or height < 2 or width < 2:
        raise ValueError(f"size (height, width) must be even and positive for yuv420p, got {size}")
    n_frames = round(duration * fps)
    if n_frames < 1:
        raise ValueError(f"duration {duration} s at {fps} fps gives no frames")
    rate = Fraction(fps).limit_denominator(1001)
    path = Path(path)
    codec = _video_codec(av)
    audio_rate = 16000
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.gop_size = max(1, round(float(rate)))  # a keyframe a second, to seek to
        if codec == "libx264":
            video.options = {"crf": "12", "preset": "ultrafast"}
        else:
            video.bit_rate = 4_000_000
        audio = None
        if with_audio:
            audio = container.add_stream("aac", rate=audio_rate)
            audio.layout = "mono"
        for k in range(n_frames):
            frame = av.VideoFrame.from_ndarray(pattern_frame(k, size), format="rgb24")
            frame.pts = k
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio is not None:
            signal = _test_signal(round(n_frames / float(rate) * audio_rate), audio_rate, seed)
            step = audio.codec_context.frame_size or 1024
            for i in range(0, signal.size, step):
                chunk = av.AudioFrame.from_ndarray(signal[None, i:i + step], format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = audio_rate, i
                for packet in audio.encode(chunk):
                    container.mux(packet)
            for packet in audio.encode():
                container.mux(packet)
    return path
