"""Noise ceilings: the highest Pearson r a model can reach given the noise in the data.

Two estimates, both on the scale of a Pearson r so that an encoding score divides by them
directly (:func:`normalised_alignment`):

- :func:`split_half_reliability`, from repeated presentations of the same stimulus to one
  subject. With ``y_k = s + e_k`` (signal ``s`` shared by the repeats, independent noise
  ``e_k``), the reliability of the mean of ``n`` repeats is ``rho_n = var(s) / (var(s) +
  var(e) / n)`` and no prediction can correlate with that mean better than ``s`` does:
  ``corr(s, mean) = sqrt(rho_n)``. The split-half correlation estimates ``rho_{n_half}``,
  Spearman-Brown brings it to ``rho_n``; it is not clipped, so over voxels without signal it
  averages ~0, and a phase-randomisation p-value says where it is reliably above 0. The
  ceiling ``sqrt(rho_n)`` exists only where ``rho_n > 0`` and is meant to be used only
  where the p-value survives FDR.
- :func:`cross_subject_ceiling`, from several subjects seeing the same stimulus (Oota et al.
  2025, after Schrimpf et al. 2021 / Brain-Score): the correlation between a target subject
  and the mean of pools of other subjects, as a function of the pool size, is fitted with
  ``v0 (1 - exp(-x / tau0))`` over bootstrap resamples of the pools, and the median
  asymptote ``v0`` is the ceiling.

Shapes: ``(n_repeats, n_trs, n_voxels)``, ``(n_subjects, n_trs, n_voxels)``.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from math import comb
from typing import NamedTuple

import numpy as np

from brain.scoring import pearson_r
from brain.stats import phase_randomisation_test, zscore_columns

_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


class SplitHalfReliability(NamedTuple):
    """Result of :func:`split_half_reliability`; every field is (n_voxels,).

    reliability: Spearman-Brown reliability of the mean of all repeats, not clipped (can be
        negative; ~0 on average where there is no signal); NaN for constant voxels.
    pvalue: one-sided p-value of "no signal shared by the repeats" (phase randomisation).
    ceiling: ``sqrt(reliability)`` where ``reliability > 0``, else NaN. Use it only where
        ``pvalue`` is significant (e.g. ``fdr_bh(pvalue).rejected``).
    split_half_r: the mean correlation between half means that ``reliability`` comes from.
    """

    reliability: np.ndarray
    pvalue: np.ndarray
    ceiling: np.ndarray
    split_half_r: np.ndarray


class CrossSubjectCeiling(NamedTuple):
    """Result of :func:`cross_subject_ceiling`.

    ceiling: (n_subjects, n_voxels), per target subject the median over bootstraps of the
        fitted asymptote ``v0``; NaN where the fit failed (constant voxels).
    median: (n_voxels,), the median of ``ceiling`` over target subjects (the paper's value).
    v0, tau0: (n_subjects, n_voxels), medians over bootstraps of the fitted parameters
        (``v0`` equals ``ceiling``; ``tau0`` in subjects).
    subset_sizes: (n_subjects - 1,), pool sizes 1 .. n_subjects - 1 (other subjects).
    curve: (n_subjects, n_subjects - 1, n_voxels), mean r between the pool mean and the
        target over the drawn pools, the data the curves are fitted to.
    pvalue: (n_subjects, n_voxels), one-sided phase-randomisation p-value of the correlation
        between the target and the mean of all other subjects (NaN if not computed).
    """

    ceiling: np.ndarray
    median: np.ndarray
    v0: np.ndarray
    tau0: np.ndarray
    subset_sizes: np.ndarray
    curve: np.ndarray
    pvalue: np.ndarray


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
    (-1, 1]; negative values stay negative, which keeps the mean over noise voxels near 0);
    ``factor`` > 0.
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


def _mean_split_half_r(
    repeats: np.ndarray, n_splits: int, rng: np.random.Generator
) -> np.ndarray:
    """Per-voxel correlation between the two half means, averaged over the splits."""
    splits = _half_splits(repeats.shape[0], n_splits, rng)
    return np.mean(
        [pearson_r(repeats[a].mean(axis=0), repeats[b].mean(axis=0)) for a, b in splits],
        axis=0,
    )


def split_half_reliability(
    test_repeats: np.ndarray,
    rng: np.random.Generator | None = None,
    n_splits: int = 20,
    n_permutations: int = 1000,
    segments: np.ndarray | None = None,
) -> SplitHalfReliability:
    """Unbiased split-half reliability of the repeat-averaged response, with a p-value.

    ``test_repeats``: (n_repeats, n_trs, n_voxels) responses to the same stimulus, finite,
    n_repeats >= 2. Halves hold ``h = n_repeats // 2`` repeats each (all distinct splits if
    there are at most ``n_splits``, else ``n_splits`` random ones from ``rng``, a fresh
    unseeded generator if None). The correlation between half means, averaged over splits
    without clipping, is Spearman-Brown corrected by ``n_repeats / h``.

    ``pvalue``: :func:`brain.stats.phase_randomisation_test` (``n_permutations`` draws,
    autocorrelation kept) of the correlation between the mean of the first ``h`` repeats and
    the mean of the rest; for 2 repeats that is the statistic itself. Under the null of no
    shared signal the two means are independent, so the test is valid for any split.
    Returns a :class:`SplitHalfReliability`.
    """
    repeats = _check_stack(test_repeats, "repeats", "repeats", minimum=2)
    rng = np.random.default_rng() if rng is None else rng
    half = repeats.shape[0] // 2
    r_half, reliability = _split_half(repeats, n_splits, rng)
    test = phase_randomisation_test(
        repeats[:half].mean(axis=0), repeats[half:].mean(axis=0), n_permutations, rng, segments=segments
    )
    return SplitHalfReliability(
        reliability=reliability,
        pvalue=test.pvalue,
        ceiling=_ceiling_from(reliability),
        split_half_r=r_half,
    )


def _ceiling_from(reliability: np.ndarray) -> np.ndarray:
    """``sqrt(reliability)`` where it is > 0, NaN elsewhere (and where it is NaN)."""
    positive = reliability > 0  # False for NaN
    return np.where(positive, np.sqrt(np.where(positive, reliability, 1.0)), np.nan)


def split_half_ceiling(
    repeats: np.ndarray, n_splits: int = 20, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Split-half noise ceiling without a p-value: ``split_half_reliability(...).ceiling``.

    Thin wrapper kept for existing callers. ``repeats``: (n_repeats, n_trs, n_voxels).
    Returns (n_voxels,): ``sqrt`` of the unclipped Spearman-Brown reliability where it is
    > 0, NaN where it is <= 0 (no reliable signal; formerly 0) or the voxel is constant.
    Prefer :func:`split_half_reliability` and use ceilings only where its p-value is
    significant: a positive estimate alone passes half of the noise voxels.
    """
    return _ceiling_from(split_half_estimate(repeats, n_splits, rng))


