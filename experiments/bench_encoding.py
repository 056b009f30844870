"""Encoding benchmark: ``brain.RidgeEncoder`` against himalaya's ``RidgeCV``, same data, one run.

``run_benchmark(...)`` plants a linear model, ``Y = X W + noise`` (float32; ``X`` ~ N(0, 1),
noise sd ``NOISE_SD``, per-voxel signal sd log-uniform in ``SIGNAL_SD_RANGE`` so that the
best alpha differs across voxels), and fits it with

1. ours: ``RidgeEncoder(delays=[0], alphas=logspace(-1, 4, n_alphas), cv=cv, zscore=True)``
   (JAX): the first call (compiling) and ``repeats`` warm calls, timed apart;
2. himalaya 0.4 ``RidgeCV`` on its numpy backend (``repeats`` calls), set up to solve the
   same problem: the features z-scored and the responses centred with the training
   statistics exactly as ``RidgeEncoder`` does (inside the timed call), ``fit_intercept=False``,
   ``cv=KFold(cv)`` (contiguous blocks, identical to ``brain.ridge.cv_folds``; checked), and
   ``score_func=correlation_score`` (mean Pearson r over folds, our ``score_cv="r"``).

It reports per-voxel test Pearson r of both against the theoretical r of the planted model,
their agreement (mean-r difference, correlation of per-voxel r across voxels, chosen alphas,
predictions) and the speed ratio, with targets. ``peers=False`` skips himalaya; a failing
peer is recorded with its reason. ``format_table(result)`` renders the result as plain text.

Run ``python -m experiments.bench_encoding`` (``--quick`` for a small run) from the
repository root; it prints the table to stdout, then the JSON.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time
import warnings
from typing import Any

import numpy as np

from brain import RidgeEncoder, pearson_r
from brain.ridge import cv_folds
from experiments.bench_timing import (
    Logger, cpu_snapshot, finite_or_none, fmt, grid, guard, interference, interference_line, machine,
    make_logger, time_calls, versions,
)

NOISE_SD = 2.0
SIGNAL_SD_RANGE = (0.1, 4.0)  # per-voxel signal sd, log-uniform
WEIGHT_DECAY = 0.5  # feature j's weight variance ~ (1 + j) ** -WEIGHT_DECAY before normalising
ZSCORE = True
HIMALAYA_SOLVER_PARAMS = {"score_func": "himalaya.scoring.correlation_score"}  # as recorded
TIE_TOL = 1e-4  # CV-score difference below which two alphas count as a numerical tie
TARGETS: dict[str, tuple[str, float]] = {  # agreement value: (comparison, target)
    "mean_test_r_abs_diff": ("<", 0.005),
    "per_voxel_r_correlation": (">", 0.99),
    "speed_ratio_himalaya_over_ours_warm": (">=", 5.0),
}
DIST_NAMES = ("jax", "jaxlib", "numpy", "scipy", "himalaya", "scikit-learn", "threadpoolctl", "callosum")
BANDED = {"available": False, "reason": "not measured yet: brain.BandedRidgeEncoder has not been "
          "benchmarked against himalaya BandedRidgeCV"}


# -- data ------------------------------------------------------------------------------------
def make_planted(n_train: int, n_test: int, n_features: int, n_voxels: int, seed: int) -> dict[str, np.ndarray]:
    """Planted linear data, float32: ``X_train`` (n_train, F), ``X_test`` (n_test, F),
    ``Y_train`` (n_train, V), ``Y_test`` (n_test, V), ``W`` (F, V), ``signal_sd`` (V,) and
    ``theoretical_r`` (V,) = ``s / sqrt(s^2 + NOISE_SD^2)``, the population correlation between
    a voxel and its true signal (each weight column has norm ``s``; X has identity covariance),
    and ``ols_expected_r`` (V,) = ``s^2 / sqrt((s^2 + sd^2) (s^2 + sd^2 F / (n_train - F - 1)))``:
    the same with the mean estimation error of least squares added to the prediction.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_train + n_test, n_features), dtype=np.float32)
    decay = (1.0 + np.arange(n_features)) ** (-WEIGHT_DECAY / 2)
    W = rng.standard_normal((n_features, n_voxels)) * decay[:, None]
    signal_sd = np.exp(rng.uniform(*np.log(SIGNAL_SD_RANGE), n_voxels))
    W = (W / np.linalg.norm(W, axis=0) * signal_sd).astype(np.float32)
    Y = X @ W + NOISE_SD * rng.standard_normal((X.shape[0], n_voxels), dtype=np.float32)
    s2, n2 = signal_sd**2, NOISE_SD**2
    error = n2 * n_features / (n_train - n_features - 1) if n_train > n_features + 1 else np.inf
    return {"X_train": X[:n_train], "X_test": X[n_train:], "Y_train": Y[:n_train], "Y_test": Y[n_train:],
            "W": W, "signal_sd": signal_sd, "theoretical_r": np.sqrt(s2 / (s2 + n2)),
            "ols_expected_r": s2 / np.sqrt((s2 + n2) * (s2 + error))}


