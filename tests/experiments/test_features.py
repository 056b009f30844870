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
    from benchmarks.features import format_table, run_benchmark

    result = run_benchmark(n_clips=4, whisper_clips=4, batch=2, device="cpu")
    from brain.features.tiny import FAMILIES

    assert set(result["models"]) == {f"tiny_{f}" for f in FAMILIES} | {"whisper-base"}
    assert {"tiny_instructblipvideo", "tiny_llava_next_video", "tiny_ast"} <= set(result["models"])
    assert all(r["clips"] == 4 and r["clips_per_second"] > 0 for r in result["models"].values())
    assert result["models"]["whisper-base"]["n_layers"] == 6
    assert "clips/s" in format_table(result)


def _contents(path: Path) -> dict[str, object]:
    """Every dataset and attribute of an HDF5 file, by path."""
    with h5py.File(path, "r") as f:
        out: dict[str, object] = {f"@{k}": v for k, v in f.attrs.items()}

        def visit(name: str, obj) -> None:
            out.update({f"{name}@{k}": v for k, v in obj.attrs.items()})
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
        f.visititems(visit)
    return out


def test_extraction_resumes_after_an_interruption_to_an_identical_file(tmp_path: Path, monkeypatch) -> None:
    import numpy as np

    from brain.features.audio import write_test_audio
    from brain.features.extract import Extraction
    from brain.features.instructions import load_instructions
    from brain.features.models import load_model
    from brain.features.tiny import write_tiny_model
    from experiments.tasks.features import extract_to_file

    audio = tmp_path / "sound.wav"
    write_test_audio(audio, 6.2)
    fm = load_model(write_tiny_model("qwen2_audio", tmp_path / "tiny"), max_new_tokens=2)
    instructions = load_instructions("audio")[:2]
    kwargs = dict(tr=1.5, context=3.0, batch_size=1)

    def extract(out: Path, resume: bool = False, **changed) -> Path:
        with Extraction(audio, fm, instructions, **{**kwargs, **changed}) as job:
            return extract_to_file(job, out, resume=resume, progress=False)

    reference = extract(tmp_path / "ref.h5")
    calls = {"n": 0}
    original = type(fm).features

    def crash_after_three(self, clips, instruction=None, **kw):
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt
        return original(self, clips, instruction, **kw)

    out = tmp_path / "run.h5"
    monkeypatch.setattr(type(fm), "features", crash_after_three)
    with pytest.raises(KeyboardInterrupt):
        extract(out)
    monkeypatch.setattr(type(fm), "features", original)
    partial = out.with_name(out.name + ".partial")
    assert not out.exists() and len(list(partial.rglob("*.npz"))) == 3
    assert not list(partial.rglob(".*"))  # no temporary file left behind
    kept = {p: p.read_bytes() for p in partial.rglob("*") if p.is_file()}
    with pytest.raises(FileExistsError, match="resume=true"):
        extract(out)
    with pytest.raises(ValueError, match=r"settings differ: .*tr: saved 1.5, now 1.0"):
        extract(out, resume=True, tr=1.0)
    assert {p: p.read_bytes() for p in partial.rglob("*") if p.is_file()} == kept  # refusals change nothing
    calls["n"] = 0
    monkeypatch.setattr(type(fm), "features", crash_after_three)  # the three kept batches are not recomputed
    with pytest.raises(KeyboardInterrupt):
        extract(out, resume=True)
    monkeypatch.setattr(type(fm), "features", original)
    assert len(list(partial.rglob("*.npz"))) == 6
    extract(out, resume=True)
    assert not partial.exists()
    a, b = _contents(reference), _contents(out)
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=key)
    with pytest.raises(FileExistsError, match="exists"):
        extract(out)
