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
            f"task.bids.features={{{feats}}}", f"task.bids.test_stimuli=[{ex.test_stimulus}]",
            f"task.bids.labels='{ex.atlas}'", *extra]


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
    (["task.bids.confounds=[scrub]"], "task.bids: confound strategy 'scrub' is not supported yet"),
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
