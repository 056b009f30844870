"""The BIDS / fMRIPrep path (``brain.bids``) on the generated example study
(``brain.bids_example``): what is read equals what the synthetic experiment planted, the
confounds remove the planted drift, the split is by stimulus and refuses a leak, and every
bad input is named before anything is fitted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from brain.bids import BidsSpec, Run, load_bids, split_runs
from brain.bids_example import BASELINE, write_bids_example
from brain.cleaning import clean_runs
from brain.prepare import Cleaning, SubjectData


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory):
    return write_bids_example(tmp_path_factory.mktemp("bids") / "study", trs_per_stimulus=60, vertices_per_region=4)


@pytest.fixture(scope="module")
def clean_study(tmp_path_factory: pytest.TempPathFactory):
    return write_bids_example(tmp_path_factory.mktemp("bids0") / "study", trs_per_stimulus=60, vertices_per_region=4,
                              drift=0.0)


def spec_of(ex, **kw) -> BidsSpec:
    base = dict(root=str(ex.root), task=ex.task, features={k: str(v) for k, v in ex.features.items()},
                test_stimuli=(ex.test_stimulus,), space=ex.space, labels=str(ex.atlas))
    return BidsSpec(**(base | kw))


def test_what_is_read_is_what_was_planted(clean_study) -> None:
    """Without a drift the preprocessed BOLD is the baseline plus the synthetic responses:
    training runs ordered by stimulus whatever order each subject saw them in, the test
    presentations as repeats, regions from the label image, TR from the sidecars."""
    ex, truth = clean_study, clean_study.truth
    d = load_bids(spec_of(ex))
    np.testing.assert_allclose(d.bold_train, BASELINE + truth.bold_train, atol=2e-4)
    for s in range(truth.bold_train.shape[0]):
        for rep in d.bold_test[s]:  # presentation order is the subject's, so match each to a planted one
            assert min(np.abs(rep - BASELINE - t).max() for t in truth.bold_test[s]) < 2e-4
    np.testing.assert_array_equal(d.region, truth.region)
    assert d.region_names == ex.regions and d.tr == truth.tr and d.confounds_train is None
    np.testing.assert_array_equal(d.runs, np.repeat(np.arange(3), 60))
    for space in truth.spaces:
        for mine, planted in zip(d.features_train[space], truth.features_train[space], strict=True):
            np.testing.assert_allclose(mine, planted, atol=1e-6)
    assert d.study["split"]["train_stimuli"] == ["clip01", "clip02", "clip03"]
    assert [r["stimulus"] for r in d.study["runs"]["sub-01"]] == ex.run_stimuli["01"]
    assert d.study["split"]["cv"] == "leave-one-run-out"  # the default: one fold per run, here per stimulus
    assert d.study["split"]["folds"] == [["clip01"], ["clip02"], ["clip03"]]
    np.testing.assert_array_equal(d.stimuli, np.repeat(["clip01", "clip02", "clip03"], 60))


def test_confounds_remove_the_planted_drift(study) -> None:
    """The drift lies in the span of the motion confounds, so cleaning the loaded BOLD with
    them gives exactly what cleaning the planted responses with them gives (the drift is
    gone, train and test); without them the drift dominates the cleaned data."""
    truth, clean = study.truth, Cleaning()
    with_conf = load_bids(spec_of(study, confounds=("motion",), confound_options={"motion": "basic"}))
    without = load_bids(spec_of(study))
    assert with_conf.confounds_train.shape == (3, 180, 6) and with_conf.confounds_test.shape == (3, 2, 60, 6)
    assert with_conf.study["confounds"]["columns"] == ["rot_x", "rot_y", "rot_z", "trans_x", "trans_y", "trans_z"]

    def corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a, b = a - a.mean(0), b - b.mean(0)
        return (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))

    r_without = []
    for s in range(3):
        conf = with_conf.confounds_train[s]
        same = clean_runs(truth.bold_train[s], truth.runs, truth.tr, confounds=conf)
        np.testing.assert_allclose(SubjectData(with_conf, clean)(s)[0], same, atol=2e-3)
        test = SubjectData(with_conf, clean).test_repeats(s)
        for k in range(2):
            planted = [clean_runs(t, None, truth.tr, confounds=with_conf.confounds_test[s, k]) for t in truth.bold_test[s]]
            assert min(np.abs(test[k] - p).max() for p in planted) < 2e-3
        r_without.append(corr(SubjectData(without, clean)(s)[0], clean_runs(truth.bold_train[s], truth.runs, truth.tr)))
    assert np.median(r_without) < 0.7


def _run(sub: str, run: int, stim: str) -> Run:
    return Run(sub, run, Path(f"sub-{sub}_run-{run}_bold.nii.gz"), stim, 10)


def test_the_split_is_by_stimulus_and_refuses_a_leak() -> None:
    runs = [_run("01", 1, "b"), _run("01", 2, "t"), _run("01", 3, "a"), _run("01", 4, "t")]
    train, test = split_runs(runs, ("t",))
    assert [r.stimulus for r in train] == ["a", "b"] and [r.run for r in test] == [2, 4]
    with pytest.raises(ValueError, match=r"training stimulus 'a' is shown in 2 runs \(sub-01_run-3.*sub-01_run-5.*"
                                         r"leave-one-run-out CV would put .*task.cv=by_stimulus"):
        split_runs(runs + [_run("01", 5, "a")], ("t",))
    train, test = split_runs(runs + [_run("01", 5, "a")], ("t",), by_stimulus=True)  # folds of whole stimuli
    assert [(r.stimulus, r.run) for r in train] == [("a", 3), ("a", 5), ("b", 1)] and [r.run for r in test] == [2, 4]
    with pytest.raises(ValueError, match="1 training stimulus left"):
        split_runs([_run("01", 1, "a"), _run("01", 2, "t"), _run("01", 3, "a")], ("t",), by_stimulus=True)
    with pytest.raises(ValueError, match=r"test stimuli \['x'\] are in none of its runs"):
        split_runs(runs, ("x",))
    with pytest.raises(ValueError, match="1 training stimulus left"):
        split_runs(runs[:2], ("t",))



@pytest.fixture(scope="module")
def repeat_study(tmp_path_factory: pytest.TempPathFactory):
    """clip01 shown in two runs per subject (``train_repeats=2``), no drift."""
    return write_bids_example(tmp_path_factory.mktemp("bids2") / "study", trs_per_stimulus=60, vertices_per_region=4,
                              drift=0.0, train_repeats=2)


def test_a_training_stimulus_in_two_runs_is_read_only_by_stimulus(repeat_study) -> None:
    """Leave-one-run-out refuses the study, naming both runs and task.cv=by_stimulus; by
    stimulus, both presentations are read (one is the planted run, the other the same
    planted response with its own noise), each its own run for the delays, one stimulus for
    the folds, and the study records the folds."""
    ex, truth = repeat_study, repeat_study.truth
    assert all(stims.count("clip01") == 2 for stims in ex.run_stimuli.values())
    with pytest.raises(ValueError, match=r"sub-01: training stimulus 'clip01' is shown in 2 runs "
                                         r"\(sub-01_task-movie_run-\d_.*, sub-01_task-movie_run-\d_.*\).*task.cv=by_stimulus"):
        load_bids(spec_of(ex))
    d = load_bids(spec_of(ex), by_stimulus=True)
    assert d.bold_train.shape[:2] == (3, 240)
    np.testing.assert_array_equal(d.runs, np.repeat(np.arange(4), 60))
    np.testing.assert_array_equal(d.stimuli, np.repeat(["clip01", "clip01", "clip02", "clip03"], 60))
    for space in truth.spaces:  # the features of clip01 twice, then clip02, clip03
        for mine, planted in zip(d.features_train[space], truth.features_train[space], strict=True):
            np.testing.assert_allclose(mine, np.concatenate([planted[:60], planted]), atol=1e-6)
    signal = ~np.isin(truth.region, [truth.region_names.index("noise")])
    for s in range(3):
        first, second = d.bold_train[s, :60] - BASELINE, d.bold_train[s, 60:120] - BASELINE
        planted = truth.bold_train[s, :60]
        same = [np.abs(p - planted).max() < 2e-4 for p in (first, second)]
        assert sum(same) == 1  # one presentation is the planted run ...
        other = second if same[0] else first  # ... the other its response with fresh noise
        noise = (other - np.sqrt(truth.ev) * truth.signal_train[s, :60]) / np.sqrt(1 - truth.ev)
        planted_noise = (planted - np.sqrt(truth.ev) * truth.signal_train[s, :60]) / np.sqrt(1 - truth.ev)
        assert 0.6 < noise.std() < 1.4
        assert abs(np.corrcoef(noise[:, signal].ravel(), planted_noise[:, signal].ravel())[0, 1]) < 0.1
    np.testing.assert_allclose(d.bold_train[:, 120:] - BASELINE, truth.bold_train[:, 60:], atol=2e-4)
    split = d.study["split"]
    assert split["cv"] == "by_stimulus" and split["folds"] == [["clip01"], ["clip02"], ["clip03"]]
    assert split["train_stimuli"] == ["clip01", "clip02", "clip03"]
    assert split["train_presentations"] == {"clip01": 2, "clip02": 1, "clip03": 1}

def _first(root: Path, pattern: str) -> Path:
    return sorted(root.rglob(pattern))[0]


def _spoil(root: Path, how: str) -> str:
    """Break the copied study ``root`` one way; return what the error must name."""
    import nibabel as nib

    if how == "confounds_missing":
        f = _first(root, "sub-02_*run-2_desc-confounds_timeseries.tsv")
        f.unlink()
        return "sub-02_task-movie_run-2_space-.*no fMRIPrep confounds file"
    if how == "features_missing":
        (root / "features" / "audio" / "clip02.npz").unlink()
        return r"no features of stimulus 'clip02' .*space 'audio'"
    if how == "features_short":
        f = root / "features" / "video" / "clip01.npz"
        layers = dict(np.load(f))
        np.savez(f, **{k: v[:-3] for k, v in layers.items()})
        return r"clip01.npz: \[57\] rows of features, the run .* has 60 volumes"
    if how == "mask_grid":
        m = _first(root, "sub-03_*desc-brain_mask.nii.gz")
        img = nib.load(m)
        nib.save(nib.Nifti1Image(np.asarray(img.dataobj), img.affine * np.diag([2, 2, 2, 1])), m)
        return r"sub-03_.*desc-brain_mask.nii.gz: the mask is on another grid"
    if how == "tr_header":
        f = _first(root, "sub-01_*run-3_*desc-preproc_bold.json")
        f.write_text(json.dumps({"RepetitionTime": 2.0}))
        return r"run-3_.*preproc_bold.nii.gz: the NIfTI header gives TR 1.49 s, its sidecar 2 s"
    if how == "sidecar":
        f = _first(root, "sub-02_*run-1_*desc-preproc_bold.json")
        f.write_text("{broken")
        return r"(sub-02_task-movie_run-1.*preproc_bold.json|pybids cannot index)"
    if how == "no_stim_file":
        f = _first(root, "sub-01_task-movie_run-2_events.tsv")
        f.write_text("onset\tduration\ttrial_type\n0\t10\tmovie\n")
        return "sub-01_task-movie_run-2_events.tsv: no stim_file column"
    if how == "derivatives":
        shutil.rmtree(root / "derivatives")
        return "fMRIPrep derivatives .*derivatives/fmriprep: no such directory"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["confounds_missing", "features_missing", "features_short", "mask_grid",
                                 "tr_header", "sidecar", "no_stim_file", "derivatives"])
def test_a_bad_study_is_named_before_anything_is_fitted(study, tmp_path: Path, how: str) -> None:
    root = tmp_path / "study"
    shutil.copytree(study.root, root)
    named = _spoil(root, how)
    spec = BidsSpec(root=str(root), task="movie", features={sp: str(root / "features" / sp) for sp in study.features},
                    test_stimuli=(study.test_stimulus,), confounds=("motion",))
    with pytest.raises((ValueError, OSError), match=named):
        load_bids(spec)


@pytest.mark.parametrize("kw, message", [
    ({"confounds": ("motion", "scrub"), "confound_options": {"fd_treshold": 0.5}},
     r"unknown confound options \['fd_treshold'\]; valid: .*fd_threshold"),
    ({"confounds": ("movement",)}, r"unknown confound strategies \['movement'\]; valid: motion"),
    ({"confound_options": {"motoin": "basic"}}, r"unknown confound options \['motoin'\]"),
    ({"test_stimuli": ()}, "name at least one held-out test stimulus"),
    ({"features": {}}, "give the features per space"),
])
def test_bad_settings_are_refused_by_the_spec(kw: dict, message: str) -> None:
    base = dict(root="r", task="t", features={"video": "f"}, test_stimuli=("x",))
    with pytest.raises(ValueError, match=message):
        BidsSpec(**(base | kw))


@pytest.mark.parametrize("space", ["MNI152NLin2009cAsym", "fsaverage5"])
def test_runs_are_read_in_acquisition_order_past_run_9(tmp_path: Path, space: str) -> None:
    """With ten or more runs file names sort run-10 before run-2; the runs are read by run
    number (volumes and surface pairs alike), so the study lists each subject's stimuli in the
    order they were shown and test repeat k is the test stimulus's k-th run by number (read
    here from the file itself)."""
    import nibabel as nib
    from nilearn.maskers import NiftiMasker

    from brain.loaders import load_gifti

    ex = write_bids_example(tmp_path / "study", n_subjects=2, n_train_stimuli=9, trs_per_stimulus=20,
                            vertices_per_region=2, drift=0.0, space=space)
    assert all(len(v) == 11 for v in ex.run_stimuli.values())
    labels = [str(a) for a in ex.atlas] if isinstance(ex.atlas, tuple) else str(ex.atlas)
    d = load_bids(spec_of(ex, labels=labels))
    for s, (sub, shown) in enumerate(ex.run_stimuli.items()):
        runs = d.study["runs"][f"sub-{sub}"]
        assert [int(r["run"]) for r in runs] == list(range(1, 12))
        assert [r["stimulus"] for r in runs] == shown
        func = ex.derivatives / f"sub-{sub}" / "func"
        if space == "fsaverage5":
            def read(r: dict, func: Path = func) -> np.ndarray:
                return np.concatenate([load_gifti(func / r["bold"])[0], load_gifti(func / r["bold_right"])[0]], 1)
        else:
            masker = NiftiMasker(str(func / f"sub-{sub}_task-{ex.task}_space-{space}_desc-brain_mask.nii.gz"),
                                 standardize=None).fit()

            def read(r: dict, func: Path = func, masker: NiftiMasker = masker) -> np.ndarray:
                return masker.transform(nib.load(func / r["bold"]))
        for k, r in enumerate([r for r in runs if r["stimulus"] == ex.test_stimulus]):
            np.testing.assert_allclose(d.bold_test[s, k], read(r), atol=1e-4)
