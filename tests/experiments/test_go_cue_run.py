"""``task=reach task.go_cue=true``: a tiny training run with the go cue writes the reaction
time and the movement before the cue; bad go-cue settings are refused before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from experiments.run import run_task

TINY = ["task.seeds=2", "task.eval_episodes=8", "train.max_epochs=1", "train.updates_per_epoch=2",
        "train.batch_size=4", "train.val_episodes=4", "task.episode_steps=6", "agent.widths=[4,4]",
        "task.variants=[unilateral_dominant]", "task.lesions=false"]
CUE = ["task.go_cue=true", "task.go_cue_window=[0.01,0.03]"]


def compose_cfg(overrides: list[str]):
    with initialize_config_module(config_module="experiments.conf", version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def test_a_tiny_go_cue_run_reports_reaction_time_and_precue_movement(tmp_path: Path) -> None:
    metrics = run_task(compose_cfg(["task=reach", *TINY, *CUE]), tmp_path)
    assert metrics["arm"]["go_cue"] is True and metrics["arm"]["go_cue_window"] == [0.01, 0.03]
    reach = metrics["variants"]["unilateral_dominant"]["reach"]
    assert reach["precue_movement"] >= 0 and len(reach["per_seed"]["precue_movement"]) == 2
    assert "reaction_time" in reach and "reaction_time" in reach["per_seed"]
    hold = metrics["variants"]["unilateral_dominant"]["hold"]  # hold episodes: the cue on from the start
    assert hold["precue_movement"] == 0.0
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["variants"]["unilateral_dominant"]["reach"]["precue_movement"] == reach["precue_movement"]


def test_bad_go_cue_settings_are_refused_before_training(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="go_cue_window.*before the episode's end"):
        run_task(compose_cfg(["task=reach", *TINY, "task.go_cue=true", "task.go_cue_window=[0.01,0.3]"]), tmp_path)
    with pytest.raises(ValueError, match="task.go_cue=true with task.train_task=hold"):
        run_task(compose_cfg(["task=hold", *TINY, *CUE]), tmp_path)
    with pytest.raises(Exception, match="go_cue_window"):
        run_task(compose_cfg(["task=reach", *TINY, "task.go_cue=true", "task.go_cue_window=[0.03,0.01]"]), tmp_path)
    assert not any(tmp_path.iterdir())  # nothing written
