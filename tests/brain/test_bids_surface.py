"""The BIDS path on fMRIPrep fsaverage5 surface runs (``task.bids.space=fsaverage5``): GIfTI
pairs of the generated example study (``brain.bids_example``, ``space="fsaverage5"``) are read
as vertices 0..20483, left hemisphere then right, with the values the files hold (read here
with nibabel alone, as the reference), the confounds of the run and the regions of the GIfTI
label pair; a run with a hemisphere missing, of the wrong size, with volumes or TRs that
differ between hemispheres or from its sidecar is refused naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from brain.bids import BidsSpec, load_bids
from brain.bids_example import N_CONSTANT, write_bids_example

N_HEMI = 10242
N_TRS = 40


@pytest.fixture(scope="module")
def surf(tmp_path_factory: pytest.TempPathFactory):
    return write_bids_example(tmp_path_factory.mktemp("bids_surf") / "study", trs_per_stimulus=N_TRS,
                              vertices_per_region=4, space="fsaverage5")


def spec_of(ex, root: Path | None = None, **kw) -> BidsSpec:
    root = root or ex.root
    base = dict(root=str(root), task=ex.task, features={k: str(root / "features" / k) for k in ex.features},
                test_stimuli=(ex.test_stimulus,), space="fsaverage5",
                labels=tuple(str(root / "atlas" / p.name) for p in ex.atlas))
    return BidsSpec(**(base | kw))


def nibabel_run(left: Path) -> np.ndarray:
    """The reference: a run's (n_trs, 20484) read with nibabel, the left file's data arrays
    stacked, then the right file's."""
    right = left.with_name(left.name.replace("_hemi-L_", "_hemi-R_"))
    return np.concatenate([np.stack([d.data for d in nib.load(p).darrays]) for p in (left, right)], axis=1)


def test_surface_runs_are_read_as_written_left_then_right(surf) -> None:
    ex, truth = surf, surf.truth
    d = load_bids(spec_of(ex, confounds=("motion",), confound_options={"motion": "basic"}))
    assert d.bold_train.shape == (3, 3 * N_TRS, 2 * N_HEMI) and d.bold_test.shape == (3, 2, N_TRS, 2 * N_HEMI)
    np.testing.assert_array_equal(d.vertices, np.arange(2 * N_HEMI))
    assert d.mask is None and d.tr == truth.tr and d.study["space"] == "fsaverage5"
    func = ex.derivatives
    for s in range(3):
        sub = f"sub-{s + 1:02d}"
        runs = d.study["runs"][sub]
        assert [r["stimulus"] for r in runs] == ex.run_stimuli[f"{s + 1:02d}"]
        assert all(r["bold_right"] == r["bold"].replace("_hemi-L_", "_hemi-R_") for r in runs)
        for k, stim in enumerate(["clip01", "clip02", "clip03"]):  # training: ordered by stimulus
            (run,) = [r for r in runs if r["stimulus"] == stim]
            ref = nibabel_run(func / sub / "func" / run["bold"])
            np.testing.assert_array_equal(d.bold_train[s, k * N_TRS:(k + 1) * N_TRS], ref)
            table = pd.read_csv(func / sub / "func" / f"{sub}_task-movie_run-{run['run']}_desc-confounds_timeseries.tsv",
                                sep="\t")
            trans_x = table["trans_x"].to_numpy()  # load_confounds found this run's TSV (demeaned)
            col = d.study["confounds"]["columns"].index("trans_x")
            np.testing.assert_allclose(d.confounds_train[s, k * N_TRS:(k + 1) * N_TRS, col], trans_x - trans_x.mean(),
                                       atol=1e-5)
        tests = [r for r in runs if r["stimulus"] == ex.test_stimulus]  # presentation (run) order
        for k, run in enumerate(tests):
            np.testing.assert_array_equal(d.bold_test[s, k], nibabel_run(func / sub / "func" / run["bold"]))
        # the medial-wall stand-ins (0 throughout) are exactly the constant vertices flagged
        np.testing.assert_array_equal(np.flatnonzero(d.bad_voxels[s]), ex.constant_vertices)
    assert len(ex.constant_vertices) == 2 * N_CONSTANT and (ex.constant_vertices >= N_HEMI).sum() == N_CONSTANT
    # the planted vertices (left ones < 10242, right ones >= 10242) carry the regions of the label pair
    assert d.region_names == (*ex.regions, "unlabelled")
    np.testing.assert_array_equal(d.region[truth.vertices], truth.region)
    rest = np.setdiff1d(np.arange(2 * N_HEMI), truth.vertices)
    assert np.all(d.region[rest] == len(ex.regions))
    assert (truth.vertices < N_HEMI).sum() == (truth.vertices >= N_HEMI).sum() > 0
    # what the planted vertices hold: baseline + planted response + drift, so correlated with the truth
    r = [np.corrcoef(d.bold_train[0, :N_TRS, v], truth.bold_train[0, :N_TRS, i])[0, 1]
         for i, v in enumerate(truth.vertices)]
    assert np.median(r) > 0.3


