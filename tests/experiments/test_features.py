"""``task=features`` end to end through Hydra, and its output feeding ``task=encoding``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("soundfile")
h5py = pytest.importorskip("h5py")

from experiments.run import run_task


def _run(overrides: list[str], out: Path) -> dict:
    with initialize_config_module(config_module="experiments.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    return run_task(cfg, out)


def test_features_task_then_encoding_on_its_output(tmp_path: Path) -> None:
    from brain.features.tiny import write_tiny_model

    model = write_tiny_model("whisper", tmp_path / "tiny_whisper")
    run = tmp_path / "features_run"
    m = _run(["task=features", f"task.model={model}", "task.stimulus=demo", "task.demo_duration=30.2", "task.tr=0.5",
              "task.context=1.0", "task.batch_size=16"], run)
    assert m["n_clips"] == 60 and m["model"]["n_layers"] == 3 and m["clips_per_second"] > 0
    assert json.loads((run / "metrics.json").read_text())["n_clips"] == 60
    with h5py.File(run / "features.h5", "r") as f:
        assert sorted(f) == ["clips", "layer_00", "layer_01", "layer_02"]
        assert f["layer_01"].shape == (60, 32) and f.attrs["tr"] == 0.5

    enc = _run(["task=encoding", f"task.stimulus_features.file={run / 'features.h5'}",
                "task.synthetic.n_subjects=2", "task.synthetic.n_runs=2", "task.synthetic.n_test_trs=10",
                "task.synthetic.n_layers=2", "task.synthetic.n_features=8", "task.synthetic.vertices_per_region=10",
                "task.n_permutations=20", "task.block=4", "task.cv=2"], tmp_path / "encoding_run")
    assert list(enc["spaces"]["audio"]["layers"]) == ["layer_00", "layer_01", "layer_02"]  # the model's layers
    assert list(enc["spaces"]["video"]["layers"]) == ["layer_00", "layer_01"]  # still generated


def test_features_task_errors_before_work(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a directory and not a preset"):
        _run(["task=features", f"task.model={tmp_path / 'nothing'}", "task.stimulus=demo"], tmp_path / "a")
    with pytest.raises(ValueError, match="give task.stimulus"):
        _run(["task=features", "task.stimulus=''"], tmp_path / "b")
    assert not (tmp_path / "b" / "features.h5").exists()


def test_feature_benchmark_reports_every_family() -> None:
    from experiments.bench.features import format_table, run_benchmark

    result = run_benchmark(n_clips=4, whisper_clips=4, batch=2, device="cpu")
    assert set(result["models"]) == {"tiny_llava_onevision", "tiny_qwen2_5_vl", "tiny_video_llava",
                                     "tiny_qwen2_audio", "tiny_whisper", "tiny_videomae", "whisper-base"}
    assert all(r["clips"] == 4 and r["clips_per_second"] > 0 for r in result["models"].values())
    assert result["models"]["whisper-base"]["n_layers"] == 6
    assert "clips/s" in format_table(result)
