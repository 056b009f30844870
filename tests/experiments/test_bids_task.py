"""``task=encoding task.data=bids`` through the runner: a generated fMRIPrep-shaped study
(``brain.bids_example``) is encoded end to end, recovering the planted best layers with the
motion confounds regressed out, and recording the split, the runs' stimuli and the confound
strategy in metrics.json and the report; bad BIDS settings and inputs fail before the run
directory exists."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module

from brain.bids_example import write_bids_example

PLANTED = {"EVC": ("video", 0), "LOC": ("video", 1), "AC": ("audio", 0), "AG": ("video", 3), "IFG": ("audio", 3)}


def compose_cfg(overrides: list[str]):
    with initialize_config_module(config_module="experiments.conf", version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def bids_overrides(ex, *extra: str) -> list[str]:
    feats = ",".join(f"{k}:'{v}'" for k, v in ex.features.items())
    return ["task=encoding", "task.data=bids", f"task.bids.root='{ex.root}'", f"task.bids.task={ex.task}",
            f"task.bids.features={{{feats}}}", f"task.bids.test_stimuli=[{','.join(ex.test_stimuli)}]",
            "task.bids.labels=" + (f"['{ex.atlas[0]}','{ex.atlas[1]}']" if isinstance(ex.atlas, tuple)
                                   else f"'{ex.atlas}'"), *extra]


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory):
    return write_bids_example(tmp_path_factory.mktemp("bids") / "study", trs_per_stimulus=200, vertices_per_region=12)


def test_a_bids_study_is_encoded_end_to_end(example, tmp_path: Path) -> None:
    from experiments.run import run_task

    out = tmp_path / "run"
    cfg = compose_cfg(bids_overrides(example, "task.bids.confounds=[motion]", "task.bids.confound_options={motion:basic}",
                                     "task.n_permutations=50", "task.n_bootstraps=10", f"hydra.run.dir={out}"))
    run_task(cfg, out)
    m = json.loads((out / "metrics.json").read_text())
    for region, (space, layer) in PLANTED.items():  # best layer by the training CV curve, never by test r
        assert int(np.argmax(m["spaces"][space]["layer_curves_cv"][region])) == layer, region
    study = m["study"]
    assert study["split"]["test_stimuli"] == ["clip_test"] and study["split"]["test_presentations"] == 2
    assert study["split"]["train_stimuli"] == ["clip01", "clip02", "clip03"]
    assert study["confounds"] == {"strategy": ["motion"], "options": {"motion": "basic"},
                                  "columns": ["rot_x", "rot_y", "rot_z", "trans_x", "trans_y", "trans_z"]}
    assert [r["stimulus"] for r in study["runs"]["sub-02"]] == example.run_stimuli["02"]
    assert study["tr"] == 1.49 and m["voxels"] == example.truth.bold_train.shape[2]
    html = (out / "report.html").read_text()
    assert "Split by stimulus: test clip_test (2 presentations), training clip01, clip02, clip03" in html
    assert "load_confounds strategy [&#x27;motion&#x27;]" in html or "load_confounds strategy ['motion']" in html


@pytest.mark.parametrize("extra, message", [
    (["task.bids.root=null"], "task.data=bids needs task.bids.root"),
    (["task.bids.confounds=[motion,movement]"], r"task.bids: unknown confound strategies \['movement'\]"),
    (["task.bids.confounds=[scrub]", "task.bids.confound_options={fd_thresh:0.5}"],
     r"task.bids: unknown confound options \['fd_thresh'\]"),
    (["task.bids.confounds=[scrub]", "task.bids.confound_options={fd_threshold:0.0,std_dvars_threshold:0.0}"],
     r"sub-01_task-movie_run-\d+_desc-confounds_timeseries.tsv: the strategy \['scrub'\] .*censors"),
    (["task.bids.test_stimuli=[clip09]"], r"test stimuli \['clip09'\] are in none of its runs"),
    (["task.bids.subjects=['07']"], r"sub-07 is not in"),
])
def test_bad_bids_settings_fail_before_the_run_directory_exists(example, tmp_path: Path, extra: list[str],
                                                                 message: str) -> None:
    from experiments.validate import preflight

    out = tmp_path / "run"
    with pytest.raises((ValueError, OSError), match=message):
        preflight(compose_cfg(bids_overrides(example, *extra)), out)
    assert not out.exists()


def test_a_bids_study_is_encoded_per_parcel(example, tmp_path: Path) -> None:
    """``task.atlas`` = the study's dseg image: one unit per labelled region (named from the
    .tsv beside it), the parcel table in metrics.json and the report, the volume maps painted
    from the parcels."""
    from experiments.run import run_task

    out = tmp_path / "run"
    cfg = compose_cfg(bids_overrides(example, "task.bids.confounds=[motion]", "task.bids.confound_options={motion:basic}",
                                     f"task.atlas='{example.atlas}'",
                                     "task.n_permutations=50", "task.n_bootstraps=10", f"hydra.run.dir={out}"))
    run_task(cfg, out)
    m = json.loads((out / "metrics.json").read_text())
    assert m["voxels"] == 6 and m["parcels"]["n"] == 6 and list(m["parcels"]["table"]) == list(example.regions)
    table = m["parcels"]["table"]
    assert all(table[n]["region"] == n and table[n]["voxels"] == 12 for n in example.regions)
    for region, (space, layer) in PLANTED.items():  # the parcel means recover the planted layers too
        assert table[region][space]["best_layer"] == layer, region
        assert table[region][space]["test_r"] > 0.15, region
    assert table["noise"]["kept_subjects"] == 0
    html = (out / "report.html").read_text()
    assert f"Parcels (6, {example.atlas})" in html and (out / "volume_r_video.png").is_file()


def test_an_atlas_on_another_grid_fails_before_the_run_directory_exists(example, tmp_path: Path) -> None:
    import nibabel as nib

    from experiments.validate import preflight

    img = nib.load(example.atlas)
    other = tmp_path / "other.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj), img.affine * np.diag([2, 2, 2, 1])), other)
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=r"task.atlas: .*other.nii.gz: the atlas is on another grid"):
        preflight(compose_cfg(bids_overrides(example, f"task.atlas='{other}'")), out)
    with pytest.raises(ValueError, match="task.atlas=synthetic is the synthetic default's atlas"):
        preflight(compose_cfg(bids_overrides(example, "task.atlas=synthetic")), out)
    assert not out.exists()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory):
    return write_bids_example(tmp_path_factory.mktemp("bids_small") / "study", trs_per_stimulus=60,
                              vertices_per_region=4)


@pytest.fixture(scope="module")
def small_repeats(tmp_path_factory: pytest.TempPathFactory):
    return write_bids_example(tmp_path_factory.mktemp("bids_repeats") / "study", trs_per_stimulus=60,
                              vertices_per_region=4, train_repeats=2)


FAST = ("task.bids.confounds=[motion]", "task.bids.confound_options={motion:basic}", "task.n_permutations=20",
        "task.n_bootstraps=5")


def test_cv_by_stimulus_gives_leave_one_run_out_numbers_with_one_stimulus_per_run(small, tmp_path: Path) -> None:
    """Each training stimulus in one run: task.cv=by_stimulus folds are the leave-one-run-out
    folds, so every score of encoding.npz (layers, stacked encoders) and the variance
    partition are identical; only the recorded CV and the resumable store's key differ."""
    from experiments.run import run_task
    from experiments.settings import typed_settings
    from experiments.tasks.encoding import unit_settings

    out = {}
    for cv in ("5", "by_stimulus"):
        out[cv] = tmp_path / cv
        cfg = compose_cfg(bids_overrides(small, *FAST, "task.stacked=true", f"task.cv={cv}", f"hydra.run.dir={out[cv]}"))
        run_task(cfg, out[cv])
    keys = unit_settings(typed_settings(compose_cfg(bids_overrides(small, "task.cv=5"))))
    assert keys != unit_settings(typed_settings(compose_cfg(bids_overrides(small, "task.cv=by_stimulus"))))
    with np.load(out["5"] / "encoding.npz") as a, np.load(out["by_stimulus"] / "encoding.npz") as b:
        assert sorted(a.files) == sorted(b.files) and "stacked_r" in a.files
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    m = {cv: json.loads((d / "metrics.json").read_text()) for cv, d in out.items()}
    assert m["5"]["variance_partition"] and m["5"]["variance_partition"] == m["by_stimulus"]["variance_partition"]
    assert m["5"]["spaces"] == m["by_stimulus"]["spaces"]
    assert m["5"]["study"]["split"]["cv"] == "leave-one-run-out"
    assert m["by_stimulus"]["study"]["split"]["cv"] == "by_stimulus"
    assert m["5"]["study"]["split"]["folds"] == m["by_stimulus"]["study"]["split"]["folds"] == [
        ["clip01"], ["clip02"], ["clip03"]]
    assert m["by_stimulus"]["settings"]["cv"] == "by_stimulus" and m["5"]["settings"]["cv"] == 5


