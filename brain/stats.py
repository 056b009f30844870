"""Statistics for voxel-wise encoding scores: permutation nulls, FDR, tests across subjects.

- :func:`phase_randomisation_test` (recommended): per-voxel p-value of the Pearson r between
  measured and predicted responses (as :func:`brain.scoring.pearson_r`) against a null made
  by randomising the Fourier phases of the prediction (Theiler surrogates: same amplitude
  spectrum, hence the same autocorrelation; the same random phases for every voxel, so the
  spatial structure is kept). Calibrated for strongly autocorrelated series.
- :func:`block_permutation_test`: the paper's null (Oota et al. 2025), shuffling contiguous
  blocks of 10 TRs of the prediction. Shuffling single TRs breaks the temporal
  autocorrelation of the BOLD signal; whole blocks keep only part of it, so for slow series
  (AR(1) coefficient 0.8 and above at 10-TR blocks) the null is too narrow and the test is
  anti-conservative. Kept for comparison with the paper.
- :func:`fdr_bh`: Benjamini-Hochberg false discovery rate over voxels.
- :func:`sign_flip_test` (recommended) and :func:`wilcoxon_across_subjects`: paired tests
  across subjects, one per unit (region, layer...). The subject is the unit of
  exchangeability; with n subjects no test can give p below ``2 / 2**n`` (two-sided), and
  both warn when that floor is above ``alpha``.

Shapes: ``(n_trs, n_voxels)`` for time series, ``(n_subjects, n_units)`` for per-subject scores.
Everything is NumPy/SciPy, computed in float64.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal, NamedTuple

import numpy as np
from scipy import stats as _stats
from scipy.stats import false_discovery_control, wilcoxon

from brain.delays import run_segments

# Default bound on the number of float64 elements held by one intermediate (2**24 = 128 MiB).
_MAX_ELEMENTS = 2**24


class PermutationResult(NamedTuple):
    """Result of :func:`block_permutation_test` and :func:`phase_randomisation_test`.

    Both fields are ``(n_voxels,)``: p-value and observed Pearson r.
    """

    pvalue: np.ndarray
    r: np.ndarray


class FDRResult(NamedTuple):
    """Result of :func:`fdr_bh`; both fields have the shape of the input p-values."""

    rejected: np.ndarray
    qvalue: np.ndarray


class SignFlipResult(NamedTuple):
    """Result of :func:`sign_flip_test`.

    mean_difference, pvalue: (n_units,); min_pvalue: the smallest p-value the test can give
    (``2 / 2**n`` two-sided, ``1 / 2**n`` one-sided with exact enumeration over n subjects;
    ``1 / (1 + n_permutations)`` when sampled); n_subjects: n.
    """

    mean_difference: np.ndarray
    pvalue: np.ndarray
    min_pvalue: float
    n_subjects: int


class WilcoxonResult(NamedTuple):
    """Result of :func:`wilcoxon_across_subjects`; every field is ``(n_units,)``."""

    statistic: np.ndarray
    pvalue: np.ndarray
    mean_difference: np.ndarray


def _finite_array(x: np.ndarray, name: str, ndim: int) -> np.ndarray:
    """``x`` as a float64 array, checked to have ``ndim`` axes and only finite values."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} axes, got shape {arr.shape}")
    n_bad = int(np.count_nonzero(~np.isfinite(arr)))
    if n_bad:
        raise ValueError(f"{name} holds {n_bad} NaN or infinite values (shape {arr.shape})")
    return arr


