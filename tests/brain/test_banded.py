"""BandedRidgeEncoder vs RidgeEncoder, the closed-form banded solution, brute-force CV and
planted truth."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from brain.banded import BandedRidgeEncoder, band_candidates, dirichlet_candidates
from brain.delays import make_delays
from brain.ridge import RidgeEncoder


def standardised_bands(Xs: list[np.ndarray], delays: list[int]) -> list[np.ndarray]:
    """Each space z-scored, then delayed: K arrays (n_trs, n_features_k * n_delays)."""
    return [make_delays((X - X.mean(0)) / X.std(0), delays) for X in Xs]


def banded_closed_form(bands: list[np.ndarray], Y: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """argmin ||Y - sum_k B_k W_k||^2 + sum_k a_k ||W_k||^2 in float64: (n_columns, n_voxels)."""
    X = np.hstack(bands)
    penalty = np.concatenate([np.full(B.shape[1], a) for B, a in zip(bands, alphas, strict=True)])
    return np.linalg.solve(X.T @ X + np.diag(penalty), X.T @ Y)


def fit_quietly(model: BandedRidgeEncoder | RidgeEncoder, *args: object, **kw: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # grid-edge warnings are RidgeEncoder's, tested there
        model.fit(*args, **kw)


def test_equal_ratios_match_ridge_on_concatenation(rng: np.random.Generator) -> None:
    Xs = [rng.standard_normal((60, 4)) * 3 + 1, rng.standard_normal((60, 6))]
    Y = np.hstack(Xs) @ rng.standard_normal((10, 8)) + 4 * rng.standard_normal((60, 8))
    runs = np.repeat([0, 1, 2], 20)
    alphas = np.logspace(-1, 4, 6)
    banded = BandedRidgeEncoder(delays=[1, 2], alphas=alphas, ratios=[1.0], dtype="float64")
    plain = RidgeEncoder(delays=[1, 2], alphas=alphas, dtype="float64")
    fit_quietly(banded, Xs, Y, runs=runs)
    fit_quietly(plain, np.hstack(Xs), Y, runs=runs)
    np.testing.assert_allclose(banded.cv_score_grid_[0], plain.cv_score_grid_, rtol=1e-8)
    np.testing.assert_allclose(banded.cv_scores_, plain.cv_scores_, rtol=1e-8)
    assert banded.alpha_edges_ == plain.alpha_edges_
    np.testing.assert_array_equal(banded.best_alphas_, np.column_stack([plain.best_alphas_] * 2))
    X_new = [rng.standard_normal((15, 4)), rng.standard_normal((15, 6))]
    np.testing.assert_allclose(banded.predict(X_new), plain.predict(np.hstack(X_new)), rtol=1e-8)


@pytest.mark.parametrize("n_trs", [80, 30], ids=["primal", "dual"])
def test_fixed_penalties_match_closed_form(rng: np.random.Generator, n_trs: int) -> None:
    Xs = [rng.standard_normal((n_trs, p)) * rng.uniform(0.5, 3, p) for p in (10, 8, 6)]
    Y = np.hstack(Xs) @ rng.standard_normal((24, 5)) + 3 * rng.standard_normal((n_trs, 5)) + 2
    penalties = np.array([0.5, 40.0, 3000.0])  # banded, not a multiple of the identity
    common = np.exp(np.log(penalties).mean())  # candidates have geometric mean 1
    model = BandedRidgeEncoder(
        delays=[0, 2], alphas=[common], ratios=penalties[None, :], cv=3, dtype="float64"
    )
    fit_quietly(model, Xs, Y)
    np.testing.assert_allclose(model.best_alphas_, np.tile(penalties, (5, 1)), rtol=1e-12)
    bands = standardised_bands(Xs, [0, 2])
    expected = banded_closed_form(bands, Y - Y.mean(0), penalties)
    np.testing.assert_allclose(model.coef_, expected, rtol=1e-7, atol=1e-10)
    split = model.predict_split(Xs)
    assert split.shape == (3, n_trs, 5)
    np.testing.assert_allclose(split.sum(0) + model.intercept_, model.predict(Xs), atol=1e-10)
    np.testing.assert_allclose(split[1], bands[1] @ expected[20:36], atol=1e-9)


def held_out(score: str, pred: np.ndarray, y: np.ndarray) -> float:
    if score == "r":
        return np.corrcoef(pred, y)[0, 1]
    return 1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2)


@pytest.mark.parametrize("score", ["r", "r2"])
def test_cv_scores_and_choice_match_brute_force(rng: np.random.Generator, score: str) -> None:
    Xs = [rng.standard_normal((40, 3)), rng.standard_normal((40, 5))]
    Y = Xs[0] @ rng.standard_normal((3, 4)) + 2 * rng.standard_normal((40, 4))
    ratios, alphas = np.array([0.01, 1.0, 30.0]), np.array([0.3, 10.0])
    model = BandedRidgeEncoder(delays=[0], alphas=alphas, ratios=ratios, cv=4, dtype="float64",
                               score_cv=score)
    fit_quietly(model, Xs, Y)
    bands, Yc = standardised_bands(Xs, [0]), Y - Y.mean(0)
    expected = np.zeros((3, 2, 4))
    for g, i in np.ndindex(3, 2):
        per_space = alphas[i] * np.array([1.0, ratios[g]]) / np.sqrt(ratios[g])  # geo. mean
        for test in np.array_split(np.arange(40), 4):
            train = np.setdiff1d(np.arange(40), test)
            W = banded_closed_form([B[train] for B in bands], Yc[train], per_space)
            pred = np.hstack(bands)[test] @ W
            expected[g, i] += [held_out(score, pred[:, v], Yc[test, v]) / 4 for v in range(4)]
    np.testing.assert_allclose(model.cv_score_grid_, expected, rtol=1e-8)
    np.testing.assert_allclose(model.cv_scores_, expected.reshape(6, 4).max(0), rtol=1e-8)
    g, i = np.unravel_index(expected.reshape(6, 4).argmax(0), (3, 2))
    assert np.array_equal(model.best_candidates_, g)
    np.testing.assert_allclose(model.best_alphas_[:, 1] / model.best_alphas_[:, 0], ratios[g])


def test_planted_spaces_get_small_penalty_and_credit(rng: np.random.Generator) -> None:
    n, p, per, delays = 300, (10, 40), 15, [1, 2]
    Xs = [rng.standard_normal((2 * n, q)) for q in p]
    S = [
        make_delays(X, delays) @ rng.standard_normal((2 * q, per)) / np.sqrt(2 * q)
        for X, q in zip(Xs, p, strict=True)
    ]
    Y = np.hstack(S) + 1.5 * rng.standard_normal((2 * n, 2 * per))  # group A | group B
    A, B = slice(0, per), slice(per, 2 * per)
    train, test = [X[:n] for X in Xs], [X[n:] for X in Xs]
    banded, plain = BandedRidgeEncoder(delays=delays), RidgeEncoder(delays=delays)
    fit_quietly(banded, train, Y[:n])
    fit_quietly(plain, np.hstack(train), Y[:n])
    ratio = banded.best_alphas_[:, 1] / banded.best_alphas_[:, 0]  # alpha_2 / alpha_1
    # The small irrelevant space (group B) costs little when unpenalised, so its ratio is
    # less sharply determined than group A's.
    assert np.median(ratio[A]) >= 100 and np.median(1 / ratio[B]) >= 5, ratio
    r_banded, r_plain = banded.score(test, Y[n:]), plain.score(np.hstack(test), Y[n:])
    assert r_banded.mean() >= r_plain.mean() and r_banded[A].mean() > r_plain[A].mean() + 0.05
    split_var = banded.predict_split(test).var(axis=1)  # (2, n_voxels)
    assert np.median(split_var[0, A] / split_var[:, A].sum(0)) > 0.9
    assert np.median(split_var[1, B] / split_var[:, B].sum(0)) > 0.9


def test_candidates_two_and_more_spaces() -> None:
    two = band_candidates(2)
    assert two.shape == (9, 2) and np.any(np.all(np.isclose(two, 1.0), axis=1))
    np.testing.assert_allclose(two[:, 1] / two[:, 0], np.logspace(-3, 3, 9))
    three = band_candidates(3, n_draws=10, rng=np.random.default_rng(1))
    assert three.shape == (1 + 10 + 3, 3)
    np.testing.assert_allclose(np.prod(three, axis=1), 1.0)
    np.testing.assert_allclose(three[0], 1.0)
    assert np.all(three.max(1) / three.min(1) <= 1e3 * (1 + 1e-9))
    again = band_candidates(3, n_draws=10, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(three, again)
    np.testing.assert_array_equal(band_candidates(1, ratios=[5.0]), [[1.0]])


def test_three_spaces_fit_and_constant_voxels(rng: np.random.Generator) -> None:
    Xs = [rng.standard_normal((60, q)) for q in (3, 4, 2)]
    Y = Xs[2] @ rng.standard_normal((2, 4)) + 0.5 * rng.standard_normal((60, 4))
    Y[:, 3] = 7.0
    model = BandedRidgeEncoder(delays=[0, 1], cv=3, n_draws=5, random_state=3)
    with pytest.warns(UserWarning, match="1 of 4 voxels have constant responses"):
        model.fit(Xs, Y)
    assert model.cv_score_grid_.shape == (9, 20, 4) and model.coef_.shape == (18, 4)
    assert np.isnan(model.cv_scores_[3]) and model.alpha_edges_["n_voxels"] == 3
    assert model.best_candidates_[3] == -1 and np.isnan(model.best_alphas_[3]).all()
    assert np.all(model.best_alphas_[:3, 2] < model.best_alphas_[:3, :2].min(1))
    np.testing.assert_allclose(model.predict(Xs)[:, 3], 7.0, rtol=1e-6)
    with pytest.warns(UserWarning, match="1 of 4 voxels have constant responses"):
        assert np.all(model.score(Xs, Y)[:3] > 0.8)


def test_bad_inputs_raise(rng: np.random.Generator) -> None:
    Xs = [rng.standard_normal((30, 3)), rng.standard_normal((30, 2))]
    Y = rng.standard_normal((30, 2))
    model = BandedRidgeEncoder(delays=[0, 1], cv=3)
    cases = [
        (([], Y), "non-empty list"),
        ((np.hstack(Xs), Y), "non-empty list"),
        (([Xs[0], Xs[1][:29]], Y), r"Xs\[0\] and Xs\[1\] must have the same n_trs, got 30 and 29"),
        ((Xs, Y[:28]), r"Xs\[0\] and Y must have the same n_trs, got 30 and 28"),
        (([Xs[0], np.where(Xs[1] > 1, np.nan, Xs[1])], Y), r"Xs\[1\] \(30, 2\) holds \d+ NaN"),
        ((Xs, np.where(Y > 1, np.nan, Y)), r"Y \(30, 2\) holds \d+ NaN"),
        (([Xs[0][:, 0], Xs[1]], Y), r"Xs\[0\] must be 2-D"),
    ]
    for args, match in cases:
        with pytest.raises(ValueError, match=match):
            model.fit(*args)
    with pytest.raises(ValueError, match="ratios must be finite and > 0"):
        BandedRidgeEncoder(ratios=[0.0, 1.0], cv=3).fit(Xs, Y)
    with pytest.raises(ValueError, match=r"ratios must be 1-D \(two spaces\) or"):
        BandedRidgeEncoder(ratios=[1.0, 2.0], cv=3).fit(Xs + [Xs[1]], Y)
    with pytest.raises(RuntimeError, match="not fitted"):
        model.predict(Xs)
    fit_quietly(model, Xs, Y)
    with pytest.raises(ValueError, match="got 1 feature spaces, fitted on 2"):
        model.predict(Xs[:1])
    with pytest.raises(ValueError, match=r"Xs\[1\] has 3 features, fitted on 2"):
        model.predict([Xs[0], Xs[0]])


def test_dirichlet_candidates_are_himalayas_draws() -> None:
    gamma = dirichlet_candidates(3, n_iter=11, concentration=[0.1, 1.0], random_state=4)
    assert gamma.shape == (11, 3)
    np.testing.assert_allclose(gamma.sum(1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(gamma[0], 1 / 3)  # first candidate: equal weights
    np.testing.assert_array_equal(dirichlet_candidates(3, 11, [0.1, 1.0], 4), gamma)
    assert not np.array_equal(dirichlet_candidates(3, 11, [0.1, 1.0], 5), gamma)
    # concentration 0.1 puts most weight on one band, 1.0 is uniform on the simplex
    many = dirichlet_candidates(3, 4000, [0.1, 1.0], np.random.default_rng(0))
    assert np.median(many[2::2].max(1)) > 0.9 and 0.55 < np.median(many[1::2].max(1)) < 0.7
    np.testing.assert_allclose(many[1::2].mean(0), 1 / 3, atol=0.02)
    np.testing.assert_array_equal(dirichlet_candidates(2, 3, np.inf, 0), 0.5)
    kernel_ridge = pytest.importorskip("himalaya.kernel_ridge", reason="himalaya is not installed")
    theirs = np.asarray(kernel_ridge.generate_dirichlet_samples(11, 3, [0.1, 1.0], random_state=4))
    theirs[0] = 1 / 3  # as solve_group_ridge_random_search does
    np.testing.assert_array_equal(gamma, theirs)


def planted_two_bands(rng: np.random.Generator, n: int = 160, per: int = 6):
    """Two spaces; voxels [0, per) driven by space 0, [per, 2 per) by space 1, then
    ``per`` pure-noise voxels; unit-norm weights (signal variance ~1, noise 0.49).
    Returns Xs (n, 5) and (n, 7), Y (n, 3 per)."""
    Xs = [rng.standard_normal((n, 5)), rng.standard_normal((n, 7))]
    W = [rng.standard_normal((X.shape[1], per)) for X in Xs]
    S = [X @ (w / np.linalg.norm(w, axis=0)) for X, w in zip(Xs, W, strict=True)]
    return Xs, np.hstack(S + [np.zeros((n, per))]) + 0.7 * rng.standard_normal((n, 3 * per))


def test_dirichlet_search_matches_himalaya_banded_ridge_cv(rng: np.random.Generator) -> None:
    """ratios="dirichlet" with score_cv="r2" is himalaya's BandedRidgeCV random search with
    score_func=r2_score: same candidates (same seed), same per-band penalties per voxel."""
    pytest.importorskip("himalaya", reason="himalaya is not installed (test extra)")
    from himalaya.backend import get_backend, set_backend
    from himalaya.ridge import BandedRidgeCV
    from himalaya.scoring import r2_score as him_r2
    from sklearn.model_selection import KFold

    Xs, Y = planted_two_bands(rng)
    alphas = np.logspace(-1, 4, 8)
    model = BandedRidgeEncoder(delays=[0], alphas=alphas, ratios="dirichlet", n_iter=12,
                               concentration=[0.1, 1.0], random_state=7, cv=4, dtype="float64")
    fit_quietly(model, Xs, Y)
    previous = get_backend().name
    set_backend("numpy")
    try:
        theirs = BandedRidgeCV(groups="input", solver="random_search", fit_intercept=False, cv=KFold(4),
                               random_state=7, solver_params=dict(n_iter=12, concentration=[0.1, 1.0],
                               alphas=alphas, score_func=him_r2, progress_bar=False))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs.fit([(X - X.mean(0)) / X.std(0) for X in Xs], Y - Y.mean(0))
    finally:
        set_backend(previous)
    np.testing.assert_allclose(model.best_alphas_, np.exp(-np.asarray(theirs.deltas_)).T, rtol=1e-9)
    assert len(set(model.best_candidates_.tolist())) > 2
    np.testing.assert_allclose(model.coef_, theirs.coef_, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(model.cv_scores_, np.max(theirs.cv_scores_, axis=0), atol=1e-8)


def test_dirichlet_fit_recovers_bands_and_split_r2(rng: np.random.Generator) -> None:
    per = 6
    Xs, Y = planted_two_bands(rng, n=400, per=per)
    train, test = [X[:200] for X in Xs], [X[200:] for X in Xs]
    model = BandedRidgeEncoder(delays=[0], ratios="dirichlet", n_iter=20, random_state=0, cv=4)
    fit_quietly(model, train, Y[:200])
    ratio = model.best_alphas_[:, 1] / model.best_alphas_[:, 0]  # alpha_2 / alpha_1
    assert np.median(ratio[:per]) > 10 and np.median(ratio[per : 2 * per]) < 0.1, ratio
    split = model.score_split(test, Y[200:])
    assert split.shape == (2, 3 * per)
    assert np.all(split[0, :per] > 0.3) and np.all(split[1, per : 2 * per] > 0.3)
    assert np.abs(split[1, :per]).max() < 0.05 and np.abs(split[0, per : 2 * per]).max() < 0.05
    noise = np.abs(split[:, 2 * per :])  # no signal: both parts ~0 (chance fits from 200 TRs)
    assert np.median(noise) < 0.02 and noise.max() < 0.1, noise
    Yt = Y[200:]
    joint = 1 - ((Yt - model.predict_split(test).sum(0) - Yt.mean(0)) ** 2).sum(0) / ((Yt - Yt.mean(0)) ** 2).sum(0)
    np.testing.assert_allclose(split.sum(0), joint, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(split.sum(0), model.score_r2(test, Yt), atol=0.02)
    himalaya_scoring = pytest.importorskip("himalaya.scoring", reason="himalaya is not installed")
    expected = himalaya_scoring.r2_score_split(Yt - Yt.mean(0), model.predict_split(test))
    np.testing.assert_allclose(split, expected, rtol=1e-5, atol=1e-6)


def test_bad_ratios_and_score_raise(rng: np.random.Generator) -> None:
    Xs, Y = [rng.standard_normal((30, 3)), rng.standard_normal((30, 2))], rng.standard_normal((30, 2))
    with pytest.raises(ValueError, match="ratios must be 'grid', 'dirichlet' or candidates"):
        BandedRidgeEncoder(ratios="random", cv=3).fit(Xs, Y)
    with pytest.raises(ValueError, match=r"score_cv must be one of \['neg_mse', 'r', 'r2'\]"):
        BandedRidgeEncoder(score_cv="R2", cv=3).fit(Xs, Y)
    grid = BandedRidgeEncoder(delays=[0], ratios="grid", cv=3)
    fit_quietly(grid, Xs, Y)
    np.testing.assert_allclose(grid.candidates_, band_candidates(2))