def test_a_training_stimulus_in_two_runs_needs_cv_by_stimulus(small_repeats, tmp_path: Path) -> None:
    """clip01 in two runs per subject: the default CV (leave-one-run-out) is refused before
    the run directory exists, naming the runs and task.cv=by_stimulus; by stimulus the study
    is encoded and metrics.json and the report name the folds."""
    from experiments.run import run_task
    from experiments.validate import preflight

    out = tmp_path / "run"
    with pytest.raises(ValueError, match=r"sub-01: training stimulus 'clip01' is shown in 2 runs \(sub-01_task-movie_"
                                         r"run-\d_.*bold.nii.gz, sub-01_task-movie_run-\d_.*\).*task.cv=by_stimulus"):
        preflight(compose_cfg(bids_overrides(small_repeats, *FAST)), out)
    assert not out.exists()
    run_task(compose_cfg(bids_overrides(small_repeats, *FAST, "task.cv=by_stimulus", f"hydra.run.dir={out}")), out)
    split = json.loads((out / "metrics.json").read_text())["study"]["split"]
    assert split["cv"] == "by_stimulus" and split["folds"] == [["clip01"], ["clip02"], ["clip03"]]
    assert split["train_presentations"] == {"clip01": 2, "clip02": 1, "clip03": 1}
    html = (out / "report.html").read_text()
    assert "training clip01 (2 runs), clip02, clip03" in html
    assert "Inner CV folds (by_stimulus), the training stimuli each holds out: 1: clip01; 2: clip02; 3: clip03." in html


