"""Timing helpers shared by the benchmarks: repeated calls, rates, guarded peers, progress."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import jax

Logger = Callable[[str], None]


def make_logger(enabled: bool) -> Logger:
    start = time.perf_counter()

    def log(message: str) -> None:
        if enabled:
            print(f"[bench_envs {time.perf_counter() - start:6.1f}s] {message}", file=sys.stderr, flush=True)

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
