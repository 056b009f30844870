"""Layer and region analyses of encoding results.

Pure NumPy on arrays of per-voxel scores: best layer per voxel as normalised depth,
region summaries, and variance partitioning between two feature spaces.
"""

from __future__ import annotations

import warnings

import numpy as np

from brain.noise_ceiling import normalised_alignment, signed_ceiling
from brain.stats import fdr_bh


def best_layer(scores: np.ndarray, keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Best layer per voxel from ``scores`` (n_layers, n_voxels).

    ``scores`` should be selection scores (e.g. training cross-validation r), not the test r
    that is then reported. ``keep`` (n_voxels,) bool: voxels to answer for (e.g. significant
    ceiling); None keeps all. Returns the layer index (n_voxels,) (-1 where every layer is
    NaN or the voxel is not kept) and the normalised depth index / (n_layers - 1) in [0, 1]
    (NaN there).
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2 or scores.shape[0] < 1:
        raise ValueError(f"scores must be (n_layers, n_voxels), got {scores.shape}")
    valid = ~np.all(np.isnan(scores), axis=0)
    if keep is not None:
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != valid.shape:
            raise ValueError(f"keep must be ({scores.shape[1]},), got {keep.shape}")
        valid &= keep
    idx = np.full(scores.shape[1], -1)
    idx[valid] = np.nanargmax(scores[:, valid], axis=0)
    depth = np.where(valid, idx / max(scores.shape[0] - 1, 1), np.nan)
    return idx, depth


def group_best_layer(select_scores: np.ndarray, keep_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best layer per voxel of a group map: :func:`best_layer` of the subject-mean selection
    scores (training CV; NaN subjects left out) over the voxels kept in at least one subject.

    ``select_scores`` (n_subjects, n_layers, n_voxels); ``keep_mask`` (n_subjects, n_voxels)
    or (n_voxels,) bool. The run's report and the cross-run comparison draw their best-layer
    maps with it, so both show the same layer (never the one with the best test r, which is
    biased towards noise peaks). Returns (index, normalised depth), each (n_voxels,), -1 / NaN
    where no subject keeps the voxel.
    """
    select = np.asarray(select_scores, dtype=float)
    if select.ndim != 3:
        raise ValueError(f"select_scores must be (n_subjects, n_layers, n_voxels), got {select.shape}")
    keep = np.broadcast_to(np.asarray(keep_mask, dtype=bool), (select.shape[0], select.shape[2]))
    with warnings.catch_warnings():  # a voxel NaN in every subject stays NaN (best_layer leaves it out)
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(select, axis=0)
    return best_layer(mean, keep.any(axis=0))


def region_means(values: np.ndarray, labels: np.ndarray, names: tuple[str, ...] | list[str]
                 ) -> dict[str, float]:
    """Mean of ``values`` (..., n_voxels) over the voxels of each region, ignoring NaN.

    ``labels`` (n_voxels,) are indices into ``names``; returns {name: mean}, NaN (without a
    warning) for a region with no voxel or no finite value.
    """
    values = np.asarray(values, dtype=float)
    labels = np.asarray(labels)
    if values.shape[-1] != labels.shape[0]:
        raise ValueError(f"values have {values.shape[-1]} voxels but labels {labels.shape[0]}")
    out = {}
    for i, name in enumerate(names):
        v = values[..., labels == i]
        finite = np.isfinite(v)
        n = int(np.count_nonzero(finite))
        out[name] = float(np.sum(np.where(finite, v, 0.0)) / n) if n else float("nan")
    return out


def region_curves(scores: np.ndarray, labels: np.ndarray, names: tuple[str, ...] | list[str]
                  ) -> dict[str, list[float]]:
    """Per-region layer curves: {name: [mean score of layer 0, 1, ...]} from (n_layers, n_voxels)."""
    per_layer = [region_means(row, labels, names) for row in np.asarray(scores)]
    return {name: [layer[name] for layer in per_layer] for name in names}


def variance_partition(r2_a: np.ndarray, r2_b: np.ndarray, r2_joint: np.ndarray
                       ) -> dict[str, np.ndarray]:
    """Unique and shared explained variance of two feature spaces (set-theoretic).

    ``r2_a``, ``r2_b``: R^2 of models on each space alone; ``r2_joint``: R^2 of the model on
    both; all (n_voxels,). unique_a = joint - b, unique_b = joint - a,
    shared = a + b - joint.
    """
    a, b, ab = (np.asarray(x, dtype=float) for x in (r2_a, r2_b, r2_joint))
    if not (a.shape == b.shape == ab.shape):
        raise ValueError(f"R^2 arrays differ in shape: {a.shape}, {b.shape}, {ab.shape}")
    return {"unique_a": ab - b, "unique_b": ab - a, "shared": a + b - ab}


def _check_subject_stack(x: np.ndarray, name: str, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(x)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    return arr


def best_layer_values(values: np.ndarray, select_scores: np.ndarray, keep_mask: np.ndarray) -> np.ndarray:
    """Per subject and voxel, (n_subjects, n_voxels): ``values`` (n_subjects, n_layers,
    n_voxels: test r, p-values ...) of the layer with the highest ``select_scores`` (training
    cross-validation scores, same shape), NaN where the voxel is not in ``keep_mask``
    ((n_subjects, n_voxels) or (n_voxels,) bool) or every layer's score is NaN."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 3:
        raise ValueError(f"values must be (n_subjects, n_layers, n_voxels), got {values.shape}")
    n_subjects, _, n_vox = values.shape
    select = _check_subject_stack(select_scores, "select_scores", values.shape).astype(float)
    keep = np.broadcast_to(np.asarray(keep_mask, dtype=bool), (n_subjects, n_vox))
    out = np.full((n_subjects, n_vox), np.nan)
    for s in range(n_subjects):
        idx, _ = best_layer(select[s], keep[s])
        out[s] = np.where(idx >= 0, values[s][np.maximum(idx, 0), np.arange(n_vox)], np.nan)
    return out


def best_layer_alignment(r_test: np.ndarray, select_scores: np.ndarray, ceiling: np.ndarray,
                         keep_mask: np.ndarray, labels: np.ndarray,
                         names: tuple[str, ...] | list[str], min_ceiling: float = 0.05, min_voxels: int = 1,
                         per_voxel: bool = False) -> np.ndarray:
    """Best-layer normalised alignment per subject and region, (n_subjects, n_regions).

    ``r_test``, ``select_scores`` (n_subjects, n_layers, n_voxels): test r of one feature
    space, and the scores the best layer is chosen by (training cross-validation r; never
    the test r, whose maximum over layers is biased upward). ``ceiling`` (n_subjects,
    n_voxels); ``keep_mask`` (n_subjects, n_voxels) or (n_voxels,) bool, the kept voxels
    (:func:`brain.selection.keep_voxels`). Per kept voxel the test r of the layer with the
    highest ``select_scores``; then per region:

    - the aggregate ratio (default; Brain-Score's: aggregate score over aggregate ceiling):
      the mean best-layer r over the region's kept voxels divided by the region's ceiling,
      the signed square root of their mean ``sign(c) c^2`` (the mean on the reliability scale,
      where the estimates are unbiased: averaging square roots of noisy reliabilities comes
      out low, by Jensen, and the ratio high); NaN where that ceiling is below
      ``min_ceiling`` (a ratio of noise). Each voxel's noise in the ceiling averages out in
      the denominator instead of being divided by. With voxels of unequal ceilings it
      slightly understates a perfect model (mean c over root-mean-square c: 0.98-0.99 for
      the synthetic default's spread).
    - ``per_voxel=True``: the mean over the region's kept voxels of r / ceiling
      (:func:`normalised_alignment`, voxels with a ceiling below ``min_ceiling`` left out):
      a secondary number, higher than the ratio where ceilings are noisy.

    NaN for a region with fewer than ``min_voxels`` kept voxels (a summary of 1-3 voxels is
    noise) or none.
    """
    r_best = best_layer_values(r_test, select_scores, keep_mask)
    n_subjects, n_vox = r_best.shape
    ceiling = _check_subject_stack(ceiling, "ceiling", (n_subjects, n_vox)).astype(float)
    if min_voxels < 1:
        raise ValueError(f"min_voxels must be >= 1, got {min_voxels}")
    labels = np.asarray(labels)
    out = np.full((n_subjects, len(names)), np.nan)
    for s in range(n_subjects):
        usable = np.isfinite(r_best[s]) & np.isfinite(ceiling[s])
        if per_voxel:
            norm = normalised_alignment(r_best[s], ceiling[s], min_ceiling=min_ceiling, significant=usable)
        for j in range(len(names)):
            vox = usable & (labels == j)
            if vox.sum() < min_voxels:
                continue
            if per_voxel:
                finite = np.isfinite(norm[vox])
                out[s, j] = norm[vox][finite].mean() if finite.sum() >= min_voxels else np.nan
            else:
                c = ceiling[s, vox]
                c = signed_ceiling(np.mean(np.sign(c) * c ** 2))  # the mean on the reliability scale
                out[s, j] = r_best[s, vox].mean() / c if c >= min_ceiling else np.nan
    return out


def best_layer_significant(pvalues: np.ndarray, select_scores: np.ndarray, keep_mask: np.ndarray,
                           fdr_alpha: float) -> np.ndarray:
    """(n_subjects, n_voxels) bool: kept voxels whose best layer's (by ``select_scores``) test r
    is significant, BH-FDR over each subject's kept voxels. ``pvalues`` (n_subjects, n_layers,
    n_voxels) one-sided p-values of each layer's test r. Choosing the layer by training CV
    scores and then testing that one layer's test r keeps the test a single test per voxel."""
    p = best_layer_values(pvalues, select_scores, keep_mask)
    return np.stack([fdr_bh(ps, alpha=fdr_alpha).rejected for ps in p]) if p.size else np.zeros(p.shape, bool)


def best_layer_depth(select_scores: np.ndarray, keep_mask: np.ndarray, labels: np.ndarray,
                     names: tuple[str, ...] | list[str], min_voxels: int = 1) -> np.ndarray:
    """Mean normalised best-layer depth per subject and region, (n_subjects, n_regions).

    ``select_scores`` (n_subjects, n_layers, n_voxels), training cross-validation scores;
    ``keep_mask`` (n_subjects, n_voxels) or (n_voxels,) bool, the voxels to answer for (e.g.
    kept and with a significant best-layer test r, :func:`best_layer_significant`: a depth
    where the model predicts nothing is a depth of noise). NaN for a region with fewer than
    ``min_voxels`` such voxels.
    """
    select = np.asarray(select_scores, dtype=float)
    if select.ndim != 3:
        raise ValueError(f"select_scores must be (n_subjects, n_layers, n_voxels), got {select.shape}")
    keep = np.broadcast_to(np.asarray(keep_mask, dtype=bool), (select.shape[0], select.shape[2]))
    labels = np.asarray(labels)
    out = np.full((select.shape[0], len(names)), np.nan)
    for s in range(select.shape[0]):
        depth = best_layer(select[s], keep[s])[1]
        for j in range(len(names)):
            d = depth[labels == j]
            d = d[np.isfinite(d)]
            if d.size >= max(min_voxels, 1):
                out[s, j] = d.mean()
    return out
