"""Loaders round-trip small generated files; bad files give clear errors."""

from __future__ import annotations

from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest

from brain.loaders import load_bold, load_features, load_repeats, resample_to_trs


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
