"""Per-voxel scores against scipy / scikit-learn, NaN for constant voxels, NumPy and JAX."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import r2_score as sk_r2

from brain.scoring import neg_mse, pearson_r, r2_score, r2_score_split


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


def _split(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Centred Y_true (60, 5) and three correlated band predictions (3, 60, 5)."""
    parts = rng.standard_normal((3, 60, 5)) * [[[1.0]], [[0.5]], [[0.2]]]
    parts[1] += 0.3 * parts[0]  # correlated bands: the product measure has cross terms
    Y_true = parts.sum(0) + rng.standard_normal((60, 5))
    return Y_true - Y_true.mean(0), parts


def test_r2_score_split_matches_himalaya_and_sums_to_joint(rng: np.random.Generator) -> None:
    himalaya_scoring = pytest.importorskip("himalaya.scoring", reason="himalaya is not installed")
    Y_true, parts = _split(rng)
    split = r2_score_split(Y_true, parts)
    assert split.shape == (3, 5)
    np.testing.assert_allclose(split, himalaya_scoring.r2_score_split(Y_true, parts), rtol=1e-12)
    # himalaya's property: the parts add up to the joint model's R²
    np.testing.assert_allclose(split.sum(0), r2_score(Y_true, parts.sum(0)), rtol=1e-12)
    np.testing.assert_allclose(neg_mse(Y_true, parts[0]), himalaya_scoring.l2_neg_loss(Y_true, parts[0]))


def test_r2_score_split_gives_zero_to_a_silent_band(rng: np.random.Generator) -> None:
    Y_true, parts = _split(rng)
    parts[2] = 0.0
    parts[0, :, 3] = parts[1, :, 3] = 0.0  # voxel 3: no band predicts anything
    split = r2_score_split(Y_true, parts)
    np.testing.assert_array_equal(split[2], 0.0)
    np.testing.assert_array_equal(split[:, 3], 0.0)
    assert np.all(split[0, [0, 1, 2, 4]] > 0.1)


def test_r2_score_split_checks_centring_shapes_and_jax(rng: np.random.Generator) -> None:
    Y_true, parts = _split(rng)
    with pytest.raises(ValueError, match="zero-mean"):
        r2_score_split(Y_true + 1.0, parts)
    with pytest.raises(ValueError, match=r"\(60, 5\) and \(3, 60, 4\)"):
        r2_score_split(Y_true, parts[..., :4])
    Y_true[:, 1] = 0.0
    split = r2_score_split(Y_true, parts)
    assert np.isnan(split[:, 1]).all() and np.isfinite(np.delete(split, 1, axis=1)).all()
    got = jax.jit(r2_score_split)(jnp.asarray(Y_true, jnp.float32), jnp.asarray(parts, jnp.float32))
    np.testing.assert_allclose(got, split, rtol=1e-4, atol=1e-5, equal_nan=True)
