"""The Hydra runner end to end, composed with tiny overrides (no subprocess)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException

from experiments.run import run_task


def compose_cfg(overrides: list[str]):
    with initialize_config_module(config_module="experiments.conf", version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


@pytest.mark.parametrize("task", ["reach", "hold", "centre_out"])
def test_rollout_task_writes_metrics_and_plot(task: str, tmp_path: Path) -> None:
    cfg = compose_cfg(["task=rollout", f"task.env={task}", "task.episodes=8", "task.episode_steps=10"])
    result = run_task(cfg, tmp_path)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == result
    assert saved["task"] == task and saved["episodes"] == 8
    assert 0 < saved["position_error"] < 1.5 and saved["position_error_ci95"] > 0
    assert 0.2 < saved["effort"] < 0.45  # E[u^2] = 1/3 for uniform excitations
    assert (tmp_path / "hand_paths.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "config.json").read_text())["task"]["env"] == task


def test_zero_controller_reports_zero_effort(tmp_path: Path) -> None:
    cfg = compose_cfg(["task=rollout", "task.env=hold", "task.controller=zero", "task.episodes=4",
                       "task.episode_steps=5"])
    assert run_task(cfg, tmp_path)["effort"] == 0.0


def test_same_seed_same_metrics(tmp_path: Path) -> None:
    cfg = compose_cfg(["task=rollout", "task.episodes=4", "task.episode_steps=5", "seed=3"])
    assert run_task(cfg, tmp_path / "a") == run_task(cfg, tmp_path / "b")


def test_unknown_keys_and_values_fail_before_work(tmp_path: Path) -> None:
    with pytest.raises(ConfigCompositionException):
        compose_cfg(["task=juggle"])
    with pytest.raises(ConfigCompositionException):
        compose_cfg(["task.wobble=1"])
    cfg = compose_cfg(["task=rollout", "task.controller=psychic"])
    with pytest.raises(ValueError, match="controller"):
        run_task(cfg, tmp_path)
    cfg = compose_cfg(["task=rollout", "+arm.wobble=1"])
    with pytest.raises(ValueError, match="wobble"):
        run_task(cfg, tmp_path)
    assert not (tmp_path / "metrics.json").exists()


def test_command_line_entry_point(tmp_path: Path) -> None:
    """The README's main command, as a real process (Hydra's @main included)."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "experiments.run", "task=reach", "task.seeds=1",
           "task.variants=[unilateral_dominant]", "task.eval_episodes=4", "train.max_epochs=1",
           "train.updates_per_epoch=2", "train.batch_size=4", "train.val_episodes=4",
           "task.episode_steps=5", f"hydra.run.dir={tmp_path}"]
    import os

    # as a user runs it: without the suite's one-device setting (tests/conftest.py)
    flags = " ".join(f for f in os.environ.get("XLA_FLAGS", "").split()
                     if not f.startswith("--xla_force_host_platform_device_count"))
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "XLA_FLAGS": flags})
    assert out.returncode == 0, out.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["task"] == "reach" and list(metrics["variants"]) == ["unilateral_dominant"]
    assert set(metrics["variants"]["unilateral_dominant"]) == {"reach", "hold", "centre_out"}
    assert (tmp_path / "report.html").exists()
    assert (tmp_path / "checkpoints" / "unilateral.msgpack").exists()
    # the CPU was split into one JAX device per core before the checks imported JAX
    devices = json.loads((tmp_path / "provenance.json").read_text())["devices"]
    assert len(devices) == (os.cpu_count() or 1)


@pytest.mark.parametrize("overrides, message", [
    (["task=reach", "task.seeds=abc"], r"(?s)task.seeds=abc.*'abc' of type 'str' could not be converted to Integer"),
    (["task=reach", "train.learning_rate=fast"], r"(?s)train.learning_rate=fast.*could not be converted to Float"),
    (["task=reach", "arm.colour=red"], r"(?s)arm.colour=red.*Key 'colour' not in 'ArmSettings'"),
    (["task=encoding", "task.synthetic.n_runs=[1]"], r"(?s)task.synthetic.n_runs.*Integer"),
])
def test_hydra_refuses_wrong_types_and_unknown_keys_when_it_composes(overrides: list[str], message: str) -> None:
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException) as info:
        compose_cfg(overrides)
    assert re.search(message, f"{info.value}\n{info.value.__cause__}"), (info.value, info.value.__cause__)


@pytest.mark.parametrize("overrides, message", [
    (["task=reach", "train.batch_size=-4"], r"batch_size=-4: must be a whole number >= 1"),
    (["task=reach", "agent.callosum=none"], r"agent.callosum=none: the _cc variants need a callosum"),
    (["task=reach", "arm.physics=euler"], r"arm: invalid setting physics='euler': must be one of closed_form, mjx"),
    (["task=reach", "agent.widths=[0]"], r"agent: invalid agent setting widths=\[0\]"),
    (["task=encoding", "task.r_null=shuffle"], r"task.r_null='shuffle' is not one of: phase, block"),
    (["task=features", "task.mode=chat"], r"task.mode='chat' is not one of: generate, prompt"),
    (["task=rollout", "task.episodes=0"], r"task.episodes=0 must be a whole number >= 1"),
    (["task=encoding", "task.chunks=2", "task.chunk=2"], r"task.chunk must be in 0 .. task.chunks - 1 = 1"),
])
def test_wrong_types_ranges_and_combinations_fail_before_anything_is_written(
        overrides: list[str], message: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=message):
        run_task(compose_cfg(overrides), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_every_shipped_task_config_passes_its_own_checks() -> None:
    from experiments.validate import preflight

    tasks = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "experiments" / "conf" / "task").glob("*.yaml"))
    assert "reach" in tasks and "encoding" in tasks
    for task in tasks:
        extra = ["task.model=whisper-base", "task.stimulus=demo"] if task == "features" else []
        if task == "perturbation":  # needs a finished motor run to perturb: refused without one, naming the key
            with pytest.raises((ValueError, FileNotFoundError), match="task.controllers"):
                preflight(compose_cfg([f"task={task}"]))
            continue
        preflight(compose_cfg([f"task={task}", *extra]))
