"""``task=encoding`` end to end on a tiny synthetic experiment: planted truth recovered."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module

from experiments.run import run_task

TINY = ["task=encoding", "task.synthetic.n_subjects=2", "task.synthetic.n_runs=3",
        "task.synthetic.trs_per_run=200", "task.synthetic.n_test_trs=300", "task.synthetic.n_layers=4",
        "task.synthetic.n_features=16", "task.synthetic.vertices_per_region=30", "task.n_permutations=200"]


def compose_and_run(overrides: list[str], out: Path):
    """Compose the runner's config with ``overrides``, run it into ``out``; (cfg, metrics)."""
    with initialize_config_module(config_module="experiments.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    out.mkdir(parents=True, exist_ok=True)
    return cfg, run_task(cfg, out)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("encoding")
    return out, compose_and_run(TINY, out)[1]


def test_outputs_written(run: tuple[Path, dict]) -> None:
    out, metrics = run
    assert json.loads((out / "metrics.json").read_text()) == metrics
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 7  # 4 surface maps + curves + comparison + ceiling
    for png in ("surface_best_layer_video.png", "layer_curves.png", "comparison.png", "noise_ceiling.png"):
        assert (out / png).stat().st_size > 5000
    with np.load(out / "encoding.npz") as z:
        assert z["r"].shape == (2, 2, 4, 180)  # spaces, subjects, layers, voxels
        assert z["pvalues"].shape == z["r"].shape and z["ceiling"].shape == (2, 180)


def test_best_layer_per_region_is_the_planted_one(run: tuple[Path, dict]) -> None:
    _, m = run
    video, audio = m["spaces"]["video"]["best_layer_depth"], m["spaces"]["audio"]["best_layer_depth"]
    assert video["EVC"] < 0.2 and audio["AC"] < 0.2  # sensory regions: first layer
    assert video["AG"] > 0.8 and audio["IFG"] > 0.8  # semantic regions: last layer
    assert 0.2 < video["LOC"] < 0.7  # planted at depth 0.4 (layer 1 of 0..3 = 0.33)


def test_alignment_near_one_where_planted_and_nulls_controlled(run: tuple[Path, dict]) -> None:
    out, m = run
    layer0 = m["spaces"]["video"]["layers"]["layer_00"]["normalised_alignment"]
    assert 0.85 < layer0["EVC"] < 1.1
    with np.load(out / "encoding.npz") as z:
        p, region, names = z["pvalues"], z["region"], list(z["region_names"])
        null = region == names.index("PCC")  # noise-only voxels
        from brain.stats import fdr_bh

        false = [fdr_bh(p[s, subj, k]).rejected[null].mean()
                 for s in range(2) for subj in range(2) for k in range(4)]
        assert np.mean(false) < 0.05
        ceiling = z["ceiling"][:, region == names.index("EVC")]
    # Planted ev 0.3 with 2 repeats: ceiling sqrt(0.3 / (0.3 + 0.35)) = 0.679.
    assert abs(np.nanmean(ceiling) - 0.679) < 0.05


def test_files_data_source_reproduces_the_planted_layers(tmp_path: Path) -> None:
    """Write a tiny synthetic experiment to files, then run ``data=files`` on them."""
    import h5py

    from brain.synthetic import SyntheticConfig, make_synthetic

    d = make_synthetic(SyntheticConfig(n_subjects=2, n_runs=3, trs_per_run=200, n_test_trs=300, n_layers=4,
                                       n_features=16, vertices_per_region=30), seed=0)
    bold, test = [], []
    for s in range(2):
        np.save(tmp_path / f"bold{s}.npy", d.bold_train[s])
        np.save(tmp_path / f"test{s}.npy", d.bold_test[s])
        bold.append(str(tmp_path / f"bold{s}.npy"))
        test.append(str(tmp_path / f"test{s}.npy"))
    feats = {}
    for space in d.spaces:
        for split, layers in (("train", d.features_train[space]), ("test", d.features_test[space])):
            with h5py.File(tmp_path / f"{space}_{split}.h5", "w") as f:
                for i, x in enumerate(layers):
                    f[f"layer_{i:02d}"] = x
        feats[space] = {"train": str(tmp_path / f"{space}_train.h5"), "test": str(tmp_path / f"{space}_test.h5")}
    np.save(tmp_path / "runs.npy", d.runs)
    np.save(tmp_path / "labels.npy", d.region)
    feat_override = "{" + ",".join(f"{k}:{{train:'{v['train']}',test:'{v['test']}'}}" for k, v in feats.items()) + "}"
    overrides = ["task=encoding", "task.data=files", "task.n_permutations=100",
                 f"task.files.bold=[{','.join(repr(b) for b in bold)}]",
                 f"task.files.test_bold=[{','.join(repr(t) for t in test)}]",
                 f"task.files.features={feat_override}", f"task.files.runs='{tmp_path / 'runs.npy'}'",
                 f"task.files.labels='{tmp_path / 'labels.npy'}'",
                 f"task.files.region_names=[{','.join(d.region_names)}]"]
    out = tmp_path / "run"
    cfg, m = compose_and_run(overrides, out)
    assert m["spaces"]["video"]["best_layer_depth"]["EVC"] < 0.2
    assert m["spaces"]["video"]["best_layer_depth"]["AG"] > 0.8
    assert "brain maps are skipped" in (out / "report.html").read_text()
    with pytest.raises(ValueError, match="one training and one test entry per subject"):
        cfg.task.files.test_bold = test[:1]
        run_task(cfg, tmp_path / "bad")


def test_variance_partition_follows_the_planted_spaces(run: tuple[Path, dict]) -> None:
    """EVC sees only video-sensory, AC only audio-sensory, AG the semantic part both share."""
    vp = run[1]["variance_partition"]
    assert vp["unique_video"]["EVC"] > 0.1 > abs(vp["unique_audio"]["EVC"])
    assert vp["unique_audio"]["AC"] > 0.1 > abs(vp["unique_video"]["AC"])
    assert vp["shared"]["AG"] > max(vp["unique_video"]["AG"], vp["unique_audio"]["AG"])


def test_volumetric_files_give_glass_brain_maps(tmp_path: Path) -> None:
    """NIfTI BOLD with a mask: the pipeline runs in voxel space and draws volume maps."""
    import nibabel as nib

    from brain.synthetic import SyntheticConfig, make_synthetic

    d = make_synthetic(SyntheticConfig(n_subjects=1, n_runs=2, trs_per_run=200, n_test_trs=200, n_layers=3,
                                       n_features=8, vertices_per_region=10, spaces=("video",)), seed=0)
    n_vox = d.bold_train.shape[2]  # 60 voxels, placed in a 6 x 10 patch of a small MNI grid
    affine = np.array([[4.0, 0, 0, -20], [0, 4.0, 0, -40], [0, 0, 4.0, 0], [0, 0, 0, 1]])
    mask = np.zeros((12, 14, 6), np.uint8)
    mask[3:9, 2:12, 3] = 1
    assert mask.sum() == n_vox

    def to_img(x: np.ndarray) -> nib.Nifti1Image:  # (n_trs, n_vox) -> 4-D image
        vol = np.zeros(mask.shape + (x.shape[0],), np.float32)
        vol[mask.astype(bool)] = x.T
        return nib.Nifti1Image(vol, affine)

    nib.save(nib.Nifti1Image(mask, affine), tmp_path / "mask.nii.gz")
    label_vol = np.zeros(mask.shape, np.int16)
    label_vol[mask.astype(bool)] = d.region
    nib.save(nib.Nifti1Image(label_vol, affine), tmp_path / "labels.nii.gz")
    nib.save(to_img(d.bold_train[0]), tmp_path / "train.nii.gz")
    for k in range(2):
        nib.save(to_img(d.bold_test[0, k]), tmp_path / f"test{k}.nii.gz")
    np.savez(tmp_path / "video_train.npz", **{f"layer_{i:02d}": x for i, x in enumerate(d.features_train["video"])})
    np.savez(tmp_path / "video_test.npz", **{f"layer_{i:02d}": x for i, x in enumerate(d.features_test["video"])})
    p = tmp_path
    overrides = ["task=encoding", "task.data=files", "task.n_permutations=50",
                 f"task.files.bold=['{p / 'train.nii.gz'}']",
                 f"task.files.test_bold=[['{p / 'test0.nii.gz'}','{p / 'test1.nii.gz'}']]",
                 f"task.files.features={{video:{{train:'{p / 'video_train.npz'}',test:'{p / 'video_test.npz'}'}}}}",
                 f"task.files.mask='{p / 'mask.nii.gz'}'", f"task.files.labels='{p / 'labels.nii.gz'}'",
                 f"task.files.region_names=[{','.join(d.region_names)}]"]
    out = tmp_path / "run"
    _, m = compose_and_run(overrides, out)
    assert m["voxels"] == n_vox and m["spaces"]["video"]["layers"]["layer_00"]["mean_r"] > 0.1
    assert (out / "volume_r_video.png").stat().st_size > 10_000
    assert "variance_partition" not in m  # one feature space only
    # Regions came from the label image: EVC (video, first layer) aligns, AC (audio only) not.
    r0 = m["spaces"]["video"]["layers"]["layer_00"]["normalised_alignment"]
    assert r0["EVC"] > 0.8 and abs(r0["AC"]) < 0.2
