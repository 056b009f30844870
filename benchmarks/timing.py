"""Helpers shared by the benchmarks: timed calls, rates, guarded peers, progress, machine and
interference records, and plain-text tables."""

from __future__ import annotations

import importlib.metadata
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import jax

Logger = Callable[[str], None]


def report_result(result: dict[str, Any], table: str, out_dir: Any, name: str) -> dict[str, Any]:
    """A benchmark's end as a runner task: print its ``table``, write ``result`` to
    ``out_dir/name`` (JSON, atomically) and return it."""
    from pathlib import Path

    from experiments.io import write_json

    print(table)
    write_json(Path(out_dir) / name, result)
    return result


def make_logger(enabled: bool, name: str = "bench") -> Logger:
    start = time.perf_counter()

    def log(message: str) -> None:
        if enabled:
            print(f"[{name} {time.perf_counter() - start:6.1f}s] {message}", file=sys.stderr, flush=True)

    return log


def time_calls(fn: Callable[[], Any], repeats: int, setup: Callable[[], Any] | None = None) -> dict[str, Any]:
    """Time ``repeats`` calls of ``fn`` (outputs blocked on); ``setup`` runs untimed before each."""
    times = []
    for _ in range(max(1, repeats)):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return {"times_s": times, "median_s": statistics.median(times), "best_s": min(times)}


def rate(timing: dict[str, Any], n: float) -> float:
    return float(n / timing["median_s"])


def guard(name: str, log: Logger, fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run one peer measurement; on any failure record why instead of raising."""
    log(f"{name} ...")
    try:
        out = fn(*args)
        out["available"] = True
        return out
    except Exception as exc:  # noqa: BLE001 - a peer may fail in any way; record it
        log(f"{name} unavailable: {type(exc).__name__}: {exc}")
        return {"available": False, "reason": f"{type(exc).__name__}: {exc}"}


# -- machine, interference and table helpers shared by the benchmarks -----------------
def finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def machine() -> dict[str, Any]:
    cpu_model = None
    try:
        with open("/proc/cpuinfo") as fh:
            cpu_model = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), None)
    except OSError:
        pass
    return {
        "jax_devices": [str(d) for d in jax.devices()], "jax_backend": jax.default_backend(),
        "jax_enable_x64": bool(jax.config.jax_enable_x64),
        "jax_compilation_cache_dir": jax.config.jax_compilation_cache_dir,
        "platform": platform.platform(), "python": platform.python_version(),
        "cpu_model": cpu_model, "cpu_count": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }


def cpu_snapshot() -> dict[str, float]:
    """System busy and steal CPU seconds (/proc/stat), this process's CPU seconds, wall clock."""
    busy = steal = float("nan")
    try:
        with open("/proc/stat") as fh:
            fields = [float(x) for x in fh.readline().split()[1:]]
        tick = os.sysconf("SC_CLK_TCK")
        busy = (fields[0] + fields[1] + fields[2] + fields[5] + fields[6]) / tick
        steal = fields[7] / tick if len(fields) > 7 else 0.0
    except (OSError, ValueError, IndexError):
        pass
    t = os.times()
    return {"busy": busy, "steal": steal, "own": t.user + t.system, "wall": time.perf_counter()}


def interference(start: dict[str, float], end: dict[str, float]) -> dict[str, Any]:
    """CPU time that other processes (and the hypervisor, as steal) took during the run; large
    values mean the timings are contaminated."""
    wall = end["wall"] - start["wall"]
    other = (end["busy"] - start["busy"]) - (end["own"] - start["own"])
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return {
        "other_processes_cpu_s": finite_or_none(other),
        "other_processes_share_of_capacity": finite_or_none(other / (wall * cpus)),
        "steal_s": finite_or_none(end["steal"] - start["steal"]),
        "loadavg_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def fmt(value: Any, spec: str = ".3g") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


def grid(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def interference_line(info: dict[str, Any]) -> str:
    share = info.get("other_processes_share_of_capacity")
    return (f"other processes used {fmt(info.get('other_processes_cpu_s'))} CPU-s "
            f"({fmt(None if share is None else 100 * share)}% of capacity), steal {fmt(info.get('steal_s'))} s")


def versions(names: tuple[str, ...]) -> dict[str, str | None]:
    """Installed versions of the distributions ``names`` (None where not installed)."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out
