"""Scrubbing of high-motion volumes (issue 27, item 1): the BIDS path's censored volumes from
``load_confounds`` (``scrub``), the delayed design with a sample mask, the cleaning and the
fits on the kept rows, and the test scores on the test TRs kept in every repeat of every
subject."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brain.bids import BidsSpec, load_bids
from brain.bids_example import HIGH_MOTION_DVARS, HIGH_MOTION_FD, write_bids_example
from brain.cleaning import clean_runs
from brain.delays import make_delays
from brain.encoding import encode_layers
from brain.prepare import Cleaning, SubjectData
from brain.ridge import RidgeEncoder, ridge_cv_scores, ridge_weights
from brain.synthetic import SyntheticConfig, make_synthetic

THRESHOLDS = {"fd_threshold": HIGH_MOTION_FD / 2, "std_dvars_threshold": HIGH_MOTION_DVARS / 2}


@pytest.fixture(scope="module")
def spiky(tmp_path_factory: pytest.TempPathFactory):
    return write_bids_example(tmp_path_factory.mktemp("scrub") / "study", trs_per_stimulus=60, vertices_per_region=2,
                              high_motion=3)


def spec(ex, **options) -> BidsSpec:
    return BidsSpec(str(ex.root), ex.task, {k: str(v) for k, v in ex.features.items()}, (ex.test_stimulus,),
                    confounds=("motion", "scrub"), confound_options={"motion": "basic", **options})


def test_the_censored_volumes_are_the_planted_high_motion_volumes(spiky) -> None:
    for tsv in spiky.derivatives.glob("sub-*/func/*_desc-confounds_timeseries.tsv"):  # the thresholds separate them
        cols = pd.read_csv(tsv, sep="\t", na_values="n/a")
        bold = tsv.name.replace("_desc-confounds_timeseries.tsv", f"_space-{spiky.space}_desc-preproc_bold.nii.gz")
        other = np.setdiff1d(np.arange(len(cols)), spiky.high_motion[tsv.name[4:6]][bold])
        assert cols["framewise_displacement"].iloc[other].max() < THRESHOLDS["fd_threshold"]
        assert cols["std_dvars"].iloc[other].max() < THRESHOLDS["std_dvars_threshold"]
    for scrub in (0, 5):  # the planted volumes are > 5 apart: the minimum segment censors nothing more
        data = load_bids(spec(spiky, scrub=scrub, **THRESHOLDS))
        cens = data.study["confounds"]["censored"]
        for sub, runs in cens["runs"].items():
            assert {r["bold"]: r["indices"] for r in runs} == spiky.high_motion[sub[4:]]
            assert all(r["censored"] == 3 for r in runs)
        n_runs = sum(len(v) for v in spiky.run_stimuli.values())
        assert cens["censored"] == 3 * n_runs and cens["volumes"] == 60 * n_runs
        # per subject: the training runs concatenated in stimulus order, the test repeats stacked
        for s, sub in enumerate(spiky.run_stimuli):
            runs = {r["stimulus"]: [] for r in cens["runs"][f"sub-{sub}"]}
            for r in cens["runs"][f"sub-{sub}"]:
                runs[r["stimulus"]].append(r["indices"])
            train = [i + 60 * k for k, st in enumerate(data.study["split"]["train_stimuli"]) for i in runs[st][0]]
            assert np.flatnonzero(~data.sample_mask_train[s]).tolist() == train
            assert [np.flatnonzero(~m).tolist() for m in data.sample_mask_test[s]] == runs[spiky.test_stimulus]
        everywhere = data.sample_mask_test.all(axis=(0, 1))
        assert cens["test_trs_kept_everywhere"] == int(everywhere.sum()) < 60


def test_without_censored_volumes_the_masks_are_none(spiky) -> None:
    data = load_bids(spec(spiky, fd_threshold=10 * HIGH_MOTION_FD, std_dvars_threshold=10 * HIGH_MOTION_DVARS))
    assert data.sample_mask_train is None and data.sample_mask_test is None
    assert "censored" not in data.study["confounds"]


def test_a_run_scrubbed_below_half_its_volumes_is_refused_naming_the_file(spiky) -> None:
    with pytest.raises(ValueError, match=r"sub-01_task-movie_run-\d+_desc-confounds_timeseries.tsv: the strategy "
                                         r"\['motion', 'scrub'\].* censors \d+ of the 60 volumes of sub-01_task-movie"
                                         r"_run-\d+_space-.*_desc-preproc_bold.nii.gz, keeping \d+ < 0.5 of the run"):
        load_bids(spec(spiky, fd_threshold=0.0, std_dvars_threshold=0.0))


def runs_and_mask(n_runs: int, n: int, rng: np.random.Generator, censored: int) -> tuple[np.ndarray, np.ndarray]:
    runs = np.repeat(np.arange(n_runs), n)
    mask = np.ones(n_runs * n, bool)
    mask[rng.choice(n_runs * n, censored, replace=False)] = False
    return runs, mask


def test_the_masked_fit_is_the_whole_run_delays_with_the_censored_rows_dropped() -> None:
    """A hand-built reference: standardise, make_delays on the whole runs, drop the censored
    rows; the encoder's weights (one alpha) and CV grid (leave-one-run-out on the kept rows)
    are the ridge on that design, whatever Y holds at the censored rows."""
    rng = np.random.default_rng(0)
    runs, mask = runs_and_mask(3, 50, rng, 20)
    X = rng.standard_normal((150, 4))
    Y = rng.standard_normal((150, 6))
    delays, alphas = (1, 2, 3), np.array([0.1, 10.0, 1000.0])
    Xs = (X - X.mean(axis=0)) / X.std(axis=0)
    design = make_delays(Xs, delays, runs)[mask]
    Yk = Y[mask]
    ref_grid = np.asarray(ridge_cv_scores(design, Yk, alphas, None, runs[mask], score="r2", offset=Yk.mean(axis=0)))
    Y_junk = np.where(mask[:, None], Y, 1e3)  # the censored rows' values must not matter
    enc = RidgeEncoder(delays=delays, alphas=alphas, cv=None).fit(X, Y_junk, runs=runs, sample_mask=mask)
    np.testing.assert_allclose(enc.cv_score_grid_, ref_grid, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(enc.intercept_, Yk.mean(axis=0), rtol=1e-5)
    one = RidgeEncoder(delays=delays, alphas=[10.0], cv=None).fit(X, Y_junk, runs=runs, sample_mask=mask)
    ref = ridge_weights(design, Yk, np.full(6, 10.0), offset=Yk.mean(axis=0))
    np.testing.assert_allclose(one.coef_, ref, rtol=1e-4, atol=1e-5)
    # dropping the rows before delaying is another design (the delays would bridge the gaps)
    wrong = ridge_weights(make_delays(Xs[mask], delays, runs[mask]), Yk, np.full(6, 10.0), offset=Yk.mean(axis=0))
    assert np.abs(wrong - ref).max() > 100 * np.abs(one.coef_ - ref).max()


def test_a_mask_keeping_everything_changes_nothing() -> None:
    rng = np.random.default_rng(1)
    runs = np.repeat(np.arange(3), 40)
    X, Y = rng.standard_normal((120, 3)), rng.standard_normal((120, 4))
    a = RidgeEncoder(alphas=[1.0, 100.0], cv=None).fit(X, Y, runs=runs)
    b = RidgeEncoder(alphas=[1.0, 100.0], cv=None).fit(X, Y, runs=runs, sample_mask=np.ones(120, bool))
    np.testing.assert_array_equal(a.coef_, b.coef_)
    with pytest.raises(ValueError, match=r"sample_mask must be a \(120,\) bool array"):
        RidgeEncoder().fit(X, Y, runs=runs, sample_mask=np.ones(120))


def synthetic(seed: int = 0):
    cfg = SyntheticConfig(n_subjects=2, n_runs=3, trs_per_run=120, n_test_trs=120, n_repeats=2, n_layers=2,
                          n_features=8, vertices_per_region=6, ev_range=(0.3, 0.5))
    return make_synthetic(cfg, seed=seed)


def spiked(data, rng: np.random.Generator, per_run: int, size: float):
    """The data with ``per_run`` artefact volumes per run (``size`` BOLD sds, independent normal
    per voxel), and the masks that censor them."""
    n_sub, n_train, n_vox = data.bold_train.shape
    n_test = data.bold_test.shape[2]
    train, test = data.bold_train.copy(), data.bold_test.copy()
    m_train, m_test = np.ones((n_sub, n_train), bool), np.ones(data.bold_test.shape[:3], bool)
    for s in range(n_sub):
        for r in np.unique(data.runs):
            rows = np.flatnonzero(data.runs == r)[rng.choice(n_train // 3, per_run, replace=False)]
            m_train[s, rows] = False
            train[s, rows] += size * train[s].std(axis=0) * rng.standard_normal((per_run, n_vox))
        for k in range(data.n_repeats):
            rows = rng.choice(n_test, per_run, replace=False)
            m_test[s, k, rows] = False
            test[s, k, rows] += size * test[s, k].std(axis=0) * rng.standard_normal((per_run, n_vox))
    return dataclasses.replace(data, bold_train=train, bold_test=test), m_train, m_test


def truth_r(data, subject_data: SubjectData, space: int, layer: int, voxels: np.ndarray, s: int) -> np.ndarray:
    """Per voxel, r of the test prediction with the planted noiseless test response (on the
    rows scored)."""
    y_train, y_test, x_train, x_test, runs = subject_data(s)
    sp = data.spaces[space]
    res = encode_layers([x_train[sp][layer]], y_train[:, voxels], [x_test[sp][layer]], y_test[:, voxels], runs=runs,
                        encoder={"delays": (1, 2, 3, 4, 5), "cv": None}, sample_mask=subject_data.train_mask(s),
                        test_mask=subject_data.test_mask)
    keep = np.ones(y_test.shape[0], bool) if subject_data.test_mask is None else subject_data.test_mask
    truth = data.signal_test[s][keep][:, voxels]
    pred = res.predictions[0]
    return np.array([np.corrcoef(pred[:, v], truth[:, v])[0, 1] for v in range(voxels.sum())])


def test_scrubbing_brings_the_fit_back_towards_the_clean_data_fit() -> None:
    """Artefact volumes (8 BOLD sds) in every run: censoring them gives test predictions that
    correlate with the planted response about as well as the fit on the clean data, and
    clearly better than the fit that keeps them. The margin is the voxels' own spread: the
    mean paired gain is more than 3 standard errors above 0, and scrubbing recovers most of
    what the artefacts cost."""
    clean = synthetic()
    bad, m_train, m_test = spiked(clean, np.random.default_rng(5), per_run=6, size=8.0)
    scrubbed = dataclasses.replace(bad, sample_mask_train=m_train, sample_mask_test=m_test)
    opts = Cleaning(detrend=True, standardize="zscore_sample")
    r = {name: [] for name in ("clean", "kept", "scrubbed")}
    for space in range(2):
        for layer in range(2):
            vox = (clean.true_space == space) & (clean.true_layer == layer)
            for s in range(2):
                for name, d in (("clean", clean), ("kept", bad), ("scrubbed", scrubbed)):
                    prep = SubjectData(d, opts)
                    if name != "scrubbed":  # score the same rows in all three
                        prep.test_mask = SubjectData(scrubbed, opts).test_mask
                    r[name].append(truth_r(d, prep, space, layer, vox, s))
    r = {k: np.concatenate(v) for k, v in r.items()}
    gain = r["scrubbed"] - r["kept"]
    se = gain.std(ddof=1) / np.sqrt(gain.size)
    assert gain.mean() > 3 * se
    cost = r["clean"] - r["kept"]
    assert (r["clean"] - r["scrubbed"]).mean() < 0.5 * cost.mean()


def test_the_test_scores_use_the_test_trs_kept_in_every_repeat_of_every_subject() -> None:
    """Closed form: the common test rows are the intersection of every (subject, repeat)'s
    kept rows; each repeat is cleaned on its own kept rows; the test r is pearson between the
    repeat mean and the prediction (made on all test TRs) on those rows only."""
    clean = synthetic(1)
    bad, m_train, m_test = spiked(clean, np.random.default_rng(2), per_run=4, size=8.0)
    data = dataclasses.replace(bad, sample_mask_train=m_train, sample_mask_test=m_test)
    opts = Cleaning(detrend=True, standardize="zscore_sample")
    prep = SubjectData(data, opts)
    common = m_test.all(axis=(0, 1))
    np.testing.assert_array_equal(prep.test_mask, common)
    assert common.sum() < m_test[0, 0].sum()
    for s in range(2):
        reps = prep.test_repeats(s)
        assert reps.shape == (2, int(common.sum()), data.bold_test.shape[3])
        for k in range(2):
            own = m_test[s, k]
            ref = clean_runs(data.bold_test[s, k][own], None, data.tr, detrend=True)  # cleaned on its kept rows
            np.testing.assert_allclose(reps[k], ref[common[own]], rtol=1e-4, atol=1e-4)
        y_train, y_test, x_train, x_test, runs = prep(s)
        np.testing.assert_allclose(y_test, reps.mean(axis=0))
        assert np.all(y_train[~prep.train_mask(s)] == 0)  # censored rows: zeros, left out of the fit
        sp = data.spaces[0]
        enc = {"delays": (1, 2, 3), "cv": None, "alphas": [1.0, 100.0]}
        res = encode_layers(x_train[sp], y_train, x_test[sp], y_test, runs=runs, encoder=enc,
                            sample_mask=prep.train_mask(s), test_mask=prep.test_mask)
        model = RidgeEncoder(**enc).fit(x_train[sp][0], y_train, runs=runs, sample_mask=prep.train_mask(s))
        pred = model.predict(x_test[sp][0])[common]
        by_hand = np.array([np.corrcoef(y_test[:, v], pred[:, v])[0, 1] for v in range(y_test.shape[1])])
        np.testing.assert_allclose(res.r[0], by_hand, atol=1e-4)


def test_too_few_test_trs_kept_everywhere_are_refused() -> None:
    data = synthetic(2)
    m_test = np.ones(data.bold_test.shape[:3], bool)
    m_test[0, 0, :40] = False
    m_test[1, 1, 40:80] = False  # 40 of 120 kept everywhere
    with pytest.raises(ValueError, match=r"only 40 of the 120 test TRs are kept in every repeat of every subject "
                                         r"\(< 0.5\); censored per \(subject, repeat\): subject 1 repeat 1: 40, "
                                         r"subject 0 repeat 0: 40"):
        SubjectData(dataclasses.replace(data, sample_mask_test=m_test), Cleaning())


def test_the_example_without_high_motion_is_unchanged(tmp_path: Path) -> None:
    """The high-motion volumes draw from their own random stream: with them planted, every
    other volume of the BOLD is the same as without them."""
    import nibabel as nib

    a = write_bids_example(tmp_path / "a", trs_per_stimulus=30, vertices_per_region=1)
    b = write_bids_example(tmp_path / "b", trs_per_stimulus=30, vertices_per_region=1, high_motion=1)
    bold = next(iter(b.high_motion["01"]))
    pa, pb = (ex.derivatives / "sub-01" / "func" / bold for ex in (a, b))
    ya, yb = np.asarray(nib.load(pa).dataobj), np.asarray(nib.load(pb).dataobj)
    spike = b.high_motion["01"][bold]
    other = np.setdiff1d(np.arange(30), spike)
    np.testing.assert_array_equal(ya[..., other], yb[..., other])
    assert not np.allclose(ya[..., spike], yb[..., spike])
