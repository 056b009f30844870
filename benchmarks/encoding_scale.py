"""Paper-sized encoding benchmark: one subject of Oota et al.'s size through
``brain.RidgeEncoder``, in a fresh process so its peak memory is its own.

Defaults: 11,000 training TRs (+ 2,013 test TRs), 4,096 features x 5 FIR delays (20,480
columns), 81,924 vertices (fsaverage6), 20 alphas, 5 folds, float32. The data are planted:
smooth AR(1) features, each voxel a random linear read-out of the delayed features plus
noise, generated chunk by chunk. Reported: wall seconds for generation, fit (CV + refit),
prediction and scoring, peak resident memory of the process (``VmHWM``), mean test r,
and the device JAX used. ``python -m benchmarks encoding_scale``.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import time
from dataclasses import dataclass
from typing import Any

import numpy as np


def _planted(n_train: int, n_test: int, n_features: int, n_voxels: int, delays: list[int], seed: int,
             chunk: int) -> tuple[np.ndarray, ...]:
    from brain.delays import make_delays

    rng = np.random.default_rng(seed)
    n = n_train + n_test
    X = np.empty((n, n_features), np.float32)
    X[0] = rng.standard_normal(n_features)
    for t in range(1, n):  # AR(1), like slowly varying model features
        X[t] = 0.7 * X[t - 1] + np.sqrt(1 - 0.49) * rng.standard_normal(n_features, dtype=np.float32)
    design = make_delays(X, delays)
    design /= np.sqrt(design.shape[1])
    Y = np.empty((n, n_voxels), np.float32)
    for s in range(0, n_voxels, chunk):
        e = min(s + chunk, n_voxels)
        W = rng.standard_normal((design.shape[1], e - s), dtype=np.float32)
        signal = design @ W
        signal /= signal.std(axis=0)
        Y[:, s:e] = signal * rng.uniform(0.2, 1.0, e - s).astype(np.float32)
        Y[:, s:e] += rng.standard_normal((n, e - s), dtype=np.float32)
    del design
    return X[:n_train], X[n_train:], Y[:n_train], Y[n_train:]


def _peak_rss_gb() -> float:
    """This process's peak resident memory: VmHWM of its own address space (ru_maxrss would
    also count the parent's memory at fork time, which Linux carries across exec)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _child(settings: dict[str, Any], queue: Any) -> None:
    try:
        import jax

        from brain.ridge import RidgeEncoder
        from brain.scoring import pearson_r

        out: dict[str, Any] = {"device": str(jax.devices()[0]), "backend": jax.default_backend()}
        t0 = time.perf_counter()
        X_train, X_test, Y_train, Y_test = _planted(
            settings["n_train"], settings["n_test"], settings["n_features"], settings["n_voxels"],
            settings["delays"], settings["seed"], settings["voxel_batch"])
        out["generate_s"] = time.perf_counter() - t0
        alphas = np.logspace(settings["alpha_min"], settings["alpha_max"], settings["n_alphas"])
        enc = RidgeEncoder(delays=settings["delays"], alphas=alphas, cv=settings["cv"],
                           voxel_batch=settings["voxel_batch"])
        t0 = time.perf_counter()
        enc.fit(X_train, Y_train)
        out["fit_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        pred = enc.predict(X_test)
        out["predict_s"] = time.perf_counter() - t0
        r = np.asarray(pearson_r(Y_test, pred))
        out["mean_test_r"] = float(np.nanmean(r))
        out["total_s"] = out["fit_s"] + out["predict_s"]
        out["peak_rss_gb"] = _peak_rss_gb()
        out["alphas_at_grid_edges"] = int(np.isin(enc.best_alphas_, alphas[[0, -1]]).sum())
        queue.put(out)
    except BaseException as exc:  # noqa: BLE001 - report any failure of the child to the parent
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def run_benchmark(n_train: int = 11000, n_test: int = 2013, n_features: int = 4096, n_delays: int = 5,
                  n_voxels: int = 81924, n_alphas: int = 20, cv: int = 5, voxel_batch: int = 4096,
                  seed: int = 0, alpha_min: float = -2.0, alpha_max: float = 7.0) -> dict[str, Any]:
    settings = {"n_train": n_train, "n_test": n_test, "n_features": n_features,
                "delays": list(range(1, n_delays + 1)), "n_voxels": n_voxels, "n_alphas": n_alphas, "cv": cv,
                "voxel_batch": voxel_batch, "seed": seed, "alpha_min": alpha_min, "alpha_max": alpha_max}
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(settings, queue))
    t0 = time.perf_counter()
    proc.start()
    result = queue.get()
    proc.join()
    wall = time.perf_counter() - t0
    if "error" in result:
        raise RuntimeError(f"scale benchmark failed in its process: {result['error']}")
    targets = {"total_minutes_below_30": result["total_s"] / 60 < 30, "peak_rss_gb_below_16": result["peak_rss_gb"] < 16}
    return {"settings": settings, "columns": n_features * n_delays, **result, "process_wall_s": wall,
            "targets": targets}


def format_table(result: dict[str, Any]) -> str:
    s = result["settings"]
    return "\n".join([
        f"paper-sized subject: {s['n_train']} + {s['n_test']} TRs, {result['columns']} columns, "
        f"{s['n_voxels']} voxels, {s['n_alphas']} alphas, {s['cv']} folds ({result['device']})",
        f"generate {result['generate_s']:.0f} s | fit {result['fit_s']:.0f} s | predict {result['predict_s']:.0f} s | "
        f"fit + predict {result['total_s'] / 60:.1f} min (target < 30) | peak RSS {result['peak_rss_gb']:.1f} GB "
        f"(target < 16) | mean test r {result['mean_test_r']:.3f}",
    ])


@dataclass(frozen=True)
class Settings:
    """The benchmark's settings (``python -m benchmarks encoding_scale key=value ...``): the keyword
    arguments of :func:`run_benchmark`."""

    n_train: int = 11000
    n_test: int = 2013
    n_features: int = 4096
    n_delays: int = 5
    n_voxels: int = 81924
    n_alphas: int = 20
    cv: int = 5
    voxel_batch: int = 4096
    seed: int = 0
