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

Banded ridge (``result["banded"]``, ``banded=False`` skips it): ``make_planted_banded`` plants
two feature spaces, ``Y = X1 W1 + X2 W2 + noise``, where each voxel's signal variance is split
between the spaces (planted groups: mostly space 1, mostly space 2, both), so the best ratio
of the two penalties differs across voxels. Both sides search the SAME grid of per-space
penalties ``alpha * c`` (``c``: ``band_candidates(2, logspace(-3, 3, n_banded_ratios))``,
rows with geometric mean 1; ``alpha``: ``logspace(0, 5, n_banded_alphas)``):

1. ours: ``BandedRidgeEncoder(delays=[0], alphas, ratios, cv, zscore=True)`` (bands scaled by
   ``1 / sqrt(c_k)``, one penalty ``alpha``), first call and ``repeats`` warm calls;
2. himalaya ``BandedRidgeCV(groups="input", solver="random_search")`` on the numpy backend
   with ``solver_params`` from ``himalaya_banded_solver_params``: ``n_iter`` = the array of
   gammas ``1 / c`` and the same ``alphas``. himalaya scales space k by ``sqrt(gamma_k)``
   and applies one ``alpha``, so its per-space penalty is ``alpha / gamma_k = alpha * c_k``,
   identical to ours, and its ``deltas_ = log(gamma / alpha)`` give the penalties as
   ``exp(-deltas_)``. It does not require gammas on the simplex (an explicit ``n_iter`` array
   is used as given); normalising them to sum 1 would rescale each candidate's alphas by a
   different factor (``sum_k 1 / c_k``), which one shared alpha grid cannot follow, so the
   gammas are left as ``1 / c`` (himalaya's ``best_alphas_ = alpha / sum(gamma)`` is then not
   ``alpha``; the benchmark reads ``deltas_``). ``correlation_score``, ``KFold(cv)``,
   ``fit_intercept=False`` on z-scored X / centred Y, as for ``RidgeCV``. In float64 the two
   choose the same per-space penalties for every voxel (tested).

The banded agreement adds choice agreement on the (candidate, alpha) grid (disagreements
whose CV scores differ by less than ``TIE_TOL`` count as numerical ties), the largest gap
between the per-candidate best CV scores of the two, and how far himalaya's chosen penalties
lie off our grid (0 up to float rounding when the mapping is right).