@pytest.mark.parametrize("data", ["synthetic", "files"])
def test_cv_by_stimulus_without_stimuli_fails_before_the_run_directory_exists(data: str, tmp_path: Path) -> None:
    from experiments.validate import preflight

    out = tmp_path / "run"
    with pytest.raises(ValueError, match=rf"task.cv=by_stimulus needs the stimulus of every training TR, which only "
                                         rf"task.data=bids gives .*task.data={data} has none"):
        preflight(compose_cfg(["task=encoding", f"task.data={data}", "task.cv=by_stimulus"]), out)
    assert not out.exists()


def test_stacking_by_stimulus_with_two_training_stimuli_fails_before_the_run_directory_exists(tmp_path: Path) -> None:
    """Holding out one of two stimuli leaves one for the stack's inner CV: refused up front."""
    from experiments.validate import preflight

    two = write_bids_example(tmp_path / "study", n_train_stimuli=2, trs_per_stimulus=40, vertices_per_region=2)
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=r"task.stacked=true with task.cv=by_stimulus needs >= 3 training stimuli "
                                         r".*got 2"):
        preflight(compose_cfg(bids_overrides(two, "task.stacked=true", "task.cv=by_stimulus")), out)
    assert not out.exists()
    preflight(compose_cfg(bids_overrides(two, "task.stacked=true")), out)  # by run: the inner CV falls back to blocks


