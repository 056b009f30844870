"""Layer and region analyses against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from brain.layers import best_layer, region_curves, region_means, variance_partition


def test_best_layer_and_depth() -> None:
    scores = np.array([[0.1, 0.5, np.nan], [0.3, 0.2, np.nan], [0.2, 0.1, np.nan]])
    idx, depth = best_layer(scores)
    assert idx.tolist() == [1, 0, -1]
    np.testing.assert_allclose(depth[:2], [0.5, 0.0])
    assert np.isnan(depth[2])


def test_region_means_and_curves() -> None:
    labels = np.array([0, 0, 1, 2])
    values = np.array([1.0, 3.0, np.nan, 5.0])
    out = region_means(values, labels, ["a", "b", "c", "d"])
    assert out["a"] == 2.0 and out["c"] == 5.0
    assert np.isnan(out["b"]) and np.isnan(out["d"])
    curves = region_curves(np.array([[1.0, 1, 0, 0], [2.0, 2, 0, 1]]), labels, ["a", "b", "c"])
    assert curves["a"] == [1.0, 2.0] and curves["c"] == [0.0, 1.0]
    with pytest.raises(ValueError, match="voxels"):
        region_means(values, labels[:3], ["a"])


def test_variance_partition_on_planted_components(rng: np.random.Generator) -> None:
    """y = u_a + u_b + s: space A sees (u_a, s), space B sees (u_b, s); OLS R^2 per space."""
    n = 20000
    u_a, u_b, s, noise = rng.standard_normal((4, n))
    y = u_a + 0.5 * u_b + s + noise

    def r2(*cols: np.ndarray) -> float:
        x = np.stack(cols, 1)
        beta = np.linalg.lstsq(x, y, rcond=None)[0]
        return 1 - np.var(y - x @ beta) / np.var(y)

    parts = variance_partition(np.array([r2(u_a, s)]), np.array([r2(u_b, s)]), np.array([r2(u_a, u_b, s)]))
    total = np.var(y)
    np.testing.assert_allclose(parts["unique_a"], 1 / total, atol=0.02)
    np.testing.assert_allclose(parts["unique_b"], 0.25 / total, atol=0.02)
    np.testing.assert_allclose(parts["shared"], 1 / total, atol=0.02)


def test_best_layer_alignment_by_hand() -> None:
    from brain.layers import best_layer_alignment

    # 1 subject, 2 layers, 4 voxels in regions a (0, 1) and b (2, 3); voxel 3 below the ceiling cut
    r = np.array([[[0.2, 0.1, 0.3, 0.9], [0.1, 0.4, 0.6, 0.9]]])
    ceiling = np.array([[0.5, 0.8, 0.6, 0.01]])
    got = best_layer_alignment(r, ceiling, np.array([0, 0, 1, 1]), ("a", "b"), min_ceiling=0.05)
    np.testing.assert_allclose(got, [[(0.2 / 0.5 + 0.4 / 0.8) / 2, 0.6 / 0.6]])