def _r_stats(r: np.ndarray) -> dict[str, Any]:
    """Summary of per-voxel r (V,): mean, median, 5/95 % quantiles, NaN count."""
    finite = r[np.isfinite(r)]
    q = np.quantile(finite, [0.05, 0.5, 0.95]) if finite.size else [np.nan] * 3
    return {"mean": finite_or_none(float(np.mean(finite, dtype=np.float64))) if finite.size else None,
            "median": finite_or_none(q[1]), "q05": finite_or_none(q[0]), "q95": finite_or_none(q[2]),
            "n_nan": int(r.size - finite.size)}


def _alpha_counts(best: np.ndarray, alphas: np.ndarray) -> list[int]:
    """How many voxels chose each grid alpha (n_alphas,), matched on a log scale."""
    return np.bincount(_grid_index(best, alphas), minlength=alphas.size).tolist()


def _grid_index(best: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Index (V,) of the grid alpha nearest (in log) to each chosen alpha (V,)."""
    return np.argmin(np.abs(np.log(best.astype(np.float64))[:, None] - np.log(alphas)[None, :]), axis=1)


# -- fits ------------------------------------------------------------------------------------
def _bench_ours(data: dict[str, np.ndarray], alphas: np.ndarray, cv: int, repeats: int) -> dict[str, Any]:
    """Fit time of ``RidgeEncoder`` (first call with compilation, then warm calls), test r.

    The returned ``_arrays`` (dropped before JSON) hold ``test_r`` (V,), ``best_alphas`` (V,),
    ``cv_scores`` (n_alphas, V) and ``pred`` (n_test, V).
    """
    fitted: list[RidgeEncoder] = []

    def fit() -> np.ndarray:
        fitted.append(RidgeEncoder(delays=[0], alphas=alphas, cv=cv, zscore=ZSCORE)
                      .fit(data["X_train"], data["Y_train"]))
        return fitted[-1].coef_

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = time_calls(fit, 1)
        warm = time_calls(fit, repeats)
    enc = fitted[0]
    test_r = np.asarray(enc.score(data["X_test"], data["Y_test"]))
    return {
        "settings": {"delays": [0], "cv": cv, "zscore": ZSCORE, "score_cv": enc.score_cv,
                     "voxel_batch": enc.voxel_batch, "dtype": enc.dtype},
        "first_call_s": first["median_s"], "warm": warm, "fit_s": warm["median_s"],
        "test_r": _r_stats(test_r), "alpha_counts": _alpha_counts(enc.best_alphas_, alphas),
        "cv_score_range_over_alphas": _r_stats(np.ptp(enc.cv_scores_, axis=0)),
        "warnings": sorted({str(w.message) for w in caught}),
        "_arrays": {"test_r": test_r, "best_alphas": enc.best_alphas_, "cv_scores": enc.cv_scores_,
                    "pred": enc.predict(data["X_test"])},
    }


def _prepare(data: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``RidgeEncoder``'s preprocessing, in numpy: z-scored ``X_train`` (n_train, F) and
    ``X_test`` (n_test, F) with the training statistics, centred ``Y_train`` (n_train, V), and
    the training mean of Y (V,) to add back to predictions."""
    mean = data["X_train"].mean(axis=0)
    scale = data["X_train"].std(axis=0) if ZSCORE else np.ones_like(mean)
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    y_mean = data["Y_train"].mean(axis=0)
    return ((data["X_train"] - mean) / scale, (data["X_test"] - mean) / scale,
            data["Y_train"] - y_mean, y_mean)


def _bench_himalaya(data: dict[str, np.ndarray], alphas: np.ndarray, cv: int, repeats: int) -> dict[str, Any]:
    """Fit time of himalaya ``RidgeCV`` (numpy backend, preprocessing included), test r.

    himalaya's backend is global: set to numpy here and restored afterwards. ``_arrays`` hold
    ``test_r`` (V,), ``best_alphas`` (V,), ``cv_best`` (V,) (CV score at the best alpha),
    ``pred`` (n_test, V).
    """
    from himalaya.backend import get_backend, set_backend
    from himalaya.ridge import RidgeCV
    from himalaya.scoring import correlation_score
    from sklearn.model_selection import KFold

    splitter = KFold(n_splits=cv)
    ours = cv_folds(data["X_train"].shape[0], cv)
    theirs = list(splitter.split(data["X_train"]))
    same_folds = len(ours) == len(theirs) and all(
        np.array_equal(a, c) and np.array_equal(b, d) for (a, b), (c, d) in zip(ours, theirs))
    fitted: list[tuple[Any, np.ndarray, np.ndarray]] = []

    def fit() -> None:
        X_train, X_test, Y_train, y_mean = _prepare(data)
        model = RidgeCV(alphas=alphas, fit_intercept=False, cv=splitter,
                        solver_params={"score_func": correlation_score})
        fitted.append((model.fit(X_train, Y_train), X_test, y_mean))

    previous = get_backend().name
    set_backend("numpy")
    try:
        timing = time_calls(fit, repeats)
    finally:
        set_backend(previous)
    model, X_test, y_mean = fitted[0]
    pred = np.asarray(X_test @ model.coef_ + y_mean)
    test_r = np.asarray(pearson_r(data["Y_test"], pred))
    best = np.asarray(model.best_alphas_)
    return {
        "settings": {"backend": "numpy", "cv": f"KFold(n_splits={cv})", "folds_identical_to_ours": same_folds,
                     "fit_intercept": False, "solver_params": HIMALAYA_SOLVER_PARAMS,
                     "preprocessing": "z-score X, centre Y with training statistics (timed)",
                     "coef_dtype": str(np.asarray(model.coef_).dtype)},
        "timing": timing, "fit_s": timing["median_s"], "test_r": _r_stats(test_r),
        "alpha_counts": _alpha_counts(best, alphas),
        "_arrays": {"test_r": test_r, "best_alphas": best, "cv_best": np.asarray(model.cv_scores_), "pred": pred},
    }


# -- comparison ------------------------------------------------------------------------------
def _agreement(ours: dict[str, Any], peer: dict[str, Any], alphas: np.ndarray) -> dict[str, Any]:
    """Per-voxel agreement of the two fits (arrays from ``_arrays``) and the speed ratio."""
    a, b = ours["_arrays"], peer["_arrays"]
    ok = np.isfinite(a["test_r"]) & np.isfinite(b["test_r"])
    ia, ib = _grid_index(a["best_alphas"], alphas), _grid_index(b["best_alphas"], alphas)
    voxels = np.arange(ia.size)
    mean_a, mean_b = np.mean(a["test_r"][ok], dtype=np.float64), np.mean(b["test_r"][ok], dtype=np.float64)
    differ = ia != ib
    tie = np.abs(a["cv_scores"][ia, voxels] - a["cv_scores"][ib, voxels]) < TIE_TOL
    return {
        "mean_test_r_ours": float(mean_a), "mean_test_r_himalaya": float(mean_b),
        "mean_test_r_abs_diff": float(abs(mean_a - mean_b)),
        "per_voxel_r_correlation": float(np.corrcoef(a["test_r"][ok], b["test_r"][ok])[0, 1]),
        "per_voxel_r_max_abs_diff": float(np.max(np.abs(a["test_r"][ok] - b["test_r"][ok]))),
        "fraction_identical_alpha": float(np.mean(~differ)),
        "fraction_alpha_within_one_grid_step": float(np.mean(np.abs(ia - ib) <= 1)),
        "alpha_disagreements_that_are_cv_ties": int(np.sum(differ & tie)),
        "alpha_disagreements": int(np.sum(differ)),
        "best_cv_score_max_abs_diff": float(np.nanmax(np.abs(np.nanmax(a["cv_scores"], axis=0) - b["cv_best"]))),
        "prediction_relative_diff": float(np.linalg.norm(a["pred"] - b["pred"]) / np.linalg.norm(b["pred"])),
        "speed_ratio_himalaya_over_ours_warm": float(peer["fit_s"] / ours["fit_s"]),
        "speed_ratio_himalaya_over_ours_first_call": float(peer["fit_s"] / ours["first_call_s"]),
    }


def _targets(agreement: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, (op, target) in TARGETS.items():
        value = agreement.get(name)
        met = None if value is None else bool(value < target if op == "<" else
                                               value > target if op == ">" else value >= target)
        out[name] = {"value": value, "target": f"{op} {target:g}", "meets_target": met}
    return out


def _threads() -> dict[str, Any]:
    """Thread settings that govern both fits: env variables and numpy's BLAS pools."""
    env = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS")}
    try:
        from threadpoolctl import threadpool_info

        pools = [{k: p.get(k) for k in ("internal_api", "num_threads", "version")} for p in threadpool_info()]
    except ImportError:
        pools = None
    return {"env": env, "threadpools": pools}


def run_benchmark(
    n_train: int = 3000, n_test: int = 1000, n_features: int = 512, n_voxels: int = 20000,
    n_alphas: int = 20, cv: int = 5, repeats: int = 1, seed: int = 0, peers: bool = True,
    progress: bool = True,
) -> dict:
    """Run every measurement (see module docstring); returns a JSON-serialisable dict."""
    log: Logger = make_logger(progress, "bench_encoding")
    t_start, cpu_start = time.perf_counter(), cpu_snapshot()
    alphas = np.logspace(-1, 4, n_alphas)
    log(f"planting data: {n_train}+{n_test} TRs x {n_features} features x {n_voxels} voxels ...")
    data = make_planted(n_train, n_test, n_features, n_voxels, seed)
    oracle_r = np.asarray(pearson_r(data["Y_test"], data["X_test"] @ data["W"]))
    log("callosum RidgeEncoder (first call compiles) ...")
    ours = _bench_ours(data, alphas, cv, repeats)
    log(f"callosum: first {ours['first_call_s']:.2f} s, warm {ours['fit_s']:.2f} s, "
        f"mean test r {ours['test_r']['mean']:.4f}")
    peer = guard("himalaya RidgeCV (numpy backend)", log, _bench_himalaya, data, alphas, cv, repeats) if peers else None
    agreement = _agreement(ours, peer, alphas) if peer and peer["available"] else None
    for rec in (ours, peer):
        if rec:
            rec.pop("_arrays", None)
    result: dict[str, Any] = {
        "meta": {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "settings": {"n_train": n_train, "n_test": n_test, "n_features": n_features, "n_voxels": n_voxels,
                         "n_alphas": n_alphas, "alphas": alphas.tolist(), "cv": cv, "repeats": repeats,
                         "seed": seed, "peers": peers, "dtype": "float32", "statistic": "median of repeats"},
            "data": {"model": "Y = X W + noise, X ~ N(0, 1)", "noise_sd": NOISE_SD,
                     "signal_sd_range_loguniform": list(SIGNAL_SD_RANGE), "weight_decay": WEIGHT_DECAY},
            "machine": {**machine(), "threads": _threads()}, "versions": versions(DIST_NAMES),
        },
        "theoretical_r": _r_stats(data["theoretical_r"]), "oracle_test_r": _r_stats(oracle_r),
        "ols_expected_r": _r_stats(data["ols_expected_r"]),
        "ours": ours, "peers": {"himalaya_ridge_cv": peer} if peer else {}, "agreement": agreement,
        "targets": _targets(agreement) if agreement else {}, "banded_ridge": BANDED,
    }
    result["meta"]["interference"] = interference(cpu_start, cpu_snapshot())
    result["wall_s"] = time.perf_counter() - t_start
    log(f"done in {result['wall_s']:.1f} s")
    return json.loads(json.dumps(result, default=str))  # plain JSON types only


# -- table -----------------------------------------------------------------------------------
def _fit_rows(result: dict[str, Any]) -> list[list[str]]:
    refs = [("theoretical r (planted)", "theoretical_r"), ("oracle r (true W on test)", "oracle_test_r"),
            ("expected r with OLS error", "ols_expected_r")]
    rows = [[name, "-", "-", fmt(result[k]["mean"], ".4f"), fmt(result[k]["median"], ".4f"), ""]
            for name, k in refs]
    o = result["ours"]
    rows.append(["callosum RidgeEncoder (JAX)", fmt(o["first_call_s"]), fmt(o["fit_s"]),
                 fmt(o["test_r"]["mean"], ".4f"), fmt(o["test_r"]["median"], ".4f"),
                 f"CV r range over alphas: median {fmt(o['cv_score_range_over_alphas']['median'])}"])
    for rec in result["peers"].values():
        if not rec.get("available"):
            rows.append(["himalaya RidgeCV (numpy)", "-", "-", "-", "-", f"unavailable: {rec['reason'][:60]}"])
            continue
        rows.append(["himalaya RidgeCV (numpy)", "-", fmt(rec["fit_s"]), fmt(rec["test_r"]["mean"], ".4f"),
                     fmt(rec["test_r"]["median"], ".4f"),
                     f"folds identical: {fmt(rec['settings']['folds_identical_to_ours'])}"])
    return rows


def format_table(result: dict) -> str:
    """Plain-text rendering of ``run_benchmark``'s result, with agreement and target rows."""
    meta, s = result["meta"], result["meta"]["settings"]
    parts = [(f"Encoding benchmark {meta['date']}  ({meta['machine']['jax_backend']}, "
              f"{meta['machine']['cpus_available']} CPUs, {s['dtype']})"),
             (f"ridge, {s['n_train']} train / {s['n_test']} test TRs, {s['n_features']} features, "
              f"{s['n_voxels']} voxels, {s['n_alphas']} alphas logspace(-1, 4), {s['cv']}-fold CV; "
              f"noise sd {meta['data']['noise_sd']:g}; {s['statistic']} of {s['repeats']}"),
             "", grid(["fit", "first_call_s", "fit_s", "mean test r", "median test r", "note"], _fit_rows(result))]
    if result["agreement"]:
        skip = set(TARGETS)
        rows = [[k, fmt(v, ".4g")] for k, v in result["agreement"].items() if k not in skip]
        parts += ["", "Agreement (callosum vs himalaya)", grid(["measure", "value"], rows)]
        trows = [[k, fmt(t["value"], ".4g"), t["target"], fmt(t["meets_target"])]
                 for k, t in result["targets"].items()]
        parts += ["", "Targets", grid(["measure", "value", "target", "meets_target"], trows)]
    parts += ["", f"banded ridge: {result['banded_ridge']['reason']}"]
    for w in result["ours"]["warnings"]:
        parts.append(f"callosum warning: {w}")
    parts += ["", f"wall time {result['wall_s']:.1f} s; " + interference_line(meta.get("interference", {}))]
    return "\n".join(parts)


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n-train", type=int, default=3000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--n-features", type=int, default=512)
    parser.add_argument("--n-voxels", type=int, default=20000)
    parser.add_argument("--n-alphas", type=int, default=20)
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--quick", action="store_true", help="1000/300 TRs, 128 features, 2000 voxels")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_train, args.n_test, args.n_features, args.n_voxels = 1000, 300, 128, 2000
    result = run_benchmark(args.n_train, args.n_test, args.n_features, args.n_voxels, args.n_alphas, args.cv,
                           args.repeats, args.seed, peers=not args.no_peers)
    print(format_table(result))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    _main()