def test_two_test_stimuli_and_grouped_folds_end_to_end(tmp_path: Path) -> None:
    """Two test stimuli (clip_test1 then clip_test2, each presented twice) and the four
    training stimuli dealt to task.cv_folds=2 folds of two whole stimuli: the run records the
    test stimuli with their volumes and the folds the fits used, scores every usable voxel, and
    the report names both test stimuli and the folds."""
    from experiments.run import run_task

    ex = write_bids_example(tmp_path / "study", n_train_stimuli=4, n_test_stimuli=2, trs_per_stimulus=60,
                            vertices_per_region=4)
    out = tmp_path / "run"
    run_task(compose_cfg(bids_overrides(ex, *FAST, "task.cv=by_stimulus", "task.cv_folds=2", "task.stacked=true",
                                        f"hydra.run.dir={out}")), out)
    m = json.loads((out / "metrics.json").read_text())
    split = m["study"]["split"]
    assert split["test_stimuli"] == ["clip_test1", "clip_test2"] and split["test_presentations"] == 2
    assert split["test_volumes"] == {"clip_test1": 60, "clip_test2": 60} and split["cv_folds"] == 2
    assert m["settings"]["cv"] == "by_stimulus" and m["settings"]["cv_folds"] == 2
    folds = m["settings"]["folds"]
    assert folds == split["folds"] and len(folds) == 2 and all(len(f) == 2 for f in folds)
    assert sorted(folds[0] + folds[1]) == ["clip01", "clip02", "clip03", "clip04"]
    with np.load(out / "encoding.npz") as f:
        use = ~f["bad_voxels"].any(axis=0)
        assert use.sum() == 24 and np.isfinite(f["r"][..., use]).all() and np.isfinite(f["stacked_r"][..., use]).all()
    assert m["variance_partition"]
    html = (out / "report.html").read_text()
    assert "test clip_test1, clip_test2 (2 presentations)" in html
    assert "Inner CV folds (by_stimulus), the training stimuli each holds out: 1: " in html


@pytest.mark.parametrize("extra, message", [
    (["task.cv=by_stimulus", "task.cv_folds=4"], r"task.cv_folds=4: grouped K-fold over the 3 training stimuli "
                                                 r"\['clip01', 'clip02', 'clip03'\] needs 2 <= K <= 3"),
    (["task.cv=by_stimulus", "task.cv_folds=1"], r"task.cv_folds=1 must be a whole number >= 2"),
    (["task.cv_folds=2"], r"task.cv_folds=2 is the number of folds of task.cv=by_stimulus; with task.cv=5"),
    (["task.bids.test_stimuli=[clip_test,clip_test]"], r"test stimuli \['clip_test'\] are named more than once"),
])
def test_bad_test_stimuli_and_folds_fail_before_the_run_directory_exists(small, tmp_path: Path, extra: list[str],
                                                                          message: str) -> None:
    from experiments.validate import preflight

    out = tmp_path / "run"
    with pytest.raises(ValueError, match=message):
        preflight(compose_cfg(bids_overrides(small, *extra)), out)
    assert not out.exists()


