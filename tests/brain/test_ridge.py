"""Ridge solvers and RidgeEncoder vs closed forms, scikit-learn, brute force, planted truth."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator

import jax
import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from brain.delays import make_delays
from brain.ridge import RidgeEncoder, ridge_cv_scores, ridge_path, ridge_weights

ALPHAS = np.array([0.1, 3.0, 100.0])


@pytest.fixture
def x64() -> Iterator[None]:
    with jax.enable_x64(True):
        yield


def closed_form(X: np.ndarray, Y: np.ndarray, alpha: float) -> np.ndarray:
    """(X^T X + alpha I)^-1 X^T Y in float64: (n_features, n_voxels)."""
    return np.linalg.solve(X.T @ X + alpha * np.eye(X.shape[1]), X.T @ Y)


def data(rng: np.random.Generator, n: int, p: int, v: int) -> tuple[np.ndarray, np.ndarray]:
    X = rng.standard_normal((n, p))
    return X, X @ rng.standard_normal((p, v)) + rng.standard_normal((n, v))


@pytest.mark.parametrize("shape", [(30, 8), (12, 25)], ids=["primal", "dual"])
def test_path_matches_closed_form_sklearn_and_other_path(
    x64: None, rng: np.random.Generator, shape: tuple[int, int]
) -> None:
    X, Y = data(rng, shape[0] + 10, shape[1], 4)
    X_train, Y_train, X_test = X[: shape[0]], Y[: shape[0]], X[shape[0] :]
    paths = {m: ridge_path(X_train, Y_train, X_test, ALPHAS, m) for m in ("auto", "primal", "dual")}
    assert paths["auto"].shape == (3, 10, 4) and paths["auto"].dtype == np.float64
    for i, alpha in enumerate(ALPHAS):
        expected = X_test @ closed_form(X_train, Y_train, alpha)
        sk = Ridge(alpha=alpha, fit_intercept=False).fit(X_train, Y_train).predict(X_test)
        np.testing.assert_allclose(sk, expected, rtol=1e-8, atol=1e-10)
        for pred in paths.values():
            np.testing.assert_allclose(pred[i], expected, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("shape", [(30, 8), (12, 25)], ids=["primal", "dual"])
def test_float32_by_default(rng: np.random.Generator, shape: tuple[int, int]) -> None:
    X, Y = data(rng, shape[0], shape[1], 3)
    for method in ("primal", "dual"):
        pred = ridge_path(X, Y, X, [1.0], method)
        assert pred.dtype == np.float32
        np.testing.assert_allclose(pred[0], X @ closed_form(X, Y, 1.0), rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("shape", [(30, 8), (12, 25)], ids=["primal", "dual"])
def test_weights_with_per_voxel_alphas(x64: None, rng: np.random.Generator, shape: tuple) -> None:
    X, Y = data(rng, shape[0], shape[1], 5)
    alphas = np.array([0.1, 100.0, 3.0, 0.1, 10.0])
    W = np.asarray(ridge_weights(X, Y, alphas))
    expected = np.column_stack([closed_form(X, Y[:, [v]], a)[:, 0] for v, a in enumerate(alphas)])
    np.testing.assert_allclose(W, expected, rtol=1e-8, atol=1e-10)
    other = "dual" if shape[1] <= shape[0] else "primal"
    np.testing.assert_allclose(ridge_weights(X, Y, alphas, other), W, rtol=1e-7, atol=1e-9)


def test_chunked_weights_and_scores_from_host_memory(x64: None, rng: np.random.Generator) -> None:
    """The memory-lean path (numpy Y streamed in voxel chunks, centred by ``offset``) gives
    the same weights and CV scores as centring first and solving in one piece."""
    X, Y = data(rng, 36, 10, 7)
    Y += 5.0 + rng.standard_normal(Y.shape)  # an offset to remove
    offset = Y.mean(axis=0)
    alphas = np.array([0.1, 100.0, 3.0, 0.1, 10.0, 1.0, 30.0])
    W = ridge_weights(X, Y, alphas, voxel_batch=3, offset=offset)  # 7 voxels: a padded last chunk
    assert isinstance(W, np.ndarray) and W.shape == (10, 7)
    np.testing.assert_allclose(W, np.asarray(ridge_weights(X, Y - offset, alphas)), rtol=1e-10, atol=1e-12)
    got = ridge_cv_scores(X, Y, ALPHAS, cv=3, voxel_batch=2, offset=offset)
    np.testing.assert_allclose(got, ridge_cv_scores(X, Y - offset, ALPHAS, cv=3, voxel_batch=7), rtol=1e-10)


def held_out_r(pred: np.ndarray, y: np.ndarray) -> float:
    return np.corrcoef(pred, y)[0, 1]


def held_out_r2(pred: np.ndarray, y: np.ndarray) -> float:
    return 1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2)


def brute_force_cv(X: np.ndarray, Y: np.ndarray, alphas: np.ndarray, tests: list,
                   metric=held_out_r) -> np.ndarray:
    """Mean held-out score (n_alphas, n_voxels), one voxel, alpha and fold at a time."""
    scores = np.zeros((len(alphas), Y.shape[1]))
    for v in range(Y.shape[1]):
        for i, alpha in enumerate(alphas):
            rs = []
            for test in tests:
                train = np.setdiff1d(np.arange(len(X)), test)
                w = closed_form(X[train], Y[train, v], alpha)
                rs.append(metric(X[test] @ w, Y[test, v]))
            scores[i, v] = np.mean(rs)
    return scores


def test_cv_scores_match_brute_force(x64: None, rng: np.random.Generator) -> None:
    X, Y = data(rng, 40, 6, 6)
    Y += 3 * rng.standard_normal(Y.shape)
    blocks = np.array_split(np.arange(40), 4)
    expected = brute_force_cv(X, Y, ALPHAS, blocks)
    got = ridge_cv_scores(X, Y, ALPHAS, cv=4, voxel_batch=4)  # 6 voxels: one padded chunk
    np.testing.assert_allclose(got, expected, rtol=1e-8)
    runs = np.repeat([5, 1, 9], [10, 16, 14])
    expected = brute_force_cv(X, Y, ALPHAS, [np.flatnonzero(runs == r) for r in (1, 5, 9)])
    np.testing.assert_allclose(ridge_cv_scores(X, Y, ALPHAS, runs=runs), expected, rtol=1e-8)


@pytest.mark.parametrize("score", ["r", "r2"])
def test_encoder_alpha_selection_matches_brute_force(rng: np.random.Generator, score: str) -> None:
    X, Y = data(rng, 40, 6, 6)
    Y *= rng.uniform(0.5, 2, 6)
    Y += rng.standard_normal(Y.shape) * np.array([0.3, 1, 3, 10, 30, 100])
    alphas = np.logspace(-1, 4, 6)
    model = RidgeEncoder(delays=[0], alphas=alphas, cv=4, dtype="float64", score_cv=score)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # edge warnings are tested below
        model.fit(X, Y)
    Xz, Yc = (X - X.mean(0)) / X.std(0), Y - Y.mean(0)
    metric = {"r": held_out_r, "r2": held_out_r2}[score]
    expected = brute_force_cv(Xz, Yc, alphas, np.array_split(np.arange(40), 4), metric)
    np.testing.assert_allclose(model.cv_score_grid_, expected, rtol=1e-8)
    np.testing.assert_array_equal(model.best_alphas_, alphas[expected.argmax(0)])
    np.testing.assert_allclose(model.cv_scores_, expected.max(0), rtol=1e-8)
    refit = [closed_form(Xz, Yc[:, v], a) for v, a in enumerate(model.best_alphas_)]
    np.testing.assert_allclose(model.coef_, np.column_stack(refit), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("shape", [(40, 6), (30, 50)], ids=["primal", "dual"])
@pytest.mark.parametrize("zscore", [False, True])
def test_encoder_matches_sklearn_with_intercept(
    rng: np.random.Generator, shape: tuple[int, int], zscore: bool
) -> None:
    X, Y = data(rng, shape[0], shape[1], 3)
    X = X * rng.uniform(0.5, 3, shape[1]) + rng.uniform(-5, 5, shape[1])
    Y += 10.0
    X_new = rng.standard_normal((7, shape[1]))
    model = RidgeEncoder(delays=[0], alphas=[5.0], cv=3, dtype="float64", zscore=zscore)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one alpha: no edge warning
        model.fit(X, Y)
    sk = Ridge(alpha=5.0, fit_intercept=True)
    sk = make_pipeline(StandardScaler(), sk) if zscore else sk
    sk.fit(X, Y)
    np.testing.assert_allclose(model.predict(X_new), sk.predict(X_new), rtol=1e-8, atol=1e-8)
    coef = sk[-1].coef_ if zscore else sk.coef_
    np.testing.assert_allclose(model.coef_, coef.T, rtol=1e-8, atol=1e-10)
    assert model.coef_.dtype == np.float64 and model.best_alphas_.shape == (3,)


def test_predict_applies_standardisation_then_delays(rng: np.random.Generator) -> None:
    X, Y = data(rng, 60, 4, 3)
    runs = np.repeat([0, 1], 30)
    model = RidgeEncoder(delays=[1, 2], alphas=[1.0], cv=3).fit(X, Y, runs=runs)
    assert model.coef_.shape == (8, 3) and model.coef_.dtype == np.float32
    design = make_delays((X - X.mean(0)) / X.std(0), [1, 2], runs)
    expected = design @ model.coef_ + Y.mean(0)
    np.testing.assert_allclose(model.predict(X, runs=runs), expected, rtol=1e-4, atol=1e-4)


def test_planted_noise_levels_set_alphas_and_test_r(rng: np.random.Generator) -> None:
    n, p, per, sigma = 500, 10, 20, np.array([0.3, 1.0, 3.0])
    rotation = np.linalg.qr(rng.standard_normal((p, p)))[0]
    X = rng.standard_normal((2 * n, p)) * np.logspace(0, -1.5, p) @ rotation  # correlated
    X /= X.std(0)
    W = rng.standard_normal((2 * p, per * sigma.size)) / np.sqrt(2 * p)  # prior var 1/(2p)
    S = make_delays(X, [1, 2]) @ W
    noise = np.repeat(sigma, per)
    Y = S + noise * rng.standard_normal(S.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RidgeEncoder(delays=[1, 2]).fit(X[:n], Y[:n])
    log_alpha = np.median(np.log10(model.best_alphas_).reshape(-1, per), axis=1)
    assert np.all(np.diff(log_alpha) > 0)
    # Bayes-optimal penalty noise variance / prior variance, within one decade.
    np.testing.assert_allclose(log_alpha, np.log10(sigma**2 * 2 * p), atol=1.0)
    # Test r: at most the oracle r (true weights); at least that oracle shrunk by the
    # estimation noise of OLS on 2p weights from n TRs, which the tuned ridge should match
    # or beat.
    signal_var = S[n:].var(0)
    oracle = np.sqrt(signal_var / (signal_var + noise**2))
    ols = oracle / np.sqrt(1 + noise**2 * 2 * p / (n * signal_var))
    r, oracle, ols = (a.reshape(-1, per).mean(1) for a in (model.score(X[n:], Y[n:]), oracle, ols))
    assert np.all(r <= oracle + 0.01) and np.all(r >= ols - 0.02), (r, ols, oracle)


def test_edge_warning_counts_voxels_at_grid_ends(rng: np.random.Generator) -> None:
    X = rng.standard_normal((60, 5))
    Y = np.column_stack([X @ rng.standard_normal((5, 2)), rng.standard_normal((60, 2))])
    model = RidgeEncoder(delays=[0], alphas=[1e-3, 1e-1, 10.0, 1e4], cv=3, dtype="float64")
    with pytest.warns(UserWarning, match="chose the smallest alpha") as record:
        model.fit(X, Y)
    message = next(str(w.message) for w in record if "smallest" in str(w.message))
    n_low, n_high = map(int, re.findall(r"(\d+) (?:of 4 scored voxels chose|the largest)", message))
    assert n_low == np.sum(model.best_alphas_ == 1e-3) >= 2  # noiseless voxels 0, 1 want no penalty
    assert n_high == np.sum(model.best_alphas_ == 1e4)


def test_constant_voxels_warn_and_score_nan(rng: np.random.Generator) -> None:
    X, Y = data(rng, 50, 4, 5)
    Y[:, [1, 3]] = 0.1
    with pytest.warns(UserWarning, match="2 of 5 voxels have constant responses"):
        model = RidgeEncoder(delays=[0, 1], cv=3).fit(X, Y)
    assert np.isnan(model.cv_score_grid_[:, [1, 3]]).all() and np.isnan(model.cv_scores_[[1, 3]]).all()
    assert model.alpha_edges_["n_voxels"] == 3
    assert np.isnan(model.best_alphas_[[1, 3]]).all()
    assert np.isfinite(model.best_alphas_[[0, 2, 4]]).all()
    np.testing.assert_array_equal(model.coef_[:, [1, 3]], 0.0)
    np.testing.assert_allclose(model.predict(X)[:, [1, 3]], 0.1, rtol=1e-6)
    with pytest.warns(UserWarning, match="2 of 5 voxels have constant responses"):
        r = model.score(X, Y)
    assert np.isnan(r[[1, 3]]).all() and np.all(r[[0, 2, 4]] > 0.5)


def test_bad_inputs_raise_with_sizes(rng: np.random.Generator) -> None:
    X, Y = data(rng, 20, 3, 2)
    model = RidgeEncoder(delays=[0, 1], cv=3)
    cases = [
        ((X[:19], Y), r"same n_trs, got 19 and 20"),
        ((X[:, 0], Y), r"X must be 2-D .*\(20,\)"),
        ((X, Y[..., None]), r"Y must be 2-D .*\(20, 2, 1\)"),
        ((np.where(X > 1, np.nan, X), Y), r"X \(20, 3\) holds \d+ NaN/inf"),
        ((X, np.where(Y > 1, np.inf, Y)), r"Y \(20, 2\) holds \d+ NaN/inf"),
    ]
    for args, match in cases:
        with pytest.raises(ValueError, match=match):
            model.fit(*args)
    with pytest.raises(ValueError, match=r"cv=8 contiguous blocks: n_trs=20, need at least 24"):
        RidgeEncoder(cv=8).fit(X, Y)
    with pytest.raises(ValueError, match="cv must be an int >= 2"):
        RidgeEncoder(cv=1).fit(X, Y)
    with pytest.raises(ValueError, match="at least 2 runs, got 1"):
        model.fit(X, Y, runs=np.zeros(20, dtype=int))
    with pytest.raises(ValueError, match=r"largest delay 25: n_trs=20"):
        RidgeEncoder(delays=[25], cv=3).fit(X, Y)
    with pytest.raises(ValueError, match="alphas must be finite and > 0"):
        RidgeEncoder(alphas=[-1.0, 1.0]).fit(X, Y)
    with pytest.raises(ValueError, match=r"score_cv must be one of \['neg_mse', 'r', 'r2'\], got 'mse'"):
        RidgeEncoder(score_cv="mse").fit(X, Y)
    with pytest.raises(RuntimeError, match="not fitted"):
        model.predict(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, Y)
    with pytest.raises(ValueError, match="X has 2 features, fitted on 3"):
        model.predict(X[:, :2])
    with pytest.raises(ValueError, match=r"need X .* got X \(20, 3\) and Y \(19, 2\)"):
        ridge_path(X, Y[:19], X, ALPHAS)


def himalaya_ridge_cv(X: np.ndarray, Y: np.ndarray, alphas: np.ndarray, n_folds: int,
                      score_func=None):
    """himalaya RidgeCV (numpy backend, no intercept) on the same contiguous folds as ours:
    ``KFold(n_folds)`` unshuffled splits like ``np.array_split``."""
    himalaya = pytest.importorskip("himalaya", reason="himalaya is not installed (test extra)")
    from himalaya.backend import get_backend, set_backend
    from himalaya.ridge import RidgeCV
    from sklearn.model_selection import KFold

    assert all(np.array_equal(t, b) for (_, t), b in
               zip(KFold(n_folds).split(X), np.array_split(np.arange(len(X)), n_folds), strict=True))
    previous = get_backend().name
    set_backend("numpy")
    try:
        params = None if score_func is None else {"score_func": score_func}
        model = RidgeCV(alphas=alphas, cv=KFold(n_folds), fit_intercept=False, solver_params=params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, Y)
    finally:
        set_backend(previous)
    assert himalaya.__version__
    return model


def planted_and_noise(rng: np.random.Generator, n: int = 120, p: int = 8, v: int = 12):
    """X (n, p); Y (n, 2v): v voxels with signal at a spread of noise levels, v pure noise."""
    X = rng.standard_normal((n, p))
    signal = X @ rng.standard_normal((p, v)) * np.logspace(0, -1.5, v)
    return X, np.hstack([signal + rng.standard_normal((n, v)), rng.standard_normal((n, v))])


@pytest.mark.parametrize("score", ["r2", "neg_mse"])
def test_r2_and_mse_selection_match_himalaya_ridge_cv(rng: np.random.Generator, score: str) -> None:
    """score_cv="r2" is himalaya's RidgeCV with score_func=r2_score; "neg_mse" is its default
    (l2_neg_loss): same alpha per voxel, weights and CV score at the chosen alpha."""
    pytest.importorskip("himalaya", reason="himalaya is not installed (test extra)")
    from himalaya.scoring import r2_score as him_r2

    X, Y = planted_and_noise(rng)
    alphas = np.logspace(-2, 5, 15)
    model = RidgeEncoder(delays=[0], alphas=alphas, cv=5, dtype="float64", score_cv=score)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, Y)
    Xz, Yc = (X - X.mean(0)) / X.std(0), Y - Y.mean(0)
    theirs = himalaya_ridge_cv(Xz, Yc, alphas, 5, him_r2 if score == "r2" else None)
    np.testing.assert_allclose(model.best_alphas_, theirs.best_alphas_, rtol=1e-12)  # exp(-log(a))
    assert len(np.unique(model.best_alphas_)) > 3  # the data exercise several alphas
    np.testing.assert_allclose(model.coef_, theirs.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.predict(X) - Y.mean(0), theirs.predict(Xz), rtol=1e-9, atol=1e-12)
    # himalaya's cv_scores_ carry the 1e-10 * log(alpha) tie-break slope
    np.testing.assert_allclose(model.cv_scores_, theirs.cv_scores_, atol=1e-8)


def test_ties_go_to_the_larger_alpha_as_in_himalaya(rng: np.random.Generator) -> None:
    """Penalties so large that every prediction is ~0: the CV scores of the alphas agree to
    ~1e-13 and the raw argmax would pick the smallest alpha for many voxels; himalaya's
    1e-10 * log(alpha) slope sends them all to the largest, and so do we."""
    X, Y = planted_and_noise(rng)
    alphas = np.array([1e14, 1e15, 1e16])
    model = RidgeEncoder(delays=[0], alphas=alphas, cv=5, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, Y)
    assert np.ptp(model.cv_score_grid_, axis=0).max() < 1e-11
    assert np.sum(model.cv_score_grid_.argmax(0) == 0) >= 3  # a raw argmax would differ
    np.testing.assert_array_equal(model.best_alphas_, 1e16)
    assert model.alpha_edges_ == {"n_at_min": 0, "n_at_max": 24, "n_voxels": 24}
    pytest.importorskip("himalaya", reason="himalaya is not installed (test extra)")
    from himalaya.scoring import r2_score as him_r2

    Xz, Yc = (X - X.mean(0)) / X.std(0), Y - Y.mean(0)
    np.testing.assert_allclose(himalaya_ridge_cv(Xz, Yc, alphas, 5, him_r2).best_alphas_, 1e16, rtol=1e-12)


def test_r2_selection_keeps_noise_voxels_near_zero_test_r2(rng: np.random.Generator) -> None:
    """Pure white-noise Y: Pearson r ignores the prediction's scale, so many voxels pick the
    smallest alpha and overfit (negative test R²); R² selection avoids the grid minimum and
    keeps the test R² near 0."""
    n, p, v = 200, 20, 200
    X, Y = rng.standard_normal((2 * n, p)), rng.standard_normal((2 * n, v))
    alphas = np.logspace(-2, 7, 20)
    fits = {}
    for score in ("r2", "r"):
        model = RidgeEncoder(delays=[0], alphas=alphas, cv=5, dtype="float64", score_cv=score)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X[:n], Y[:n])
        test_r2 = 1 - ((Y[n:] - model.predict(X[n:])) ** 2).sum(0) / ((Y[n:] - Y[n:].mean(0)) ** 2).sum(0)
        fits[score] = (model.alpha_edges_, test_r2)
    (edges_r2, r2_r2), (edges_r, r2_r) = fits["r2"], fits["r"]
    assert edges_r["n_at_min"] > 0.2 * v and edges_r2["n_at_min"] < 0.05 * v, (edges_r, edges_r2)
    assert np.median(r2_r2) > -0.02 and np.median(r2_r2) > np.median(r2_r) + 0.01
    assert r2_r2.min() > r2_r.min()


def test_alpha_edges_count_noise_voxels_at_a_too_small_grid(rng: np.random.Generator) -> None:
    X = rng.standard_normal((90, 5))
    Y = np.column_stack([X @ rng.standard_normal((5, 3)), rng.standard_normal((90, 6))])
    model = RidgeEncoder(delays=[0], alphas=[1e-3, 1e-2, 1e-1], cv=3, dtype="float64")
    with pytest.warns(UserWarning, match="6 the largest"):
        model.fit(X, Y)
    # noiseless voxels want no penalty; noise voxels want far more than 0.1
    assert model.alpha_edges_ == {"n_at_min": 3, "n_at_max": 6, "n_voxels": 9}
    assert isinstance(model.alpha_edges_["n_at_max"], int)
