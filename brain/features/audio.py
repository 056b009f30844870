"""Reading stimulus audio as mono float32 at a chosen rate, and writing deterministic test audio.

Audio files (wav, flac, ogg, often mp3) are read with soundfile; audio tracks of
containers (mp4, mkv, webm, ...) are decoded with PyAV. Resampling uses soxr. The heavy
modules are imported on first use (see ``brain.features.media``), so this module imports
without them. ``write_test_audio`` makes a small deterministic file for tests and the
offline demo (a ``TEST_TONE_HZ`` tone, a chirp and faint noise).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np

from brain.features.media import _check_decoder, _open_container, _require, _stream_types
from brain.loaders import existing_file

SOUNDFILE_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif")
TEST_TONE_HZ = 440.0


# --------------------------------------------------------------------------------------
# Reading audio
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
# Deterministic test audio
# --------------------------------------------------------------------------------------

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

