"""Per-voxel scores of predicted against measured responses, vectorised over voxels.

The functions take NumPy or JAX arrays and answer in the same kind (JAX if either input is
a JAX array, so they also run inside ``jax.jit``). A voxel whose measured response is
constant (zero variance, ``max == min`` exactly) has no defined score: NaN (``neg_mse``
excepted).

Shapes: ``Y_true``, ``Y_pred`` (n_trs, n_voxels) -> (n_voxels,); (n_trs,) -> scalar.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def _namespace(*arrays: Any) -> ModuleType:
    """``jax.numpy`` if any argument is a JAX array (or tracer), else ``numpy``."""
    return jnp if any(isinstance(a, jax.Array) for a in arrays) else np


def _check_pair(Y_true: Any, Y_pred: Any) -> None:
    if Y_true.shape != Y_pred.shape or Y_true.ndim not in (1, 2):
        raise ValueError(
            "Y_true and Y_pred must share a shape (n_trs,) or (n_trs, n_voxels), got "
            f"{Y_true.shape} and {Y_pred.shape}"
        )


def _is_constant(xp: ModuleType, Y: Any) -> Any:
    """True where a column has zero variance (n_voxels,): an exact test, free of rounding."""
    return xp.max(Y, axis=0) == xp.min(Y, axis=0)


def pearson_r(Y_true: Any, Y_pred: Any) -> Any:
    """Pearson correlation per voxel between measured and predicted time courses.

    ``Y_true``, ``Y_pred``: (n_trs, n_voxels) -> (n_voxels,). NaN where either column is
    constant.
    """
    xp = _namespace(Y_true, Y_pred)
    Y_true, Y_pred = xp.asarray(Y_true), xp.asarray(Y_pred)
    _check_pair(Y_true, Y_pred)
    a = Y_true - Y_true.mean(axis=0)
    b = Y_pred - Y_pred.mean(axis=0)
    undefined = _is_constant(xp, Y_true) | _is_constant(xp, Y_pred)
    denom = xp.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    safe = xp.where(undefined | (denom == 0), 1.0, denom)
    return xp.where(undefined, xp.nan, (a * b).sum(axis=0) / safe)


def r2_score(Y_true: Any, Y_pred: Any) -> Any:
    """Coefficient of determination per voxel, ``1 - SS_res / SS_tot`` (can be negative).

    ``Y_true``, ``Y_pred``: (n_trs, n_voxels) -> (n_voxels,). NaN where ``Y_true`` is
    constant (unlike scikit-learn, which reports 0 or 1 there).
    """
    xp = _namespace(Y_true, Y_pred)
    Y_true, Y_pred = xp.asarray(Y_true), xp.asarray(Y_pred)
    _check_pair(Y_true, Y_pred)
    ss_res = ((Y_true - Y_pred) ** 2).sum(axis=0)
    ss_tot = ((Y_true - Y_true.mean(axis=0)) ** 2).sum(axis=0)
    undefined = _is_constant(xp, Y_true) | (ss_tot == 0)
    return xp.where(undefined, xp.nan, 1.0 - ss_res / xp.where(undefined, 1.0, ss_tot))


def neg_mse(Y_true: Any, Y_pred: Any) -> Any:
    """Negative mean squared error per voxel, ``-mean((Y_true - Y_pred)^2)``.

    ``Y_true``, ``Y_pred``: (n_trs, n_voxels) -> (n_voxels,); himalaya's ``l2_neg_loss``,
    its default cross-validation score. Defined for constant voxels too.
    """
    xp = _namespace(Y_true, Y_pred)
    Y_true, Y_pred = xp.asarray(Y_true), xp.asarray(Y_pred)
    _check_pair(Y_true, Y_pred)
    return -((Y_true - Y_pred) ** 2).mean(axis=0)


def r2_score_split(Y_true: Any, Y_pred_split: Any) -> Any:
    """R² split over feature spaces (bands) by the product measure, as himalaya's
    ``r2_score_split`` (``include_correlation=True``).

    ``Y_true`` (n_trs, n_voxels), zero-mean over TRs (centre it first); ``Y_pred_split``
    (n_bands, n_trs, n_voxels), each band's prediction without intercept -> (n_bands,
    n_voxels): ``R2_k = sum_t (2 y p_k - p_k sum_j p_j) / sum_t y^2``. The parts sum to the
    joint ``1 - ||y - sum_k p_k||^2 / ||y||^2``; a band that predicts nothing gets 0. NaN where
    ``Y_true`` is constant (zero). Raises ``ValueError`` if ``Y_true`` is not centred.
    """
    xp = _namespace(Y_true, Y_pred_split)
    Y_true, Y_pred_split = xp.asarray(Y_true), xp.asarray(Y_pred_split)
    if Y_true.ndim != 2 or Y_pred_split.ndim != 3 or Y_pred_split.shape[1:] != Y_true.shape:
        raise ValueError(
            "need Y_true (n_trs, n_voxels) and Y_pred_split (n_bands, n_trs, n_voxels), got "
            f"{Y_true.shape} and {Y_pred_split.shape}"
        )
    sst = (Y_true**2).sum(axis=0)
    if xp is np and np.any(np.abs(Y_true.mean(axis=0)) > 1e-5 * np.sqrt(sst / Y_true.shape[0]) + 1e-12):
        raise ValueError("Y_true must be zero-mean over TRs for the split R²: centre it first")
    joint = Y_pred_split.sum(axis=0)
    parts = (Y_pred_split * (2 * Y_true - joint)).sum(axis=1)  # (n_bands, n_voxels)
    undefined = _is_constant(xp, Y_true) | (sst == 0)
    return xp.where(undefined, xp.nan, parts / xp.where(undefined, 1.0, sst))
