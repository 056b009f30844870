"""Loaders round-trip small generated files; bad files give clear errors."""

from __future__ import annotations

from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest

from brain.loaders import load_bold, load_experiment, load_features, load_repeats, resample_to_trs


@pytest.fixture
def bold(rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal((12, 7)).astype(np.float32)


def test_npy_npz_hdf5_round_trip(tmp_path: Path, bold: np.ndarray) -> None:
    np.save(tmp_path / "b.npy", bold)
    np.savez(tmp_path / "b.npz", bold=bold, other=np.zeros(3))
    with h5py.File(tmp_path / "b.h5", "w") as f:
        f["bold"] = bold
    for name in ("b.npy", "b.npz", "b.h5"):
        np.testing.assert_array_equal(load_bold(tmp_path / name), bold)


def test_nifti_with_mask_round_trip(tmp_path: Path, rng: np.random.Generator) -> None:
    data = rng.standard_normal((4, 5, 3, 10)).astype(np.float32)
    mask = np.zeros((4, 5, 3), np.uint8)
    mask[1:3, 2:4, 1] = 1
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "bold.nii.gz")
    nib.save(nib.Nifti1Image(mask, affine), tmp_path / "mask.nii.gz")
    out = load_bold(tmp_path / "bold.nii.gz", mask=tmp_path / "mask.nii.gz")
    assert out.shape == (10, 4)
    np.testing.assert_allclose(np.sort(out, axis=1), np.sort(data[mask.astype(bool)].T, axis=1), rtol=1e-6)
    with pytest.raises(ValueError, match="mask"):
        load_bold(tmp_path / "bold.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 3), np.uint8), affine), tmp_path / "empty.nii.gz")
    with pytest.raises(ValueError):
        load_bold(tmp_path / "bold.nii.gz", mask=tmp_path / "empty.nii.gz")


def test_gifti_round_trip(tmp_path: Path, bold: np.ndarray) -> None:
    img = nib.gifti.GiftiImage(darrays=[nib.gifti.GiftiDataArray(row) for row in bold])
    nib.save(img, tmp_path / "b.func.gii")
    np.testing.assert_array_equal(load_bold(tmp_path / "b.func.gii"), bold)


def test_repeats(tmp_path: Path, bold: np.ndarray) -> None:
    np.save(tmp_path / "r0.npy", bold)
    np.save(tmp_path / "r1.npy", bold + 1)
    out = load_repeats([tmp_path / "r0.npy", tmp_path / "r1.npy"])
    assert out.shape == (2, 12, 7)
    np.save(tmp_path / "r2.npy", bold[:5])
    with pytest.raises(ValueError, match="shape"):
        load_repeats([tmp_path / "r0.npy", tmp_path / "r2.npy"])
    np.save(tmp_path / "rep.npy", out)
    assert load_bold(tmp_path / "rep.npy", repeats=True).shape == (2, 12, 7)


def test_bad_bold_files(tmp_path: Path, bold: np.ndarray) -> None:
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        load_bold(tmp_path / "missing.npy")
    bad = bold.copy()
    bad[3, 2] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(ValueError, match="1 NaN"):
        load_bold(tmp_path / "nan.npy")
    np.save(tmp_path / "flat.npy", bold[0])
    with pytest.raises(ValueError, match=r"\(n_trs, n_voxels\).*\(7,\)"):
        load_bold(tmp_path / "flat.npy")
    (tmp_path / "x.txt").write_text("1 2 3")
    with pytest.raises(ValueError, match="unsupported"):
        load_bold(tmp_path / "x.txt")
    np.save(tmp_path / "whole.npy", bold)
    (tmp_path / "trunc.npy").write_bytes((tmp_path / "whole.npy").read_bytes()[:150])
    with pytest.raises(ValueError, match="trunc.npy"):
        load_bold(tmp_path / "trunc.npy")
    with h5py.File(tmp_path / "whole.h5", "w") as f:
        f["bold"] = bold
    (tmp_path / "trunc.h5").write_bytes((tmp_path / "whole.h5").read_bytes()[:500])
    with pytest.raises(ValueError, match="trunc.h5"):
        load_bold(tmp_path / "trunc.h5")


def test_features_per_layer_in_order(tmp_path: Path, rng: np.random.Generator) -> None:
    layers = {f"layer_{i:02d}": rng.standard_normal((12, 4 + i)) for i in (0, 1, 10, 2)}
    with h5py.File(tmp_path / "f.h5", "w") as f:
        for k, v in layers.items():
            f[k] = v
    np.savez(tmp_path / "f.npz", **layers)
    for name in ("f.h5", "f.npz"):
        out = load_features(tmp_path / name)
        assert list(out) == ["layer_00", "layer_01", "layer_02", "layer_10"]
        np.testing.assert_allclose(out["layer_10"], layers["layer_10"], rtol=1e-6)
    with pytest.raises(ValueError, match="layer_07"):
        load_features(tmp_path / "f.h5", layers=["layer_07"])


def test_features_with_timestamps_are_binned(tmp_path: Path) -> None:
    t = np.arange(0, 6, 0.5)  # 12 samples, 2 s TR -> 3 TRs of 4 samples each
    x = np.stack([t, 2 * t], axis=1)
    np.savez(tmp_path / "f.npz", layer_00=x, timestamps=t)
    out = load_features(tmp_path / "f.npz", tr=2.0, n_trs=3)["layer_00"]
    np.testing.assert_allclose(out[:, 0], [0.75, 2.75, 4.75])
    with pytest.raises(ValueError, match="tr and n_trs"):
        load_features(tmp_path / "f.npz")
    # An empty bin is interpolated from its neighbours.
    filled = resample_to_trs(np.array([[0.0], [4.0]]), np.array([0.5, 4.5]), 2.0, 3)
    np.testing.assert_allclose(filled[:, 0], [0.0, 2.0, 4.0])


def _experiment(d: Path, rng: np.random.Generator, n_rep: int = 2, runs: np.ndarray | None = None,
                test_width: int = 3, n_sub: int = 2) -> dict:
    """A consistent tiny experiment in ``d``: the keyword arguments of load_experiment."""
    n_train, n_test, n_vox = 8, 5, 4
    for s in range(n_sub):
        np.save(d / f"bold{s}.npy", rng.standard_normal((n_train, n_vox)))
        np.save(d / f"test{s}.npy", rng.standard_normal((n_rep, n_test, n_vox)))
    np.savez(d / "video_train.npz", layer_00=rng.standard_normal((n_train, 3)),
             layer_01=rng.standard_normal((n_train, 2)))
    np.savez(d / "video_test.npz", layer_00=rng.standard_normal((n_test, test_width)),
             layer_01=rng.standard_normal((n_test, 2)))
    np.save(d / "runs.npy", np.repeat([0, 1], 4) if runs is None else runs)
    return {"bold": [d / f"bold{s}.npy" for s in range(n_sub)], "test_bold": [d / f"test{s}.npy" for s in range(n_sub)],
            "features": {"video": {"train": d / "video_train.npz", "test": d / "video_test.npz"}},
            "runs": d / "runs.npy"}


def test_experiment_loads_and_records_repeats(tmp_path: Path, rng: np.random.Generator) -> None:
    data = load_experiment(**_experiment(tmp_path, rng))
    assert data.bold_test.shape == (2, 2, 5, 4) and data.n_repeats == 2
    assert data.runs.dtype == np.int64 and data.runs.tolist() == [0] * 4 + [1] * 4
    assert not data.bad_voxels.any() and data.notes == ()
    np.testing.assert_array_equal(data.bold_train[1], np.load(tmp_path / "bold1.npy").astype(np.float32))


@pytest.mark.parametrize(("runs", "match"), [
    (np.array(["run-1"] * 4 + ["run-2"] * 4), r"runs.npy: run labels must be integers; found dtype <U5 e.g. \['run-1'"),
    (np.array([0.0, 0, 0, 0.5, 1, 1, 1, 1]), r"runs.npy: run labels must be integers .*1 with a fraction, e.g. 0.5"),
    (np.array([b"a"] * 8), r"runs.npy: run labels must be integers; found dtype \|S1"),
])
def test_run_labels_must_be_integers(tmp_path: Path, rng: np.random.Generator, runs: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        load_experiment(**_experiment(tmp_path, rng, runs=runs))
    # whole-number floats are integers
    assert load_experiment(**_experiment(tmp_path, rng, runs=np.repeat([0.0, 1.0], 4))).runs.dtype == np.int64


def test_train_and_test_feature_widths_must_match(tmp_path: Path, rng: np.random.Generator) -> None:
    with pytest.raises(ValueError, match=r"video_test.npz: layer 'layer_00' \(video test\) has 5 features but 3 "
                                         r"in the train file .*video_train.npz"):
        load_experiment(**_experiment(tmp_path, rng, test_width=5))


def test_single_test_presentation_is_allowed(tmp_path: Path, rng: np.random.Generator) -> None:
    """No repeated viewings: a 2-D test file, a 3-D file of one repeat, or a one-file list."""
    kw = _experiment(tmp_path, rng, n_rep=1)
    np.save(tmp_path / "flat0.npy", np.load(tmp_path / "test0.npy")[0])
    for test_bold in (kw["test_bold"], [tmp_path / "flat0.npy", [kw["test_bold"][1]]]):
        data = load_experiment(**{**kw, "test_bold": test_bold})
        assert data.bold_test.shape == (2, 1, 5, 4) and data.n_repeats == 1
        np.testing.assert_array_equal(data.bold_test[0, 0], np.load(tmp_path / "flat0.npy").astype(np.float32))
        assert any("no split-half noise ceiling" in n for n in data.notes)


def test_subjects_must_have_the_same_number_of_repeats(tmp_path: Path, rng: np.random.Generator) -> None:
    kw = _experiment(tmp_path, rng)
    np.save(tmp_path / "test1.npy", rng.standard_normal((3, 5, 4)))
    with pytest.raises(ValueError, match=r"different numbers of test presentations: .*test0.npy: 2, .*test1.npy: 3"):
        load_experiment(**kw)
    np.save(tmp_path / "test1.npy", rng.standard_normal((5, 4)))  # one presentation beside two
    with pytest.raises(ValueError, match=r"test0.npy: 2, .*test1.npy: 1"):
        load_experiment(**kw)


def test_nan_and_constant_voxels_are_counted_not_fatal(tmp_path: Path, rng: np.random.Generator) -> None:
    kw = _experiment(tmp_path, rng)
    train = np.load(tmp_path / "bold0.npy")
    train[:, 1] = np.nan  # a voxel outside this subject's field of view
    train[2, 3] = np.inf
    train[:, 0] = 0.0  # an all-zero voxel
    np.save(tmp_path / "bold0.npy", train)
    test = np.load(tmp_path / "test1.npy")
    test[1, :, 2] = 5.0  # constant in one repeat of subject 1
    np.save(tmp_path / "test1.npy", test)
    data = load_experiment(**kw)
    np.testing.assert_array_equal(data.bad_voxels, [[True, True, False, True], [False, False, True, False]])
    assert np.isfinite(data.bold_train).all() and np.isfinite(data.bold_test).all()
    np.testing.assert_array_equal(data.bold_train[0][:, [1, 3]], 0)  # set to 0 in train and test
    np.testing.assert_array_equal(data.bold_test[0][..., [1, 3]], 0)
    np.testing.assert_array_equal(data.bold_train[0][:, 2], train[:, 2].astype(np.float32))  # the rest kept
    assert len(data.notes) == 2
    assert "bold0.npy" in data.notes[0] and "2 voxels with NaN or infinite values (set to 0) and 1 constant" in data.notes[0]
    assert "test1.npy" in data.notes[1] and "0 voxels with NaN" in data.notes[1] and "1 constant" in data.notes[1]
    np.save(tmp_path / "bold1.npy", np.full((8, 4), np.nan))
    with pytest.raises(ValueError, match=r"subject 1 \(.*bold1.npy.*\): no usable voxel"):
        load_experiment(**kw)


def test_one_region_name_per_label(tmp_path: Path, rng: np.random.Generator) -> None:
    np.save(tmp_path / "labels.npy", np.array([0, 1, 1, 0]))
    kw = {**_experiment(tmp_path, rng), "labels": tmp_path / "labels.npy"}
    assert load_experiment(**kw, region_names=["a", "b"]).region_names == ("a", "b")
    with pytest.raises(ValueError, match=r"3 region names \['a', 'b', 'c'\] for the labels 0..1 of .*labels.npy"):
        load_experiment(**kw, region_names=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"labels.npy: region labels span 0..1 but 1 names are given"):
        load_experiment(**kw, region_names=["a"])


def test_the_nifti_tr_and_grid_are_checked(tmp_path: Path) -> None:
    """The header's TR (in its time unit) must agree with the TR given, and a mask on another
    grid is refused instead of silently resampled."""
    from brain.loaders import nifti_tr

    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    rng = np.random.default_rng(0)
    mask = np.ones((3, 3, 2), np.uint8)
    img = nib.Nifti1Image(rng.standard_normal((3, 3, 2, 40)).astype(np.float32), affine)
    img.header.set_zooms((3.0, 3.0, 3.0, 1350.0))
    img.header.set_xyzt_units("mm", "msec")
    nib.save(img, tmp_path / "bold.nii.gz")
    nib.save(nib.Nifti1Image(mask, affine), tmp_path / "mask.nii.gz")
    nib.save(nib.Nifti1Image(mask, affine * np.diag([2, 2, 2, 1])), tmp_path / "other_grid.nii.gz")
    assert nifti_tr(tmp_path / "bold.nii.gz") == pytest.approx(1.35)
    assert nifti_tr(tmp_path / "mask.nii.gz") is None
    np.savez(tmp_path / "f.npz", layer_00=rng.standard_normal((40, 3)))
    kw = dict(bold=[tmp_path / "bold.nii.gz"], test_bold=[tmp_path / "bold.nii.gz"],
              features={"v": {"train": tmp_path / "f.npz", "test": tmp_path / "f.npz"}}, mask=tmp_path / "mask.nii.gz")
    with pytest.raises(ValueError, match=r"bold.nii.gz: the NIfTI header gives TR 1.35 s, but tr=1.49 s was given"):
        load_experiment(**kw, tr=1.49)
    assert load_experiment(**kw, tr=1.35).bold_train.shape == (1, 40, 18)
    with pytest.raises(ValueError, match=r"other_grid.nii.gz: the mask is on another grid"):
        load_bold(tmp_path / "bold.nii.gz", mask=tmp_path / "other_grid.nii.gz")
