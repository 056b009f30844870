"""BandedRidgeEncoder vs RidgeEncoder, the closed-form banded solution, brute-force CV and
planted truth."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from brain.banded import BandedRidgeEncoder, band_candidates
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
    np.testing.assert_allclose(banded.cv_scores_[0], plain.cv_scores_, rtol=1e-8)
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


def test_cv_scores_and_choice_match_brute_force(rng: np.random.Generator) -> None:
    Xs = [rng.standard_normal((40, 3)), rng.standard_normal((40, 5))]
    Y = Xs[0] @ rng.standard_normal((3, 4)) + 2 * rng.standard_normal((40, 4))
    ratios, alphas = np.array([0.01, 1.0, 30.0]), np.array([0.3, 10.0])
    model = BandedRidgeEncoder(delays=[0], alphas=alphas, ratios=ratios, cv=4, dtype="float64")
    fit_quietly(model, Xs, Y)
    bands, Yc = standardised_bands(Xs, [0]), Y - Y.mean(0)
    expected = np.zeros((3, 2, 4))
    for g, i in np.ndindex(3, 2):
        per_space = alphas[i] * np.array([1.0, ratios[g]]) / np.sqrt(ratios[g])  # geo. mean
        for test in np.array_split(np.arange(40), 4):
            train = np.setdiff1d(np.arange(40), test)
            W = banded_closed_form([B[train] for B in bands], Yc[train], per_space)
            pred = np.hstack(bands)[test] @ W
            expected[g, i] += [np.corrcoef(pred[:, v], Yc[test, v])[0, 1] / 4 for v in range(4)]
    np.testing.assert_allclose(model.cv_scores_, expected, rtol=1e-8)
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
    assert model.cv_scores_.shape == (9, 20, 4) and model.coef_.shape == (18, 4)
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
