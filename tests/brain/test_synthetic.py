"""The synthetic experiment: sizes, reproducibility, and that the planted truth is what it says."""

from __future__ import annotations

import numpy as np
import pytest

from brain.synthetic import SyntheticConfig, make_synthetic

SMALL = SyntheticConfig(n_subjects=2, n_runs=2, trs_per_run=200, n_test_trs=400, n_layers=4,
                        n_features=16, vertices_per_region=10)


@pytest.fixture(scope="module")
def data():
    return make_synthetic(SMALL, seed=1)


def test_shapes_and_layout(data) -> None:
    n_vox = 6 * 10
    assert data.bold_train.shape == (2, 400, n_vox)
    assert data.bold_test.shape == (2, 2, 400, n_vox)
    assert data.runs.tolist() == [0] * 200 + [1] * 200
    assert len(data.features_train["video"]) == 4
    assert data.features_train["audio"][0].shape == (400, 16)
    assert len(np.unique(data.vertices)) == n_vox and data.vertices.max() < 20484
    assert set(np.unique(data.region)) == set(range(6))
    # Half of each region per hemisphere.
    assert np.sum(data.vertices < 10242) == n_vox // 2


def test_reproducible_under_seed(data) -> None:
    again = make_synthetic(SMALL, seed=1)
    np.testing.assert_array_equal(again.bold_train, data.bold_train)
    assert not np.array_equal(make_synthetic(SMALL, seed=2).bold_train, data.bold_train)


def test_planted_signal_has_the_stated_reliability(data) -> None:
    avg = data.bold_test[0].mean(axis=0)  # (n_test, n_vox), repeat-averaged
    sig = data.signal_test
    active = data.true_space >= 0
    r = np.array([np.corrcoef(sig[:, v], avg[:, v])[0, 1] for v in np.flatnonzero(active)])
    np.testing.assert_allclose(r.mean(), data.theoretical_r[active].mean(), atol=0.03)
    assert np.all(data.ev[~active] == 0) and np.all(data.true_layer[~active] == -1)
    # The two viewings share exactly the planted signal: their correlation is ev / 1.
    a, b = data.bold_test[0, 0], data.bold_test[0, 1]
    rr = np.array([np.corrcoef(a[:, v], b[:, v])[0, 1] for v in range(a.shape[1])])
    np.testing.assert_allclose(rr[active].mean(), data.ev[active].mean(), atol=0.03)
    assert abs(rr[~active].mean()) < 0.03


def test_layers_go_from_sensory_to_semantic(data) -> None:
    """Adjacent layers resemble each other more than the first and last do."""
    layers = data.features_train["video"]

    def similarity(x: np.ndarray, y: np.ndarray) -> float:  # mean best canonical-ish match
        c = np.corrcoef(x.T, y.T)[: x.shape[1], x.shape[1]:]
        return float(np.abs(c).max(axis=1).mean())

    assert similarity(layers[0], layers[1]) > similarity(layers[0], layers[-1]) + 0.1
    # Deep layers of the two spaces share the semantic latent; first layers do not.
    deep = similarity(data.features_train["video"][-1], data.features_train["audio"][-1])
    early = similarity(data.features_train["video"][0], data.features_train["audio"][0])
    assert deep > early + 0.2
