"""Extraction of per-layer features per TR and the features file's HDF5 layout: TR
alignment, instruction groups, batches, errors (resuming is the runner's: tests/experiments/test_features.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("av")
h5py = pytest.importorskip("h5py")

from brain.features.audio import write_test_audio
from brain.features.clips import clip_windows
from brain.features.extract import Extraction
from brain.features.instructions import load_instructions
from brain.features.layout import write_features
from brain.features.models import load_model
from brain.features.video import write_test_video
from brain.loaders import load_features

TR = 1.5


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("media")
    video, audio = root / "clip.mp4", root / "sound.wav"
    write_test_video(video, 7.4, fps=10)
    write_test_audio(audio, 6.2)
    return {"video": video, "audio": audio}


def extract_features(stimulus: Path, fm, instructions, out: Path, **kwargs) -> Path:
    """Every batch of an extraction, assembled into the features file ``out``."""
    with Extraction(stimulus, fm, instructions, **kwargs) as job:
        rows = {g: np.concatenate([job.features(g, s) for gg, s in job.batches if gg == g]) for g in job.groups}
        write_features(out, job.groups, rows, job.windows, job.attrs)
    return out


@pytest.mark.parametrize("family", ["llava_onevision", "qwen2_5_vl", "video_llava"])
def test_video_model_writes_one_row_per_tr_per_instruction_and_layer(tiny_dirs, media, tmp_path, family) -> None:
    fm = load_model(tiny_dirs[family], max_new_tokens=3)
    instructions = load_instructions("video")[:2]
    out = extract_features(media["video"], fm, instructions, tmp_path / "f.h5", tr=TR, context=3.0,
                           batch_size=2)
    n_rows = math.floor(7.4 / TR)
    with h5py.File(out, "r") as f:
        assert sorted(k for k in f if k != "clips") == sorted(i.name for i in instructions)
        np.testing.assert_allclose(f["clips/window"][()], clip_windows(7.4, TR, 3.0), atol=1e-9)
        assert f.attrs["model"] == fm.name and f.attrs["tr"] == TR and f.attrs["n_layers"] == fm.n_layers
        for ins in instructions:
            g = f[ins.name]
            assert g.attrs["instruction"] == ins.text
            assert sorted(g) == [f"layer_{k:02d}" for k in range(fm.n_layers)]
            assert all(g[k].shape == (n_rows, fm.hidden_size) for k in g)
    # The encoding pipeline reads one instruction group at a time.
    layers = load_features(out, group=instructions[1].name)
    assert len(layers) == fm.n_layers and layers["layer_00"].shape == (n_rows, fm.hidden_size)
    a = load_features(out, group=instructions[0].name)["layer_02"]
    assert np.abs(a - layers["layer_02"]).max() > 1e-3  # the instruction changes the features
    with pytest.raises(ValueError, match="choose one with group"):
        load_features(out)
    with pytest.raises(ValueError, match="no group 'nope'"):
        load_features(out, group="nope")


def test_audio_model_reads_the_sound_track_of_a_video(tiny_dirs, media, tmp_path) -> None:
    fm = load_model(tiny_dirs["whisper"], window_seconds=TR)
    out = extract_features(media["video"], fm, (), tmp_path / "a.h5", tr=TR)
    layers = load_features(out)  # a plain encoder's layers sit at the root
    assert list(layers) == [f"layer_{k:02d}" for k in range(fm.n_layers)]
    assert layers["layer_00"].shape == (4, fm.hidden_size)


def test_audio_visual_model_reads_frames_and_sound_of_each_window(tiny_dirs, media, tmp_path) -> None:
    """Each clip is the window's frames and the samples of the same window; features per TR
    and instruction; a video without sound is a clear error."""
    from brain.features.audio import load_audio
    from brain.features.clips import audio_window, frame_times
    from brain.features.video import VideoReader

    fm = load_model(tiny_dirs["qwen2_5_omni"], max_new_tokens=2)
    instructions = load_instructions(fm.modality)[:2]
    with Extraction(media["video"], fm, instructions, tr=TR, context=3.0, batch_size=5) as job:
        clips = job._source.clips(job.windows[:2])
        rows = job.features(instructions[0].name, 0)
    samples, rate = load_audio(media["video"], fm.sampling_rate)
    with VideoReader(media["video"]) as reader:
        for (frames, sound), window in zip(clips, job.windows[:2]):
            np.testing.assert_array_equal(sound, audio_window(samples, rate, *window))
            assert sound.shape == (round(3.0 * rate),)
            np.testing.assert_array_equal(frames, reader.frames_at(frame_times(window, fm.n_frames), fm.frame_size))
    assert rows.shape == (math.floor(7.4 / TR), fm.n_layers, fm.hidden_size)
    assert job.attrs["modality"] == "audio-visual" and job.attrs["sampling_rate"] == 16000
    silent = tmp_path / "silent.mp4"
    write_test_video(silent, 3.2, fps=10, with_audio=False)
    with pytest.raises(ValueError, match="no audio stream"):
        Extraction(silent, fm, instructions, tr=TR)


def test_batches_cover_every_clip_once_and_match_a_single_batch(tiny_dirs, media) -> None:
    fm = load_model(tiny_dirs["qwen2_audio"], max_new_tokens=2)
    instructions = load_instructions("audio")[:2]
    with Extraction(media["audio"], fm, instructions, tr=TR, context=3.0, batch_size=3) as job:
        n = len(job.windows)
        assert [s for g, s in job.batches if g == instructions[0].name] == list(range(0, n, 3))
        assert len(job.batches) == 2 * len(range(0, n, 3))
        batched = np.concatenate([job.features(instructions[1].name, s) for s in range(0, n, 3)])
        with pytest.raises(ValueError, match="no batch"):
            job.features(instructions[1].name, 1)
    with Extraction(media["audio"], fm, instructions, tr=TR, context=3.0, batch_size=n) as whole:
        one = whole.features(instructions[1].name, 0)
        assert whole.manifest["batch_size"] == n and whole.manifest["stimulus_sha256"] == job.manifest["stimulus_sha256"]
    assert batched.shape == (n, fm.n_layers, fm.hidden_size) and batched.dtype == np.float32
    np.testing.assert_allclose(batched, one, rtol=1e-4, atol=1e-5)  # batching does not change a clip's features


def test_bad_stimuli_and_settings_are_clear_errors(tiny_dirs, media, tmp_path) -> None:
    fm = load_model(tiny_dirs["whisper"], window_seconds=TR)
    short = tmp_path / "short.wav"
    write_test_audio(short, 0.8)
    with pytest.raises(ValueError, match="shorter than one TR"):
        extract_features(short, fm, (), tmp_path / "s.h5", tr=TR)
    junk = tmp_path / "junk.mp4"
    junk.write_text("not a video")
    with pytest.raises(ValueError, match="junk.mp4"):
        extract_features(junk, fm, (), tmp_path / "j.h5", tr=TR)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        extract_features(tmp_path / "missing.wav", fm, (), tmp_path / "m.h5", tr=TR)
    with pytest.raises(ValueError, match="instructions=none"):
        extract_features(media["audio"], fm, load_instructions("audio"), tmp_path / "i.h5", tr=TR)
    video_model = load_model(tiny_dirs["videomae"])
    with pytest.raises(ValueError, match="no video stream"):
        extract_features(media["audio"], video_model, (), tmp_path / "v.h5", tr=TR)
    assert not list(tmp_path.glob("*.h5"))
