"""Stacked encoders (``brain.stacking``): the simplex projection and the per-voxel convex
weights against independent references (the projection's variational inequality, the
two-model closed form, scipy's SLSQP), and the stacked encoder on planted data where one
layer, or a mix of two, is the truth."""

from __future__ import annotations

import numpy as np
import pytest

from brain.scoring import pearson_r
from brain.stacking import StackedEncoder, out_of_fold_predictions, project_simplex, simplex_weights


def test_projection_onto_the_simplex_is_the_closest_point() -> None:
    """p = proj(v) iff p is on the simplex and <v - p, q - p> <= 0 for every q on it."""
    rng = np.random.default_rng(0)
    v = 3 * rng.standard_normal((200, 5))
    p = project_simplex(v)
    assert np.all(p >= 0) and np.allclose(p.sum(axis=1), 1.0)
    q = rng.dirichlet(np.ones(5), size=(200, 50))  # 50 points of the simplex per row
    assert np.max(np.einsum("nk,nmk->nm", v - p, q - p[:, None])) < 1e-9
    np.testing.assert_allclose(project_simplex(np.array([[0.2, 0.3, 0.5]])), [[0.2, 0.3, 0.5]])


def test_two_model_weights_match_the_closed_form() -> None:
    """For two predictions the optimum is w1 = clip(<p1 - p2, y - p2> / |p1 - p2|^2, 0, 1)."""
    rng = np.random.default_rng(1)
    n, v = 300, 40
    p = rng.standard_normal((2, n, v))
    mix = rng.uniform(-0.5, 1.5, v)  # some voxels outside [0, 1]: the constraint binds there
    y = mix * p[0] + (1 - mix) * p[1] + 0.5 * rng.standard_normal((n, v))
    d = p[0] - p[1]
    closed = np.clip(((d * (y - p[1])).sum(0)) / (d * d).sum(0), 0, 1)
    w = simplex_weights(p, y)
    np.testing.assert_allclose(w[:, 0], closed, atol=1e-6)
    assert np.any(closed == 0) and np.any(closed == 1)


def test_k_model_weights_match_slsqp() -> None:
    from scipy.optimize import minimize

    rng = np.random.default_rng(2)
    p = rng.standard_normal((4, 200, 6)) + rng.standard_normal((1, 200, 6))  # correlated predictions
    y = 0.5 * p[0] + 0.3 * p[2] + rng.standard_normal((200, 6))
    w = simplex_weights(p, y)
    for j in range(6):
        res = minimize(lambda x, j=j: np.sum((y[:, j] - x @ p[:, :, j]) ** 2), np.full(4, 0.25), method="SLSQP",
                       bounds=[(0, 1)] * 4, constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}],
                       options={"ftol": 1e-14, "maxiter": 500})
        np.testing.assert_allclose(w[j], res.x, atol=1e-4)


def _planted(truth: dict[int, float], seed: int = 0, n: int = 900, v: int = 12, noise: float = 0.3):
    """Three independent layers (10 features); y = sum_k a_k s_k + noise, s_k = X_k W_k of unit
    variance per voxel; three runs."""
    rng = np.random.default_rng(seed)
    layers = [rng.standard_normal((n, 10)) for _ in range(3)]
    y = noise * rng.standard_normal((n, v))
    for k, a in truth.items():
        s = layers[k] @ rng.standard_normal((10, v))
        y += a * (s - s.mean(0)) / s.std(0)
    return layers, y, np.repeat(np.arange(3), n // 3)


ENC = {"delays": [0], "alphas": [1e-2, 1, 1e2, 1e4], "score_cv": "r2"}


def test_stacking_puts_the_weight_on_the_true_layer() -> None:
    layers, y, runs = _planted({1: 1.0})
    m = StackedEncoder(**ENC).fit([x[:600] for x in layers], y[:600], runs[:600])
    assert np.all(m.weights_[:, 1] > 0.9)
    test = [x[600:] for x in layers]
    stacked = pearson_r(y[600:], m.predict(test))
    best = pearson_r(y[600:], m.encoders_[1].predict(test[1]))
    assert np.all(np.abs(stacked - best) < 0.01) and np.median(stacked) > 0.9


def test_stacking_a_mix_of_two_layers_follows_the_closed_form() -> None:
    """y = a s_0 + b s_2 + noise with independent s: with near-perfect single-layer
    predictions p_0 = a s_0, p_2 = b s_2 the convex optimum is w_0 = a^2 / (a^2 + b^2) (0.69
    for a = 0.6, b = 0.4), layer 1 gets ~0, and the stack beats the best single layer."""
    a, b = 0.6, 0.4
    layers, y, runs = _planted({0: a, 2: b}, seed=3, noise=0.1)
    m = StackedEncoder(**ENC).fit([x[:600] for x in layers], y[:600], runs[:600])
    assert abs(np.median(m.weights_[:, 0]) - a**2 / (a**2 + b**2)) < 0.05
    assert np.max(m.weights_[:, 1]) < 0.05
    test = [x[600:] for x in layers]
    stacked = pearson_r(y[600:], m.predict(test))
    single = np.max([pearson_r(y[600:], e.predict(t)) for e, t in zip(m.encoders_, test)], axis=0)
    assert np.all(stacked > single + 0.05)


def test_out_of_fold_predictions_never_see_their_fold() -> None:
    """A TR's out-of-fold prediction does not change when its own response is changed."""
    layers, y, runs = _planted({0: 1.0}, n=300, v=3)
    base = out_of_fold_predictions(layers[:1], y, runs, encoder=ENC)
    y2 = y.copy()
    y2[runs == 1] += 100.0 * np.random.default_rng(9).standard_normal(((runs == 1).sum(), 3))
    moved = out_of_fold_predictions(layers[:1], y2, runs, encoder=ENC)
    np.testing.assert_allclose(moved[0, runs == 1], base[0, runs == 1], rtol=1e-4, atol=1e-4)
    assert not np.allclose(moved[0, runs == 0], base[0, runs == 0], atol=1e-2)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="predictions must be"):
        simplex_weights(np.zeros((2, 10, 3)), np.zeros((10, 4)))
    with pytest.raises(ValueError, match="finite"):
        simplex_weights(np.full((2, 10, 3), np.nan), np.zeros((10, 3)))
