"""Several held-out test stimuli (``task.bids.test_stimuli=[a, b]``) and grouped K-fold over
the training stimuli (``task.cv_folds``), on the generated example study with two test
stimuli and four training stimuli: test repeat k is the k-th presentation of each test
stimulus in the named order, features likewise; the cleaning, the trim and the FIR delays of
the test side restart at every test stimulus; a subject short of a presentation is refused,
naming the stimulus; K folds of whole stimuli, K outside 2..n refused."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from brain.bids import BidsSpec, Run, load_bids, split_runs
from brain.bids_example import BASELINE, write_bids_example
from brain.bootstrap import circular_blocks
from brain.cleaning import clean_runs
from brain.delays import make_delays
from brain.encoding import encode_layers
from brain.prepare import Cleaning, SubjectData
from brain.ridge import RidgeEncoder, cv_folds

N_T = 40  # TRs per stimulus
TESTS = ("clip_test1", "clip_test2")


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory):
    return write_bids_example(tmp_path_factory.mktemp("bids_tests") / "study", n_subjects=2, n_train_stimuli=4,
                              n_test_stimuli=2, trs_per_stimulus=N_T, vertices_per_region=2, drift=0.0)


def spec_of(ex, **kw) -> BidsSpec:
    base = dict(root=str(ex.root), task=ex.task, features={k: str(v) for k, v in ex.features.items()},
                test_stimuli=TESTS, space=ex.space, labels=str(ex.atlas))
    return BidsSpec(**(base | kw))


def test_the_test_repeats_are_the_test_stimuli_in_the_named_order(study) -> None:
    """Each repeat is clip_test1's k-th presentation then clip_test2's (each one of the planted
    presentations of that stimulus); naming them the other way round swaps the halves of every
    repeat, of the features and of the confounds; test_runs labels the halves."""
    ex, truth = study, study.truth
    assert ex.test_stimuli == TESTS and all(s.count(t) == 2 for s in ex.run_stimuli.values() for t in TESTS)
    d = load_bids(spec_of(ex, confounds=("motion",), confound_options={"motion": "basic"}))
    rev = load_bids(spec_of(ex, test_stimuli=TESTS[::-1], confounds=("motion",), confound_options={"motion": "basic"}))
    assert d.bold_test.shape == (2, 2, 2 * N_T, truth.bold_test.shape[3]) and d.n_repeats == 2
    np.testing.assert_array_equal(d.test_runs, np.repeat([0, 1], N_T))
    for s in range(2):
        for rep in d.bold_test[s]:
            for j in range(2):  # each half is one planted presentation of that stimulus
                half = rep[j * N_T:(j + 1) * N_T] - BASELINE
                assert min(np.abs(half - t[j * N_T:(j + 1) * N_T]).max() for t in truth.bold_test[s]) < 2e-4
    swap = np.r_[N_T:2 * N_T, 0:N_T]
    np.testing.assert_array_equal(rev.bold_test, d.bold_test[:, :, swap])
    np.testing.assert_array_equal(rev.confounds_test, d.confounds_test[:, :, swap])
    assert d.confounds_test.shape == (2, 2, 2 * N_T, 6)
    for space in truth.spaces:
        for mine, other, planted in zip(d.features_test[space], rev.features_test[space], truth.features_test[space],
                                        strict=True):
            np.testing.assert_allclose(mine, planted, atol=1e-6)  # clip_test1 then clip_test2
            np.testing.assert_array_equal(other, mine[swap])
    np.testing.assert_array_equal(d.bold_train, rev.bold_train)
    split = d.study["split"]
    assert split["test_stimuli"] == list(TESTS) and rev.study["split"]["test_stimuli"] == list(TESTS[::-1])
    assert split["test_volumes"] == {"clip_test1": N_T, "clip_test2": N_T} and split["test_presentations"] == 2
    assert split["train_stimuli"] == ["clip01", "clip02", "clip03", "clip04"]


def test_one_test_stimulus_keeps_test_runs_none(study) -> None:
    """Only clip_test2 held out: no test_runs, and clip_test1 (two runs) is a training stimulus."""
    d = load_bids(spec_of(study, test_stimuli=("clip_test2",)), by_stimulus=True)
    assert d.test_runs is None and d.bold_test.shape[2] == N_T
    assert d.study["split"]["train_stimuli"] == ["clip01", "clip02", "clip03", "clip04", "clip_test1"]
    assert d.study["split"]["train_presentations"]["clip_test1"] == 2


def test_test_cleaning_trim_and_delays_restart_at_every_test_stimulus(study) -> None:
    """With a trim of (2, 1) TRs: each test stimulus is trimmed and cleaned as a run of its own;
    encode_layers' test predictions equal a hand-built reference whose delays are made per
    stimulus segment (so no delayed row of clip_test2 holds clip_test1's features), and differ
    from delays made across the boundary."""
    d = load_bids(spec_of(study))
    prep = SubjectData(d, Cleaning(trim=(2, 1)))
    np.testing.assert_array_equal(prep.test_runs, np.repeat([0, 1], N_T - 3))
    keep = np.r_[2:N_T - 1, N_T + 2:2 * N_T - 1]
    np.testing.assert_array_equal(np.flatnonzero(prep.test_keep), keep)
    reps = prep.test_repeats(0)
    for k in range(2):
        by_hand = np.concatenate([clean_runs(d.bold_test[0, k, j * N_T:(j + 1) * N_T], None, d.tr, trim=(2, 1))
                                  for j in range(2)])
        np.testing.assert_allclose(reps[k], by_hand, atol=1e-5)
    y_train, y_test, x_train, x_test, runs = prep(0)
    layer = x_train["video"][1], x_test["video"][1]
    delays = [1, 2, 3]
    enc = {"delays": delays, "alphas": [1.0, 100.0], "cv": None}
    got = encode_layers([layer[0]], y_train, [layer[1]], y_test, runs=runs, encoder=enc,
                        test_runs=prep.test_runs).predictions[0]
    model = RidgeEncoder(**enc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model.fit(layer[0], y_train, runs=runs)
    z = (layer[1] - model.feature_mean_) / model.feature_scale_
    n = N_T - 3
    design = np.concatenate([make_delays(z[:n], delays), make_delays(z[n:], delays)])
    for i, lag in enumerate(delays):  # the first `lag` rows of clip_test2 at that lag: zeros, not clip_test1
        assert not design[n:n + lag, i * z.shape[1]:(i + 1) * z.shape[1]].any()
    np.testing.assert_allclose(got, design @ model.coef_ + model.intercept_, rtol=1e-4, atol=1e-4)
    across = make_delays(z, delays) @ model.coef_ + model.intercept_
    assert np.abs(across[n:n + 3] - got[n:n + 3]).max() > 1e-3  # the reference is not the crossing one
    np.testing.assert_allclose(across[n + 3:], got[n + 3:], rtol=1e-4, atol=1e-4)


def _run(sub: str, run: int, stim: str) -> Run:
    return Run(sub, run, Path(f"sub-{sub}_run-{run}_bold.nii.gz"), stim, 10)


def test_a_test_stimulus_shown_fewer_times_is_refused_naming_it(study, tmp_path: Path) -> None:
    runs = [_run("03", 1, "a"), _run("03", 2, "t1"), _run("03", 3, "b"), _run("03", 4, "t2"), _run("03", 5, "t1")]
    with pytest.raises(ValueError, match=r"sub-03: test stimulus 't2' is shown 1 times, but 't1' 2 times: every "
                                         r"test stimulus must be shown equally often"):
        split_runs(runs, ("t1", "t2"))
    train, test = split_runs(runs + [_run("03", 6, "t2")], ("t1", "t2"))
    assert [r.run for r in test] == [2, 4, 5, 6] and [r.stimulus for r in train] == ["a", "b"]
    root = tmp_path / "study"
    shutil.copytree(study.root, root)
    func = root / "derivatives" / "fmriprep" / "sub-02" / "func"
    order = study.run_stimuli["02"]

    def drop(stim: str) -> None:  # sub-02's first presentation of stim: its preprocessed BOLD is gone
        run = order.index(stim) + 1
        for f in func.glob(f"sub-02_task-movie_run-{run}_space-*_desc-preproc_bold.*"):
            f.unlink()

    drop("clip_test2")
    spec = spec_of(study, root=str(root), features={k: str(root / "features" / k) for k in study.features})
    with pytest.raises(ValueError, match="sub-02: test stimulus 'clip_test2' is shown 1 times, but 'clip_test1' 2 times"):
        load_bids(spec)
    drop("clip_test1")  # now once each, sub-01 twice each
    with pytest.raises(ValueError, match=r"sub-02 saw the test stimulus 'clip_test1' 1 times, sub-01 2 times"):
        load_bids(spec)


@pytest.mark.parametrize("kw, message", [
    ({"test_stimuli": ()}, "name at least one held-out test stimulus"),
    ({"test_stimuli": ("a", "b", "a")}, r"test stimuli \['a'\] are named more than once"),
])
def test_bad_test_stimuli_are_refused_by_the_spec(kw: dict, message: str) -> None:
    base = dict(root="r", task="t", features={"video": "f"}, test_stimuli=("x",))
    with pytest.raises(ValueError, match=message):
        BidsSpec(**(base | kw))


def test_grouped_k_fold_holds_out_whole_stimuli(study) -> None:
    """K=2 over the 4 training stimuli: two folds of two whole stimuli each (no stimulus on
    both sides), recorded in study.split; K=1 and K=5 are refused naming the stimuli."""
    d = load_bids(spec_of(study), by_stimulus=True, n_folds=2)
    split = d.study["split"]
    assert split["cv"] == "by_stimulus" and split["cv_folds"] == 2 and split["inner_cv"].startswith("grouped 2-fold")
    folds = split["folds"]
    assert len(folds) == 2 and all(len(f) == 2 for f in folds)
    assert sorted(folds[0] + folds[1]) == ["clip01", "clip02", "clip03", "clip04"]
    for train, test in cv_folds(len(d.stimuli), 2, d.runs, d.stimuli):
        assert not set(d.stimuli[train]) & set(d.stimuli[test]) and len(set(d.stimuli[test])) == 2
    assert load_bids(spec_of(study), by_stimulus=True).study["split"]["folds"] == [
        ["clip01"], ["clip02"], ["clip03"], ["clip04"]]
    for k in (1, 5):
        with pytest.raises(ValueError, match=rf"task.cv_folds={k}: grouped K-fold over the 4 training stimuli "
                                             r"\['clip01', 'clip02', 'clip03', 'clip04'\] needs 2 <= K <= 4"):
            load_bids(spec_of(study), by_stimulus=True, n_folds=k)


def test_circular_blocks_stay_within_each_test_stimulus() -> None:
    """Blocks resampled per segment: every index of segment k's rows lies in segment k, the
    blocks are consecutive within it (wrapping at its end), and a block longer than half the
    shortest segment is refused."""
    segments = np.repeat([0, 1, 2], [30, 20, 25])
    idx = circular_blocks(75, 5, 40, np.random.default_rng(0), segments)
    assert idx.shape == (40, 75)
    for k, (lo, hi) in enumerate([(0, 30), (30, 50), (50, 75)]):
        part = idx[:, lo:hi]
        assert ((part >= lo) & (part < hi)).all(), k
        step = np.diff(part, axis=1)[:, :4]  # within the first block: +1, or the wrap back to the segment start
        assert np.isin(step, [1, -(hi - lo - 1)]).all()
    with pytest.raises(ValueError, match=r"shortest test segment / 2 = 10 TRs \(segment 1: TRs 30..49\), got 11"):
        circular_blocks(75, 11, 1, np.random.default_rng(0), segments)
    plain = circular_blocks(75, 5, 3, np.random.default_rng(1))
    np.testing.assert_array_equal(circular_blocks(75, 5, 3, np.random.default_rng(1), np.zeros(75, int)), plain)
