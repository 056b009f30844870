"""``python -m benchmarks``: settings parsed once into each benchmark's frozen dataclass,
refused before anything is written, and a tiny run that writes its JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import NAMES, parse_settings

ROOT = Path(__file__).resolve().parents[2]


def cli(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CALLOSUM_JAX_CACHE": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=300)


def test_every_benchmark_has_settings_with_the_defaults_of_its_function() -> None:
    import dataclasses
    import importlib
    import inspect

    for name in NAMES:
        module = importlib.import_module(f"benchmarks.{name}")
        params = inspect.signature(module.run_benchmark).parameters
        for f in dataclasses.fields(module.Settings):
            assert f.name in params, (name, f.name)
    assert parse_settings("envs", ["batch=8", "peers=false"]).batch == 8
    assert parse_settings("runner", ["widths=[8,8]"]).widths == (8, 8)
    assert parse_settings("features", ["tr=2"]).tr == 2.0


@pytest.mark.parametrize("items, message", [
    (["colour=red"], r"unknown setting 'colour' of benchmark envs; valid: batch, steps"),
    (["batch=abc"], r"batch='abc' must be of type int"),
    (["batch=0"], r"batch='0' must be > 0"),
    (["peers=3"], r"peers='3' must be of type bool"),
    (["batch"], r"'batch': give settings as key=value"),
])
def test_bad_settings_are_refused_naming_them(items: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_settings("envs", items)


def test_the_command_refuses_before_writing_and_a_tiny_run_writes_its_json(tmp_path: Path) -> None:
    out = cli(["envs", "colour=red", "--out", str(tmp_path / "refused")], tmp_path)
    assert out.returncode == 2 and "unknown setting 'colour'" in out.stderr
    assert not (tmp_path / "refused").exists()
    out = cli(["--help"], tmp_path)
    assert out.returncode == 0 and all(f"{n}:" in out.stdout for n in NAMES)
    tiny = ["n_train=200", "n_test=100", "n_features=4", "n_voxels=20", "n_alphas=4", "cv=2", "peers=false",
            "banded=false"]
    out = cli(["encoding", *tiny, "--out", str(tmp_path / "run")], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads((tmp_path / "run" / "bench_encoding.json").read_text())
    assert result["meta"]["settings"]["n_voxels"] == 20 and result["ours"]
    again = cli(["encoding", *tiny, "--out", str(tmp_path / "run")], tmp_path)  # never over a result
    assert again.returncode == 2 and "exists already" in again.stderr
