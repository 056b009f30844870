"""Noise ceilings: the highest Pearson r a model can reach given the noise in the data.

Two estimates, both returned on the scale of a Pearson r so that an encoding score divides
by them directly (:func:`normalised_alignment`):

- :func:`split_half_ceiling`, from repeated presentations of the same stimulus to one subject.
  With ``y_k = s + e_k`` (signal ``s`` shared by the repeats, independent noise ``e_k``), the
  reliability of the mean of ``n`` repeats is ``rho_n = var(s) / (var(s) + var(e) / n)`` and
  no prediction can correlate with that mean better than ``s`` does: ``corr(s, mean) =
  sqrt(rho_n)``. The split-half correlation estimates ``rho_{n_half}``, Spearman-Brown brings
  it to ``rho_n``, and the square root is the ceiling.
- :func:`cross_subject_ceiling`, from several subjects seeing the same stimulus (Oota et al.
  2025, after Schrimpf et al. 2021): the correlation between the mean of ``x`` other subjects
  and a target subject, as a function of ``x``, is fitted with ``v0 (1 - exp(-x / tau0))``
  and extrapolated to its asymptote ``v0``.

Shapes: ``(n_repeats, n_trs, n_voxels)``, ``(n_subjects, n_trs, n_voxels)``.
"""

from __future__ import annotations

from itertools import combinations
from math import comb
from typing import NamedTuple

import numpy as np

from brain.scoring import pearson_r
from brain.stats import zscore_columns

_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


class CrossSubjectCeiling(NamedTuple):
    """Result of :func:`cross_subject_ceiling`.

    ceiling: (n_subjects, n_voxels), the extrapolated ceiling ``v0`` per target subject, NaN
        where the fit failed (constant voxels).
    v0, tau0: (n_subjects, n_voxels), fitted asymptote and scale (in subjects).
    subset_sizes: (n_subjects - 1,), the ``x`` values 1 .. n_subjects - 1.
    curve: (n_subjects, n_subjects - 1, n_voxels), mean r between the subset average and the
        target, the data the curve was fitted to.
    """

    ceiling: np.ndarray
    v0: np.ndarray
    tau0: np.ndarray
    subset_sizes: np.ndarray
    curve: np.ndarray