Run it as ``python -m benchmarks encoding`` (settings: ``task.*``, e.g.
``task.n_voxels=2000``); it prints the table and writes ``bench_encoding.json``.
"""

from __future__ import annotations

import datetime
import json
import os
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.timing import (
    Logger,
    cpu_snapshot,
    finite_or_none,
    fmt,
    grid,
    guard,
    interference,
    interference_line,
    machine,
    make_logger,
    time_calls,
    versions,
)
from brain import BandedRidgeEncoder, RidgeEncoder, pearson_r
from brain.banded import band_candidates
from brain.ridge import cv_folds

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
# banded ridge: share of a voxel's signal variance from space 1, uniform in these ranges per group
BANDED_GROUPS: dict[str, tuple[float, float]] = {"space 1": (0.9, 1.0), "space 2": (0.0, 0.1),
                                                 "both": (0.25, 0.75)}
BANDED_ALPHA_LOG10 = (0.0, 5.0)  # common penalty grid logspace(0, 5, n_banded_alphas)
BANDED_RATIO_LOG10 = 3.0  # candidate ratios alpha_2 / alpha_1 in logspace(-3, 3, n_banded_ratios)
BANDED_TARGETS: dict[str, tuple[str, float]] = {
    "mean_test_r_abs_diff": ("<", 0.005),
    "per_voxel_r_correlation": (">", 0.99),
}


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


def make_planted_banded(n_train: int, n_test: int, n_features: int, n_voxels: int,
                        seed: int) -> dict[str, Any]:
    """Planted two-space data, float32, in ``make_planted``'s style: ``Xs_train`` / ``Xs_test``
    (lists of 2 arrays (n_train | n_test, F), N(0, 1)), ``Y_train`` (n_train, V), ``Y_test``
    (n_test, V) with ``Y = X1 W1 + X2 W2 + noise`` (noise sd ``NOISE_SD``), ``Ws`` (2 arrays
    (F, V)), ``group`` (V,) index into ``BANDED_GROUPS``, ``share`` (V,) the share of signal
    variance from space 1 (uniform in the group's range), ``signal_sd`` (V, 2) per space
    (total sd log-uniform in ``SIGNAL_SD_RANGE``, split as ``sqrt(share)``, ``sqrt(1 - share)``),
    ``theoretical_r`` (V,) = ``s / sqrt(s^2 + NOISE_SD^2)`` for the total sd ``s``, and
    ``planted_log10_ratio`` (V,) = ``log10(s1^2 / s2^2)``: the population-optimal
    ``log10(alpha_2 / alpha_1)`` for isotropic weights (alpha_k ~ NOISE_SD^2 F / s_k^2).
    """
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    Xs = [rng.standard_normal((n, n_features), dtype=np.float32) for _ in range(2)]
    decay = (1.0 + np.arange(n_features)) ** (-WEIGHT_DECAY / 2)
    total = np.exp(rng.uniform(*np.log(SIGNAL_SD_RANGE), n_voxels))
    group = rng.permutation(np.arange(n_voxels) % len(BANDED_GROUPS))
    low, high = np.array(list(BANDED_GROUPS.values())).T
    share = rng.uniform(low[group], high[group])
    signal_sd = total[:, None] * np.sqrt(np.column_stack([share, 1.0 - share]))
    Ws = []
    for k in range(2):
        W = rng.standard_normal((n_features, n_voxels)) * decay[:, None]
        Ws.append((W / np.linalg.norm(W, axis=0) * signal_sd[:, k]).astype(np.float32))
    Y = Xs[0] @ Ws[0] + Xs[1] @ Ws[1] + NOISE_SD * rng.standard_normal((n, n_voxels), dtype=np.float32)
    s2 = total**2
    with np.errstate(divide="ignore"):
        log_ratio = np.log10(share) - np.log10(1.0 - share)
    return {"Xs_train": [X[:n_train] for X in Xs], "Xs_test": [X[n_train:] for X in Xs],
            "Y_train": Y[:n_train], "Y_test": Y[n_train:], "Ws": Ws, "group": group, "share": share,
            "signal_sd": signal_sd, "theoretical_r": np.sqrt(s2 / (s2 + NOISE_SD**2)),
            "planted_log10_ratio": log_ratio}


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
def _timed_fits(make: Any, X: Any, Y: np.ndarray, repeats: int) -> tuple[Any, dict, dict, list]:
    """Fit ``make()`` on (X, Y) once (compiling), then ``repeats`` warm times; returns the first
    fitted estimator, the first and warm timings and the warnings raised."""
    fitted: list[Any] = []

    def fit() -> np.ndarray:
        fitted.append(make().fit(X, Y))
        return fitted[-1].coef_

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = time_calls(fit, 1)
        warm = time_calls(fit, repeats)
    return fitted[0], first, warm, list(caught)


def _bench_ours(data: dict[str, np.ndarray], alphas: np.ndarray, cv: int, repeats: int) -> dict[str, Any]:
    """Fit time of ``RidgeEncoder`` (first call with compilation, then warm calls), test r.

    The returned ``_arrays`` (dropped before JSON) hold ``test_r`` (V,), ``best_alphas`` (V,),
    ``cv_scores`` (n_alphas, V) and ``pred`` (n_test, V).
    """
    enc, first, warm, caught = _timed_fits(
        lambda: RidgeEncoder(delays=[0], alphas=alphas, cv=cv, zscore=ZSCORE, score_cv="r"),
        data["X_train"], data["Y_train"], repeats)
    test_r = np.asarray(enc.score(data["X_test"], data["Y_test"]))
    return {
        "settings": {"delays": [0], "cv": cv, "zscore": ZSCORE, "score_cv": enc.score_cv,
                     "voxel_batch": enc.voxel_batch, "dtype": enc.dtype},
        "first_call_s": first["median_s"], "warm": warm, "fit_s": warm["median_s"],
        "test_r": _r_stats(test_r), "alpha_counts": _alpha_counts(enc.best_alphas_, alphas),
        "cv_score_range_over_alphas": _r_stats(np.ptp(enc.cv_score_grid_, axis=0)),
        "warnings": sorted({str(w.message) for w in caught}),
        "_arrays": {"test_r": test_r, "best_alphas": enc.best_alphas_, "cv_scores": enc.cv_score_grid_,
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


def _same_folds(n_trs: int, cv: int, splitter: Any) -> bool:
    """Whether the sklearn ``splitter`` yields exactly ``brain.ridge.cv_folds(n_trs, cv)``."""
    ours = cv_folds(n_trs, cv)
    theirs = list(splitter.split(np.zeros((n_trs, 1))))
    return len(ours) == len(theirs) and all(
        np.array_equal(a, c) and np.array_equal(b, d) for (a, b), (c, d) in zip(ours, theirs))


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
    same_folds = _same_folds(data["X_train"].shape[0], cv, splitter)
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


def _targets(agreement: dict[str, Any], targets: dict[str, tuple[str, float]] | None = None) -> dict[str, Any]:
    out = {}
    for name, (op, target) in (TARGETS if targets is None else targets).items():
        value = agreement.get(name)
        met = None if value is None else bool(value < target if op == "<" else
                                               value > target if op == ">" else value >= target)
        out[name] = {"value": value, "target": f"{op} {target:g}", "meets_target": met}
    return out


# -- banded ridge ----------------------------------------------------------------------------
def banded_grid(n_ratios: int, n_alphas: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The banded search space: ``ratios`` (n_ratios,) of alpha_2 / alpha_1, ``candidates``
    (n_ratios, 2) relative penalties ``c`` (``band_candidates``, geometric mean 1 per row) and
    the common-penalty grid ``alphas`` (n_alphas,)."""
    ratios = np.logspace(-BANDED_RATIO_LOG10, BANDED_RATIO_LOG10, n_ratios)
    return ratios, band_candidates(2, ratios), np.logspace(*BANDED_ALPHA_LOG10, n_alphas)


def himalaya_banded_solver_params(candidates: np.ndarray, alphas: np.ndarray) -> dict[str, Any]:
    """``solver_params`` for himalaya's ``random_search`` that search exactly the per-space
    penalties ``alphas[j] * candidates[i]`` of ``BandedRidgeEncoder`` (see the module
    docstring): ``n_iter`` = gammas ``1 / c`` (n_candidates, n_spaces), used as given (not on
    the simplex), the same ``alphas``, Pearson r as CV score, no progress bar."""
    from himalaya.scoring import correlation_score

    return {"n_iter": 1.0 / np.asarray(candidates, dtype=np.float64), "alphas": np.asarray(alphas, dtype=np.float64),
            "score_func": correlation_score, "progress_bar": False}


def penalty_choice(penalties: np.ndarray, candidates: np.ndarray, alphas: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, float]:
    """Grid position of chosen per-space penalties (V, K): candidate index (V,) and alpha
    index (V,) nearest in log (the common alpha is the geometric mean, as rows of
    ``candidates`` have geometric mean 1), and the largest |log| distance of any penalty from
    its grid point ``alphas[j] * candidates[i]`` (0 up to rounding when on the grid)."""
    log_pen = np.log(np.asarray(penalties, dtype=np.float64))
    common = log_pen.mean(axis=1)
    rel = log_pen - common[:, None]
    cand = np.argmin(np.sum((rel[:, None, :] - np.log(candidates)[None]) ** 2, axis=2), axis=1)
    aidx = np.argmin(np.abs(common[:, None] - np.log(alphas)[None, :]), axis=1)
    grid_point = np.log(alphas[aidx, None] * candidates[cand])
    return cand, aidx, float(np.max(np.abs(log_pen - grid_point))) if log_pen.size else 0.0


def _ratio_by_group(penalties: np.ndarray, data: dict[str, Any]) -> dict[str, Any]:
    """Median chosen log10(alpha_2 / alpha_1) per planted group, and its correlation over
    voxels with the planted optimum (clipped to the searched range)."""
    chosen = np.log10(penalties[:, 1] / penalties[:, 0])
    planted = np.clip(data["planted_log10_ratio"], -BANDED_RATIO_LOG10, BANDED_RATIO_LOG10)
    return {"median_by_group": {name: float(np.median(chosen[data["group"] == g]))
                                for g, name in enumerate(BANDED_GROUPS)},
            "correlation_with_planted": float(np.corrcoef(chosen, planted)[0, 1])}


def _bench_banded_ours(data: dict[str, Any], ratios: np.ndarray, alphas: np.ndarray, cv: int,
                       repeats: int) -> dict[str, Any]:
    """Fit time of ``BandedRidgeEncoder`` (first call with compilation, then warm calls), test r.

    ``_arrays`` (dropped before JSON): ``test_r`` (V,), ``penalties`` (V, 2) per-space
    penalties, ``cv_scores`` (n_candidates, n_alphas, V), ``pred`` (n_test, V).
    """
    enc, first, warm, caught = _timed_fits(
        lambda: BandedRidgeEncoder(delays=[0], alphas=alphas, ratios=ratios, cv=cv, zscore=ZSCORE,
                                   score_cv="r"),
        data["Xs_train"], data["Y_train"], repeats)
    with warnings.catch_warnings(record=True) as scoring:
        warnings.simplefilter("always")
        test_r = np.asarray(enc.score(data["Xs_test"], data["Y_test"]))
    caught += scoring
    n_candidates = enc.candidates_.shape[0]
    return {
        "settings": {"delays": [0], "cv": cv, "zscore": ZSCORE, "voxel_batch": enc.voxel_batch,
                     "dtype": enc.dtype, "score_cv": "r (mean Pearson r over folds)"},
        "first_call_s": first["median_s"], "warm": warm, "fit_s": warm["median_s"],
        "test_r": _r_stats(test_r),
        "candidate_counts": np.bincount(enc.best_candidates_[enc.best_candidates_ >= 0],
                                        minlength=n_candidates).tolist(),
        "chosen_log10_ratio": _ratio_by_group(enc.best_alphas_, data),
        "warnings": sorted({str(w.message) for w in caught}),
        "_arrays": {"test_r": test_r, "penalties": enc.best_alphas_, "cv_scores": enc.cv_score_grid_,
                    "pred": enc.predict(data["Xs_test"]), "candidates": enc.candidates_},
    }


def _bench_banded_himalaya(data: dict[str, Any], candidates: np.ndarray, alphas: np.ndarray, cv: int,
                           repeats: int) -> dict[str, Any]:
    """Fit time of himalaya ``BandedRidgeCV`` (numpy backend, preprocessing included), test r.

    ``_arrays``: ``test_r`` (V,), ``penalties`` (V, 2) = ``exp(-deltas_).T``, ``cv_best``
    (n_candidates, V) (CV score at each candidate's best alpha), ``pred`` (n_test, V).
    """
    from himalaya.backend import get_backend, set_backend
    from himalaya.ridge import BandedRidgeCV
    from sklearn.model_selection import KFold

    splitter = KFold(n_splits=cv)
    same_folds = _same_folds(data["Y_train"].shape[0], cv, splitter)
    params = himalaya_banded_solver_params(candidates, alphas)
    bounds = np.cumsum([X.shape[1] for X in data["Xs_train"]])[:-1]
    stacked = {"X_train": np.hstack(data["Xs_train"]), "X_test": np.hstack(data["Xs_test"]),
               "Y_train": data["Y_train"]}
    fitted: list[tuple[Any, list[np.ndarray], np.ndarray]] = []

    def fit() -> None:
        X_train, X_test, Y_train, y_mean = _prepare(stacked)  # per-column stats: same as per space
        model = BandedRidgeCV(groups="input", solver="random_search", solver_params=params,
                              fit_intercept=False, cv=splitter)
        model.fit(np.split(X_train, bounds, axis=1), Y_train)
        fitted.append((model, np.split(X_test, bounds, axis=1), y_mean))

    previous = get_backend().name
    set_backend("numpy")
    try:
        timing = time_calls(fit, repeats)
        model, Xs_test, y_mean = fitted[0]
        pred = np.asarray(model.predict(Xs_test)) + y_mean
    finally:
        set_backend(previous)
    test_r = np.asarray(pearson_r(data["Y_test"], pred))
    penalties = np.exp(-np.asarray(model.deltas_, dtype=np.float64)).T
    return {
        "settings": {"backend": "numpy", "cv": f"KFold(n_splits={cv})", "folds_identical_to_ours": same_folds,
                     "fit_intercept": False, "groups": "input", "solver": "random_search",
                     "solver_params": {"n_iter": "gammas = 1 / candidates (see meta)", "alphas": "same grid",
                                       "score_func": "himalaya.scoring.correlation_score",
                                       "progress_bar": False},
                     "preprocessing": "z-score X, centre Y with training statistics (timed)",
                     "coef_dtype": str(np.asarray(model.coef_).dtype)},
        "timing": timing, "fit_s": timing["median_s"], "test_r": _r_stats(test_r),
        "candidate_counts": np.bincount(penalty_choice(penalties, candidates, alphas)[0],
                                        minlength=candidates.shape[0]).tolist(),
        "chosen_log10_ratio": _ratio_by_group(penalties, data),
        "_arrays": {"test_r": test_r, "penalties": penalties, "cv_best": np.asarray(model.cv_scores_), "pred": pred},
    }


def _banded_agreement(ours: dict[str, Any], peer: dict[str, Any], candidates: np.ndarray,
                      alphas: np.ndarray) -> dict[str, Any]:
    """Per-voxel agreement of the two banded fits (from ``_arrays``) and the speed ratio."""
    a, b = ours["_arrays"], peer["_arrays"]
    ok = np.isfinite(a["test_r"]) & np.isfinite(b["test_r"])
    ca, ja, off_a = penalty_choice(a["penalties"], candidates, alphas)
    cb, jb, off_b = penalty_choice(b["penalties"], candidates, alphas)
    voxels = np.arange(ca.size)
    differ = (ca != cb) | (ja != jb)
    tie = np.abs(a["cv_scores"][ca, ja, voxels] - a["cv_scores"][cb, jb, voxels]) < TIE_TOL
    mean_a, mean_b = np.mean(a["test_r"][ok], dtype=np.float64), np.mean(b["test_r"][ok], dtype=np.float64)
    log_pen = np.abs(np.log10(a["penalties"]) - np.log10(b["penalties"]))
    return {
        "mean_test_r_ours": float(mean_a), "mean_test_r_himalaya": float(mean_b),
        "mean_test_r_abs_diff": float(abs(mean_a - mean_b)),
        "per_voxel_r_correlation": float(np.corrcoef(a["test_r"][ok], b["test_r"][ok])[0, 1]),
        "per_voxel_r_max_abs_diff": float(np.max(np.abs(a["test_r"][ok] - b["test_r"][ok]))),
        "fraction_identical_choice": float(np.mean(~differ)),
        "fraction_identical_candidate": float(np.mean(ca == cb)),
        "fraction_identical_alpha": float(np.mean(ja == jb)),
        "fraction_identical_or_cv_tie": float(np.mean(~differ | tie)),
        "choice_disagreements": int(np.sum(differ)),
        "choice_disagreements_that_are_cv_ties": int(np.sum(differ & tie)),
        "penalty_abs_log10_diff_max": float(np.max(log_pen)),
        "penalties_max_abs_log_off_grid_ours": off_a,
        "penalties_max_abs_log_off_grid_himalaya": off_b,
        "per_candidate_best_cv_score_max_abs_diff": float(np.nanmax(np.abs(np.nanmax(a["cv_scores"], axis=1)
                                                                            - b["cv_best"]))),
        "prediction_relative_diff": float(np.linalg.norm(a["pred"] - b["pred"]) / np.linalg.norm(b["pred"])),
        "speed_ratio_himalaya_over_ours_warm": float(peer["fit_s"] / ours["fit_s"]),
        "speed_ratio_himalaya_over_ours_first_call": float(peer["fit_s"] / ours["first_call_s"]),
    }


def _run_banded(n_train: int, n_test: int, n_features: int, n_voxels: int, n_ratios: int, n_alphas: int,
                cv: int, repeats: int, seed: int, peers: bool, log: Logger) -> dict[str, Any]:
    """The banded-ridge comparison (``result["banded"]``), see the module docstring."""
    ratios, candidates, alphas = banded_grid(n_ratios, n_alphas)
    log(f"banded: planting data: {n_train}+{n_test} TRs x 2 x {n_features} features x {n_voxels} voxels ...")
    data = make_planted_banded(n_train, n_test, n_features, n_voxels, seed)
    oracle = data["Xs_test"][0] @ data["Ws"][0] + data["Xs_test"][1] @ data["Ws"][1]
    oracle_r = np.asarray(pearson_r(data["Y_test"], oracle))
    log(f"callosum BandedRidgeEncoder ({n_ratios} candidates x {n_alphas} alphas; first call compiles) ...")
    ours = _bench_banded_ours(data, ratios, alphas, cv, repeats)
    if not np.allclose(ours["_arrays"]["candidates"], candidates):
        raise RuntimeError("BandedRidgeEncoder used other candidates than banded_grid's")
    log(f"callosum banded: first {ours['first_call_s']:.2f} s, warm {ours['fit_s']:.2f} s, "
        f"mean test r {ours['test_r']['mean']:.4f}")
    peer = (guard("himalaya BandedRidgeCV (numpy backend)", log, _bench_banded_himalaya, data, candidates, alphas,
                  cv, repeats) if peers else None)
    agreement = _banded_agreement(ours, peer, candidates, alphas) if peer and peer["available"] else None
    if peer and peer["available"]:
        log(f"himalaya banded: {peer['fit_s']:.2f} s, mean test r {peer['test_r']['mean']:.4f}")
    for rec in (ours, peer):
        if rec:
            rec.pop("_arrays", None)
    return {
        "available": True,
        "settings": {"n_train": n_train, "n_test": n_test, "n_spaces": 2, "n_features_per_space": n_features,
                     "n_voxels": n_voxels, "n_ratios": n_ratios, "ratios_alpha2_over_alpha1": ratios.tolist(),
                     "candidates_relative_penalties": candidates.tolist(),
                     "himalaya_gammas": (1.0 / candidates).tolist(), "n_alphas": n_alphas,
                     "alphas": alphas.tolist(), "cv": cv, "repeats": repeats, "seed": seed, "peers": peers,
                     "per_space_penalty": "alphas[j] * candidates[i] (ours) = alphas[j] / gammas[i] (himalaya)"},
        "data": {"model": "Y = X1 W1 + X2 W2 + noise, X_k ~ N(0, 1)", "noise_sd": NOISE_SD,
                 "total_signal_sd_range_loguniform": list(SIGNAL_SD_RANGE), "weight_decay": WEIGHT_DECAY,
                 "groups_share_of_space1": {k: list(v) for k, v in BANDED_GROUPS.items()},
                 "group_counts": np.bincount(data["group"], minlength=len(BANDED_GROUPS)).tolist(),
                 "planted_log10_ratio_median_by_group": {
                     name: float(np.median(data["planted_log10_ratio"][data["group"] == g]))
                     for g, name in enumerate(BANDED_GROUPS)}},
        "theoretical_r": _r_stats(data["theoretical_r"]), "oracle_test_r": _r_stats(oracle_r),
        "ours": ours, "peers": {"himalaya_banded_ridge_cv": peer} if peer else {}, "agreement": agreement,
        "targets": _targets(agreement, BANDED_TARGETS) if agreement else {},
    }


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
    progress: bool = True, banded: bool = True, n_banded_train: int = 2000, n_banded_test: int = 500,
    n_banded_features: int = 128, n_banded_voxels: int = 5000, n_banded_ratios: int = 9,
    n_banded_alphas: int = 11,
) -> dict:
    """Run every measurement (see module docstring); returns a JSON-serialisable dict.

    ``cv``, ``repeats``, ``seed`` and ``peers`` apply to both parts; the ``n_banded_*``
    settings size the banded part (``n_banded_features`` per space, two spaces), which
    ``banded=False`` skips."""
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
    banded_result = (_run_banded(n_banded_train, n_banded_test, n_banded_features, n_banded_voxels, n_banded_ratios,
                                 n_banded_alphas, cv, repeats, seed, peers, log) if banded
                     else {"available": False, "reason": "skipped (banded=False)"})
    result: dict[str, Any] = {
        "meta": {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "settings": {"n_train": n_train, "n_test": n_test, "n_features": n_features, "n_voxels": n_voxels,
                         "n_alphas": n_alphas, "alphas": alphas.tolist(), "cv": cv, "repeats": repeats,
                         "seed": seed, "peers": peers, "banded": banded, "dtype": "float32",
                         "statistic": "median of repeats"},
            "data": {"model": "Y = X W + noise, X ~ N(0, 1)", "noise_sd": NOISE_SD,
                     "signal_sd_range_loguniform": list(SIGNAL_SD_RANGE), "weight_decay": WEIGHT_DECAY},
            "machine": {**machine(), "threads": _threads()}, "versions": versions(DIST_NAMES),
        },
        "theoretical_r": _r_stats(data["theoretical_r"]), "oracle_test_r": _r_stats(oracle_r),
        "ols_expected_r": _r_stats(data["ols_expected_r"]),
        "ours": ours, "peers": {"himalaya_ridge_cv": peer} if peer else {}, "agreement": agreement,
        "targets": _targets(agreement) if agreement else {}, "banded": banded_result,
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


def _banded_table(b: dict[str, Any]) -> list[str]:
    """Lines of the banded-ridge part of ``format_table``."""
    if not b.get("available"):
        return [f"banded ridge: {b.get('reason')}"]
    s = b["settings"]
    parts = [(f"Banded ridge, {s['n_train']} train / {s['n_test']} test TRs, 2 x {s['n_features_per_space']} "
              f"features, {s['n_voxels']} voxels, {s['n_ratios']} ratio candidates alpha2/alpha1 "
              f"logspace(-{BANDED_RATIO_LOG10:g}, {BANDED_RATIO_LOG10:g}) x {s['n_alphas']} alphas "
              f"logspace({BANDED_ALPHA_LOG10[0]:g}, {BANDED_ALPHA_LOG10[1]:g}), {s['cv']}-fold CV")]
    planted = b["data"]["planted_log10_ratio_median_by_group"]
    rows = [[name, "-", "-", fmt(b[k]["mean"], ".4f"), fmt(b[k]["median"], ".4f"), ""]
            for name, k in [("theoretical r (planted)", "theoretical_r"), ("oracle r (true W on test)", "oracle_test_r")]]
    rows.append(["planted log10(a2/a1) by group", "-", "-", "-", "-",
                 ", ".join(f"{k} {v:+.2f}" for k, v in planted.items())])

    def ratio_note(rec: dict[str, Any]) -> str:
        r = rec["chosen_log10_ratio"]
        return (", ".join(f"{k} {v:+.2f}" for k, v in r["median_by_group"].items())
                + f"; corr w/ planted {r['correlation_with_planted']:.3f}")

    o = b["ours"]
    rows.append(["callosum BandedRidgeEncoder (JAX)", fmt(o["first_call_s"]), fmt(o["fit_s"]),
                 fmt(o["test_r"]["mean"], ".4f"), fmt(o["test_r"]["median"], ".4f"), ratio_note(o)])
    for rec in b["peers"].values():
        if not rec.get("available"):
            rows.append(["himalaya BandedRidgeCV (numpy)", "-", "-", "-", "-", f"unavailable: {rec['reason'][:60]}"])
            continue
        rows.append(["himalaya BandedRidgeCV (numpy)", "-", fmt(rec["fit_s"]), fmt(rec["test_r"]["mean"], ".4f"),
                     fmt(rec["test_r"]["median"], ".4f"), ratio_note(rec)])
    parts += ["", grid(["banded fit (median chosen log10(a2/a1) in note)", "first_call_s", "fit_s", "mean test r",
                        "median test r", "note"], rows)]
    if b["agreement"]:
        rows = [[k, fmt(v, ".4g")] for k, v in b["agreement"].items() if k not in BANDED_TARGETS]
        parts += ["", "Banded agreement (callosum vs himalaya)", grid(["measure", "value"], rows)]
        trows = [[k, fmt(t["value"], ".4g"), t["target"], fmt(t["meets_target"])] for k, t in b["targets"].items()]
        parts += ["", "Banded targets", grid(["measure", "value", "target", "meets_target"], trows)]
    parts += [f"callosum banded warning: {w}" for w in o["warnings"]]
    return parts


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
    for w in result["ours"]["warnings"]:
        parts.append(f"callosum warning: {w}")
    parts += ["", *_banded_table(result["banded"])]
    parts += ["", f"wall time {result['wall_s']:.1f} s; " + interference_line(meta.get("interference", {}))]
    return "\n".join(parts)


@dataclass(frozen=True)
class Settings:
    """The benchmark's settings (``python -m benchmarks encoding key=value ...``): the keyword
    arguments of :func:`run_benchmark`."""

    n_train: int = 3000
    n_test: int = 1000
    n_features: int = 512
    n_voxels: int = 20000
    n_alphas: int = 20
    cv: int = 5
    repeats: int = 1
    seed: int = 0
    peers: bool = True
    banded: bool = True
    n_banded_train: int = 2000
    n_banded_test: int = 500
    n_banded_features: int = 128
    n_banded_voxels: int = 5000
    n_banded_ratios: int = 9
    n_banded_alphas: int = 11
