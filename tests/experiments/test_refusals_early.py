"""Refusals before anything is written, in-process: settings a new user gets wrong (an
infinite or NaN number, a value out of range) are named with their valid values, and a run
writes only into a directory it made, or its own run when resuming."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from experiments.validate import check_run_dir, validate_config


def compose_cfg(overrides: list[str]):
    with initialize_config_module(config_module="experiments.conf", version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


@pytest.mark.parametrize("overrides", [
    ["train.learning_rate=inf"], ["train.clip_norm=inf"], ["train.adam_eps=inf"], ["arm.feedback_delay=inf"],
    ["task.claims_margin=inf"], ["task.centre_out_radius=inf"], ["train.dominant_effort=inf"],
    ["task=encoding", "task.min_ceiling=inf"], ["task=encoding", "task.files.tr=inf"],
    ["train.learning_rate=nan"], ["task=encoding", "task.alphas=[1,inf]"], ["task=encoding", "task.delays_s=[2,nan]"],
])
def test_a_number_that_is_not_finite_is_refused_by_its_key(overrides: list[str]) -> None:
    key = overrides[-1].split("=")[0]
    with pytest.raises(ValueError, match=rf"{key.replace('.', '[.]')}(\[\d\])?=(inf|nan): must be a finite number"):
        validate_config(compose_cfg(overrides))


@pytest.mark.parametrize("overrides, message", [
    (["task=encoding", "task.fdr_alpha=2"], r"task.fdr_alpha=2.0 must be between 0 and 1"),
    (["task=encoding", "task.fdr_alpha=0"], r"task.fdr_alpha=0.0 must be between 0 and 1"),
    (["task=encoding", "task.cv=1"], r"task.cv=1 must be a whole number >= 2"),
    (["task=encoding", "task.cv=2.5"], r"task.cv=2.5 must be a whole number >= 2"),
    (["task=encoding", "task.cv=by_run"], r"task.cv='by_run' must be a whole number >= 2 or by_stimulus"),
    (["task=encoding", "task.cv=by_stimulus"], r"task.cv=by_stimulus needs the stimulus of every training TR, "
                                               r"which only task.data=bids gives .*task.data=synthetic has none"),
    (["task=encoding", "task.n_permutations=0"], r"task.n_permutations=0 must be a whole number >= 1"),
    (["task=encoding", "task.n_bootstraps=0"], r"task.n_bootstraps=0 must be a whole number >= 1"),
    (["task=encoding", "task.delays_s=[-2]"], r"task.delays_s=\[-2.0\] must be a non-empty list of delays >= 0 s"),
    (["task=encoding", "task.delays=[]"], r"task.delays=\[\] must be a non-empty list"),
    (["task=encoding", "task.alphas=[-1,1]"], r"task.alphas=\[-1.0, 1.0\] must be a non-empty list of penalties > 0"),
    (["task=encoding", "task.files.tr=0"], r"task.files.tr=0.0 must be > 0"),
    (["task=encoding", "task.clean.trim=[1]"], r"task.clean.trim=\[1\] must be two whole numbers >= 0"),
    (["task=features", "task.tr=0"], r"task.tr=0.0 must be > 0"),
    (["task=features", "task.context=1"], r"task.context=1.0 must be >= task.tr=1.49"),
    (["task=features", "task.batch_size=0"], r"task.batch_size=0 must be a whole number >= 1"),
    (["task=reach", "task.seeds=0"], r"task.seeds=0 must be a whole number >= 1"),
    (["task=reach", "task.claims_margin=-0.01"], r"task.claims_margin=-0.01 must be a number >= 0"),
    (["task=rollout", "task.episodes=0"], r"task.episodes=0 must be a whole number >= 1"),
    (["seed=-1"], r"seed=-1 must be a whole number >= 0"),
])
def test_a_setting_out_of_range_is_refused_naming_it(overrides: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_config(compose_cfg(overrides))


def test_the_settings_come_back_typed() -> None:
    from experiments.settings import EncodingTask, RunSettings

    settings = validate_config(compose_cfg(["task=encoding", "task.cv=3"]))
    assert isinstance(settings, RunSettings) and isinstance(settings.task, EncodingTask)
    assert settings.task.cv == 3 and isinstance(settings.task.synthetic.n_subjects, int)
    by_stimulus = validate_config(compose_cfg(["task=encoding", "task.data=bids", "task.cv=by_stimulus"]))
    assert by_stimulus.task.cv == "by_stimulus"  # the study itself is read (and checked) by the run's check


def test_a_directory_with_a_users_files_is_not_taken_for_a_new_run(tmp_path: Path) -> None:
    (tmp_path / "hand_paths.png").write_bytes(b"the user's own figure")
    with pytest.raises(FileExistsError, match=r"is not empty \(hand_paths.png\) and holds no run"):
        check_run_dir(compose_cfg(["task=rollout"]), tmp_path)
    assert (tmp_path / "hand_paths.png").read_bytes() == b"the user's own figure"
    # Hydra's own record and log do not count: a sweep job's directory holds them before the job starts
    fresh = tmp_path / "job"
    (fresh / ".hydra").mkdir(parents=True)
    (fresh / "run.log").write_text("")
    check_run_dir(compose_cfg(["task=rollout"]), fresh)
    check_run_dir(compose_cfg(["task=rollout"]), tmp_path / "new")  # a directory not there yet


def test_resume_needs_a_run_to_resume(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"resume=true, but .* holds no run to resume"):
        check_run_dir(compose_cfg(["task=rollout", "resume=true"]), tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no run to resume"):
        check_run_dir(compose_cfg(["task=rollout", "resume=true"]), tmp_path)  # empty


def _user_files(p: Path) -> list[str]:
    """A small experiment as a user keeps it: one subject's BOLD (.npy), two test repeats,
    one feature space (.npz per split), run and region labels."""
    import numpy as np

    from brain.synthetic import SyntheticConfig, make_synthetic

    d = make_synthetic(SyntheticConfig(n_subjects=1, n_runs=2, trs_per_run=100, n_test_trs=100, n_layers=2,
                                       n_features=4, vertices_per_region=5, spaces=("video",)), seed=0)
    np.save(p / "bold.npy", d.bold_train[0])
    for k in range(2):
        np.save(p / f"test{k}.npy", d.bold_test[0, k])
    for split, layers in (("train", d.features_train["video"]), ("test", d.features_test["video"])):
        np.savez(p / f"video_{split}.npz", **{f"layer_{i:02d}": x for i, x in enumerate(layers)})
    np.save(p / "runs.npy", d.runs)
    np.save(p / "labels.npy", d.region)
    return ["task=encoding", "task.data=files", f"task.files.bold=['{p / 'bold.npy'}']",
            f"task.files.test_bold=[['{p / 'test0.npy'}','{p / 'test1.npy'}']]",
            f"task.files.features={{video:{{train:'{p / 'video_train.npz'}',test:'{p / 'video_test.npz'}'}}}}",
            f"task.files.runs='{p / 'runs.npy'}'", f"task.files.labels='{p / 'labels.npy'}'",
            f"task.files.region_names=[{','.join(d.region_names)}]"]


@pytest.mark.parametrize("spoil, named", [
    ("corrupt", "bold.npy"), ("truncated", "bold.npy"), ("directory", "bold.npy"), ("missing", "bold.npy"),
    ("voxels", "labels.npy"), ("rows", "runs.npy"), ("confounds", "confounds.npy"),
])
def test_a_bad_user_file_is_named_before_the_run_directory_exists(tmp_path: Path, spoil: str, named: str) -> None:
    """Missing, corrupt, truncated or mismatched files of ``task.data=files`` fail the
    up-front check (the data are loaded there, once: the run reuses them), naming the file,
    and the run directory is never made."""
    import numpy as np

    from experiments.validate import preflight

    overrides = _user_files(tmp_path)
    bold = tmp_path / "bold.npy"
    if spoil == "corrupt":
        bold.write_bytes(b"not an array at all")
    elif spoil == "truncated":
        bold.write_bytes(bold.read_bytes()[:300])
    elif spoil == "directory":
        bold.unlink()
        bold.mkdir()
    elif spoil == "missing":
        bold.unlink()
    elif spoil == "voxels":
        np.save(tmp_path / "labels.npy", np.zeros(7, int))
    elif spoil == "rows":
        np.save(tmp_path / "runs.npy", np.zeros(13, int))
    else:
        np.save(tmp_path / "confounds.npy", np.zeros((17, 2)))
        overrides.append(f"task.clean.confounds=['{tmp_path / 'confounds.npy'}']")
    out = tmp_path / "run"
    with pytest.raises((ValueError, OSError), match=named.replace(".", "[.]")):
        preflight(compose_cfg(overrides), out)
    assert not out.exists()


def test_good_user_files_pass_the_check_and_are_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from experiments.tasks import encoding
    from experiments.validate import preflight

    calls = []
    load = encoding.load_data
    monkeypatch.setattr(encoding, "load_data", lambda cfg: calls.append(1) or load(cfg))
    settings = preflight(compose_cfg(_user_files(tmp_path)), tmp_path / "run")
    assert encoding.checked_data(settings) is encoding.checked_data(settings) and len(calls) == 1
    (tmp_path / "runs.npy").touch()  # a file changed since the check: read again
    encoding.checked_data(settings)
    assert len(calls) == 2


@pytest.mark.parametrize("spoil, named", [
    ("config_json", "config.json"), ("config_list", "config.json"), ("model_type", "not supported"),
    ("weights", "model.safetensors"), ("index", "model.safetensors.index.json"),
])
def test_a_corrupt_model_directory_is_named_before_the_run_directory_exists(tmp_path: Path, spoil: str,
                                                                             named: str) -> None:
    """``task=features`` reads the model directory's config, its type and its weights'
    header up front (no model is loaded): a broken directory fails naming the file, before
    the run directory or the demo stimulus is made."""
    from safetensors.numpy import save_file

    from experiments.validate import preflight

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "whisper"}')
    save_file({"w": __import__("numpy").zeros(3, "float32")}, str(model / "model.safetensors"))
    preflight(compose_cfg(["task=features", f"task.model={model}", "task.stimulus=demo"]), tmp_path / "ok")
    if spoil == "config_json":
        (model / "config.json").write_text('{"model_type": "whisper",')
    elif spoil == "config_list":
        (model / "config.json").write_text('["whisper"]')
    elif spoil == "model_type":
        (model / "config.json").write_text('{"model_type": "bert"}')
    elif spoil == "weights":
        data = (model / "model.safetensors").read_bytes()
        (model / "model.safetensors").write_bytes(data[: len(data) // 2])
    else:
        (model / "model.safetensors").unlink()
        (model / "model.safetensors.index.json").write_text("{not json")
    out = tmp_path / "run"
    with pytest.raises((ValueError, OSError), match=named.replace(".", "[.]")):
        preflight(compose_cfg(["task=features", f"task.model={model}", "task.stimulus=demo"]), out)
    assert not out.exists() and not (tmp_path / "ok").exists()
