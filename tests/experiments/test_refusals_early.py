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
