"""Per-voxel scores against scipy / scikit-learn, NaN for constant voxels, NumPy and JAX."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import r2_score as sk_r2

from brain.scoring import pearson_r, r2_score


def _pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    Y_true = rng.standard_normal((50, 7))
    return Y_true, 0.5 * Y_true + rng.standard_normal((50, 7))


def test_pearson_r_matches_scipy(rng: np.random.Generator) -> None:
    Y_true, Y_pred = _pair(rng)
    expected = [stats.pearsonr(Y_true[:, v], Y_pred[:, v])[0] for v in range(7)]
    np.testing.assert_allclose(pearson_r(Y_true, Y_pred), expected, rtol=1e-12)
    assert np.ndim(pearson_r(Y_true[:, 0], Y_pred[:, 0])) == 0


def test_r2_matches_sklearn(rng: np.random.Generator) -> None:
    Y_true, Y_pred = _pair(rng)
    expected = sk_r2(Y_true, Y_pred, multioutput="raw_values")
    np.testing.assert_allclose(r2_score(Y_true, Y_pred), expected, rtol=1e-12)


def test_constant_voxels_score_nan(rng: np.random.Generator) -> None:
    Y_true, Y_pred = _pair(rng)
    Y_true[:, 1] = 0.1  # 0.1 is not exact in binary: the mean carries rounding error
    Y_pred[:, 4] = 3.0
    r = pearson_r(Y_true, Y_pred)
    assert np.isnan(r[[1, 4]]).all() and np.isfinite(np.delete(r, [1, 4])).all()
    r2 = r2_score(Y_true, Y_pred)
    assert np.isnan(r2[1]) and np.isfinite(np.delete(r2, 1)).all()


def test_jax_inputs_give_jax_outputs_and_jit(rng: np.random.Generator) -> None:
    Y_true, Y_pred = (a.astype(np.float32) for a in _pair(rng))
    Y_true[:, 2] = 1.0
    expected = pearson_r(Y_true, Y_pred)
    assert isinstance(expected, np.ndarray)
    for fn in (pearson_r, jax.jit(pearson_r)):
        got = fn(jnp.asarray(Y_true), jnp.asarray(Y_pred))
        assert isinstance(got, jax.Array) and got.dtype == jnp.float32
        np.testing.assert_allclose(got, expected, rtol=1e-5, equal_nan=True)
    got_r2 = jax.jit(r2_score)(jnp.asarray(Y_true), jnp.asarray(Y_pred))
    np.testing.assert_allclose(got_r2, r2_score(Y_true, Y_pred), rtol=1e-4, equal_nan=True)


def test_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match=r"\(10, 3\) and \(10, 4\)"):
        pearson_r(np.zeros((10, 3)), np.zeros((10, 4)))
    with pytest.raises(ValueError, match="share a shape"):
        r2_score(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)))