def _paired_arrays(
    a: np.ndarray, b: np.ndarray, names: tuple[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    """Two finite 2-D float64 arrays of the same shape, or a ValueError naming both shapes."""
    a_arr, b_arr = _finite_array(a, names[0], 2), _finite_array(b, names[1], 2)
    if a_arr.shape != b_arr.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape, "
            f"got {a_arr.shape} and {b_arr.shape}"
        )
    return a_arr, b_arr


def zscore_columns(y: np.ndarray) -> np.ndarray:
    """Centre and scale each column of ``y`` (n_trs, n_voxels) to unit variance (ddof 0).

    Constant columns become NaN, so every correlation involving them is NaN.
    """
    centred = y - y.mean(axis=0)
    std = np.sqrt(np.mean(centred**2, axis=0))
    std = np.where(np.ptp(y, axis=0) > 0, std, np.nan)
    return centred / std


def block_orders(n_blocks: int, n_permutations: int, rng: np.random.Generator) -> np.ndarray:
    """Random orders of ``n_blocks`` blocks, one per row: (n_permutations, n_blocks) ints.

    This is the draw :func:`block_permutation_test` makes from its ``rng``.
    """
    return rng.permuted(np.tile(np.arange(n_blocks), (n_permutations, 1)), axis=1)


def _block_cross_products(zt: np.ndarray, zp: np.ndarray, n_blocks: int) -> np.ndarray:
    """Dot products of every data block with every prediction block, per voxel.

    ``zt``, ``zp``: (n_blocks * block, n_chunk), whole blocks only. Returns
    (n_blocks * n_blocks, n_chunk): row ``i * n_blocks + j`` holds ``<zt block i, zp block j>``.
    """
    n_chunk = zt.shape[1]
    true_blocks = zt.T.reshape(n_chunk, n_blocks, -1)
    pred_blocks = zp.T.reshape(n_chunk, n_blocks, -1)
    cross = true_blocks @ pred_blocks.transpose(0, 2, 1)  # (n_chunk, n_blocks, n_blocks)
    return cross.reshape(n_chunk, n_blocks * n_blocks).T.copy()


def _permuted_sums(cross: np.ndarray, orders: np.ndarray) -> np.ndarray:
    """``sum_i cross[i * n_blocks + order[i]]`` per order: (n_orders, n_chunk).

    ``cross``: (n_blocks**2, n_chunk); ``orders``: (n_orders, n_blocks). Adds contiguous rows
    one block position at a time, in the same sequence for every order, so the identity
    order reproduces the observed sum bit for bit.
    """
    n_blocks = orders.shape[1]
    rows = np.arange(n_blocks) * n_blocks + orders  # (n_orders, n_blocks)
    total = np.zeros((len(orders), cross.shape[1]))
    for i in range(n_blocks):
        total += cross[rows[:, i]]
    return total


def _null_counts(
    zt: np.ndarray,
    zp: np.ndarray,
    block: int,
    orders: np.ndarray,
    two_sided: bool,
    max_elements: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Observed r and the number of null r at least as extreme, for a chunk of voxels.

    ``zt``, ``zp``: z-scored (n_trs, n_chunk); ``orders``: (n_permutations, n_blocks).
    Blocks of the prediction move as wholes and the last ``n_trs % block`` TRs stay in place,
    so a permuted r is a sum of ``n_blocks`` block cross-products plus the fixed tail: each
    permutation costs ``n_blocks`` instead of ``n_trs`` operations per voxel.
    Returns two (n_chunk,) arrays.
    """
    n_trs, n_chunk = zt.shape
    n_blocks = orders.shape[1]
    whole = n_blocks * block
    cross = _block_cross_products(zt[:whole], zp[:whole], n_blocks)
    tail = np.sum(zt[whole:] * zp[whole:], axis=0)  # (n_chunk,)
    identity = np.arange(n_blocks)[None]
    observed = (_permuted_sums(cross, identity)[0] + tail) / n_trs
    count = np.zeros(n_chunk)
    per_batch = max(1, max_elements // n_chunk)
    for start in range(0, len(orders), per_batch):
        null = (_permuted_sums(cross, orders[start : start + per_batch]) + tail) / n_trs
        if two_sided:
            count += np.sum(np.abs(null) >= np.abs(observed), axis=0)
        else:
            count += np.sum(null >= observed, axis=0)
    return observed, count


def block_permutation_test(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    block: int = 10,
    n_permutations: int = 1000,
    rng: np.random.Generator | None = None,
    alternative: Literal["greater", "two-sided"] = "greater",
    max_elements: int = _MAX_ELEMENTS,
) -> PermutationResult:
    """Per-voxel permutation p-value of the Pearson r between data and prediction.

    The null shuffles contiguous blocks of ``block`` TRs of ``y_pred`` (the same block order
    for every voxel within one permutation, so spatial correlation is kept); the last
    ``n_trs % block`` TRs stay in place. ``p = (1 + #{null >= observed}) / (1 +
    n_permutations)`` (``|r|`` for ``alternative="two-sided"``), so ``p >= 1 / (1 +
    n_permutations)``. Voxels are processed in chunks so that no intermediate exceeds about
    ``max_elements`` float64 values.

    ``y_true``, ``y_pred``: (n_trs, n_voxels), finite; ``block`` in TRs, at least 2 whole
    blocks must fit in ``n_trs``. ``rng``: a fresh unseeded generator if None (pass a seeded
    one for reproducible p-values). Returns ``PermutationResult(pvalue, r)``, both
    (n_voxels,); NaN for constant voxels.
    """
    y_true, y_pred = _paired_arrays(y_true, y_pred, ("y_true", "y_pred"))
    n_trs, n_voxels = y_true.shape
    if block < 1 or n_trs // block < 2:
        raise ValueError(
            f"block ({block} TRs) must be >= 1 and leave at least 2 whole blocks in n_trs ({n_trs})"
        )
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    if alternative not in ("greater", "two-sided"):
        raise ValueError(f"alternative must be 'greater' or 'two-sided', got {alternative!r}")
    rng = np.random.default_rng() if rng is None else rng
    n_blocks = n_trs // block
    orders = block_orders(n_blocks, n_permutations, rng)
    r, count = np.empty(n_voxels), np.empty(n_voxels)
    chunk = max(1, min(n_voxels, max_elements // (n_blocks * max(n_blocks, block))))
    for start in range(0, n_voxels, chunk):
        cols = slice(start, start + chunk)
        zt, zp = zscore_columns(y_true[:, cols]), zscore_columns(y_pred[:, cols])
        r[cols], count[cols] = _null_counts(
            zt, zp, block, orders, alternative == "two-sided", max_elements
        )
    pvalue = np.where(np.isnan(r), np.nan, (1.0 + count) / (1.0 + n_permutations))
    return PermutationResult(pvalue=pvalue, r=np.clip(r, -1.0, 1.0))


def random_phases(n_trs: int, n_permutations: int, rng: np.random.Generator) -> np.ndarray:
    """Random Fourier phases for real series of ``n_trs`` samples: (n_permutations, n_freqs).

    ``n_freqs = n_trs // 2 + 1`` (the ``rfft`` frequencies). Uniform in [0, 2 pi) except the
    mean (phase 0) and, for even ``n_trs``, the Nyquist frequency (0 or pi, the coefficient
    must stay real). This is the draw :func:`phase_randomisation_test` makes from its ``rng``.
    """
    phases = rng.uniform(0.0, 2.0 * np.pi, size=(n_permutations, n_trs // 2 + 1))
    phases[:, 0] = 0.0
    if n_trs % 2 == 0:
        phases[:, -1] = np.pi * (phases[:, -1] >= np.pi)
    return phases


def _cross_spectrum(zt: np.ndarray, zp: np.ndarray) -> np.ndarray:
    """Weighted cross-spectrum whose real part sums to the Pearson r (Parseval).

    ``zt``, ``zp``: z-scored (n_trs, n_chunk). Returns complex (n_freqs, n_chunk) ``w_f
    Zt_f conj(Zp_f) / n_trs**2`` with ``w_f = 2`` for frequencies that stand for a conjugate
    pair and 1 for the mean and the Nyquist frequency, so that ``sum_f Re(.) = mean(zt zp)``.
    """
    n_trs = zt.shape[0]
    cross = np.fft.rfft(zt, axis=0) * np.conj(np.fft.rfft(zp, axis=0))
    weights = np.full(n_trs // 2 + 1, 2.0)
    weights[0] = 1.0
    if n_trs % 2 == 0:
        weights[-1] = 1.0
    return cross * (weights / n_trs**2)[:, None]


def phase_null_counts(
    cross: np.ndarray, phases: np.ndarray, two_sided: bool, max_elements: int = _MAX_ELEMENTS
) -> tuple[np.ndarray, np.ndarray]:
    """Observed statistic and the number of phase-randomised ones at least as extreme.

    ``cross``: complex (n_freqs, n_chunk) from :func:`_cross_spectrum` (or a sum of them);
    ``phases``: (n_permutations, n_freqs). Turning the second series' phases by ``phi_f``
    turns the statistic into ``sum_f Re(C_f) cos(phi_f) + Im(C_f) sin(phi_f)``: one matrix
    product per batch of permutations, no inverse FFT. Returns two (n_chunk,) arrays.
    """
    observed = cross.real.sum(axis=0)
    count = np.zeros(cross.shape[1])
    per_batch = max(1, max_elements // max(cross.shape[1], 1))
    for start in range(0, len(phases), per_batch):
        phi = phases[start : start + per_batch]
        null = np.cos(phi) @ cross.real + np.sin(phi) @ cross.imag
        if two_sided:
            count += np.sum(np.abs(null) >= np.abs(observed) - 1e-12, axis=0)
        else:
            count += np.sum(null >= observed - 1e-12, axis=0)
    return observed, count


def phase_randomisation_test(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    n_permutations: int = 1000,
    rng: np.random.Generator | None = None,
    alternative: Literal["greater", "two-sided"] = "greater",
    max_elements: int = _MAX_ELEMENTS,
    segments: np.ndarray | None = None,
) -> PermutationResult:
    """Per-voxel p-value of the Pearson r between data and prediction, phase-randomised null.

    Each null draw gives the z-scored prediction random Fourier phases (:func:`random_phases`)
    and keeps its amplitude spectrum, so a surrogate has the prediction's autocorrelation and
    variance but no fixed relation to ``y_true`` (Theiler et al. 1992). The same phases are
    used for every voxel in a draw, so spatial correlation is kept. ``p = (1 + #{null >=
    observed}) / (1 + n_permutations)`` (``|r|`` for ``alternative="two-sided"``). The
    surrogates are circular: the test assumes stationary series a good deal longer than their
    autocorrelation time (it is calibrated for AR(0.9) over 300 TRs, see the tests).

    ``segments``: (n_trs,) integer labels of separate recordings joined end to end (e.g.
    several test stimuli, :attr:`brain.dataset.EncodingData.test_runs`; a new segment starts
    wherever the label changes), or None (one series). The statistic is still the Pearson r
    over all TRs, but each segment's prediction gets phases of its own, so no surrogate wraps
    one stimulus's end onto another's start (the circular shift of one long series would
    treat the boundary as contiguous). Each segment needs >= 4 TRs.

    ``y_true``, ``y_pred``: (n_trs, n_voxels), finite, n_trs >= 4. ``rng``: a fresh unseeded
    generator if None. Returns ``PermutationResult(pvalue, r)``, both (n_voxels,); NaN for
    constant voxels.
    """
    y_true, y_pred = _paired_arrays(y_true, y_pred, ("y_true", "y_pred"))
    n_trs, n_voxels = y_true.shape
    if n_trs < 4:
        raise ValueError(f"need at least 4 TRs, got y_true of shape {y_true.shape}")
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    if alternative not in ("greater", "two-sided"):
        raise ValueError(f"alternative must be 'greater' or 'two-sided', got {alternative!r}")
    rng = np.random.default_rng() if rng is None else rng
    seg = run_segments(segments, n_trs)
    bounds = np.flatnonzero(np.diff(np.concatenate([[-1], seg, [seg[-1] + 1]])))
    pieces = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    short = [int(p.stop - p.start) for p in pieces if p.stop - p.start < 4]
    if short:
        raise ValueError(f"every segment needs at least 4 TRs; segments of {short} TRs in segments")
    # one block of random phases per segment, side by side: (n_permutations, sum of n_freqs)
    phases = np.concatenate([random_phases(p.stop - p.start, n_permutations, rng) for p in pieces], axis=1)
    r, count = np.empty(n_voxels), np.empty(n_voxels)
    chunk = max(1, min(n_voxels, max_elements // n_trs))
    for start in range(0, n_voxels, chunk):
        cols = slice(start, start + chunk)
        zt, zp = zscore_columns(y_true[:, cols]), zscore_columns(y_pred[:, cols])
        # a segment's cross-spectrum sums to its mean product; weighted by its share of the TRs
        cross = np.concatenate([_cross_spectrum(zt[p], zp[p]) * ((p.stop - p.start) / n_trs) for p in pieces])
        r[cols], count[cols] = phase_null_counts(
            cross, phases, alternative == "two-sided", max_elements
        )
    pvalue = np.where(np.isnan(r), np.nan, (1.0 + count) / (1.0 + n_permutations))
    return PermutationResult(pvalue=pvalue, r=np.clip(r, -1.0, 1.0))


def fdr_bh(p: np.ndarray, alpha: float = 0.05) -> FDRResult:
    """Benjamini-Hochberg false discovery rate control over all non-NaN p-values.

    ``p``: any shape, values in [0, 1]; NaN entries (e.g. masked voxels) are left out of the
    count of tests and come back not rejected with a NaN q-value. The q-values are
    ``scipy.stats.false_discovery_control(method="bh")``; a test is rejected when its q-value
    is <= ``alpha``, which is the BH step-up rule at level ``alpha``.
    Returns ``FDRResult(rejected (bool), qvalue (float))``, both of ``p``'s shape.
    """
    p = np.asarray(p, dtype=np.float64)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    tested = ~np.isnan(p)
    n_bad = int(np.count_nonzero(tested & ~((p >= 0.0) & (p <= 1.0))))
    if n_bad:
        raise ValueError(f"p holds {n_bad} values outside [0, 1] (shape {p.shape})")
    qvalue = np.full(p.shape, np.nan)
    if tested.any():
        qvalue[tested] = false_discovery_control(p[tested], method="bh")
    rejected = np.zeros(p.shape, dtype=bool)
    rejected[tested] = qvalue[tested] <= alpha
    return FDRResult(rejected=rejected, qvalue=qvalue)


class FloorLimit(NamedTuple):
    """How the resolution of Monte-Carlo p-values bounds BH (:func:`permutation_floor`)."""

    smallest_p: float  # 1 / (n_permutations + 1): no p-value can be smaller
    needed: int  # tests at that p BH needs before it can reject any (at least 1)
    at_floor: int  # tests at that p
    excess_p: float  # P(at least at_floor tests at the floor) if every null were true (binomial)
    limited: bool  # BH rejects nothing, yet more tests reach the floor than nulls would put there


def permutation_floor(p: np.ndarray, n_permutations: int, alpha: float = 0.05) -> FloorLimit:
    """Whether ``n_permutations`` rather than the data kept BH at ``alpha`` from rejecting
    anything among the non-NaN p-values ``p`` (each ``(1 + count) / (1 + n_permutations)``).

    BH rejects the k smallest p-values when the k-th is <= alpha k / m (m tests); with
    p-values no smaller than f = 1 / (n_permutations + 1), none is rejected unless at least
    ceil(f m / alpha) tests reach f. Under the global null a test reaches f with probability
    f, so the count at f is Binomial(m, f); ``limited`` is True when BH rejects nothing and
    that count is improbably high under it (``excess_p`` < ``alpha``): there is signal that
    more permutations (n_permutations >= m / alpha - 1 lets a single test pass) could
    resolve, so "nothing significant" is not the data's answer. Noise alone (a count near
    m f) is not flagged.
    """
    from scipy.stats import binom

    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    p = np.asarray(p, dtype=np.float64)
    tested = p[~np.isnan(p)]
    floor = 1.0 / (n_permutations + 1.0)
    needed = max(1, int(np.ceil(floor * tested.size / alpha - 1e-9)))
    at_floor = int(np.count_nonzero(tested <= floor * (1 + 1e-9)))
    excess_p = float(binom.sf(at_floor - 1, tested.size, floor)) if tested.size else 1.0
    # BH only where the floor holds more tests than nulls put there (most maps: none reach it)
    limited = at_floor > 0 and excess_p < alpha and not fdr_bh(tested, alpha).rejected.any()
    return FloorLimit(floor, needed, at_floor, excess_p, bool(limited))


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control) of a 1-D array."""
    p = np.asarray(pvalues, float)
    order = np.argsort(p)
    m = p.size
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order]) if m else p
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def permutation_limits(ceiling_pvalues: np.ndarray | None, test_pvalues: dict[str, np.ndarray], bad: np.ndarray,
                       n_permutations: int, alpha: float = 0.05) -> dict[str, Any]:
    """Where the permutation count, not the data, left BH with nothing significant
    (:func:`permutation_floor`, over each subject's usable voxels): per subject for the
    ceiling p-values ``ceiling_pvalues`` (n_subjects, n_vox; None: no ceiling), and per
    (space, layer, subject) for ``test_pvalues[space]`` (n_subjects, n_layers, n_vox).
    ``bad`` (n_subjects, n_vox): unusable voxels, left out. A case is limited when BH rejects
    nothing in it and its excess at the floor is significant after Holm's correction over
    its family (the subjects' ceiling maps; every test-r map), so pure noise flags nothing
    in most runs however many maps there are. JSON-ready: the smallest attainable p, the
    permutation count that lets a single voxel pass, and the limited cases."""
    bad = np.asarray(bad, bool)
    n_usable = int((~bad).sum(axis=1).max()) if bad.size else 0
    out: dict[str, Any] = {"n_permutations": n_permutations, "smallest_p": 1.0 / (n_permutations + 1),
                           "fdr_alpha": alpha, "enough_for_one_voxel": int(np.ceil(n_usable / alpha)) - 1,
                           "correction": "Holm over each family of maps (ceiling: subjects; test r: every space, "
                                         "layer and subject)"}

    def limited(limits: list[FloorLimit]) -> list[bool]:
        if not limits:
            return []
        adj = holm(np.array([lim.excess_p for lim in limits]))
        return [bool(lim.at_floor > 0 and a < alpha and lim.limited) for lim, a in zip(limits, adj)]

    if ceiling_pvalues is not None:
        limits = [permutation_floor(np.where(b, np.nan, p), n_permutations, alpha)
                  for p, b in zip(ceiling_pvalues, bad)]
        out["ceiling"] = {"needed_at_floor": [lim.needed for lim in limits],
                          "at_floor": [lim.at_floor for lim in limits],
                          "limited_subjects": [s for s, f in enumerate(limited(limits)) if f]}
    cases = [({"space": space, "layer": k, "subject": s}, permutation_floor(np.where(b, np.nan, p), n_permutations,
                                                                             alpha))
             for space, per_subject in test_pvalues.items() for s, (subj, b) in enumerate(zip(per_subject, bad))
             for k, p in enumerate(subj)]
    flags = limited([lim for _, lim in cases])
    out["test_r_limited"] = [case for (case, _), f in zip(cases, flags) if f]
    out["test_r_maps"] = len(cases)
    return out


