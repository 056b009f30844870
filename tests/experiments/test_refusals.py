"""A refused run writes nothing: the real command line (Hydra's @main and callbacks
included) against a finished run directory, a new directory and a sweep; every file of the
existing run is byte-identical afterwards, and no directory appears for a refused config."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the real command line, a process per refusal; CI runs them, `-m 'not slow'` skips them

ROOT = Path(__file__).resolve().parents[2]
ROLLOUT = ["task=rollout", "task.episodes=4", "task.episode_steps=5"]


def cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "experiments.run", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    cache = tmp_path_factory.mktemp("jax-cache")
    return {**os.environ, "CALLOSUM_JAX_CACHE": str(cache), "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def finished(tmp_path_factory, env) -> Path:
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    out = cli([*ROLLOUT, f"hydra.run.dir={run_dir}"], ROOT, env)
    assert out.returncode == 0, out.stderr[-2000:]
    return run_dir


@pytest.mark.parametrize("extra, message", [
    ([], "already holds a finished run"),
    (["resume=true", "task.episodes=6"], r"settings differ: task.episodes: saved 4, now 6"),
    (["task.episodes=abc"], "(?s)task.episodes=abc.*'abc' of type 'str' could not be converted to Integer"),
])  # the other checks are the same function, tested in-process (tests/experiments/test_run.py)
def test_refused_run_leaves_the_finished_run_byte_identical(finished: Path, env, extra, message) -> None:
    before = snapshot(finished)
    out = cli([*ROLLOUT, *extra, f"hydra.run.dir={finished}"], ROOT, env)
    assert out.returncode != 0
    import re

    assert re.search(message, out.stderr), out.stderr[-2000:]
    assert snapshot(finished) == before


def test_refused_config_creates_no_directory(tmp_path: Path, env) -> None:
    out = cli([*ROLLOUT, "task.controller=psychic"], tmp_path, env)  # default runs/<task>/<time>
    assert out.returncode != 0 and "psychic" in out.stderr
    assert list(tmp_path.iterdir()) == []
    out = cli(["task=reach", "agent.callosum=none", f"hydra.run.dir={tmp_path / 'new'}"], tmp_path, env)
    assert out.returncode != 0 and "agent.callosum=none" in out.stderr
    assert not (tmp_path / "new").exists()


def test_sweep_with_a_bad_job_starts_none_and_writes_nothing(tmp_path: Path, env) -> None:
    out = cli(["-m", "task=reach", "agent.callosum=none,paper", "train.max_epochs=1"], tmp_path, env)
    assert out.returncode != 0
    assert "1 of 2 sweep job(s)" in out.stderr and "agent.callosum=none" in out.stderr
    assert list(tmp_path.iterdir()) == []


def test_resume_keeps_the_first_record_and_outputs_are_readable(tmp_path: Path, env) -> None:
    run_dir = tmp_path / "run"
    out = cli([*ROLLOUT, f"hydra.run.dir={run_dir}"], ROOT, env)
    assert out.returncode == 0, out.stderr[-2000:]
    overrides = (run_dir / ".hydra" / "overrides.yaml").read_bytes()
    out = cli([*ROLLOUT, "resume=true", f"hydra.run.dir={run_dir}"], ROOT, env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (run_dir / ".hydra" / "overrides.yaml").read_bytes() == overrides
    attempts = json.loads((run_dir / "provenance.json").read_text())["attempts"]
    assert [a["resumed"] for a in attempts] == [False, True]
    mask = os.umask(0)
    os.umask(mask)
    for name in ("metrics.json", "config.json", "provenance.json"):
        assert stat.S_IMODE((run_dir / name).stat().st_mode) == 0o666 & ~mask, name