def test_one_gifti_of_both_hemispheres_gives_the_same_regions(surf, tmp_path: Path) -> None:
    """A single 20,484-vertex label file, named by the table beside it, equals the pair."""
    pair = load_bids(spec_of(surf))
    labels = np.concatenate([np.asarray(nib.load(p).darrays[0].data) for p in surf.atlas])
    one = tmp_path / "both_dseg.label.gii"
    nib.save(nib.gifti.GiftiImage(darrays=[nib.gifti.GiftiDataArray(labels.astype(np.int32),
                                                                    intent="NIFTI_INTENT_LABEL",
                                                                    datatype="NIFTI_TYPE_INT32")]), one)
    shutil.copy(surf.root / "atlas" / "space-fsaverage5_dseg.tsv", tmp_path / "both_dseg.tsv")
    single = load_bids(spec_of(surf, labels=str(one)))
    np.testing.assert_array_equal(single.region, pair.region)
    assert single.region_names == pair.region_names


def _gifti(path: Path, values: np.ndarray, timestep: str | None = "1490.000000") -> None:
    meta = {} if timestep is None else {"TimeStep": timestep}
    nib.save(nib.gifti.GiftiImage(darrays=[nib.gifti.GiftiDataArray(v, datatype="NIFTI_TYPE_FLOAT32", meta=meta)
                                           for v in np.asarray(values, np.float32)]), path)


def _spoil(root: Path, how: str) -> tuple[type, str]:
    """Break the copied study one way; return the error type and what its message must name."""
    func = root / "derivatives" / "fmriprep"
    stem = "sub-{}_task-movie_run-{}_hemi-{}_space-fsaverage5_bold"

    def bold(sub: str, run: int, hemi: str) -> Path:
        return func / f"sub-{sub}" / "func" / (stem.format(sub, run, hemi) + ".func.gii")

    if how == "hemisphere_missing":
        bold("02", 2, "R").unlink()
        return FileNotFoundError, (rf"{stem.format('02', 2, 'L')}.func.gii: no other hemisphere "
                                   rf"\({stem.format('02', 2, 'R')}.func.gii\)")
    if how == "wrong_size":
        p = bold("01", 3, "L")
        _gifti(p, np.stack([d.data[:10000] for d in nib.load(p).darrays]))
        return ValueError, rf"{stem.format('01', 3, 'L')}.func.gii: 10000 vertices \({N_TRS} volumes\); a hemisphere " \
                           "of fsaverage5 has 10242"
    if how == "volumes_differ":
        p = bold("01", 1, "R")
        _gifti(p, np.stack([d.data for d in nib.load(p).darrays[:-1]]))
        return ValueError, (rf"{stem.format('01', 1, 'R')}.func.gii: {N_TRS - 1} volumes, the left hemisphere "
                            rf"{stem.format('01', 1, 'L')}.func.gii has {N_TRS}")
    if how == "sidecar_tr":  # the sidecar disagrees with the GIfTI's TimeStep (1490 ms)
        bold("02", 1, "L").with_suffix("").with_suffix(".json").write_text(json.dumps({"RepetitionTime": 2.0}))
        return ValueError, (rf"{stem.format('02', 1, 'L')}.func.gii: the GIfTI TimeStep metadata gives 1490 "
                            r"\(ms: 1.49 s\), its JSON sidecar RepetitionTime 2 s")
    if how == "hemisphere_tr":  # no TimeStep to check against: the two sidecars disagree
        for hemi in ("L", "R"):
            p = bold("03", 2, hemi)
            _gifti(p, np.stack([d.data for d in nib.load(p).darrays]), timestep=None)
        bold("03", 2, "R").with_suffix("").with_suffix(".json").write_text(json.dumps({"RepetitionTime": 2.0}))
        return ValueError, rf"{stem.format('03', 2, 'R')}.func.gii: its sidecar gives TR 2 s, the left hemisphere's 1.49 s"
    if how == "sidecar_missing":
        bold("01", 2, "R").with_suffix("").with_suffix(".json").unlink()
        return FileNotFoundError, rf"{stem.format('01', 2, 'R')}.func.gii: no JSON sidecar {stem.format('01', 2, 'R')}.json"
    if how == "labels_size":
        p = root / "atlas" / "hemi-R_space-fsaverage5_dseg.label.gii"
        nib.save(nib.gifti.GiftiImage(darrays=[nib.gifti.GiftiDataArray(np.zeros(10000, np.int32),
                                                                        datatype="NIFTI_TYPE_INT32")]), p)
        return ValueError, "hemi-R_space-fsaverage5_dseg.label.gii: 10000 labels; fsaverage5 has 10242 vertices per hemi"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["hemisphere_missing", "wrong_size", "volumes_differ", "sidecar_tr", "hemisphere_tr",
                                 "sidecar_missing", "labels_size"])
