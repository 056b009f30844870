"""What every run directory records, config checks before any work, and determinism."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from experiments.provenance import git_state
from experiments.run import run_task

ROLLOUT = ["task=rollout", "task.episodes=4", "task.plot_episodes=2", "task.episode_steps=5"]
MOTOR = ["task=reach", "task.seeds=2", "task.variants=[unilateral_dominant]", "task.eval_episodes=4",
         "task.lesions=false", "train.max_epochs=1", "train.updates_per_epoch=2", "train.batch_size=4",
         "train.val_episodes=4", "task.episode_steps=5"]


def compose_cfg(overrides: list[str]):
    with initialize_config_module(config_module="experiments.conf", version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


@pytest.fixture(scope="module")
def motor_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same tiny motor run twice (sharing a fresh compilation cache), and once with another seed."""
    root = tmp_path_factory.mktemp("motor_runs")
    cache = f"runtime.compilation_cache={root / 'cache'}"
    for name, extra in (("a", ["seed=7"]), ("b", ["seed=7"]), ("c", ["seed=8"])):
        run_task(compose_cfg([*MOTOR, cache, *extra]), root / name)
    return root


def _read(run: Path, name: str) -> dict:
    return json.loads((run / name).read_text())


def test_provenance_records_config_versions_commit_seeds_devices_and_times(motor_runs: Path) -> None:
    run = motor_runs / "a"
    prov = _read(run, "provenance.json")
    assert prov["config"] == _read(run, "config.json")
    assert prov["seeds"] == [7, 8]
    assert prov["packages"]["jax"] and prov["packages"]["mujoco"] and prov["packages"]["hydra-core"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                          cwd=Path(__file__).parents[2])
    if head.returncode == 0:
        assert prov["git"]["commit"] == head.stdout.strip()
    assert prov["devices"] and prov["devices"][0]["platform"] == "cpu"
    assert prov["compilation_cache"] == str((motor_runs / "cache").resolve())
    (attempt,) = prov["attempts"]
    assert attempt["status"] == "finished" and attempt["resumed"] is False
    assert 0 < attempt["compile_seconds"] < attempt["wall_seconds"]
    assert attempt["run_seconds"] == pytest.approx(attempt["wall_seconds"] - attempt["compile_seconds"])
    assert attempt["compilations"] > 0


def test_second_run_loads_executables_from_the_persistent_cache(motor_runs: Path) -> None:
    """A new Trainer means new jitted functions, so the in-memory cache cannot serve them:
    the hits come from the persistent cache on disk."""
    assert any((motor_runs / "cache").iterdir())
    first, second = (_read(motor_runs / d, "provenance.json")["attempts"][0] for d in "ab")
    assert first["persistent_cache_hits"] == 0 and second["persistent_cache_hits"] > 0
    assert second["compile_seconds"] < first["compile_seconds"]
    # what the cache saves is XLA's part, and the run records it in metrics.json too
    assert second["xla_compile_seconds"] < 0.5 * first["xla_compile_seconds"]
    timing = _read(motor_runs / "b", "metrics.json")["timing"]
    assert timing["persistent_cache_hits"] == second["persistent_cache_hits"] > 0


def test_same_seed_and_config_give_the_same_metrics(motor_runs: Path) -> None:
    a, b, c = (_read(motor_runs / d, "metrics.json") for d in "abc")
    for m in (a, b, c):
        for per_task in m["training"].values():
            for v in per_task.values():
                v.pop("family_seconds")
        m.pop("timing")  # seconds and compilation counts: not results
    assert a == b
    assert c["variants"] != a["variants"]


def test_unknown_keys_fail_before_work_listing_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown key 'task.wobble' \(valid keys in task: .*controller.*episodes"):
        run_task(compose_cfg([*ROLLOUT, "+task.wobble=1"]), tmp_path / "a")
    with pytest.raises(ValueError, match=r"unknown key 'colour' \(valid keys at the top level: seed, resume, runtime"):
        run_task(compose_cfg([*ROLLOUT, "+colour=red"]), tmp_path / "b")
    with pytest.raises(ValueError, match=r"agent: invalid agent setting cell='lstm': valid: mlp, gru"):
        run_task(compose_cfg([*MOTOR, "agent.cell=lstm"]), tmp_path / "c")
    with pytest.raises(ValueError, match=r"arm: invalid setting gradient='magic': must be 'analytic'"):
        run_task(compose_cfg([*MOTOR, "arm.gradient=magic"]), tmp_path / "d")
    with pytest.raises(ValueError, match=r"runtime.devices=3, but JAX sees 1 device"):
        run_task(compose_cfg([*MOTOR, "runtime.devices=3"]), tmp_path / "e")
    for d in "abcd":
        assert not (tmp_path / d).exists()  # nothing written


def test_a_finished_run_is_not_overwritten(tmp_path: Path) -> None:
    run_task(compose_cfg(ROLLOUT), tmp_path)
    before = (tmp_path / "metrics.json").read_bytes()
    with pytest.raises(FileExistsError, match="already holds a finished run"):
        run_task(compose_cfg([*ROLLOUT, "seed=5"]), tmp_path)
    assert (tmp_path / "metrics.json").read_bytes() == before


def test_git_state_outside_a_checkout_is_none(tmp_path: Path) -> None:
    assert git_state(tmp_path) is None


def test_a_resume_with_other_settings_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    rollout = ["task=rollout", "task.episodes=4", "task.episode_steps=5"]
    run_task(compose_cfg(rollout), tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(ValueError, match=r"settings differ: .*task.env: saved 'reach', now 'hold'"):
        run_task(compose_cfg([*rollout, "resume=true", "task.env=hold"]), tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
    attempts = json.loads((tmp_path / "provenance.json").read_text())["attempts"]
    assert [a["status"] for a in attempts] == ["finished"]
    run_task(compose_cfg([*rollout, "resume=true", "runtime.devices=1"]), tmp_path)  # where it runs may change
    assert [a["resumed"] for a in json.loads((tmp_path / "provenance.json").read_text())["attempts"]] == [False, True]