def split_half_estimate(
    repeats: np.ndarray, n_splits: int = 20, rng: np.random.Generator | None = None
) -> np.ndarray:
    """The Spearman-Brown reliability of the mean of all repeats, unclipped, without a
    p-value (the ``reliability`` of :func:`split_half_reliability`): (n_voxels,) from
    ``repeats`` (n_repeats, n_trs, n_voxels); for resampling, where a p-value per draw
    would be wasted."""
    repeats = _check_stack(repeats, "repeats", "repeats", minimum=2)
    return _split_half(repeats, n_splits, np.random.default_rng() if rng is None else rng)[1]


def _split_half(repeats: np.ndarray, n_splits: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(mean split-half r, its Spearman-Brown reliability of the mean of all repeats) of
    checked ``repeats`` (n_repeats >= 2, n_trs, n_voxels)."""
    if n_splits < 1:
        raise ValueError(f"n_splits must be >= 1, got {n_splits}")
    n_repeats = repeats.shape[0]
    r_half = _mean_split_half_r(repeats, n_splits, rng)
    return r_half, spearman_brown(r_half, n_repeats / (n_repeats // 2))


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


def _pool_scores(corr: np.ndarray, target: int, pools: list[list[int]]) -> np.ndarray:
    """r between the mean of z-scored pool subjects and the target, per pool: (n_pools, V).

    ``corr``: (S, S, n_voxels) from :func:`_subject_correlations`. For z-scored subjects,
    ``corr(mean_A, target) = sum_{j in A} corr[j, t] / sqrt(sum_{j, k in A} corr[j, k])``,
    exact without touching the time series again.
    """
    return np.stack(
        [corr[a, target].sum(axis=0) / np.sqrt(corr[np.ix_(a, a)].sum(axis=(0, 1))) for a in pools]
    )


def _draw_pools(
    others: list[int], size: int, n_bootstraps: int, rng: np.random.Generator
) -> list[list[int]]:
    """All pools of ``size`` from ``others`` if there are at most ``n_bootstraps``, else
    ``n_bootstraps`` random ones (drawn independently, so a pool can recur)."""
    if comb(len(others), size) <= n_bootstraps:
        return [list(c) for c in combinations(others, size)]
    return [sorted(rng.choice(others, size, replace=False)) for _ in range(n_bootstraps)]


def _profile(
    f: np.ndarray, y: np.ndarray, v0_bounds: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Best ``v0`` in ``v0_bounds`` and its squared error for the curve shapes ``f``.

    ``f``: (n_points, n_voxels) or (n_points, 1); ``y``: (n_points, n_voxels). The model
    ``v0 f`` is linear in ``v0``, so the bounded optimum is the clipped least-squares value.
    Returns two (n_voxels,) arrays: sse, v0.
    """
    fy, ff = np.sum(f * y, axis=0), np.sum(f * f, axis=0)
    v0 = np.clip(fy / ff, *v0_bounds)
    return np.sum(y * y, axis=0) - 2.0 * v0 * fy + v0 * v0 * ff, v0


def _shape(x: np.ndarray, log_tau: np.ndarray) -> np.ndarray:
    """``1 - exp(-x / tau)``: (n_points, n) for ``log_tau`` (n,)."""
    return -np.expm1(-x[:, None] / np.exp(log_tau)[None, :])


def fit_saturating_exponential(
    x: np.ndarray,
    y: np.ndarray,
    tau_bounds: tuple[float, float] = (1e-2, 1e2),
    v0_max: float = 1.0,
    n_grid: int = 100,
    n_refine: int = 40,
    v0_min: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares fit of ``y = v0 (1 - exp(-x / tau0))`` for every voxel at once.

    ``x``: (n_points,) > 0, n_points >= 2; ``y``: (n_points, n_voxels). Bounds: ``v0`` in
    [v0_min, v0_max], ``tau0`` in ``tau_bounds``. ``v0`` is solved exactly for each ``tau0``
    (variable projection); ``tau0`` is searched on a log grid of ``n_grid`` points (one
    matrix product for all voxels), then refined by ``n_refine`` golden-section steps
    between the best point's neighbours (kept only where it lowers the error). This is the
    vectorised equivalent of a bounded ``scipy.optimize.curve_fit`` per voxel. Returns
    ``(v0, tau0)``, each (n_voxels,), NaN for voxels with any non-finite ``y``.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if y.ndim != 2 or x.shape != y.shape[:1] or len(x) < 2:
        raise ValueError(
            f"need x (n_points >= 2,) and y (n_points, n_voxels), got {x.shape} and {y.shape}"
        )
    if np.any(x <= 0) or not 0.0 < tau_bounds[0] < tau_bounds[1]:
        raise ValueError(f"need x > 0 and 0 < tau_bounds[0] < tau_bounds[1], got {x}, {tau_bounds}")
    bounds = (v0_min, v0_max)
    ok = np.all(np.isfinite(y), axis=0)
    y = np.where(ok, y, 0.0)
    grid = np.linspace(np.log(tau_bounds[0]), np.log(tau_bounds[1]), n_grid)
    shapes = _shape(x, grid).T  # (n_grid, n_points)
    fy, ff = shapes @ y, np.sum(shapes**2, axis=1)[:, None]  # (n_grid, n_voxels), (n_grid, 1)
    v0 = np.clip(fy / ff, *bounds)
    sse = np.sum(y * y, axis=0) - 2.0 * v0 * fy + v0 * v0 * ff
    best = np.argmin(sse, axis=0)
    lo, hi = grid[np.maximum(best - 1, 0)], grid[np.minimum(best + 1, n_grid - 1)]
    for _ in range(n_refine):
        c, d = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
        left = _profile(_shape(x, c), y, bounds)[0] < _profile(_shape(x, d), y, bounds)[0]
        lo, hi = np.where(left, lo, c), np.where(left, d, hi)
    refined = 0.5 * (lo + hi)
    better = _profile(_shape(x, refined), y, bounds)[0] < sse.min(axis=0)
    log_tau = np.where(better, refined, grid[best])
    v0 = _profile(_shape(x, log_tau), y, bounds)[1]
    return np.where(ok, v0, np.nan), np.where(ok, np.exp(log_tau), np.nan)


_MAX_COLUMNS = 2**17  # bootstrap curves (n_bootstraps x voxels) fitted at once


def _voxel_chunks(n_voxels: int, n_bootstraps: int, max_columns: int = _MAX_COLUMNS) -> list[slice]:
    """The voxel slices :func:`_bootstrap_fits` fits one at a time (<= ``max_columns``
    bootstrap curves each, at least one voxel)."""
    chunk = max(1, max_columns // n_bootstraps)
    return [slice(start, start + chunk) for start in range(0, n_voxels, chunk)]


def _bootstrap_fits(
    scores: list[np.ndarray],
    n_bootstraps: int,
    rng: np.random.Generator,
    tau_bounds: tuple[float, float],
    max_columns: int = _MAX_COLUMNS,
    advance: Callable[[], object] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Median ``v0`` and ``tau0`` over bootstrap fits of one target's pool-size curve.

    ``scores[i]``: (n_pools, n_voxels), r of every drawn pool of size ``i + 1``. Each
    bootstrap resamples each size's pools with replacement, averages them, and fits
    ``v0 (1 - exp(-x / tau0))`` at ``x`` = pool size + 1 (the number of subjects in the
    subsample, Brain-Score's convention), ``v0`` in [-1, 1]. Voxels are fitted in the chunks
    of :func:`_voxel_chunks`; ``advance()`` is called after each. Returns two (n_voxels,)
    arrays.
    """
    x = np.arange(2.0, len(scores) + 2.0)
    picks = [rng.integers(0, len(s), size=(n_bootstraps, len(s))) for s in scores]
    n_voxels = scores[0].shape[1]
    v0, tau0 = np.empty(n_voxels), np.empty(n_voxels)
    for cols in _voxel_chunks(n_voxels, n_bootstraps, max_columns):
        curves = np.stack([s[:, cols][p].mean(axis=1) for s, p in zip(scores, picks)])
        fit_v0, fit_tau = fit_saturating_exponential(
            x, curves.reshape(len(x), -1), tau_bounds, v0_min=-1.0, n_grid=30, n_refine=15
        )
        shape = (n_bootstraps, -1)
        with np.errstate(all="ignore"):
            v0[cols] = np.median(fit_v0.reshape(shape), axis=0)
            tau0[cols] = np.median(fit_tau.reshape(shape), axis=0)
        if advance is not None:
            advance()
    return v0, tau0


EXTRAPOLATIONS: tuple[str, ...] = ("exponential", "spearman_brown")


def _triad_ceiling(corr: np.ndarray, target: int) -> np.ndarray:
    """Attenuation-corrected ceiling of ``target``, (n_voxels,): with ``y_s = c_s signal +
    noise`` every inter-subject r is ``c_s c_u``, so ``sum_{a<b} r_ta r_tb / sum_{a<b} r_ab
    = c_t^2`` over pairs of the other subjects, whatever their noise levels. The signed
    square root of the ratio, clipped to [-1, 1] (voxels without signal average ~0)."""
    others = [s for s in range(corr.shape[0]) if s != target]
    pairs = list(combinations(others, 2))
    with np.errstate(all="ignore"):
        ratio = (sum(corr[target, a] * corr[target, b] for a, b in pairs)
                 / sum(corr[a, b] for a, b in pairs))
        ratio = np.clip(ratio, -1.0, 1.0)
        return np.sign(ratio) * np.sqrt(np.abs(ratio))


def cross_subject_ceiling(
    Y_subjects: np.ndarray,
    n_bootstraps: int = 100,
    rng: np.random.Generator | None = None,
    tau_bounds: tuple[float, float] = (1e-2, 1e2),
    n_permutations: int = 1000,
    extrapolation: str = "exponential",
    progress: bool = True,
    segments: np.ndarray | None = None,
) -> CrossSubjectCeiling:
    """Cross-subject noise ceiling, extrapolated over the number of subjects (Oota et al.).

    ``Y_subjects``: (n_subjects, n_trs, n_voxels) responses of several subjects to the same
    stimulus, finite, n_subjects >= 3. Each subject is z-scored over time per voxel. For every
    target subject and pool size ``1 .. n_subjects - 1``, pools of other subjects are drawn
    (all of them if there are at most ``n_bootstraps``, else ``n_bootstraps`` random ones) and
    the target is predicted by the mean of the pool's z-scored responses (a per-voxel linear
    fit of one regressor would give the same r), scored by Pearson r per voxel. Then, as in
    Brain-Score's ``ExtrapolationCeiling``, ``n_bootstraps`` times: resample the pools of
    each size with replacement, average, fit ``v0 (1 - exp(-x / tau0))`` with ``x`` the
    number of subjects in the subsample (pool + target); the ceiling is the median ``v0``
    (per target subject; ``median`` over subjects too). ``v0`` may be negative (bounds
    [-1, 1], not Brain-Score's [0, 1]) so that voxels without signal average ~0.

    Under ``y_s = signal + independent noise`` the true ceiling is ``corr(signal, y_target)``,
    the limit of the curve. The exponential is not the curve's true shape (that is
    ``sqrt(rho_1 rho_x)``, Spearman-Brown), so with few subjects and low SNR the asymptote
    falls short: about 0.83 of the truth at a single-subject reliability of 0.2 and 0.89 at
    0.4 with 4 subjects, within 10 % from about 0.5 (see the tests). Not conservative:
    normalised scores come out too high where the SNR is low (see ``extrapolation``).

    ``extrapolation="spearman_brown"`` replaces the exponential by the curve's own limit
    (:func:`_triad_ceiling`: ``c_t^2 = sum r_ta r_tb / sum r_ab`` over pairs of other
    subjects, exact in expectation for any noise levels, so it needs no fit and recovers low
    ceilings; ``tau0`` is then NaN and ``curve`` is still the pool-size curve).

    ``pvalue`` (per target) is :func:`brain.stats.phase_randomisation_test` of the
    correlation between the target and the mean of all other subjects (skipped, NaN, when
    ``n_permutations`` is 0), each test stimulus of ``segments`` ((n_trs,) labels, or None)
    phase-randomised on its own. ``rng``: a fresh unseeded generator if None.

    ``progress``: a tqdm bar (``leave=False``) over the steps of every target subject: each
    voxel chunk of the bootstrap fits (one step for ``"spearman_brown"``), then the
    permutation test (if any); ``False`` prints nothing. It does not change the result.
    Returns a :class:`CrossSubjectCeiling`.
    """
    from tqdm.auto import tqdm

    y = _check_stack(Y_subjects, "Y_subjects", "subjects", minimum=3)
    if extrapolation not in EXTRAPOLATIONS:
        raise ValueError(f"extrapolation must be one of {list(EXTRAPOLATIONS)}, got {extrapolation!r}")
    if n_bootstraps < 1:
        raise ValueError(f"n_bootstraps must be >= 1, got {n_bootstraps}")
    rng = np.random.default_rng() if rng is None else rng
    n_subjects, _, n_voxels = y.shape
    sizes = np.arange(1, n_subjects)
    corr = _subject_correlations(y)
    curve = np.empty((n_subjects, len(sizes), n_voxels))
    v0, tau0 = np.empty((n_subjects, n_voxels)), np.empty((n_subjects, n_voxels))
    pvalue = np.full((n_subjects, n_voxels), np.nan)
    n_fits = 1 if extrapolation == "spearman_brown" else len(_voxel_chunks(n_voxels, n_bootstraps))
    with tqdm(total=n_subjects * (n_fits + int(n_permutations > 0)), desc="cross-subject ceiling",
              unit="step", leave=False, disable=not progress) as bar:
        for t in range(n_subjects):
            bar.set_postfix_str(f"subject {t + 1}/{n_subjects}", refresh=False)
            others = [s for s in range(n_subjects) if s != t]
            scores = [_pool_scores(corr, t, _draw_pools(others, int(x), n_bootstraps, rng)) for x in sizes]
            curve[t] = np.stack([s.mean(axis=0) for s in scores])
            if extrapolation == "spearman_brown":
                v0[t], tau0[t] = _triad_ceiling(corr, t), np.nan
                bar.update()
            else:
                v0[t], tau0[t] = _bootstrap_fits(scores, n_bootstraps, rng, tau_bounds, advance=bar.update)
            if n_permutations > 0:
                pool = np.mean([zscore_columns(y[s]) for s in others], axis=0)
                ok = np.all(np.isfinite(pool), axis=0) & (np.ptp(y[t], axis=0) > 0)
                test = phase_randomisation_test(y[t][:, ok], pool[:, ok], n_permutations, rng, segments=segments)
                pvalue[t, ok] = test.pvalue
                bar.update()
    with np.errstate(all="ignore"):
        median = np.median(v0, axis=0)
    return CrossSubjectCeiling(
        ceiling=v0.copy(), median=median, v0=v0, tau0=tau0, subset_sizes=sizes, curve=curve,
        pvalue=pvalue,
    )


def signed_ceiling(reliability: np.ndarray) -> np.ndarray:
    """``sign(rel) sqrt(|rel|)``: the ceiling's scale, defined for negative reliabilities too, so
    that a mean over voxels counts the noise voxels (whose reliabilities scatter around 0)
    instead of dropping them (the ceiling itself is NaN where the reliability is <= 0)."""
    rel = np.asarray(reliability, float)
    return np.sign(rel) * np.sqrt(np.abs(rel))


def normalised_alignment(
    r: np.ndarray,
    ceiling: np.ndarray,
    min_ceiling: float = 0.05,
    significant: np.ndarray | None = None,
) -> np.ndarray:
    """Encoding score divided by its noise ceiling, ``r / ceiling``, where the ceiling is real.

    ``r``, ``ceiling``: same shape, e.g. (n_voxels,) or (n_subjects, n_voxels); NaN allowed
    (it propagates). ``significant``: bool, broadcastable to ``r``, the voxels whose ceiling
    is significantly above 0 (e.g. ``fdr_bh(split_half_reliability(...).pvalue).rejected``);
    None trusts every ceiling (not recommended: over noise voxels a ceiling estimate is
    noise, and dividing by it inflates chance r). NaN wherever the voxel is not significant,
    ``ceiling < min_ceiling`` (> 0, the paper's cut is 0.05) or NaN. Not clipped: a noisy
    ceiling estimate can leave values above 1.
    """
    r, ceiling = np.asarray(r, dtype=np.float64), np.asarray(ceiling, dtype=np.float64)
    if r.shape != ceiling.shape:
        raise ValueError(
            f"r and ceiling must have the same shape, got {r.shape} and {ceiling.shape}"
        )
    if not min_ceiling > 0.0:
        raise ValueError(f"min_ceiling must be > 0, got {min_ceiling}")
    keep = ceiling >= min_ceiling  # False for NaN
    if significant is not None:
        keep = keep & np.broadcast_to(np.asarray(significant, dtype=bool), r.shape)
    return np.where(keep, r / np.where(keep, ceiling, 1.0), np.nan)
