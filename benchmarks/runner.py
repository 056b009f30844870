"""Runner-at-scale benchmark: seeds sharded over 2 JAX devices vs 1, XLA's YNNPACK fusion
on vs off for the paper's controllers, and one subject's encoding split into 2 voxel-chunk
processes (plus the merge) vs one process.

- Sharding: a fresh process with ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` on
  the CPU (or the real devices of a GPU host), one bilateral controller trained over
  ``seeds`` seeds; seconds per training epoch after compilation, on 1 device and on 2.
- YNNPACK fusion (``runtime.cpu_library_fusion``): two fresh processes, one with XLA's
  default and one with ``--xla_cpu_experimental_ynn_fusion_type=`` (what motor runs set),
  each training the paper's unilateral controller (2 x 10 units) on the MotorNet-TF arm
  with the original's Keras settings over ``seeds`` seeds on one device; seconds per epoch
  after compilation, and the largest difference of the validation losses between the two.
- Encoding: ``python -m experiments.run task=encoding`` as one process, and as two chunk
  processes started together (``task.chunks=2 task.chunk=0|1``) followed by
  ``task.merge``; wall seconds of each, and whether the merged metrics match.

The training programs run in their fresh processes as ``python -m
benchmarks.runner_workers shard|fusion ...``; this side sets their ``XLA_FLAGS`` (host
device count, YNNPACK flag) in the environment it starts them with, so the flags are in force
before JAX starts there (the workers import JAX only when they run).

``python -m benchmarks runner``; results in ``bench_runner.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import runner_workers as workers

ROOT = Path(__file__).resolve().parents[1]


def bench_library_fusion(seeds: int, batch: int, steps: int, updates: int, repeats: int) -> dict[str, Any]:
    """Epoch seconds of the paper's unilateral controller with XLA's YNNPACK fusion on (XLA's
    default) and off (motor runs' default), each in a fresh 1-device process."""
    settings = {"seeds": seeds, "batch": batch, "steps": steps, "updates": updates, "repeats": repeats}
    out: dict[str, Any] = {"settings": settings}
    for name, flag in (("ynn_on", None), ("ynn_off", "--xla_cpu_experimental_ynn_fusion_type=")):
        env = _env(1)
        env["XLA_FLAGS"] = " ".join(f for f in env["XLA_FLAGS"].split()
                                    if not f.startswith("--xla_cpu_experimental_ynn_fusion_type")
                                    and not f.startswith("--xla_force_host_platform_device_count"))
        if flag:
            env["XLA_FLAGS"] += " " + flag
        done = subprocess.run(workers.command("fusion", settings), capture_output=True, text=True, env=env, cwd=ROOT,
                              timeout=3600)
        if done.returncode != 0:
            raise RuntimeError(f"YNNPACK fusion benchmark ({name}) failed: {done.stderr[-2000:]}")
        out[name] = workers.parse_result(done.stdout)
    out["speedup_off_vs_on"] = out["ynn_on"]["epoch_s"] / out["ynn_off"]["epoch_s"]
    on, off = out["ynn_on"].pop("val_loss"), out["ynn_off"].pop("val_loss")
    out["max_val_loss_difference"] = max(abs(a - b) / max(abs(a), 1e-12)
                                         for ra, rb in zip(on, off) for a, b in zip(ra, rb))
    return out


def _env(devices: int | None = None) -> dict[str, str]:
    env = dict(os.environ)
    flags = [f for f in env.get("XLA_FLAGS", "").split() if not f.startswith("--xla_force_host_platform_device_count")]
    if devices:
        flags.append(f"--xla_force_host_platform_device_count={devices}")
    env["XLA_FLAGS"] = " ".join(flags)
    return env


def bench_sharding(seeds: int, batch: int, steps: int, updates: int, widths: list[int], repeats: int) -> dict[str, Any]:
    settings = {"seeds": seeds, "batch": batch, "steps": steps, "updates": updates, "widths": widths,
                "repeats": repeats}
    out = subprocess.run(workers.command("shard", settings), capture_output=True, text=True, env=_env(2), cwd=ROOT,
                         timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"sharding benchmark failed: {out.stderr[-2000:]}")
    result = workers.parse_result(out.stdout)
    result["speedup_2_vs_1"] = result["devices_1"]["epoch_s"] / result["devices_2"]["epoch_s"]
    return {"settings": settings, **result}


def _runner(overrides: list[str], run_dir: Path, cache: Path) -> subprocess.Popen:
    env = {**_env(), "CALLOSUM_JAX_CACHE": str(cache)}
    return subprocess.Popen([sys.executable, "-m", "experiments.run", *overrides, f"hydra.run.dir={run_dir}"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"encoding benchmark job failed: {err[-2000:]}")


def bench_chunked_encoding(overrides: list[str], workdir: Path) -> dict[str, Any]:
    """Wall seconds of one encoding process vs 2 chunk processes at once + the merge. Each
    side first warms its own compilation cache with the same job, so both are timed warm."""
    cache = workdir / "jax_cache"
    _wait([_runner(overrides, workdir / "warm_single", cache)])
    _wait([_runner([*overrides, "task.chunks=2", f"task.chunk={c}"], workdir / f"warm_chunk{c}", cache) for c in (0, 1)])
    t0 = time.perf_counter()
    _wait([_runner(overrides, workdir / "single", cache)])
    single = time.perf_counter() - t0
    t0 = time.perf_counter()
    _wait([_runner([*overrides, "task.chunks=2", f"task.chunk={c}"], workdir / "chunks" / str(c), cache) for c in (0, 1)])
    chunks = time.perf_counter() - t0
    t0 = time.perf_counter()
    _wait([_runner([*overrides, f"task.merge={workdir / 'chunks'}"], workdir / "merged", cache)])
    merge = time.perf_counter() - t0
    a = json.loads((workdir / "single" / "metrics.json").read_text())
    b = json.loads((workdir / "merged" / "metrics.json").read_text())
    return {"overrides": overrides, "single_process_s": single, "two_chunk_processes_s": chunks, "merge_s": merge,
            "chunked_total_s": chunks + merge, "speedup_chunks_only": single / chunks,
            "speedup_with_merge": single / (chunks + merge), "max_metric_difference": _max_diff(a, b)}


def _max_diff(a: Any, b: Any) -> float:
    if isinstance(a, dict):
        return max((_max_diff(a[k], b[k]) for k in a), default=0.0)
    if isinstance(a, list):
        return max((_max_diff(x, y) for x, y in zip(a, b)), default=0.0)
    if isinstance(a, float):
        return abs(a - b)
    return 0.0 if a == b else float("inf")


def run_benchmark(seeds: int = 4, batch: int = 64, steps: int = 50, updates: int = 20, widths: list[int] | None = None,
                  repeats: int = 3, encoding: list[str] | None = None, fusion_seeds: int = 10) -> dict[str, Any]:
    result: dict[str, Any] = {"sharding": bench_sharding(seeds, batch, steps, updates, widths or [64, 64], repeats)}
    result["library_fusion"] = bench_library_fusion(fusion_seeds, batch, steps, updates, repeats)
    with tempfile.TemporaryDirectory() as tmp:
        result["encoding"] = bench_chunked_encoding(list(encoding or ["task=encoding"]), Path(tmp))
    result["cpu_count"] = os.cpu_count()
    return result


def format_table(result: dict[str, Any]) -> str:
    s, e, f = result["sharding"], result["encoding"], result["library_fusion"]
    return "\n".join([
        f"sharded training ({s['platform']}, {s['settings']['seeds']} seeds, batch {s['settings']['batch']} x "
        f"{s['settings']['steps']} steps, {s['settings']['updates']} updates/epoch): 1 device "
        f"{s['devices_1']['epoch_s']:.2f} s/epoch | 2 devices {s['devices_2']['epoch_s']:.2f} s/epoch | "
        f"ratio {s['speedup_2_vs_1']:.2f}x",
        f"paper's unilateral controller on the MotorNet-TF arm ({f['settings']['seeds']} seeds, 1 device): "
        f"YNNPACK fusion on {f['ynn_on']['epoch_s']:.2f} s/epoch | off {f['ynn_off']['epoch_s']:.2f} s/epoch | "
        f"ratio {f['speedup_off_vs_on']:.2f}x | max relative val-loss difference {f['max_val_loss_difference']:.1e}",
        f"encoding ({' '.join(e['overrides'])}): 1 process {e['single_process_s']:.1f} s | 2 chunk processes "
        f"{e['two_chunk_processes_s']:.1f} s + merge {e['merge_s']:.1f} s | ratio {e['speedup_chunks_only']:.2f}x "
        f"(chunks only), {e['speedup_with_merge']:.2f}x (with merge) | max metric difference "
        f"{e['max_metric_difference']:.1e} | {result['cpu_count']} CPU cores",
    ])


@dataclass(frozen=True)
class Settings:
    """The benchmark's settings (``python -m benchmarks runner key=value ...``): the keyword
    arguments of :func:`run_benchmark`."""

    seeds: int = 4
    batch: int = 64
    steps: int = 50
    updates: int = 20
    widths: tuple[int, ...] = (64, 64)
    repeats: int = 3
    fusion_seeds: int = 10
    encoding: tuple[str, ...] = ("task=encoding", "task.n_permutations=1000")