def _check_stack(x: np.ndarray, name: str, what: str, minimum: int) -> np.ndarray:
    """``x`` as float64 (n_what, n_trs, n_voxels), finite, with >= ``minimum`` of ``what``."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 3:
        raise ValueError(f"{name} must be (n_{what}, n_trs, n_voxels), got shape {arr.shape}")
    if arr.shape[0] < minimum:
        raise ValueError(f"{name} needs at least {minimum} {what}, got shape {arr.shape}")
    if arr.shape[1] < 3:
        raise ValueError(f"{name} needs at least 3 TRs, got shape {arr.shape}")
    n_bad = int(np.count_nonzero(~np.isfinite(arr)))
    if n_bad:
        raise ValueError(f"{name} holds {n_bad} NaN or infinite values (shape {arr.shape})")
    return arr


def spearman_brown(reliability: np.ndarray, factor: float) -> np.ndarray:
    """Spearman-Brown prophecy: reliability of an average ``factor`` times as long.

    ``k r / (1 + (k - 1) r)``, elementwise over ``reliability`` (any shape, values in
    [0, 1]); ``factor`` > 0.
    """
    r = np.asarray(reliability, dtype=np.float64)
    return factor * r / (1.0 + (factor - 1.0) * r)


def _half_splits(
    n_repeats: int, n_splits: int, rng: np.random.Generator
) -> list[tuple[list[int], list[int]]]:
    """Pairs of disjoint halves of ``n_repeats // 2`` repeats each (one left out if odd).

    All distinct splits when there are at most ``n_splits`` of them, else ``n_splits`` random
    ones.
    """
    half = n_repeats // 2
    n_distinct = comb(n_repeats, half) * comb(n_repeats - half, half) // 2
    if n_distinct <= n_splits:
        everything = range(n_repeats)
        return [
            (list(a), list(b))
            for a in combinations(everything, half)
            for b in combinations([i for i in everything if i not in a], half)
            if a < b
        ]
    orders = (rng.permutation(n_repeats) for _ in range(n_splits))
    return [(sorted(o[:half]), sorted(o[half : 2 * half])) for o in orders]


def split_half_ceiling(
    repeats: np.ndarray, n_splits: int = 20, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Noise ceiling on the Pearson r of a model predicting the average of all repeats.

    ``repeats``: (n_repeats, n_trs, n_voxels) responses to the same stimulus, finite,
    n_repeats >= 2. The halves hold ``h = n_repeats // 2`` repeats each (for 2 repeats:
    repeat 0 vs repeat 1; for odd counts one repeat sits out of each split). The per-voxel
    correlation ``r_h`` between the two half means is averaged over the splits (all distinct
    splits if there are at most ``n_splits``, else ``n_splits`` random ones drawn from
    ``rng``; a fresh unseeded generator if None), corrected by Spearman-Brown with factor
    ``n_repeats / h`` to the reliability ``rho`` of the mean of all repeats, and the ceiling
    ``sqrt(rho)`` is returned: the correlation between the noise-free signal and the
    repeat-averaged data, i.e. the best r any model of the averaged test data can expect.

    Returns (n_voxels,) in [0, 1]: 0 where ``r_h <= 0`` (no reliable signal), NaN where a half
    mean is constant over time (e.g. constant voxels).
    """
    repeats = _check_stack(repeats, "repeats", "repeats", minimum=2)
    if n_splits < 1:
        raise ValueError(f"n_splits must be >= 1, got {n_splits}")
    rng = np.random.default_rng() if rng is None else rng
    n_repeats = repeats.shape[0]
    splits = _half_splits(n_repeats, n_splits, rng)
    r_half = np.mean(
        [pearson_r(repeats[a].mean(axis=0), repeats[b].mean(axis=0)) for a, b in splits],
        axis=0,
    )
    reliability = spearman_brown(np.clip(r_half, 0.0, 1.0), n_repeats / (n_repeats // 2))
    return np.sqrt(reliability)


def _subject_correlations(responses: np.ndarray) -> np.ndarray:
    """Inter-subject correlation matrices, (n_subjects, n_trs, n_voxels) -> (S, S, n_voxels).

    NaN rows and columns for subjects whose voxel is constant.
    """
    z = [zscore_columns(subject) for subject in responses]
    n_subjects = len(z)
    corr = np.empty((n_subjects, n_subjects, responses.shape[2]))
    for i in range(n_subjects):
        for j in range(i, n_subjects):
            corr[i, j] = corr[j, i] = np.mean(z[i] * z[j], axis=0)
    return corr


def _subset_curve(
    corr: np.ndarray, target: int, size: int, n_bootstraps: int, rng: np.random.Generator
) -> np.ndarray:
    """Mean r between the average of ``size`` z-scored non-target subjects and the target.

    ``corr``: (S, S, n_voxels) from :func:`_subject_correlations`. For z-scored subjects,
    ``corr(mean_A, target) = sum_{j in A} corr[j, t] / sqrt(sum_{j, k in A} corr[j, k])``,
    exact without touching the time series again. Averages over all subsets if there are at
    most ``n_bootstraps``, else over ``n_bootstraps`` random ones. Returns (n_voxels,).
    """
    others = [s for s in range(corr.shape[0]) if s != target]
    if comb(len(others), size) <= n_bootstraps:
        subsets = [list(c) for c in combinations(others, size)]
    else:
        subsets = [list(rng.choice(others, size, replace=False)) for _ in range(n_bootstraps)]
    r = [
        corr[a, target].sum(axis=0) / np.sqrt(corr[np.ix_(a, a)].sum(axis=(0, 1))) for a in subsets
    ]
    return np.mean(r, axis=0)


def _profile_sse(
    x: np.ndarray, y: np.ndarray, log_tau: np.ndarray, v0_max: float
) -> tuple[np.ndarray, np.ndarray]:
    """Best ``v0`` in [0, v0_max] and its squared error for a given ``tau`` per voxel.

    ``x``: (n_points,); ``y``: (n_points, n_voxels); ``log_tau``: (n_voxels,). The model is
    linear in ``v0``, so the bounded optimum is the clipped least-squares value. Returns two
    (n_voxels,) arrays: sse, v0.
    """
    f = 1.0 - np.exp(-x[:, None] / np.exp(log_tau)[None, :])
    v0 = np.clip(np.sum(f * y, axis=0) / np.sum(f * f, axis=0), 0.0, v0_max)
    return np.sum((y - v0 * f) ** 2, axis=0), v0


def fit_saturating_exponential(
    x: np.ndarray,
    y: np.ndarray,
    tau_bounds: tuple[float, float] = (1e-2, 1e2),
    v0_max: float = 1.0,
    n_grid: int = 100,
    n_refine: int = 40,
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares fit of ``y = v0 (1 - exp(-x / tau0))`` for every voxel at once.

    ``x``: (n_points,) > 0, n_points >= 2; ``y``: (n_points, n_voxels). Bounds: ``v0`` in
    [0, v0_max], ``tau0`` in ``tau_bounds``. ``v0`` is solved exactly for each ``tau0``
    (variable projection); ``tau0`` is searched on a log grid of ``n_grid`` points, then
    refined by ``n_refine`` golden-section steps between the best point's neighbours (kept
    only where it lowers the error). This is the vectorised equivalent of a bounded
    ``scipy.optimize.curve_fit`` per voxel. Returns ``(v0, tau0)``, each (n_voxels,), NaN for
    voxels with any non-finite ``y`` (the fit's failure value).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if y.ndim != 2 or x.shape != y.shape[:1] or len(x) < 2:
        raise ValueError(
            f"need x (n_points >= 2,) and y (n_points, n_voxels), got {x.shape} and {y.shape}"
        )
    if np.any(x <= 0) or not 0.0 < tau_bounds[0] < tau_bounds[1]:
        raise ValueError(f"need x > 0 and 0 < tau_bounds[0] < tau_bounds[1], got {x}, {tau_bounds}")
    ok = np.all(np.isfinite(y), axis=0)
    y = np.where(ok, y, 0.0)
    grid = np.linspace(np.log(tau_bounds[0]), np.log(tau_bounds[1]), n_grid)
    sse = np.stack([_profile_sse(x, y, np.full(y.shape[1], g), v0_max)[0] for g in grid])
    best = np.argmin(sse, axis=0)
    lo, hi = grid[np.maximum(best - 1, 0)], grid[np.minimum(best + 1, n_grid - 1)]
    for _ in range(n_refine):
        c, d = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
        left = _profile_sse(x, y, c, v0_max)[0] < _profile_sse(x, y, d, v0_max)[0]
        lo, hi = np.where(left, lo, c), np.where(left, d, hi)
    refined = 0.5 * (lo + hi)
    log_tau = np.where(
        _profile_sse(x, y, refined, v0_max)[0] < sse.min(axis=0), refined, grid[best]
    )
    v0 = _profile_sse(x, y, log_tau, v0_max)[1]
    return np.where(ok, v0, np.nan), np.where(ok, np.exp(log_tau), np.nan)


def cross_subject_ceiling(
    Y_subjects: np.ndarray,
    n_bootstraps: int = 100,
    rng: np.random.Generator | None = None,
    tau_bounds: tuple[float, float] = (1e-2, 1e2),
) -> CrossSubjectCeiling:
    """Cross-subject noise ceiling, extrapolated over the number of subjects (Oota et al.).

    ``Y_subjects``: (n_subjects, n_trs, n_voxels) responses of several subjects to the same
    stimulus, finite, n_subjects >= 3 (the fit needs >= 2 subset sizes). Each subject is
    z-scored over time per voxel. For every target subject and subset size ``x = 1 ..
    n_subjects - 1``, the target is correlated with the mean of ``x`` other subjects,
    averaged over ``n_bootstraps`` random subsets (over all subsets when there are at most
    ``n_bootstraps``: the exact expectation); ``rng`` draws them (a fresh unseeded generator
    if None). :func:`fit_saturating_exponential` then fits ``v0 (1 - exp(-x / tau0))``,
    ``v0`` in [0, 1], and ``v0`` is the ceiling.

    Under ``y_s = signal + independent noise`` the true ceiling is ``corr(signal, y_target)``;
    with few subjects the exponential extrapolation falls short of it when the SNR is low
    (it is conservative, so normalised scores come out high).
    Returns a :class:`CrossSubjectCeiling`.
    """
    y = _check_stack(Y_subjects, "Y_subjects", "subjects", minimum=3)
    if n_bootstraps < 1:
        raise ValueError(f"n_bootstraps must be >= 1, got {n_bootstraps}")
    rng = np.random.default_rng() if rng is None else rng
    n_subjects = y.shape[0]
    sizes = np.arange(1, n_subjects)
    corr = _subject_correlations(y)
    curve = np.stack(
        [
            np.stack([_subset_curve(corr, t, int(x), n_bootstraps, rng) for x in sizes])
            for t in range(n_subjects)
        ]
    )
    fits = [fit_saturating_exponential(sizes, c, tau_bounds) for c in curve]
    v0 = np.stack([f[0] for f in fits])
    tau0 = np.stack([f[1] for f in fits])
    return CrossSubjectCeiling(ceiling=v0.copy(), v0=v0, tau0=tau0, subset_sizes=sizes, curve=curve)


def normalised_alignment(
    r: np.ndarray, ceiling: np.ndarray, min_ceiling: float = 0.05
) -> np.ndarray:
    """Encoding score divided by its noise ceiling, ``r / ceiling``.

    ``r``, ``ceiling``: same shape, e.g. (n_voxels,) or (n_subjects, n_voxels); NaN allowed
    (it propagates). NaN wherever ``ceiling < min_ceiling`` (> 0) or is NaN. Not clipped: a
    noisy ceiling estimate can leave values above 1.
    """
    r, ceiling = np.asarray(r, dtype=np.float64), np.asarray(ceiling, dtype=np.float64)
    if r.shape != ceiling.shape:
        raise ValueError(
            f"r and ceiling must have the same shape, got {r.shape} and {ceiling.shape}"
        )
    if not min_ceiling > 0.0:
        raise ValueError(f"min_ceiling must be > 0, got {min_ceiling}")
    keep = ceiling >= min_ceiling  # False for NaN
    return np.where(keep, r / np.where(keep, ceiling, 1.0), np.nan)
