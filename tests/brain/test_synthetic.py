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


def test_real_features_drive_the_planted_responses() -> None:
    """Features given for a space replace its generated layers (standardised), with their
    own depth, and the planted test signal is a linear function of the chosen layer."""
    cfg = SyntheticConfig(n_subjects=1, n_runs=2, trs_per_run=60, n_test_trs=40, vertices_per_region=4)
    rng = np.random.default_rng(5)
    real = [rng.normal(3.0, 2.0, (160, 7)) for _ in range(3)]
    data = make_synthetic(cfg, seed=1, features={"audio": real})
    got = np.concatenate([data.features_train["audio"][0], data.features_test["audio"][0]])
    np.testing.assert_allclose(got, (real[0] - real[0].mean(0)) / real[0].std(0), rtol=1e-5, atol=1e-6)
    assert len(data.features_train["audio"]) == 3 and len(data.features_train["video"]) == cfg.n_layers
    audio = data.true_space == data.spaces.index("audio")
    assert set(data.true_layer[audio]) <= {0, 2}  # depth 0 and 1 of a 3-layer stack
    with pytest.raises(ValueError, match=r"\(160, n_features\)"):
        make_synthetic(cfg, features={"audio": [x[:100] for x in real]})
    with pytest.raises(ValueError, match="unknown space"):
        make_synthetic(cfg, features={"smell": real})
