"""Fuzzing the media readers (hypothesis): truncated, corrupted and random files, NaN audio.

Contract for ``load_audio``, ``VideoReader`` (with ``frames_at``) and ``media_duration``:
a valid result (mono float32 samples, finite, in [-1, 1], at the requested rate; uint8
RGB frames (n, h, w, 3); a finite positive duration) or ``ValueError`` /
``FileNotFoundError`` -- exactly these types, no ``av`` or ``soundfile`` error -- whose
message names the file; files in the folder keep their bytes.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

pytest.importorskip("av")
sf = pytest.importorskip("soundfile")
pytest.importorskip("soxr")

from brain.features.audio import load_audio, write_test_audio
from brain.features.video import VideoReader, media_duration, write_test_video
from tests.fuzzing import attempt, fuzz

TIMES = np.array([0.0, 0.45, 0.2, 0.95])  # one step back: a seek


class Originals(dict):
    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing case
        return "<valid .wav, .flac, .mp4, .mkv bytes>"


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> Originals:
    """Valid small files of each kind, as bytes."""
    d = tmp_path_factory.mktemp("media_fuzz")
    write_test_audio(d / "a.wav", 0.5, sr=8000)
    write_test_audio(d / "a.flac", 0.5, sr=8000)
    write_test_video(d / "v.mp4", 1.0, fps=10, size=(16, 16))
    write_test_video(d / "v.mkv", 1.0, fps=10, size=(16, 16), with_audio=False)
    return Originals({p.suffix: p.read_bytes() for p in d.iterdir()})


def _frames(path: Path) -> np.ndarray:
    with VideoReader(path) as reader:
        assert reader.fps > 0 and math.isfinite(reader.duration) and reader.duration > 0
        return reader.frames_at(TIMES)


def check_all_readers(path: Path, rate: int = 8000) -> list[Any]:
    """Each reader's result or error, checked against the contract."""
    audio = attempt(lambda: load_audio(path, sampling_rate=rate), path.parent, path.name)
    if not isinstance(audio, Exception):
        samples, sr = audio
        assert sr == rate and samples.dtype == np.float32 and samples.ndim == 1 and samples.size > 0
        assert np.isfinite(samples).all() and np.abs(samples).max() <= 1.0
    duration = attempt(lambda: media_duration(path), path.parent, path.name)
    if not isinstance(duration, Exception):
        assert isinstance(duration, float) and math.isfinite(duration) and duration > 0
    frames = attempt(lambda: _frames(path), path.parent, path.name)
    if not isinstance(frames, Exception):
        assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[0] == TIMES.size
        assert frames.shape[3] == 3
    return [audio, duration, frames]


MAGICS = [b"", b"RIFF\x00\x00\x01\x00WAVEfmt ", b"fLaC", b"\x00\x00\x00\x20ftypisom",
          b"\x1a\x45\xdf\xa3", b"OggS", b"ID3\x03\x00"]


@fuzz(40)
@given(data=st.data(), kind=st.sampled_from([".wav", ".flac", ".mp4", ".mkv"]),
       mode=st.sampled_from(["cut", "cut", "flip", "random"]))
def test_damaged_media(originals: dict[str, bytes], data: st.DataObject, kind: str, mode: str) -> None:
    raw = originals[kind]
    if mode == "cut":
        raw = raw[:data.draw(st.integers(0, len(raw) - 1))]
    elif mode == "flip":
        b = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 6))):
            b[data.draw(st.integers(0, len(b) - 1))] = data.draw(st.integers(0, 255))
        raw = bytes(b)
    else:
        raw = data.draw(st.sampled_from(MAGICS)) + data.draw(st.binary(max_size=600))
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copyfile(__file__, Path(tmp) / "notes.py")  # an unrelated earlier file
        p = Path(tmp) / f"stimulus{kind}"
        p.write_bytes(raw)
        audio, duration, _ = check_all_readers(p)
        if kind == ".wav" and mode == "cut":  # every strict prefix of a wav is truncated
            assert isinstance(audio, ValueError) and isinstance(duration, ValueError)


@fuzz(30)
@given(samples=hnp.arrays(np.float32, st.tuples(st.integers(1, 400), st.integers(1, 2)),
                          elements=st.floats(-2, 2, width=32)),
       poison=st.lists(st.tuples(st.integers(0, 399), st.sampled_from([np.nan, np.inf, -np.inf])), max_size=3),
       fmt=st.sampled_from([("wav", "FLOAT"), ("wav", "DOUBLE"), ("wav", "PCM_16"), ("flac", "PCM_16")]),
       rate=st.sampled_from([8000, 16000]))
def test_audio_values(samples: np.ndarray, poison: list[tuple[int, float]], fmt: tuple[str, str],
                      rate: int) -> None:
    """Non-finite samples (float wav) are refused; the rest comes back clipped to [-1, 1]."""
    if fmt[1] in ("FLOAT", "DOUBLE"):  # only float files can hold NaN and inf
        for i, value in poison:
            samples[i % samples.shape[0], 0] = value
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / f"tone.{fmt[0]}"
        sf.write(p, samples, 8000, subtype=fmt[1])
        written, _ = sf.read(p, dtype="float32", always_2d=True)
        result = attempt(lambda: load_audio(p, sampling_rate=rate), p.parent, p.name)
        if not np.isfinite(written).all():
            assert isinstance(result, ValueError) and "NaN" in str(result)
        else:
            assert not isinstance(result, Exception), result
            out, sr = result
            assert sr == rate and out.dtype == np.float32 and np.isfinite(out).all() and np.abs(out).max() <= 1
            if rate == 8000:
                np.testing.assert_allclose(out, np.clip(written.mean(axis=1), -1, 1), atol=1e-6)


@pytest.mark.parametrize("rate", [0, -8000, 1.5, float("nan"), float("inf"), None, "8000"])
def test_bad_sampling_rates(tmp_path: Path, rate: Any) -> None:
    write_test_audio(tmp_path / "a.wav", 0.1, sr=8000)
    with pytest.raises(ValueError, match="sampling_rate"):
        load_audio(tmp_path / "a.wav", sampling_rate=rate)


def test_truncated_wav_is_an_error_not_shorter_audio(tmp_path: Path) -> None:
    written = write_test_audio(tmp_path / "whole.wav", 1.0, sr=8000)
    raw = (tmp_path / "whole.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(raw[: len(raw) // 2])
    for reader in (load_audio, media_duration):
        with pytest.raises(ValueError, match=r"cut.wav: the wav header claims 16000 bytes .* truncated"):
            reader(tmp_path / "cut.wav")
    samples, _ = load_audio(tmp_path / "whole.wav", sampling_rate=8000)
    assert samples.size == written.size
