"""Instruction analysis in one ``task=encoding`` run: several instruction groups, each its own
feature space, compared per region across subjects. Planted truth recovered; null regions and
null data not claimed; the files path reads every group of a ``task=features`` file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.experiments.test_encoding import compose_and_run

# 7 subjects: the smallest number whose exact sign-flip test (p >= 2 / 2**7 = 0.016) can pass
# BH at 0.05 over the 3 regions with kept voxels when two of them differ.
PLANTED = ["task=encoding", "task.synthetic.instructions=2", "task.synthetic.n_subjects=7",
           "task.synthetic.n_runs=3", "task.synthetic.trs_per_run=200", "task.synthetic.n_test_trs=300",
           "task.synthetic.n_layers=2", "task.synthetic.n_features=16", "task.synthetic.vertices_per_region=30",
           "task.n_permutations=500", "task.n_bootstraps=20", "task.cv=3", "task.delays=[1,2,3,4,5]",
           "task.min_region_voxels=3"]  # 600 training TRs: the training ISC keeps 3-11 of a region's 30 voxels


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("instructions")
    return out, compose_and_run(PLANTED, out)[1]


def test_planted_instruction_regions_are_recovered(planted: tuple[Path, dict]) -> None:
    """instr1 drives instr1_region, instr2 drives instr2_region: each is the best there, per
    region (claimed: significant against the other) and per voxel (training CV)."""
    out, m = planted
    ins = m["instructions"]
    assert ins["names"] == ["instr1", "instr2"] and ins["n_subjects"] == 7
    assert ins["min_attainable_pvalue"] == pytest.approx(2 / 2**7)
    (pair,) = ins["pairwise"]
    for k, name in enumerate(("instr1", "instr2")):
        region = f"{name}_region"
        r = ins["per_region"][region]
        other = "instr2" if name == "instr1" else "instr1"
        assert r["best"] == name and r["claimed"], r
        assert r["alignment"][name] > r["alignment"][other] + 0.2
        assert r["best_voxel_share"][name] > 0.6
        v = pair["per_region"][region]
        assert v["significant"] and v["qvalue"] <= 0.05 and v["verdict"] == f"{name} > {other}"
        assert (v["ci95"][0] > 0) if k == 0 else (v["ci95"][1] < 0)  # effect and CI on the planted side
    with np.load(out / "encoding.npz") as z:
        best, true_space, region, names = z["best_instruction"], z["true_space"], z["region"], list(z["region_names"])
        assert list(z["instructions"]) == ["instr1", "instr2"]
    for k in range(2):
        vox = (region == names.index(f"instr{k + 1}_region")) & (best >= 0)
        assert vox.sum() >= 8 and np.mean(best[vox] == true_space[vox]) > 0.6  # shown: a significant test r


def test_null_regions_are_not_claimed(planted: tuple[Path, dict]) -> None:
    """``shared`` (both instructions hold its drive exactly) and ``noise`` (no signal): no
    significant comparison and no claimed best instruction, though one instruction always has
    the higher mean."""
    _, m = planted
    ins = m["instructions"]
    for region in ("shared", "noise"):
        r = ins["per_region"][region]
        assert not r["claimed"] and "not a finding" in r["why"] or r["best"] is None, r
        v = ins["pairwise"][0]["per_region"][region]
        assert v is None or (not v["significant"] and v["verdict"] == "inconclusive")
    v = ins["pairwise"][0]["per_region"]["shared"]
    assert v["n_subjects"] == 7 and v["ci95"][0] < 0 < v["ci95"][1]
    assert max(m["ceiling"]["voxels"]["noise"]["keep"]) <= 3  # of 30: FDR false positives of the ceiling only


def test_variance_partition_of_the_chosen_pair(planted: tuple[Path, dict]) -> None:
    out, m = planted
    vp = m["variance_partition"]
    assert vp["pair"] == ["instr1", "instr2"]
    assert vp["unique_instr1"]["instr1_region"] > vp["unique_instr2"]["instr1_region"]
    assert vp["unique_instr2"]["instr2_region"] > vp["unique_instr1"]["instr2_region"]
    html = (out / "report.html").read_text()
    assert "Instructions: which instruction aligns with which region" in html
    assert "Instructions partitioned: instr1 and instr2" in html and "smallest attainable p" in html
    for png in ("instructions_alignment.png", "instructions_differences.png", "surface_best_instruction.png",
                "surface_best_instruction_claimed.png"):
        assert (out / png).stat().st_size > 5000, png
    assert json.loads((out / "metrics.json").read_text()) == m


def test_files_with_instruction_groups(tmp_path: Path) -> None:
    """A features file of two instruction groups (written by brain.features.layout) read with
    groups=all: one space per instruction, named by it; with 2 subjects no comparison can be
    significant (floor 0.5), which the verdicts say, and the higher mean is not claimed."""
    from brain.features.layout import write_features
    from brain.synthetic import SyntheticConfig, make_synthetic

    d = make_synthetic(SyntheticConfig(n_subjects=2, n_runs=3, trs_per_run=200, n_test_trs=300, n_layers=2,
                                       n_features=16, vertices_per_region=20, instructions=("scene", "speech")),
                       seed=1)
    bold, test = [], []
    for s in range(2):
        np.save(tmp_path / f"bold{s}.npy", d.bold_train[s])
        np.save(tmp_path / f"test{s}.npy", d.bold_test[s])
        bold.append(repr(str(tmp_path / f"bold{s}.npy")))
        test.append(repr(str(tmp_path / f"test{s}.npy")))
    for split, feats in (("train", d.features_train), ("test", d.features_test)):
        rows = {g: np.stack(feats[g], axis=1) for g in ("scene", "speech")}  # (n_trs, n_layers, hidden)
        n = rows["scene"].shape[0]
        write_features(tmp_path / f"{split}.h5", {"scene": "Describe the scene.", "speech": "What is said?"}, rows,
                       np.stack([np.arange(n), np.arange(n) + 2.0], axis=1), {"model": "synthetic"})
    np.save(tmp_path / "runs.npy", d.runs)
    np.save(tmp_path / "labels.npy", d.region)
    files = [f"task.files.bold=[{','.join(bold)}]", f"task.files.test_bold=[{','.join(test)}]",
             f"task.files.runs='{tmp_path / 'runs.npy'}'", f"task.files.labels='{tmp_path / 'labels.npy'}'",
             f"task.files.region_names=[{','.join(d.region_names)}]"]
    feats = f"{{model:{{train:'{tmp_path / 'train.h5'}',test:'{tmp_path / 'test.h5'}',groups:all}}}}"
    base = ["task=encoding", "task.data=files", "task.n_permutations=100", "task.ceiling=none", "task.cv=3",
            "task.delays=[1,2,3,4,5]", f"task.files.features={feats}", "task.instructions.pair=[speech,scene]"]
    _, m = compose_and_run(base + files, tmp_path / "run")
    assert list(m["spaces"]) == ["scene", "speech"] and m["instructions"]["names"] == ["scene", "speech"]
    assert m["variance_partition"]["pair"] == ["speech", "scene"] and "unique_speech" in m["variance_partition"]
    ins = m["instructions"]
    assert ins["min_attainable_pvalue"] == 0.5 and "0.5" in ins["warning"]
    for name in ("scene", "speech"):
        r = ins["per_region"][f"{name}_region"]
        assert r["best"] == name and not r["claimed"]  # the planted one is higher, but 2 subjects prove nothing
        v = ins["pairwise"][0]["per_region"][f"{name}_region"]
        assert v["verdict"] == "inconclusive" and "2 subjects cannot give p <= 0.05" in v["why"]
    assert "best-instruction maps are skipped" in (tmp_path / "run" / "report.html").read_text()
    with pytest.raises(ValueError, match="group .one. or groups .several., not both"):
        compose_and_run(base + files[:-1] + [files[-1], "+task.files.features.model.group=scene"], tmp_path / "b")
    with pytest.raises(ValueError, match="task.instructions.pair must name two different instructions"):
        compose_and_run(base[:-1] + files + ["task.instructions.pair=[scene,scene]"], tmp_path / "c")