def test_a_bad_surface_run_is_refused_naming_the_file(surf, tmp_path: Path, how: str) -> None:
    root = tmp_path / "study"
    shutil.copytree(surf.root, root)
    kind, named = _spoil(root, how)
    with pytest.raises(kind, match=named):
        load_bids(spec_of(surf, root))


@pytest.mark.parametrize("kw, message", [
    ({"labels": "regions_dseg.nii.gz"}, r"fsaverage5 runs need GIfTI labels.*a NIfTI dseg is on a volume grid"),
    ({"labels": ("a.label.gii", "b.label.gii", "c.label.gii")}, "fsaverage5 runs need GIfTI labels"),
    ({"space": "MNI152NLin2009cAsym", "labels": ("l.label.gii", "r.label.gii")},
     r"volumetric runs \(space MNI152NLin2009cAsym\) need one NIfTI dseg"),
    ({"space": "fsaverage6"}, "of the surface spaces only fsaverage5 is read"),
])
def test_labels_of_the_wrong_kind_are_refused_by_the_spec(kw: dict, message: str) -> None:
    base = dict(root="r", task="t", features={"video": "f"}, test_stimuli=("x",), space="fsaverage5")
    with pytest.raises(ValueError, match=message):
        BidsSpec(**(base | kw))


def test_scrubbing_censors_the_planted_high_motion_volumes_of_a_surface_run(tmp_path: Path) -> None:
    """load_confounds' scrub on GIfTI pairs: the censored volumes of each run are the planted
    high-motion ones, carried as sample masks (the surface and scrubbing paths combined)."""
    from brain.bids_example import HIGH_MOTION_DVARS, HIGH_MOTION_FD

    ex = write_bids_example(tmp_path / "study", n_subjects=2, trs_per_stimulus=N_TRS, vertices_per_region=2,
                            space="fsaverage5", high_motion=2)
    d = load_bids(spec_of(ex, confounds=("motion", "scrub"),
                          confound_options={"motion": "basic", "fd_threshold": HIGH_MOTION_FD / 2,
                                            "std_dvars_threshold": HIGH_MOTION_DVARS / 2}))
    cens = d.study["confounds"]["censored"]
    for sub, runs in cens["runs"].items():
        assert {r["bold"]: r["indices"] for r in runs} == ex.high_motion[sub[4:]]
        assert all(r["bold"].endswith("_hemi-L_space-fsaverage5_bold.func.gii") for r in runs)
    assert cens["censored"] == 2 * 5 * 2  # 2 volumes in each of 5 runs of 2 subjects
    assert d.sample_mask_train.shape == (2, 3 * N_TRS) and (~d.sample_mask_train).sum() == 2 * 3 * 2
    assert d.bold_train.shape[2] == 2 * N_HEMI
