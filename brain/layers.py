"""Layer and region analyses of encoding results.

Pure NumPy on arrays of per-voxel scores: best layer per voxel as normalised depth,
region summaries, and variance partitioning between two feature spaces.
"""

from __future__ import annotations

import warnings

import numpy as np

from brain.noise_ceiling import normalised_alignment


def best_layer(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best layer per voxel from ``scores`` (n_layers, n_voxels).

    Returns the layer index (n_voxels,) (-1 where every layer is NaN) and the normalised
    depth index / (n_layers - 1) in [0, 1] (NaN there).
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2 or scores.shape[0] < 1:
        raise ValueError(f"scores must be (n_layers, n_voxels), got {scores.shape}")
    valid = ~np.all(np.isnan(scores), axis=0)
    idx = np.full(scores.shape[1], -1)
    idx[valid] = np.nanargmax(scores[:, valid], axis=0)
    depth = np.where(valid, idx / max(scores.shape[0] - 1, 1), np.nan)
    return idx, depth


def region_means(values: np.ndarray, labels: np.ndarray, names: tuple[str, ...] | list[str]
                 ) -> dict[str, float]:
    """Mean of ``values`` (..., n_voxels) over the voxels of each region, ignoring NaN.

    ``labels`` (n_voxels,) are indices into ``names``; returns {name: mean} (NaN if a
    region has no finite value), for the last axis only when ``values`` is 1-D.
    """
    values = np.asarray(values, dtype=float)
    labels = np.asarray(labels)
    if values.shape[-1] != labels.shape[0]:
        raise ValueError(f"values have {values.shape[-1]} voxels but labels {labels.shape[0]}")
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # empty regions give NaN on purpose
        for i, name in enumerate(names):
            out[name] = float(np.nanmean(values[..., labels == i])) if np.any(labels == i) else float("nan")
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


def best_layer_alignment(r: np.ndarray, ceiling: np.ndarray, labels: np.ndarray,
                         names: tuple[str, ...] | list[str], min_ceiling: float = 0.0) -> np.ndarray:
    """Best-layer normalised alignment per subject and region, (n_subjects, n_regions).

    ``r`` (n_subjects, n_layers, n_voxels) test r of one feature space, ``ceiling``
    (n_subjects, n_voxels); per voxel the best layer's r / ceiling (voxels with ceiling
    below ``min_ceiling`` left out), then averaged over each region's voxels."""
    r = np.asarray(r, dtype=float)
    ceiling = np.asarray(ceiling, dtype=float)
    norm = normalised_alignment(r, np.broadcast_to(ceiling[:, None, :], r.shape), min_ceiling=min_ceiling)
    with warnings.catch_warnings():  # voxels below the ceiling cut are all-NaN on purpose
        warnings.simplefilter("ignore", RuntimeWarning)
        best = np.nanmax(norm, axis=1)  # (n_subjects, n_voxels)
    return np.array([[region_means(b, labels, names)[n] for n in names] for b in best])