def test_a_bids_study_with_high_motion_volumes_is_scrubbed_end_to_end(tmp_path: Path) -> None:
    """Planted high-motion volumes, censored by load_confounds' scrub: metrics.json records
    the censored volumes per run (the planted ones), the rows left out of the fits and the
    test TRs scored (those kept in every repeat of every subject); the report says so;
    stacking with censored volumes is refused before the run directory exists."""
    from brain.bids_example import HIGH_MOTION_DVARS, HIGH_MOTION_FD
    from experiments.run import run_task
    from experiments.validate import preflight

    ex = write_bids_example(tmp_path / "study", trs_per_stimulus=60, vertices_per_region=2, high_motion=2)
    scrub = ["task.bids.confounds=[motion,scrub]",
             f"task.bids.confound_options={{motion:basic,fd_threshold:{HIGH_MOTION_FD / 2},"
             f"std_dvars_threshold:{HIGH_MOTION_DVARS / 2}}}", "task.n_permutations=20", "task.n_bootstraps=5"]
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="task.stacked=true with censored volumes"):
        preflight(compose_cfg(bids_overrides(ex, *scrub, "task.stacked=true")), out)
    assert not out.exists()
    run_task(compose_cfg(bids_overrides(ex, *scrub, f"hydra.run.dir={out}")), out)
    m = json.loads((out / "metrics.json").read_text())
    cens = m["study"]["confounds"]["censored"]
    for sub, runs in cens["runs"].items():
        assert {r["bold"]: r["indices"] for r in runs} == ex.high_motion[sub[4:]]
    n_runs = sum(len(v) for v in ex.run_stimuli.values())
    assert cens["censored"] == 2 * n_runs and cens["train_censored"] == 3 * 3 * 2
    assert m["settings"]["censored"]["train_rows_left_out"] == [6, 6, 6]
    assert m["settings"]["censored"]["test_trs_scored"] == cens["test_trs_kept_everywhere"] < 60
    html = (out / "report.html").read_text()
    assert f"Censored volumes (load_confounds sample mask, e.g. scrubbing): {cens['censored']} of {60 * n_runs}" in html
    assert f"use the {cens['test_trs_kept_everywhere']} of 60 test TRs kept in every repeat of every subject" in html


@pytest.fixture(scope="module")
def surface_example(tmp_path_factory: pytest.TempPathFactory):
    return write_bids_example(tmp_path_factory.mktemp("bids_surface") / "study", trs_per_stimulus=200,
                              vertices_per_region=24, space="fsaverage5")


def test_a_surface_bids_study_is_encoded_per_parcel_on_fsaverage5(surface_example, tmp_path: Path) -> None:
    """fMRIPrep fsaverage5 GIfTI pairs (``task.bids.space=fsaverage5``) through the runner, as
    parcel means of the label pair (``task.atlas``: each hemisphere's regions its own parcels;
    a fit on all 20,484 vertices takes minutes): every parcel recovers its region's planted
    layer, metrics.json records the surface study and the maps are drawn on fsaverage5."""
    from experiments.run import run_task

    ex = surface_example
    pair = f"['{ex.atlas[0]}','{ex.atlas[1]}']"
    out = tmp_path / "run"
    cfg = compose_cfg(bids_overrides(ex, *FAST[:2], "task.bids.space=fsaverage5", f"task.atlas={pair}",
                                     "task.n_permutations=50", "task.n_bootstraps=10", f"hydra.run.dir={out}"))
    run_task(cfg, out)
    m = json.loads((out / "metrics.json").read_text())
    table = m["parcels"]["table"]
    assert m["voxels"] == 12 and sorted(row["region"] for row in table.values()) == sorted(2 * list(ex.regions))
    assert all(row["voxels"] == 12 for row in table.values())  # 24 vertices per region, half per hemisphere
    for name, row in table.items():
        if row["region"] in PLANTED:
            space, layer = PLANTED[row["region"]]
            assert row[space]["best_layer"] == layer, (name, row["region"])
            assert row[space]["test_r"] > 0.15, (name, row["region"])
    study = m["study"]
    assert study["space"] == "fsaverage5" and study["voxels"] == 20484
    assert study["mask"] == "none: fsaverage5 vertices 0..20483, left hemisphere then right"
    assert all(r["bold_right"] == r["bold"].replace("_hemi-L_", "_hemi-R_") for r in study["runs"]["sub-01"])
    bids = json.loads((out / "config.json").read_text())["task"]["bids"]
    assert bids["space"] == "fsaverage5" and bids["labels"] == [str(a) for a in ex.atlas]
    assert (out / "surface_best_layer_video.png").is_file() and not list(out.glob("volume_*.png"))
    html = (out / "report.html").read_text()
    assert "space fsaverage5" in html and "_hemi-L_space-fsaverage5_bold.func.gii + sub-" in html
