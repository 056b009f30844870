"""Per-voxel scores of predicted against measured responses, vectorised over voxels.

Both functions take NumPy or JAX arrays and answer in the same kind (JAX if either input is
a JAX array, so they also run inside ``jax.jit``). A voxel whose measured response is
constant (zero variance, ``max == min`` exactly) has no defined score: NaN.

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
