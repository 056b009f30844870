"""Media reading on small generated files: audio round trips, frames at times, clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")
sf = pytest.importorskip("soundfile")
pytest.importorskip("soxr")

from brain.features.audio import TEST_TONE_HZ, load_audio, write_test_audio
from brain.features.video import (
    VideoReader,
    _video_codec,
    decode_test_frame_index,
    media_duration,
    pattern_frame,
    write_test_video,
)

DURATION, FPS = 3.0, 10


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_test_video(tmp_path_factory.mktemp("media") / "clip.mp4", DURATION, fps=FPS)


@pytest.fixture(scope="module")
def silent_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_test_video(tmp_path_factory.mktemp("media") / "silent.mp4", 1.0, with_audio=False)


def _expected_index(times: np.ndarray) -> np.ndarray:
    """Index of the frame shown at each time (frame k lasts [k / fps, (k + 1) / fps))."""
    n_frames = round(DURATION * FPS)
    return np.clip(np.floor(np.asarray(times) * FPS + 1e-9), 0, n_frames - 1).astype(int)


def _dominant_hz(x: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / sr)[np.argmax(spectrum)])


def test_pattern_round_trips_every_index() -> None:
    for k in (0, 1, 15, 16, 255, 4095):
        assert decode_test_frame_index(pattern_frame(k, (32, 48))) == k


def test_module_imports_without_heavy_modules() -> None:
    code = ("import sys; import brain.features.clips, brain.features.media, brain.features.audio, "
            "brain.features.video; assert not {'av', 'soundfile', 'soxr'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_optional_module_names_the_extra(monkeypatch: pytest.MonkeyPatch, video: Path) -> None:
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[features\]"'):
        VideoReader(video)


def test_wav_round_trip(tmp_path: Path) -> None:
    written = write_test_audio(tmp_path / "a.wav", 1.0, sr=16000)
    samples, sr = load_audio(tmp_path / "a.wav", sampling_rate=16000)
    assert sr == 16000 and samples.dtype == np.float32 and samples.shape == (16000,)
    np.testing.assert_allclose(samples, written, atol=1e-4)  # 16-bit PCM quantisation
    assert media_duration(tmp_path / "a.wav") == pytest.approx(1.0)


def test_stereo_is_averaged(tmp_path: Path) -> None:
    left = np.linspace(-0.5, 0.5, 800, dtype=np.float32)
    sf.write(tmp_path / "s.flac", np.stack([left, 0.5 * left], axis=1), 8000)
    samples, _ = load_audio(tmp_path / "s.flac", sampling_rate=8000)
    np.testing.assert_allclose(samples, 0.75 * left, atol=1e-3)


def test_resampling_keeps_the_tone(tmp_path: Path) -> None:
    write_test_audio(tmp_path / "hi.wav", 2.0, sr=44100)
    samples, sr = load_audio(tmp_path / "hi.wav", sampling_rate=16000)
    assert sr == 16000 and samples.shape == (32000,)
    assert np.abs(samples).max() <= 1.0
    assert _dominant_hz(samples, sr) == pytest.approx(TEST_TONE_HZ, abs=1.0)


def test_audio_track_of_mp4(video: Path) -> None:
    samples, sr = load_audio(video, sampling_rate=16000)
    assert sr == 16000 and samples.dtype == np.float32
    assert samples.size / sr == pytest.approx(DURATION, abs=0.1)  # AAC pads by < 1 frame
    assert _dominant_hz(samples, sr) == pytest.approx(TEST_TONE_HZ, abs=1.0)
    samples_8k, _ = load_audio(video, sampling_rate=8000)
    assert samples_8k.size == pytest.approx(samples.size / 2, abs=2)


def test_video_properties(video: Path) -> None:
    with VideoReader(video) as reader:
        assert reader.fps == pytest.approx(FPS)
        assert reader.size == (32, 48)
        assert reader.duration == pytest.approx(DURATION, abs=1 / FPS)
    assert media_duration(video) == pytest.approx(DURATION, abs=1 / FPS)


def test_frames_at_increasing_times(video: Path) -> None:
    times = np.array([-0.5, 0.0, 0.05, 0.1, 0.149, 0.15, 0.99, 1.0, 1.234, 1.6, 2.0, 2.95, 3.5])
    with VideoReader(video) as reader:
        frames = reader.frames_at(times)
    assert frames.shape == (times.size, 32, 48, 3) and frames.dtype == np.uint8
    got = [decode_test_frame_index(f) for f in frames]
    np.testing.assert_array_equal(got, _expected_index(times))


def test_frames_at_decreasing_and_shuffled_times(video: Path) -> None:
    rng = np.random.default_rng(0)
    times = np.concatenate([np.arange(2.98, -0.1, -0.17), rng.uniform(-0.2, 3.2, 25)])
    with VideoReader(video) as reader:
        got = [decode_test_frame_index(f) for f in reader.frames_at(times)]
        again = [decode_test_frame_index(f) for f in reader.frames_at(times[::-1])]
    np.testing.assert_array_equal(got, _expected_index(times))
    np.testing.assert_array_equal(again, _expected_index(times[::-1]))


def test_frames_at_resizes(video: Path) -> None:
    times = np.array([0.25, 1.75, 2.55])
    with VideoReader(video) as reader:
        frames = reader.frames_at(times, size=(16, 24))
    assert frames.shape == (3, 16, 24, 3)
    np.testing.assert_array_equal([decode_test_frame_index(f) for f in frames], _expected_index(times))


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    for reader in (load_audio, VideoReader, media_duration):
        with pytest.raises(FileNotFoundError, match="nope.mp4"):
            reader(missing)


def test_truncated_mp4(tmp_path: Path, video: Path) -> None:
    data = video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(0.3 * len(data))])
    for reader in (load_audio, VideoReader, media_duration):
        with pytest.raises(ValueError, match="cut.mp4"):
            reader(cut)


def test_text_file_named_mp4(tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 20)
    for reader in (load_audio, VideoReader, media_duration):
        with pytest.raises(ValueError, match="notes.mp4"):
            reader(fake)


def test_video_without_audio(silent_video: Path) -> None:
    with pytest.raises(ValueError, match="no audio stream"):
        load_audio(silent_video)
    assert media_duration(silent_video) == pytest.approx(1.0, abs=0.1)


def test_audio_file_has_no_video(tmp_path: Path) -> None:
    write_test_audio(tmp_path / "a.wav", 0.5)
    with pytest.raises(ValueError, match="no video stream"):
        VideoReader(tmp_path / "a.wav")


def test_empty_audio(tmp_path: Path) -> None:
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(ValueError, match="no samples"):
        load_audio(tmp_path / "empty.wav")


def test_bad_sampling_rate(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sampling_rate"):
        load_audio(tmp_path / "any.wav", sampling_rate=0)


def test_codec_is_available() -> None:
    import av

    assert _video_codec(av) in av.codecs_available


def test_truncated_mkv_is_caught_while_decoding(tmp_path: Path) -> None:
    """Matroska keeps its header up front, so a cut file opens; the missing end is still named."""
    whole = write_test_video(tmp_path / "long.mkv", 4.0)
    data = whole.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: int(0.3 * len(data))])
    with pytest.raises(ValueError, match=r"cut\.mkv: decoded .* truncated"):
        load_audio(cut)
    with VideoReader(cut) as reader:
        assert decode_test_frame_index(reader.frames_at([0.35])[0]) == 3
        with pytest.raises(ValueError, match=r"cut\.mkv: frames stop at .* truncated"):
            reader.frames_at([3.5])
