"""``task=encoding`` end to end on a tiny synthetic experiment: planted truth recovered."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module

from experiments.run import run_task

TINY = ["task=encoding", "task.synthetic.n_subjects=3", "task.synthetic.n_runs=3",
        "task.synthetic.trs_per_run=200", "task.synthetic.n_test_trs=300", "task.synthetic.n_layers=4",
        "task.synthetic.n_features=16", "task.synthetic.vertices_per_region=40", "task.n_permutations=200",
        "task.n_bootstraps=50", "task.min_region_voxels=3"]
N_VOX = 240  # 6 regions x 40 vertices


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
    out, m = run
    assert json.loads((out / "metrics.json").read_text()) == m
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 7  # 4 surface maps + curves + comparison + ceiling
    for png in ("surface_best_layer_video.png", "layer_curves.png", "comparison.png", "noise_ceiling.png"):
        assert (out / png).stat().st_size > 5000
    assert "Normalised by the cross-subject ceiling" in html and "smallest attainable p-value" in html
    assert "Variance partitioning" in html and "voxels at smallest alpha" in html
    with np.load(out / "encoding.npz") as z:
        assert z["r"].shape == (2, 3, 4, N_VOX)  # spaces, subjects, layers, voxels
        assert z["pvalues"].shape == z["r"].shape == z["cv_score"].shape
        assert z["ceiling"].shape == z["keep"].shape == (3, N_VOX) and str(z["ceiling_kind"]) == "cross_subject"
        assert z["ceiling_split_half"].shape == (3, N_VOX)


def test_metrics_keys(run: tuple[Path, dict]) -> None:
    _, m = run
    assert m["settings"]["score_cv"] == "r2" and m["settings"]["r_null"] == "phase"
    assert m["settings"]["delays_trs"] == [1, 2, 3, 4, 5, 6, 7]  # 2..10 s at TR 1.49 s
    c = m["ceiling"]
    assert c["normalises"] == "cross_subject" and "3 subject" in c["why"] and c["normalised"]
    assert c["cross_subject"]["fit"] == "exponential" and "0.83x" in c["cross_subject"]["note"]
    assert set(c) >= {"split_half", "cross_subject", "voxels", "no_voxels_kept", "min_ceiling", "fdr_alpha"}
    for counts in c["voxels"].values():  # bad + not significant + below the minimum + kept = all, per subject
        parts = np.array([counts[k] for k in ("bad", "not_significant", "below_min_ceiling", "keep")])
        assert (parts.sum(axis=0) == counts["total"]).all()
    for space in ("video", "audio"):
        s = m["spaces"][space]
        assert set(s) >= {"best_layer_alignment", "best_layer_depth", "alpha_edges", "no_voxels_kept", "layers"}
        edges = s["alpha_edges"]["subject_00"]
        assert len(edges["n_at_max"]) == 4 and edges["n_voxels"] == [N_VOX] * 4
        assert "mean_cv_score" in s["layers"]["layer_00"]
    cmp_ = m["comparison"]
    n_sub = max(v["n_subjects"] for v in cmp_["per_region"].values() if v)  # subjects keeping voxels there
    floor = 2 / 2 ** n_sub
    assert n_sub >= 2 and cmp_["min_attainable_pvalue"] == floor and f"{floor:g}" in cmp_["warning"]
    assert set(m["variance_partition"]) >= {"r2_video", "r2_audio", "r2_joint", "split_r2_video", "split_r2_audio",
                                            "unique_video", "unique_audio", "shared", "layers", "alpha_edges"}


def test_planted_layers_recovered_by_training_cv(run: tuple[Path, dict]) -> None:
    """Over kept voxels, the layer with the best training CV score is most often the planted
    one (and nearly always within one layer of it), in the planted space, in every signal region."""
    out, m = run
    with np.load(out / "encoding.npz") as z:
        cv, keep, region, names = z["cv_score"], z["keep"], z["region"], list(z["region_names"])
        true_space, true_layer = z["true_space"], z["true_layer"]
    for j, name in enumerate(names):
        vox = region == j
        if name == "noise":
            continue
        space, layer = int(true_space[vox][0]), int(true_layer[vox][0])
        best = np.concatenate([np.argmax(cv[space, s][:, keep[s] & vox], axis=0) for s in range(3)])
        # the planted layer is the most common choice; neighbouring layers mix nearly the same features
        assert np.bincount(best, minlength=4).argmax() == layer and np.mean(abs(best - layer) <= 1) > 0.8, name
        planted = m["spaces"]["video" if space == 0 else "audio"]
        assert abs(planted["best_layer_depth"][name] - layer / 3) < 0.25, name
        assert planted["best_layer_alignment"][name] > 0.4, name
        other = m["spaces"]["audio" if space == 0 else "video"]["best_layer_alignment"][name]
        if name in ("EVC", "AC"):  # sensory regions: the other space explains little
            assert other < 0.3, name


def test_noise_region_comes_out_empty(run: tuple[Path, dict]) -> None:
    out, m = run
    kept = m["ceiling"]["voxels"]["noise"]["keep"]
    assert max(kept) <= 6  # of 40: FDR false positives only
    # the signed split-half mean counts the noise voxels' negative reliabilities (it read ~0.3 when it dropped them)
    assert abs(m["ceiling"]["split_half"]["mean"]["noise"]) < 0.1
    assert m["ceiling"]["split_half"]["mean"]["EVC"] > 0.3
    for space in ("video", "audio"):
        a = m["spaces"][space]["best_layer_alignment"]["noise"]
        assert a is None or abs(a) < 0.2
    vp = m["variance_partition"]
    for key in ("unique_video", "unique_audio", "shared", "split_r2_video", "split_r2_audio"):
        assert abs(vp[key]["noise"]) < 0.02, key
    # Fitting noise costs a little test R^2 at this size (3 runs of 200 TRs): some noise voxels
    # still pick a moderate penalty by chance (about -0.02 alone, -0.03 joint; -0.005 at the default size).
    for key in ("r2_video", "r2_audio", "r2_joint"):
        assert -0.05 < vp[key]["noise"] < 0.01, key
    with np.load(out / "encoding.npz") as z:
        region, names, r2, cv = z["region"], list(z["region_names"]), z["r2"], z["cv_score"]
    noise = region == names.index("noise")
    for i in range(2):
        chosen = np.stack([np.take_along_axis(r2[i, s], np.argmax(cv[i, s], 0)[None], 0)[0] for s in range(3)])
        assert -0.03 < np.median(chosen[:, noise]) < 0.01  # R^2-chosen penalties shrink noise voxels towards 0


def test_variance_partition_follows_the_planted_spaces(run: tuple[Path, dict]) -> None:
    """EVC sees only video-sensory, AC only audio-sensory, AG the semantic part both share."""
    vp = run[1]["variance_partition"]
    assert vp["unique_video"]["EVC"] > 0.05 > abs(vp["unique_audio"]["EVC"])
    assert vp["unique_audio"]["AC"] > 0.05 > abs(vp["unique_video"]["AC"])
    assert vp["shared"]["AG"] > max(vp["unique_video"]["AG"], vp["unique_audio"]["AG"])


SMALL = ["task=encoding", "task.synthetic.n_subjects=2", "task.synthetic.n_runs=2", "task.synthetic.trs_per_run=150",
         "task.synthetic.n_test_trs=150", "task.synthetic.n_layers=2", "task.synthetic.n_features=8",
         "task.synthetic.vertices_per_region=10", "task.n_permutations=50", "task.synthetic.n_repeats=1"]


def test_single_presentation_runs_without_a_ceiling(tmp_path: Path) -> None:
    _, m = compose_and_run(SMALL, tmp_path / "run")
    assert m["n_repeats"] == 1 and m["ceiling"]["normalises"] == "none" and not m["ceiling"]["normalised"]
    assert "split_half" not in m["ceiling"] and "cross_subject" not in m["ceiling"]
    assert m["spaces"]["video"]["best_layer_alignment"]["EVC"] > 0.1  # raw test r
    assert "No normalisation" in (tmp_path / "run" / "report.html").read_text()


def test_impossible_ceiling_fails_before_fitting(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="split_half needs >= 2 test presentations"):
        compose_and_run(SMALL + ["task.ceiling=split_half"], tmp_path / "a")
    with pytest.raises(ValueError, match="cross_subject needs >= 3 subjects"):
        compose_and_run(SMALL + ["task.ceiling=cross_subject"], tmp_path / "b")
    assert not (tmp_path / "a" / "units").exists()
    with pytest.raises(ValueError, match="task.ceiling='wobble' is not one of"):
        compose_and_run(SMALL + ["task.ceiling=wobble"], tmp_path / "c")
    with pytest.raises(ValueError, match="task.ceiling_fit='linear' is not one of: exponential, spearman_brown"):
        compose_and_run(SMALL + ["task.ceiling_fit=linear"], tmp_path / "d")
    assert not (tmp_path / "d" / "units").exists()


def test_files_data_source_reproduces_the_planted_layers(tmp_path: Path) -> None:
    """Write a tiny synthetic experiment to files, then run ``data=files`` on them."""
    import h5py

    from brain.synthetic import SyntheticConfig, make_synthetic

    d = make_synthetic(SyntheticConfig(n_subjects=2, n_runs=3, trs_per_run=200, n_test_trs=300, n_layers=4,
                                       n_features=16, vertices_per_region=30), seed=0)
    bold, test = [], []
    loc = d.region == d.region_names.index("LOC")
    for s in range(2):
        train = d.bold_train[s].copy()
        train[:, loc] = np.nan  # a region whose voxels are all unusable: zeroed by the loader, never kept
        np.save(tmp_path / f"bold{s}.npy", train)
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
    overrides = ["task=encoding", "task.data=files", "task.n_permutations=100", "task.ceiling=none",
                 f"task.files.bold=[{','.join(repr(b) for b in bold)}]",
                 f"task.files.test_bold=[{','.join(repr(t) for t in test)}]",
                 f"task.files.features={feat_override}", f"task.files.runs='{tmp_path / 'runs.npy'}'",
                 f"task.files.labels='{tmp_path / 'labels.npy'}'",
                 f"task.files.region_names=[{','.join(d.region_names)}]"]
    out = tmp_path / "run"
    cfg, m = compose_and_run(overrides, out)
    assert m["spaces"]["video"]["best_layer_depth"]["EVC"] < 0.3
    assert m["spaces"]["video"]["best_layer_depth"]["AG"] > 0.6
    assert m["ceiling"]["voxels"]["LOC"]["bad"] == [30, 30] and m["ceiling"]["voxels"]["LOC"]["keep"] == [0, 0]
    assert "LOC" in m["ceiling"]["no_voxels_kept"] and "LOC" in m["spaces"]["video"]["no_voxels_kept"]
    assert m["spaces"]["video"]["best_layer_alignment"]["LOC"] is None
    assert m["comparison"]["per_region"]["LOC"] is None
    assert m["variance_partition"]["shared"]["LOC"] is None and m["notes"]  # the loader says what it zeroed
    assert "brain maps are skipped" in (out / "report.html").read_text()
    with pytest.raises(ValueError, match="one training and one test entry per subject"):
        cfg.task.files.test_bold = test[:1]
        run_task(cfg, tmp_path / "bad")


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
        img = nib.Nifti1Image(vol, affine)
        img.header.set_zooms((*img.header.get_zooms()[:3], d.tr))  # the header's TR is checked against the run's
        return img

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
    overrides = ["task=encoding", "task.data=files", "task.n_permutations=50", "task.ceiling=none",
                 f"task.files.bold=['{p / 'train.nii.gz'}']",
                 f"task.files.test_bold=[['{p / 'test0.nii.gz'}','{p / 'test1.nii.gz'}']]",
                 f"task.files.features={{video:{{train:'{p / 'video_train.npz'}',test:'{p / 'video_test.npz'}'}}}}",
                 f"task.files.mask='{p / 'mask.nii.gz'}'", f"task.files.labels='{p / 'labels.nii.gz'}'",
                 f"task.files.region_names=[{','.join(d.region_names)}]"]
    out = tmp_path / "run"
    _, m = compose_and_run(overrides, out)
    assert m["voxels"] == n_vox and m["spaces"]["video"]["layers"]["layer_00"]["mean_r"] > 0.03
    assert (out / "volume_r_video.png").stat().st_size > 10_000
    assert "variance_partition" not in m  # one feature space only
    # Regions came from the label image: EVC (video, first layer) aligns, AC (audio only) not
    # (raw test r: one presentation pair of one subject gives no usable ceiling at this size).
    r0 = m["spaces"]["video"]["layers"]["layer_00"]["normalised_alignment"]
    assert r0["EVC"] > 0.15 and abs(r0["AC"]) < 0.1


def test_a_dead_subject_is_named_not_silently_dropped(run: tuple[Path, dict], caplog) -> None:
    from omegaconf import OmegaConf

    from experiments.tasks.encoding_summary import dead_subjects

    assert run[1]["excluded_subjects"] == []
    bad = np.zeros((3, 5), bool)
    bad[1] = True  # subject 1: every voxel constant (a dead recording)
    bad[2, :4] = True  # subject 2 keeps one voxel
    cfg = OmegaConf.create({"task": {"data": "files", "files": {"bold": ["s0.npy", "s1.npy", "s2.npy"]}}})
    with caplog.at_level("WARNING", logger="callosum"):
        assert dead_subjects(bad, cfg) == [{"subject": 1, "why": "every voxel is constant or non-finite",
                                            "file": "s1.npy"}]
    assert "subject 1 (s1.npy)" in caplog.text


def test_a_subject_the_permutation_count_kept_out_is_named(run: tuple[Path, dict], caplog) -> None:
    """Subject 1's ceiling p-values: 11 of 600 voxels at 1/1001 (1000 permutations), where BH
    needs 12: nothing kept, and metrics, log and report say the permutation count decided.
    Subject 0 has one voxel there (noise does that): not named. The test r maps are noise."""
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from experiments.tasks.encoding_summary import permutation_limits

    assert run[1]["permutation_floor"]["n_permutations"] == 200
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 1.0, size=(2, 600))
    p[1, :11] = 1 / 1001
    p[0, 0] = 1 / 1001
    data = SimpleNamespace(bad_voxels=np.zeros((2, 600), bool), spaces=("video",))
    res = {"ceilings": {"cross_subject": {"pvalue": p}}, "pvalues": [rng.uniform(0.01, 1.0, size=(2, 3, 600))]}
    cfg = OmegaConf.create({"task": {"n_permutations": 1000, "fdr_alpha": 0.05}})
    with caplog.at_level("WARNING", logger="callosum"):
        out = permutation_limits(data, res, cfg, "cross_subject")
    assert out["ceiling"] == {"needed_at_floor": [12, 12], "at_floor": [1, 11], "limited_subjects": [1],
                              "selected_on": "cross_subject ceiling"}
    assert out["enough_for_one_voxel"] == 11999 and out["test_r_limited"] == []
    assert "subject 1:" in caplog.text and "subject 0:" not in caplog.text
    assert "n_permutations (>= 11999" in caplog.text
    res["isc"] = {"pvalue": p[::-1]}  # voxels kept on the training ISC: its p-values are the ones checked
    caplog.clear()
    with caplog.at_level("WARNING", logger="callosum"):
        out = permutation_limits(data, res, cfg, "cross_subject")
    assert out["ceiling"]["limited_subjects"] == [0] and out["ceiling"]["selected_on"].startswith("training-set")
    assert "subject 0: no voxel's training-set inter-subject correlation" in caplog.text


def test_the_synthetic_default_per_parcel(tmp_path: Path) -> None:
    """``task.atlas=synthetic``: two parcels per planted region on fsaverage5, each fit on
    its mean; the parcel table and the report's parcel section, surface maps painted from
    the parcels; the parcels of the planted regions significant more often than the noise
    parcels."""
    out = tmp_path / "run"
    _, m = compose_and_run(TINY[:-2] + ["task.atlas=synthetic", "task.n_permutations=100", "task.n_bootstraps=10"],
                           out)
    table = m["parcels"]["table"]
    assert m["voxels"] == 12 and list(table)[:2] == ["EVC_1", "EVC_2"]
    assert all(row["voxels"] == 20 for row in table.values())
    planted = {"EVC": "video", "LOC": "video", "AC": "audio", "AG": "video", "IFG": "audio"}
    hits = sum(table[f"{r}_{k}"][s]["significant_subjects"] for r, s in planted.items() for k in (1, 2)) / 10
    noise = sum(table[f"noise_{k}"][s]["significant_subjects"] for k in (1, 2) for s in ("video", "audio")) / 4
    assert hits > noise + 0.5, (hits, noise)
    assert "Parcels (12, synthetic (2 per region))" in (out / "report.html").read_text()
    assert (out / "surface_r_video.png").is_file()


def test_the_stacked_encoder_beside_the_best_layer(tmp_path: Path) -> None:
    """``task.stacked=true``: per space a stacked encoder whose weights sum to one in every
    region, that predicts the planted regions, whose weights lie deeper in the deep planted
    region than in the shallow one; metrics, npz and report carry it."""
    out = tmp_path / "run"
    small = ["task=encoding", "task.synthetic.n_subjects=2", "task.synthetic.n_runs=3", "task.synthetic.trs_per_run=150",
             "task.synthetic.n_test_trs=150", "task.synthetic.n_layers=3", "task.synthetic.n_features=8",
             "task.synthetic.vertices_per_region=10", "task.n_permutations=50", "task.stacked=true"]
    _, m = compose_and_run(small, out)
    for space, shallow, deep in (("video", "EVC", "AG"), ("audio", "AC", "IFG")):
        st = m["spaces"][space]["stacked"]
        for row in st["per_region"].values():
            assert abs(sum(row["weights"]) - 1) < 1e-6
        for region in (shallow, deep):  # at these sizes the noisy weights can cost against the best layer
            assert st["per_region"][region]["stacked_r"] > 0.5 * st["per_region"][region]["best_layer_r"] > 0, region
        assert st["per_region"][shallow]["depth"] < st["per_region"][deep]["depth"]
    with np.load(out / "encoding.npz") as f:
        assert f["stacked_r"].shape == (2, 2, m["voxels"]) and f["stacked_weights"].shape == (2, 2, 3, m["voxels"])
    html = (out / "report.html").read_text()
    assert "Stacked encoder" in html and (out / "stack_weights.png").is_file()


def test_stacking_and_the_block_bootstrap_survive_voxel_chunks(tmp_path: Path) -> None:
    """A stacked run split into two voxel chunks and merged gives the single run's stacked
    scores and weights and its block-bootstrap intervals (2 subjects: the bootstrap is on), so
    the chunks carry the stacked encoders and the best layers' test predictions; merging
    chunks run without stacking into a stacked run is refused."""
    small = ["task=encoding", "task.synthetic.n_subjects=2", "task.synthetic.n_runs=3", "task.synthetic.trs_per_run=80",
             "task.synthetic.n_test_trs=80", "task.synthetic.n_layers=2", "task.synthetic.n_features=6",
             "task.synthetic.vertices_per_region=6", "task.n_permutations=20", "task.n_bootstraps=20",
             "task.n_block_bootstraps=30", "task.min_region_voxels=2", "task.ceiling=none", "task.stacked=true"]
    _, single = compose_and_run(small, tmp_path / "single")
    for c in range(2):
        compose_and_run([*small, "task.chunks=2", f"task.chunk={c}"], tmp_path / "chunks" / str(c))
    _, merged = compose_and_run([*small, f"task.merge={tmp_path / 'chunks'}"], tmp_path / "merged")
    with np.load(tmp_path / "single" / "encoding.npz") as a, np.load(tmp_path / "merged" / "encoding.npz") as b:
        for key in ("stacked_r", "stacked_weights"):
            np.testing.assert_allclose(a[key], b[key], atol=1e-4, err_msg=key)  # float32 solves on fewer columns
    for space in single["spaces"]:
        s, m = single["spaces"][space], merged["spaces"][space]
        cis = [(s["best_layer_alignment_bootstrap_ci95"]["ci95"][k], v)
               for k, v in m["best_layer_alignment_bootstrap_ci95"]["ci95"].items()]
        assert all(a is not None for a, _ in cis)  # raw r (task.ceiling=none): every region has an interval
        for a, b in cis:
            assert b == pytest.approx(a, abs=1e-3)
        for region, row in s["stacked"]["per_region"].items():
            assert m["stacked"]["per_region"][region]["stacked_r"] == pytest.approx(row["stacked_r"], abs=1e-4)
    for c in range(2):
        compose_and_run([*small[:-1], "task.chunks=2", f"task.chunk={c}"], tmp_path / "plain" / str(c))
    with pytest.raises(ValueError, match="other settings than this config"):
        compose_and_run([*small, f"task.merge={tmp_path / 'plain'}"], tmp_path / "m2")
