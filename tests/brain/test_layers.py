"""Layer and region analyses against hand-computed values."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from brain.layers import (
    best_layer,
    best_layer_alignment,
    best_layer_depth,
    group_best_layer,
    region_curves,
    region_means,
    variance_partition,
)
from brain.noise_ceiling import signed_ceiling


def test_best_layer_and_depth() -> None:
    scores = np.array([[0.1, 0.5, np.nan], [0.3, 0.2, np.nan], [0.2, 0.1, np.nan]])
    idx, depth = best_layer(scores)
    assert idx.tolist() == [1, 0, -1]
    np.testing.assert_allclose(depth[:2], [0.5, 0.0])
    assert np.isnan(depth[2])


def test_group_best_layer_is_the_best_subject_mean_cv_against_a_loop() -> None:
    """The layer with the best mean (NaN subjects left out) CV score over subjects, for voxels
    some subject keeps; -1 / NaN for the others and for voxels NaN in every subject."""
    rng = np.random.default_rng(7)
    cv = rng.normal(size=(3, 4, 20))
    cv[0, :, 1] = np.nan  # subject 0 has no score at voxel 1: the mean is over the other two
    cv[:, :, 2] = np.nan  # nobody has a score at voxel 2
    keep = rng.random((3, 20)) < 0.5
    keep[:, 3] = False  # nobody keeps voxel 3
    keep[:, 1:3] = True
    idx, depth = group_best_layer(cv, keep)
    for v in range(20):
        if not keep[:, v].any() or v == 2:
            assert idx[v] == -1 and np.isnan(depth[v])
            continue
        means = [np.mean([cv[s, k, v] for s in range(3) if np.isfinite(cv[s, k, v])]) for k in range(4)]
        assert idx[v] == int(np.argmax(means)) and depth[v] == pytest.approx(idx[v] / 3)
    with pytest.raises(ValueError, match=r"select_scores must be \(n_subjects, n_layers, n_voxels\)"):
        group_best_layer(cv[0], keep)


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
    """The layer comes from the selection scores, not from the test r."""
    # 1 subject, 2 layers, 4 voxels in regions a (0, 1) and b (2, 3); voxel 3 not kept
    r = np.array([[[0.2, 0.1, 0.3, 0.9], [0.1, 0.4, 0.6, 0.9]]])
    select = np.array([[[0.5, 0.5, 0.1, 0.0], [0.1, 0.1, 0.2, 0.0]]])  # layers 0, 0, 1, -
    ceiling = np.array([[0.5, 0.8, 0.6, 0.5]])
    keep = np.array([[True, True, True, False]])
    labels = np.array([0, 0, 1, 1])
    got = best_layer_alignment(r, select, ceiling, keep, labels, ("a", "b"))
    agg_a = (0.2 + 0.1) / 2 / np.sqrt((0.5 ** 2 + 0.8 ** 2) / 2)  # mean r over the ceiling of the mean reliability
    np.testing.assert_allclose(got, [[agg_a, 0.6 / 0.6]])
    got = best_layer_alignment(r, select, ceiling, keep, labels, ("a", "b"), per_voxel=True)
    np.testing.assert_allclose(got, [[(0.2 / 0.5 + 0.1 / 0.8) / 2, 0.6 / 0.6]])
    got = best_layer_alignment(r, select, ceiling, keep, labels, ("a", "b"), min_voxels=2)
    np.testing.assert_allclose(got, [[agg_a, np.nan]])  # b has one kept voxel
    got = best_layer_alignment(r, select, ceiling, keep, labels, ("a", "b"), min_ceiling=0.67)
    np.testing.assert_allclose(got, [[np.nan, np.nan]])  # region ceilings 0.667 and 0.6 are below it


def test_aggregate_ratio_is_unbiased_where_the_per_voxel_mean_is_not() -> None:
    """Reliabilities estimated with noise (true 0.09, so a ceiling of 0.3; sd 0.04, as the
    split-half estimate over 300 TRs) under a true ratio of 0.8: the mean of r / ceiling
    is pulled up by the small ceilings (Jensen), the mean r over the ceiling of the mean
    reliability is not."""
    rng = np.random.default_rng(5)
    n = 4000
    ceiling = signed_ceiling(0.09 + rng.normal(0, 0.04, (1, n)))
    r = (0.8 * 0.3 + rng.normal(0, 0.03, n))[None, None]
    args = (r, np.zeros_like(r), ceiling, np.ones(n, bool), np.zeros(n, int), ("a",))
    assert abs(best_layer_alignment(*args)[0, 0] - 0.8) < 0.01
    assert best_layer_alignment(*args, per_voxel=True)[0, 0] > 0.85


def test_best_layer_alignment_over_noise_is_near_zero() -> None:
    """Chance test r, selection independent of it: the mean normalised alignment is ~0,
    where the max over layers of test r was biased upward."""
    rng = np.random.default_rng(3)
    r = rng.normal(0, 0.05, size=(2, 6, 3000))
    select = rng.normal(size=(2, 6, 3000))
    ceiling = np.full((2, 3000), 0.5)
    labels = np.repeat([0, 1, 2], 1000)
    got = best_layer_alignment(r, select, ceiling, np.ones(3000, bool), labels, ("a", "b", "c"))
    assert np.all(np.abs(got) < 0.02)
    assert np.mean(r.max(axis=1)) / 0.5 > 0.1  # the old max-over-test-r statistic


def test_empty_and_unkept_regions_are_nan_without_warnings() -> None:
    r = np.full((1, 3, 4), 0.2)
    select = np.random.default_rng(0).normal(size=(1, 3, 4))
    keep = np.array([True, True, False, False])
    labels = np.array([0, 0, 1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = best_layer_alignment(r, select, np.full((1, 4), 0.5), keep, labels, ("a", "b", "c"))
        depth = best_layer_depth(select, keep, labels, ("a", "b", "c"))
        means = region_means(np.full(4, np.nan), labels, ("a", "b", "c"))
    np.testing.assert_allclose(got[0, 0], 0.4)
    assert np.isnan(got[0, 1]) and np.isnan(got[0, 2])
    assert 0.0 <= depth[0, 0] <= 1.0 and np.all(np.isnan(depth[0, 1:]))
    assert all(np.isnan(v) for v in means.values())
    assert np.all(np.isnan(best_layer_depth(select, keep, labels, ("a", "b", "c"), min_voxels=3)))
    idx, d = best_layer(select[0], keep)
    assert idx.tolist()[2:] == [-1, -1] and np.all(np.isnan(d[2:]))
