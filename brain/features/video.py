"""Reading video frames at given times, the duration of a stimulus file, and deterministic test videos.

Video frames are decoded with PyAV, forward only while the requested times increase, so a
whole stimulus is decoded once. ``media_duration`` gives the length of an audio or video
file (the video stream's when there is one), so it uses both this reader and
``brain.features.audio``. The heavy modules are imported on first use (see
``brain.features.media``), so this module imports without them. ``write_test_video``
makes small deterministic files for tests and the offline demo: frame ``k`` of a test
video encodes ``k`` in its intensities (``decode_test_frame_index`` reads it back).
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, Self

import numpy as np

from brain.features.audio import _check_not_truncated, _decode_audio_av, _test_signal
from brain.features.media import _check_decoder, _open_container, _require, _stream_types
from brain.loaders import existing_file

# Test-video pattern: three vertical bands, each a base-16 digit of the frame index,
# digit d drawn at grey level 16 + 14 d (codec error of a few levels is tolerated).
_BANDS, _BASE, _LEVEL0, _LEVEL_STEP = 3, 16, 16, 14


# --------------------------------------------------------------------------------------
# Reading video frames
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
# Deterministic test videos
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
