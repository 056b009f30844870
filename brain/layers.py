"""Layer and region analyses of encoding results.

Pure NumPy on arrays of per-voxel scores: best layer per voxel as normalised depth,
region summaries, and variance partitioning between two feature spaces.
"""

from __future__ import annotations

import warnings

import numpy as np

from brain.noise_ceiling import normalised_alignment


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


def best_layer_alignment(r_test: np.ndarray, select_scores: np.ndarray, ceiling: np.ndarray,
                         keep_mask: np.ndarray, labels: np.ndarray,
                         names: tuple[str, ...] | list[str], min_ceiling: float = 0.05) -> np.ndarray:
    """Best-layer normalised alignment per subject and region, (n_subjects, n_regions).

    ``r_test``, ``select_scores`` (n_subjects, n_layers, n_voxels): test r of one feature
    space, and the scores the best layer is chosen by (training cross-validation r; never
    the test r, whose maximum over layers is biased upward). ``ceiling`` (n_subjects,
    n_voxels); ``keep_mask`` (n_subjects, n_voxels) or (n_voxels,) bool, the voxels whose
    ceiling is significant. Per kept voxel: ``r_test`` of the layer with the highest
    ``select_scores``, divided by the ceiling (:func:`normalised_alignment`, which also drops
    ceilings below ``min_ceiling``), then averaged over each region's voxels; NaN for a
    region with no kept voxel.
    """
    r_test = np.asarray(r_test, dtype=float)
    if r_test.ndim != 3:
        raise ValueError(f"r_test must be (n_subjects, n_layers, n_voxels), got {r_test.shape}")
    n_subjects, _, n_vox = r_test.shape
    select = _check_subject_stack(select_scores, "select_scores", r_test.shape).astype(float)
    ceiling = _check_subject_stack(ceiling, "ceiling", (n_subjects, n_vox)).astype(float)
    keep = np.broadcast_to(np.asarray(keep_mask, dtype=bool), (n_subjects, n_vox))
    out = np.empty((n_subjects, len(names)))
    for s in range(n_subjects):
        idx, _ = best_layer(select[s], keep[s])
        r_best = np.where(idx >= 0, r_test[s][np.maximum(idx, 0), np.arange(n_vox)], np.nan)
        norm = normalised_alignment(r_best, ceiling[s], min_ceiling=min_ceiling, significant=keep[s])
        means = region_means(norm, labels, names)
        out[s] = [means[n] for n in names]
    return out


def best_layer_depth(select_scores: np.ndarray, keep_mask: np.ndarray, labels: np.ndarray,
                     names: tuple[str, ...] | list[str]) -> np.ndarray:
    """Mean normalised best-layer depth per subject and region, (n_subjects, n_regions).

    ``select_scores`` (n_subjects, n_layers, n_voxels), training cross-validation scores;
    ``keep_mask`` (n_subjects, n_voxels) or (n_voxels,) bool. Only kept voxels count; NaN for
    a region with no kept voxel.
    """
    select = np.asarray(select_scores, dtype=float)
    if select.ndim != 3:
        raise ValueError(f"select_scores must be (n_subjects, n_layers, n_voxels), got {select.shape}")
    keep = np.broadcast_to(np.asarray(keep_mask, dtype=bool), (select.shape[0], select.shape[2]))
    depth = [best_layer(select[s], keep[s])[1] for s in range(select.shape[0])]
    return np.array([[region_means(d, labels, names)[n] for n in names] for d in depth])