def _flip_signs(n: int, n_permutations: int, rng: np.random.Generator | None) -> np.ndarray:
    """Sign patterns (n_patterns, n): all ``2**n`` if there are at most ``n_permutations``
    of them (the exact null), else the identity plus ``n_permutations`` random ones."""
    if 2**n <= n_permutations:
        bits = (np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1
        return 1.0 - 2.0 * bits
    rng = np.random.default_rng() if rng is None else rng
    random = rng.choice([-1.0, 1.0], size=(n_permutations, n))
    return np.vstack([np.ones((1, n)), random])


def _warn_floor(test: str, n_subjects: int, min_pvalue: float, alpha: float) -> None:
    """UserWarning when no outcome of ``test`` on ``n_subjects`` can reach ``alpha``."""
    if min_pvalue > alpha:
        warnings.warn(
            f"{test} across {n_subjects} subjects: the smallest attainable p-value is "
            f"{min_pvalue:.4g}, above alpha = {alpha:g}; no difference can be significant",
            UserWarning,
            stacklevel=3,
        )


def sign_flip_test(
    a: np.ndarray,
    b: np.ndarray,
    alternative: Literal["two-sided", "greater", "less"] = "two-sided",
    alpha: float = 0.05,
    n_permutations: int = 10_000,
    rng: np.random.Generator | None = None,
) -> SignFlipResult:
    """Paired sign-flip permutation test of ``mean(a - b)`` across subjects, per unit.

    ``a``, ``b``: (n_subjects, n_units) paired per-subject scores (e.g. a model's mean
    normalised alignment in each region), finite, n_subjects >= 2. Under the null each
    subject's difference ``d_s`` is symmetric about 0, so its sign is exchangeable: the null
    distribution of the mean difference is that of ``mean(eps_s d_s)`` over sign patterns
    ``eps``, the same pattern for every unit. The subject is the unit of exchangeability:
    voxels within a subject are not independent replicates and are averaged before this test.
    All ``2**n`` patterns are enumerated when there are at most ``n_permutations`` (the exact
    test), else ``n_permutations`` random ones plus the identity (``rng``, a fresh unseeded
    generator if None). ``p = #{null >= observed} / n_patterns`` (``|.|`` for two-sided,
    ``<=`` for ``"less"``); ties count. With n subjects p cannot go below ``min_pvalue`` =
    ``2 / 2**n`` two-sided (0.25 for 3 subjects, 0.125 for 4) or ``1 / 2**n`` one-sided; a
    ``UserWarning`` names it when it is above ``alpha``.

    Returns ``SignFlipResult(mean_difference, pvalue, min_pvalue, n_subjects)``.
    """
    a, b = _paired_arrays(a, b, ("a", "b"))
    n = a.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 subjects, got a and b of shape {a.shape}")
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"alternative must be 'two-sided', 'greater' or 'less', got {alternative!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    d = a - b
    signs = _flip_signs(n, n_permutations, rng)
    null = signs @ d / n  # (n_patterns, n_units); row 0 is the identity
    observed = d.mean(axis=0)
    tol = 1e-12 * (1.0 + np.abs(d).max(axis=0))
    if alternative == "two-sided":
        extreme = np.abs(null) >= np.abs(observed) - tol
    elif alternative == "greater":
        extreme = null >= observed - tol
    else:
        extreme = null <= observed + tol
    if 2**n <= n_permutations:  # exact enumeration
        min_pvalue = (2.0 if alternative == "two-sided" else 1.0) / 2**n
    else:
        min_pvalue = 1.0 / len(signs)
    _warn_floor("sign-flip test", n, min_pvalue, alpha)
    return SignFlipResult(
        mean_difference=observed,
        pvalue=extreme.mean(axis=0),
        min_pvalue=float(min_pvalue),
        n_subjects=n,
    )


def wilcoxon_across_subjects(
    a: np.ndarray, b: np.ndarray, alpha: float = 0.05
) -> WilcoxonResult:
    """Paired two-sided Wilcoxon signed-rank test across subjects, one test per unit.

    ``a``, ``b``: (n_subjects, n_units) paired scores (e.g. normalised alignment of two
    models), finite, n_subjects >= 2. Calls ``scipy.stats.wilcoxon(a, b, axis=0)`` (default
    ``zero_method="wilcox"``; exact null distribution for small samples without ties or
    zeros), so each unit's p-value is what scipy gives for that unit alone. A unit whose
    differences are all zero gets p = 1. With n subjects the smallest two-sided p is
    ``2 / 2**n`` (0.25 for 3 subjects, 0.125 for 4): a ``UserWarning`` says so when that is
    above ``alpha``. :func:`sign_flip_test` is the recommended test (same interface, tests
    the mean difference itself, reports the floor). Returns ``WilcoxonResult(statistic,
    pvalue, mean_difference)``, each (n_units,), ``mean_difference = mean(a - b)``.
    """
    a, b = _paired_arrays(a, b, ("a", "b"))
    if a.shape[0] < 2:
        raise ValueError(f"need at least 2 subjects, got a and b of shape {a.shape}")
    _warn_floor("Wilcoxon signed-rank test", a.shape[0], 2.0 / 2 ** a.shape[0], alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = wilcoxon(a, b, axis=0)
    return WilcoxonResult(
        statistic=np.asarray(result.statistic, dtype=np.float64),
        pvalue=np.asarray(result.pvalue, dtype=np.float64),
        mean_difference=np.mean(a - b, axis=0),
    )


def t_interval(values: Any) -> tuple[float, float, int]:
    """Mean, half-width of the two-sided 95 % Student-t interval of the mean (NaN for fewer
    than two values) and the number of values."""
    x = np.asarray(values, float).ravel()
    if x.size == 0:
        return float("nan"), float("nan"), 0
    half = float(_stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else float("nan")
    return float(x.mean()), half, int(x.size)
