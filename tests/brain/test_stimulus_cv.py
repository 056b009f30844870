"""Cross-validation by stimulus (``brain.ridge.cv_folds(..., groups=...)``): folds of whole
stimuli, checked against set arithmetic and scikit-learn's ``GroupKFold``; a planted leak is
refused; with one stimulus per run the folds, and so every encoder's numbers, are those of
leave-one-run-out; the FIR delays still restart at the boundary between two runs of one
stimulus; the CV scores of a repeated stimulus match a brute-force fold loop."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.model_selection import GroupKFold

from brain.banded import BandedRidgeEncoder
from brain.delays import make_delays
from brain.encoding import encode_layers
from brain.ridge import RidgeEncoder, check_folds, cv_folds, fold_groups
from brain.stacking import out_of_fold_predictions

# four runs; stimulus "a" is shown in runs 0 and 2, so leave-one-run-out would leak it
RUN_LENGTHS = (12, 9, 12, 15)
RUN_STIMULI = ("a", "b", "a", "c")


def labels(lengths=RUN_LENGTHS, stimuli=RUN_STIMULI) -> tuple[np.ndarray, np.ndarray]:
    """(runs, stimuli), each (n_trs,): run k is ``lengths[k]`` TRs of ``stimuli[k]``."""
    return np.repeat(np.arange(len(lengths)), lengths), np.repeat(np.array(stimuli), lengths)


def test_folds_by_stimulus_never_split_a_stimulus(rng: np.random.Generator) -> None:
    """Stimuli scattered over the TRs (not contiguous): every TR is held out exactly once,
    training is the complement, and no stimulus has TRs on both sides, for one fold per
    stimulus and for 2 and 3 folds of whole stimuli."""
    groups = rng.choice(np.array(["s1", "s2", "s3", "s4", "s5"]), size=80)
    for cv in (None, 2, 3, 5, 9):
        folds = cv_folds(80, cv, groups=groups)
        assert len(folds) == (5 if cv is None else min(cv, 5))
        held = np.concatenate([test for _, test in folds])
        np.testing.assert_array_equal(np.sort(held), np.arange(80))
        for train, test in folds:
            np.testing.assert_array_equal(train, np.setdiff1d(np.arange(80), test))
            assert not set(groups[train]) & set(groups[test])
    logo = cv_folds(80, None, groups=groups)
    assert fold_groups(logo, groups) == [["s1"], ["s2"], ["s3"], ["s4"], ["s5"]]
    for (_, test), name in zip(logo, ["s1", "s2", "s3", "s4", "s5"], strict=True):
        np.testing.assert_array_equal(test, np.flatnonzero(groups == name))


def test_fewer_folds_than_stimuli_deal_them_as_group_k_fold_does() -> None:
    """Stimuli of 50, 40, 30, 20 and 10 TRs in 2 folds: largest first to the lighter fold
    gives {a, d, e} (80 TRs) and {b, c} (70), by hand and by scikit-learn's GroupKFold."""
    runs, groups = labels((50, 40, 30, 20, 10), ("a", "b", "c", "d", "e"))
    folds = cv_folds(150, 2, runs, groups)
    assert fold_groups(folds, groups) == [["a", "d", "e"], ["b", "c"]]
    for cv in (2, 3, 4):
        ours = cv_folds(150, cv, runs, groups)
        theirs = list(GroupKFold(n_splits=cv).split(np.zeros(150), groups=groups))
        for (tr_a, te_a), (tr_b, te_b) in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(te_a, te_b)
            np.testing.assert_array_equal(tr_a, tr_b)


def test_one_stimulus_per_run_gives_the_leave_one_run_out_folds() -> None:
    """Runs of different lengths, each its own stimulus (labels sorted as the runs are): the
    folds by stimulus are the leave-one-run-out folds, in the same order."""
    runs, groups = labels((12, 9, 12, 15), ("clip01", "clip02", "clip03", "clip04"))
    by_run, by_stimulus = cv_folds(48, 5, runs), cv_folds(48, None, runs, groups)
    assert len(by_run) == len(by_stimulus) == 4
    for (a_train, a_test), (b_train, b_test) in zip(by_run, by_stimulus, strict=True):
        np.testing.assert_array_equal(a_train, b_train)
        np.testing.assert_array_equal(a_test, b_test)


