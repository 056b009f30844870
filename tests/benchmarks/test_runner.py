"""``task=bench_runner``'s training workers (``benchmarks.runner_workers``): the
command line the parent builds parses back to its settings, the module imports no JAX (the
parent's ``XLA_FLAGS`` must be in force when JAX starts in the child), and each worker runs
as ``python -m`` at the smallest sizes with its result read back the way the benchmark
reads it (2 host devices for the sharding worker). That YNNPACK on and off give the same
arm to rounding is tested in tests/experiments/test_sharding.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmarks import runner as bench_runner
from benchmarks import runner_workers as workers

SHARD = {"seeds": 2, "batch": 2, "steps": 2, "updates": 1, "widths": [4, 4], "repeats": 1}
FUSION = {"seeds": 1, "batch": 2, "steps": 2, "updates": 1, "repeats": 1}
TIMES = {"epoch_s", "epoch_s_all", "first_epoch_s"}


@pytest.mark.parametrize(("worker", "settings"), [("shard", SHARD), ("fusion", FUSION)])
def test_command_parses_back_to_settings(worker: str, settings: dict) -> None:
    cmd = workers.command(worker, settings)
    assert cmd[:4] == [sys.executable, "-m", "benchmarks.runner_workers", worker]
    assert workers.parse_args(cmd[3:]) == (worker, settings)


def test_result_line_round_trip(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    result = {"epoch_s": 0.5, "epoch_s_all": [0.5, 0.7], "first_epoch_s": 3.0, "val_loss": [[1.0], [0.9]]}
    monkeypatch.setitem(workers.WORKERS, "fusion", lambda **kw: {**result, "settings": kw})
    returned = workers.main(workers.command("fusion", FUSION)[3:])
    out = capsys.readouterr().out
    assert out.startswith(workers.RESULT) and out.count("\n") == 1
    assert workers.parse_result("noise before\n" + out) == returned == {**result, "settings": FUSION}


def test_module_imports_no_jax() -> None:
    code = ("import sys; import benchmarks.runner, benchmarks.runner_workers; "
            "assert 'jax' not in sys.modules, 'jax imported'")
    subprocess.run([sys.executable, "-c", code], cwd=bench_runner.ROOT, check=True, timeout=120)


def test_shard_worker_on_two_host_devices() -> None:
    result = bench_runner.bench_sharding(**SHARD)
    assert result["settings"] == SHARD
    assert result["platform"] == "cpu" and len(result["devices"]) == 2  # the parent's XLA_FLAGS took effect
    for n in (1, 2):
        assert set(result[f"devices_{n}"]) == TIMES
        assert len(result[f"devices_{n}"]["epoch_s_all"]) == SHARD["repeats"]
    assert result["speedup_2_vs_1"] == result["devices_1"]["epoch_s"] / result["devices_2"]["epoch_s"]
    json.dumps(result)


def test_fusion_worker_as_module() -> None:
    env = bench_runner._env(1)
    env["XLA_FLAGS"] += " --xla_cpu_experimental_ynn_fusion_type="  # the benchmark's "off" process
    done = subprocess.run(workers.command("fusion", FUSION), capture_output=True, text=True, env=env,
                          cwd=bench_runner.ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = workers.parse_result(done.stdout)
    assert set(result) == TIMES | {"val_loss"}
    assert result["epoch_s"] == min(result["epoch_s_all"]) and len(result["epoch_s_all"]) == FUSION["repeats"]
    assert [len(v) for v in result["val_loss"]] == [FUSION["seeds"]] * (FUSION["repeats"] + 1)
