"""Within-subject uncertainty of the normalised alignment: a circular block bootstrap over
the test time points.

With 3-4 subjects a t interval over subjects is all but uninformative (and the sign-flip
test can give nothing), yet each subject's number rests on a few hundred test TRs whose
noise is its own uncertainty. Resampling contiguous blocks of the test segment (the same
blocks for every subject and repeat, since they saw the same stimulus; circular blocks of
``block`` TRs, long enough to keep the BOLD autocorrelation within a block; with several
test stimuli, each stimulus's TRs resampled within it, so no block straddles two) and recomputing
everything that depends on the test data (each voxel's test r of its best layer, and the
ceiling from the resampled repeats or subjects) gives the spread of the subject-mean ratio
that another test segment of the same kind would give, *for these subjects* (conditional
on them: it says nothing about other subjects).

Pure NumPy on what the fits leave: the repeat-averaged test responses, the best layer's
test predictions, the repeats (split-half) and the kept voxels; the voxel selection and the
best layers are fixed (they come from training data).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from brain.delays import run_segments
from brain.layers import best_layer_alignment
from brain.noise_ceiling import cross_subject_ceiling, signed_ceiling, split_half_estimate
from brain.scoring import pearson_r


class BootstrapInterval(NamedTuple):
    """``draws`` (n_bootstraps, n_regions): the subject-mean aggregate ratio per draw (NaN
    where too few voxels or subjects); ``ci95`` (n_regions, 2): its 2.5 and 97.5 percentiles
    over the finite draws (NaN where fewer than half the draws are finite); ``block`` TRs."""

    draws: np.ndarray
    ci95: np.ndarray
    block: int


def circular_blocks(n_trs: int, block: int, n_bootstraps: int, rng: np.random.Generator,
                    segments: np.ndarray | None = None) -> np.ndarray:
    """(n_bootstraps, n_trs) indices of circular block resamples: ``ceil(n_trs / block)``
    blocks of ``block`` consecutive TRs (wrapping around the end) with uniform random starts,
    concatenated and cut to ``n_trs``. ``segments`` (n_trs,) integer labels (several test
    stimuli one after the other, :func:`brain.delays.run_segments`): each segment is resampled
    on its own in place (its blocks wrap within it), so no block straddles two stimuli and
    every draw keeps each stimulus's share of the TRs; None: one segment."""
    if segments is not None:
        seg = run_segments(segments, n_trs)
        if seg[-1] > 0:
            out = np.empty((n_bootstraps, n_trs), np.int64)
            for k in range(seg[-1] + 1):
                rows = np.flatnonzero(seg == k)
                if not 1 <= block <= rows.size // 2:
                    raise ValueError(f"block must be between 1 and the shortest test segment / 2 = "
                                     f"{rows.size // 2} TRs (segment {k}: TRs {rows[0]}..{rows[-1]}), got {block}")
                out[:, rows] = rows[0] + circular_blocks(rows.size, block, n_bootstraps, rng)
            return out
    if not 1 <= block <= n_trs // 2:
        raise ValueError(f"block must be between 1 and n_trs / 2 = {n_trs // 2} TRs, got {block}")
    if n_bootstraps < 1:
        raise ValueError(f"n_bootstraps must be >= 1, got {n_bootstraps}")
    n_blocks = -(-n_trs // block)
    starts = rng.integers(0, n_trs, size=(n_bootstraps, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)) % n_trs
    return idx.reshape(n_bootstraps, -1)[:, :n_trs]


def ceiling_resampler(kind: str, test_repeats: np.ndarray, extrapolation: str = "exponential",
                      n_fits: int = 10) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """A function (TR indices, rng) -> (n_subjects, n_vox) signed ceilings of ``kind`` on the
    resampled test TRs, computed as the run computed them (``split_half``:
    :func:`brain.noise_ceiling.split_half_estimate` per subject, signed; ``cross_subject``:
    :func:`brain.noise_ceiling.cross_subject_ceiling` of the repeat means with ``n_fits``
    bootstraps of its own extrapolation; ``none``: 1). ``test_repeats`` (n_subjects,
    n_repeats, n_trs, n_vox), cleaned."""
    reps = np.asarray(test_repeats, float)
    if reps.ndim != 4:
        raise ValueError(f"test_repeats must be (n_subjects, n_repeats, n_trs, n_vox), got {reps.shape}")
    if kind == "none":
        return lambda idx, rng: np.ones((reps.shape[0], reps.shape[3]))
    if kind == "split_half":
        return lambda idx, rng: np.stack([signed_ceiling(split_half_estimate(r[:, idx], rng=rng)) for r in reps])
    if kind == "cross_subject":
        means = reps.mean(axis=1)
        return lambda idx, rng: cross_subject_ceiling(means[:, idx], n_bootstraps=n_fits, rng=rng, n_permutations=0,
                                                      extrapolation=extrapolation, progress=False).ceiling
    raise ValueError(f"unknown ceiling kind {kind!r}")


def bootstrap_alignment(y_test: np.ndarray, predictions: np.ndarray, ceiling_of: Callable, keep: np.ndarray,
                        labels: np.ndarray, names: tuple[str, ...] | list[str], *, block: int,
                        n_bootstraps: int, rng: np.random.Generator, min_voxels: int = 1,
                        min_ceiling: float = 0.05, segments: np.ndarray | None = None) -> BootstrapInterval:
    """Circular block bootstrap of the subject-mean aggregate ratio per region
    (:func:`brain.layers.best_layer_alignment`).

    ``y_test`` (n_subjects, n_trs, n_vox): repeat-averaged test responses; ``predictions``
    (n_subjects, n_trs, n_vox): each voxel's best-layer test prediction; ``ceiling_of``: a
    :func:`ceiling_resampler`; ``keep`` (n_subjects, n_vox): the kept voxels (fixed). Each
    draw resamples the same blocks for every subject, recomputes r and the ceiling, and
    averages the per-subject ratios over the subjects where they are finite. ``segments``
    (n_trs,): labels of the test stimuli one after the other (blocks stay within each, see
    :func:`circular_blocks`), or None."""
    y, pred = np.asarray(y_test, float), np.asarray(predictions, float)
    if y.shape != pred.shape or y.ndim != 3:
        raise ValueError(f"y_test and predictions must both be (n_subjects, n_trs, n_vox), got {y.shape} and "
                         f"{pred.shape}")
    keep = np.asarray(keep, bool)
    if keep.shape != (y.shape[0], y.shape[2]):
        raise ValueError(f"keep must be (n_subjects, n_vox) = {(y.shape[0], y.shape[2])}, got {keep.shape}")
    draws = np.full((n_bootstraps, len(names)), np.nan)
    for b, idx in enumerate(circular_blocks(y.shape[1], block, n_bootstraps, rng, segments)):
        with np.errstate(all="ignore"):
            r = np.stack([np.asarray(pearson_r(ys[idx], ps[idx])) for ys, ps in zip(y, pred)])[:, None]
            ratio = best_layer_alignment(r, np.zeros_like(r), ceiling_of(idx, rng), keep, labels, names,
                                         min_ceiling=min_ceiling, min_voxels=min_voxels)
        finite = np.isfinite(ratio)
        draws[b] = np.where(finite.any(axis=0), np.nansum(ratio, axis=0) / np.maximum(finite.sum(axis=0), 1), np.nan)
    ok = np.isfinite(draws).sum(axis=0) >= n_bootstraps / 2
    ci = np.full((len(names), 2), np.nan)
    if ok.any():
        ci[ok] = np.nanpercentile(draws[:, ok], [2.5, 97.5], axis=0).T
    return BootstrapInterval(draws, ci, block)