def test_a_repeated_stimulus_is_held_out_with_all_its_runs() -> None:
    runs, groups = labels()
    folds = cv_folds(len(runs), None, runs, groups)
    assert fold_groups(folds, groups) == [["a"], ["b"], ["c"]]
    _, test_a = folds[0]
    np.testing.assert_array_equal(np.unique(runs[test_a]), [0, 2])
    assert test_a.size == 24 and set(runs[folds[0][0]]) == {1, 3}


def test_a_planted_leak_is_refused() -> None:
    """Leave-one-run-out holds out run 0 with run 2, the other presentation of stimulus 'a',
    in training: refused, naming the stimulus and its TRs on each side; so is a hand-made
    fold that moves one held-out TR of 'a' into training."""
    runs, groups = labels()
    by_run = cv_folds(len(runs), 5, runs)
    with pytest.raises(ValueError, match=r"fold 0 would leak: 1 group\(s\) on both sides \('a': 12 TRs in "
                                         r"training, 12 held out\)"):
        check_folds(by_run, groups)
    train, test = cv_folds(len(runs), None, runs, groups)[0]
    planted = [(np.sort(np.r_[train, test[-1]]), test[:-1])]
    with pytest.raises(ValueError, match=r"'a': 1 TRs in training, 23 held out"):
        check_folds(planted, groups)
    check_folds(cv_folds(len(runs), None, runs, groups), groups)  # the folds by stimulus pass


def test_bad_groups_are_named() -> None:
    runs, groups = labels()
    n = len(runs)
    with pytest.raises(ValueError, match=rf"groups must have shape \(n_trs,\) = \({n},\), got \({n - 1},\)"):
        cv_folds(n, None, runs, groups[:-1])
    with pytest.raises(ValueError, match=rf"runs must have shape \(n_trs,\) = \({n},\), got \(3,\)"):
        cv_folds(n, None, [0, 1, 2], groups)
    with pytest.raises(ValueError, match=r"at least 2 groups, got 1 \(\['a'\]\)"):
        cv_folds(n, None, runs, np.full(n, "a"))
    with pytest.raises(ValueError, match="cv must be None .* or an int >= 2 .* got 1"):
        cv_folds(n, 1, runs, groups)
    with pytest.raises(ValueError, match="cv must be an int >= 2 .* got None"):
        cv_folds(n, None)  # one fold per group, but no groups
    X = np.random.default_rng(0).standard_normal((n, 3))
    with pytest.raises(ValueError, match="groups must have shape"):
        RidgeEncoder(delays=[0], cv=None).fit(X, X, runs=runs, groups=groups[:5])


def test_delays_restart_between_two_runs_of_one_stimulus() -> None:
    """Stimulus 'a' shown twice, back to back (runs 0 and 1): its features repeat, and the
    delayed copies at the start of the second run are zero, not the end of the first run, in
    the encoder's design too, while the CV folds keep both runs together."""
    A = np.arange(1.0, 9.0)[:, None] * np.array([[1.0, -2.0]])  # 8 TRs, 2 features, no zero row
    X = np.vstack([A, A, 3 * A])
    runs, groups = labels((8, 8, 8), ("a", "a", "b"))
    D = make_delays(X, [1, 2], runs)
    expected = np.zeros((24, 4))
    for start in (0, 8, 16):
        for i, d in enumerate((1, 2)):
            expected[start + d:start + 8, 2 * i:2 * i + 2] = X[start:start + 8 - d]
    np.testing.assert_array_equal(D, expected)
    assert np.all(D[8] == 0) and np.all(D[9, 2:] == 0) and not np.all(make_delays(X, [1], None)[8] == 0)
    model = RidgeEncoder(delays=[1, 2], alphas=[1.0], cv=None, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, np.random.default_rng(1).standard_normal((24, 2)), runs=runs, groups=groups)
    design = model._design(X, runs)
    assert np.all(design[8] == 0) and np.all(design[16] == 0) and np.all(design[9, 2:] == 0)
    assert fold_groups(cv_folds(24, None, runs, groups), groups) == [["a"], ["b"]]


