"""The synthetic experiment: sizes, reproducibility, and that the planted truth is what it says."""

from __future__ import annotations

import numpy as np
import pytest

from brain.synthetic import SyntheticConfig, ar1_noise, make_synthetic

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
    sig = data.signal_test[0]
    active = data.true_space >= 0
    r = np.array([np.corrcoef(sig[:, v], avg[:, v])[0, 1] for v in np.flatnonzero(active)])
    np.testing.assert_allclose(r.mean(), data.theoretical_r[active].mean(), atol=0.03)
    assert np.all(data.ev[~active] == 0) and np.all(data.true_layer[~active] == -1)
    # The two viewings share exactly the planted signal: their correlation is ev / 1.
    a, b = data.bold_test[0, 0], data.bold_test[0, 1]
    rr = np.array([np.corrcoef(a[:, v], b[:, v])[0, 1] for v in range(a.shape[1])])
    np.testing.assert_allclose(rr[active].mean(), data.ev[active].mean(), atol=0.03)
    assert abs(rr[~active].mean()) < 0.06


def test_noise_region_has_no_planted_signal(data) -> None:
    noise = data.region == data.region_names.index("noise")
    assert noise.sum() == 10 and set(np.flatnonzero(data.true_space < 0)) == set(np.flatnonzero(noise))
    assert np.all(data.signal_test[:, :, noise] == 0) and np.all(data.ev[noise] == 0)
    assert np.all(data.theoretical_r[noise] == 0)
    # Pure noise: no shared variance between subjects, repeats or with any layer's features.
    y = data.bold_train[:, :, noise]
    assert np.abs(np.corrcoef(y[0].ravel(), y[1].ravel())[0, 1]) < 0.05
    y_test = data.bold_test[0, 0][:, noise]
    r = []
    for space in data.spaces:  # held-out r of a linear readout of every layer: chance only
        for x, x_test in zip(data.features_train[space], data.features_test[space]):
            pred = x_test @ np.linalg.lstsq(x, y[0], rcond=None)[0]
            r += [np.corrcoef(pred[:, v], y_test[:, v])[0, 1] for v in range(y_test.shape[1])]
    assert abs(np.mean(r)) < 0.03 and np.max(np.abs(r)) < 0.3


@pytest.fixture(scope="module")
def long_data():
    """One long test presentation: precise empirical EV, autocorrelation and subject overlap."""
    cfg = SyntheticConfig(n_subjects=3, n_runs=2, trs_per_run=500, n_test_trs=3000, n_repeats=1, n_layers=3,
                          n_features=8, vertices_per_region=20, noise_phi=0.7, ev_range=(0.05, 0.15),
                          subject_share=0.6)
    return cfg, make_synthetic(cfg, seed=3)


def test_single_presentation_is_allowed(long_data) -> None:
    _, d = long_data
    assert d.bold_test.shape == (3, 1, 3000, 120) and d.n_repeats == 1
    np.testing.assert_allclose(d.theoretical_r, np.sqrt(d.ev))  # one viewing: r = sqrt(ev)


def test_empirical_explained_variance_lies_in_the_configured_range(long_data) -> None:
    cfg, d = long_data
    active = d.true_space >= 0
    assert np.all((d.ev[active] >= 0.05) & (d.ev[active] <= 0.15))
    assert d.ev[active].max() - d.ev[active].min() > 0.05  # drawn over the range, not one value
    for s in range(cfg.n_subjects):
        y, sig = d.bold_test[s, 0], d.signal_test[s]
        # EV of the subject's true response on the test set: the squared correlation
        emp = np.array([np.corrcoef(y[:, v], sig[:, v])[0, 1] ** 2 for v in np.flatnonzero(active)])
        assert 0.05 <= emp.mean() <= 0.15
        assert np.mean((emp > 0.02) & (emp < 0.22)) > 0.95  # per voxel, up to sampling noise
        assert np.corrcoef(emp, d.ev[active])[0, 1] > 0.5  # and it follows the planted value
    fixed = make_synthetic(SyntheticConfig(n_subjects=1, n_runs=1, trs_per_run=50, n_test_trs=2000,
                                           n_repeats=1, vertices_per_region=4, ev_range=(0.3, 0.3)), seed=0)
    act = fixed.true_space >= 0
    emp = [np.corrcoef(fixed.bold_test[0, 0][:, v], fixed.signal_test[0][:, v])[0, 1] ** 2 for v in np.flatnonzero(act)]
    np.testing.assert_allclose(np.mean(emp), 0.3, atol=0.03)


def _lag1(x: np.ndarray) -> float:
    x = x - x.mean(0)
    return float((x[1:] * x[:-1]).sum() / (x * x).sum())


def test_noise_has_the_configured_lag1_autocorrelation(long_data) -> None:
    cfg, d = long_data
    noise = d.region == d.region_names.index("noise")
    train = d.bold_train[:, :, noise].reshape(cfg.n_subjects, cfg.n_runs, cfg.trs_per_run, -1)
    per_run = [_lag1(train[s, r]) for s in range(cfg.n_subjects) for r in range(cfg.n_runs)]
    np.testing.assert_allclose(np.mean(per_run), 0.7, atol=0.03)
    np.testing.assert_allclose(_lag1(d.bold_test[0, 0][:, noise]), 0.7, atol=0.03)
    # The generator itself: stationary, unit variance from the first TR, lag-k = phi^k.
    x = ar1_noise(np.random.default_rng(0), (400, 64, 50), 0.5)
    np.testing.assert_allclose(x[:, 0].var(), 1, atol=0.05)
    np.testing.assert_allclose(x[:, -1].var(), 1, atol=0.05)
    np.testing.assert_allclose(np.mean(x[:, 1:] * x[:, :-1]), 0.5, atol=0.02)
    np.testing.assert_allclose(np.mean(x[:, 2:] * x[:, :-2]), 0.25, atol=0.02)
    white = ar1_noise(np.random.default_rng(0), (4000, 10), 0.0)
    assert abs(_lag1(white)) < 0.03


def test_subjects_share_part_of_their_response(long_data) -> None:
    cfg, d = long_data
    active = np.flatnonzero(d.true_space >= 0)
    sig = d.signal_test
    for a, b in ((0, 1), (0, 2), (1, 2)):
        r = np.array([np.corrcoef(sig[a][:, v], sig[b][:, v])[0, 1] for v in active])
        assert np.all(r < 0.98)  # each subject has its own part
        np.testing.assert_allclose(r.mean(), cfg.subject_share, atol=0.12)
    same = make_synthetic(SyntheticConfig(n_subjects=2, n_runs=1, trs_per_run=50, n_test_trs=60,
                                          vertices_per_region=4, subject_share=1.0), seed=0)
    np.testing.assert_allclose(same.signal_test[0], same.signal_test[1], atol=1e-5)


def test_invalid_config_is_refused() -> None:
    for bad in ({"noise_phi": 1.0}, {"noise_phi": -0.1}, {"ev_range": (0.2, 0.1)}, {"ev_range": (0.0, 0.1)},
                {"subject_share": 1.5}, {"n_repeats": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            SyntheticConfig(**bad)


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