def test_cv_scores_by_stimulus_match_a_brute_force_fold_loop(rng: np.random.Generator) -> None:
    """RidgeEncoder with folds by stimulus: each mean CV R^2 is the mean over stimuli of the
    held-out R^2 of a closed-form ridge fit on the other stimuli's TRs of the run-bounded
    delayed design (stimulus 'a' in runs 0 and 2 held out together)."""
    runs, groups = labels()
    n = len(runs)
    X = rng.standard_normal((n, 3))
    Y = make_delays(X, [1, 2], runs) @ rng.standard_normal((6, 4)) + rng.standard_normal((n, 4))
    alphas = np.array([0.1, 10.0, 1000.0])
    model = RidgeEncoder(delays=[1, 2], alphas=alphas, cv=None, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, Y, runs=runs, groups=groups)
    design = make_delays((X - X.mean(0)) / X.std(0), [1, 2], runs)
    Yc = Y - Y.mean(0)
    expected = np.zeros((3, 4))
    for stim in ("a", "b", "c"):
        test, train = groups == stim, groups != stim
        for i, alpha in enumerate(alphas):
            Xt = design[train]
            W = np.linalg.solve(Xt.T @ Xt + alpha * np.eye(6), Xt.T @ Yc[train])
            resid = Yc[test] - design[test] @ W
            expected[i] += 1 - (resid**2).sum(0) / ((Yc[test] - Yc[test].mean(0)) ** 2).sum(0)
    np.testing.assert_allclose(model.cv_score_grid_, expected / 3, rtol=1e-8)


def test_one_stimulus_per_run_gives_identical_encoders(rng: np.random.Generator) -> None:
    """With one stimulus per run, folds by stimulus (cv=None) and leave-one-run-out give the
    very same numbers: per-layer encoders, the banded ridge, and stacking's out-of-fold
    predictions."""
    runs, groups = labels((20, 16, 24), ("clip01", "clip02", "clip03"))
    n = len(runs)
    layers = [rng.standard_normal((n, 4)) for _ in range(2)]
    tests = [rng.standard_normal((15, 4)) for _ in range(2)]
    Y = layers[0] @ rng.standard_normal((4, 5)) + rng.standard_normal((n, 5))
    enc = {"delays": [1, 2], "alphas": [0.1, 10.0, 1000.0]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_run = encode_layers(layers, Y, tests, Y[:15], runs=runs, encoder=enc | {"cv": 5})
        by_stim = encode_layers(layers, Y, tests, Y[:15], runs=runs, encoder=enc | {"cv": None}, groups=groups)
        for key in ("r", "r2", "best_alphas", "predictions", "cv_scores"):
            np.testing.assert_array_equal(getattr(by_run, key), getattr(by_stim, key), err_msg=key)
        a = BandedRidgeEncoder(**enc, cv=5).fit(layers, Y, runs=runs)
        b = BandedRidgeEncoder(**enc, cv=None).fit(layers, Y, runs=runs, groups=groups)
        np.testing.assert_array_equal(a.cv_score_grid_, b.cv_score_grid_)
        np.testing.assert_array_equal(a.coef_, b.coef_)
        np.testing.assert_array_equal(out_of_fold_predictions(layers, Y, runs, 5, enc),
                                      out_of_fold_predictions(layers, Y, runs, None, enc, groups))


def test_stacking_by_stimulus_holds_out_all_presentations(rng: np.random.Generator) -> None:
    """Out-of-fold predictions by stimulus: the prediction of stimulus 'a' (runs 0 and 2)
    comes from a model fitted on 'b' and 'c' only, so it does not change when the responses
    of 'a' change; and two stimuli leave too few for the inner CV, which is refused."""
    runs, groups = labels()
    n = len(runs)
    X = rng.standard_normal((n, 3))
    Y = X @ rng.standard_normal((3, 2)) + rng.standard_normal((n, 2))
    enc = {"delays": [0, 1], "alphas": [1.0, 100.0], "cv": None}
    base = out_of_fold_predictions([X], Y, runs, None, enc, groups)
    Y2 = Y.copy()
    Y2[groups == "a"] += 50 * rng.standard_normal((24, 2))
    changed = out_of_fold_predictions([X], Y2, runs, None, enc, groups)
    np.testing.assert_array_equal(base[0, groups == "a"], changed[0, groups == "a"])
    assert not np.allclose(base[0, groups != "a"], changed[0, groups != "a"])
    two = np.where(groups == "c", "b", groups)
    with pytest.raises(ValueError, match=r"holding out \['a'\] leaves \['b'\], one group for the inner CV"):
        out_of_fold_predictions([X], Y, runs, None, enc, two)
