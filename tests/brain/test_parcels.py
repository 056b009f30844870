"""Parcel-level encoding (``brain.parcels``): parcel means against a loop, atlases read from
NIfTI, GIfTI and .npy (and refused on another grid), the synthetic atlas, parcellated data
that keep their regions and maps, and the parcel table against hand-computed values; the
gain that motivates fitting parcel means, on planted spatially shared signal."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from brain.parcels import (
    Parcels,
    from_labels,
    parcel_means,
    parcel_table,
    parcellate,
    read_atlas,
    read_label_table,
    synthetic_atlas,
)
from brain.synthetic import SyntheticConfig, make_synthetic


def test_parcel_means_against_a_loop() -> None:
    rng = np.random.default_rng(0)
    labels = np.array([3, 3, 0, 7, 7, 7, 3, 0])
    p = from_labels(labels)
    assert p.names == ("parcel_3", "parcel_7") and p.labels == (3, 7) and list(p.sizes) == [3, 3]
    Y = rng.standard_normal((2, 20, 8))
    usable = np.array([True, False, True, True, True, True, True, True])
    got = parcel_means(Y, p, usable)
    for j, lab in enumerate((3, 7)):
        cols = [v for v in range(8) if labels[v] == lab and usable[v]]
        np.testing.assert_allclose(got[..., j], Y[..., cols].mean(axis=-1), rtol=1e-12)
    np.testing.assert_array_equal(p.expand(np.array([1.0, 2.0])), [1, 1, np.nan, 2, 2, 2, 1, np.nan])
    with pytest.raises(ValueError, match="every label is 0"):
        from_labels(np.zeros(4, int))
    with pytest.raises(ValueError, match="whole numbers >= 0"):
        from_labels(np.array([1, -2]))
    with pytest.raises(ValueError, match=r"labels \[7\] are not in the label table"):
        from_labels(labels, {3: "a"})


def test_atlases_are_read_from_nifti_gifti_and_npy(tmp_path: Path) -> None:
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    mask = np.zeros((3, 3, 2), np.uint8)
    mask[:2] = 1
    vol = np.zeros((3, 3, 2), np.int16)
    vol[0], vol[1] = 5, 9
    nib.save(nib.Nifti1Image(mask, affine), tmp_path / "mask.nii.gz")
    nib.save(nib.Nifti1Image(vol, affine), tmp_path / "atlas.nii.gz")
    nib.save(nib.Nifti1Image(vol, affine * 2), tmp_path / "elsewhere.nii.gz")
    (tmp_path / "atlas.tsv").write_text("index\tname\n5\tV1\n9\tV2\n")
    p = read_atlas(tmp_path / "atlas.nii.gz", 12, mask=tmp_path / "mask.nii.gz", table=tmp_path / "atlas.tsv")
    assert p.names == ("V1", "V2") and list(p.of_voxel) == [0] * 6 + [1] * 6  # C order of the mask's voxels
    with pytest.raises(ValueError, match="elsewhere.nii.gz: the atlas is on another grid"):
        read_atlas(tmp_path / "elsewhere.nii.gz", 12, mask=tmp_path / "mask.nii.gz")
    with pytest.raises(ValueError, match="13 voxels"):
        read_atlas(tmp_path / "atlas.nii.gz", 13, mask=tmp_path / "mask.nii.gz")
    with pytest.raises(ValueError, match="needs volumetric data"):
        read_atlas(tmp_path / "atlas.nii.gz", 12)
    # GIfTI: a left/right pair on fsaverage5, the right hemisphere's labels offset past the left's
    left, right = np.zeros(10242, np.int32), np.zeros(10242, np.int32)
    left[:5], right[:5] = 1, 1
    for name, arr in (("lh", left), ("rh", right)):
        nib.save(nib.GiftiImage(darrays=[nib.gifti.GiftiDataArray(arr)]), tmp_path / f"{name}.label.gii")
    vertices = np.array([0, 1, 10242, 10243, 7])
    p = read_atlas([tmp_path / "lh.label.gii", tmp_path / "rh.label.gii"], 5, vertices=vertices)
    assert p.labels == (1, 2) and list(p.of_voxel) == [0, 0, 1, 1, -1]
    with pytest.raises(ValueError, match="10242 labels; fsaverage5 has 20484 vertices in all"):
        read_atlas(tmp_path / "lh.label.gii", 5, vertices=vertices)
    np.save(tmp_path / "labels.npy", np.array([2, 2, 0, 4]))
    assert read_atlas(tmp_path / "labels.npy", 4).names == ("parcel_2", "parcel_4")
    assert read_label_table(tmp_path / "atlas.tsv") == {5: "V1", 9: "V2"}


def test_synthetic_atlas_and_parcellated_data_keep_regions_and_maps() -> None:
    d = make_synthetic(SyntheticConfig(n_subjects=3, n_runs=2, trs_per_run=100, n_test_trs=100, n_layers=2,
                                       n_features=4, vertices_per_region=10, spaces=("video",)), seed=0)
    p = synthetic_atlas(d, per_region=2)
    assert len(p.names) == 2 * len(d.region_names) and p.names[:2] == ("EVC_1", "EVC_2")
    assert np.all(p.sizes == 5) and np.all(p.vertices == d.vertices)
    pd = parcellate(d, p)
    assert pd.bold_train.shape == (3, 200, 12) and pd.bold_test.shape == (3, 2, 100, 12)
    assert [pd.region_names[r] for r in pd.region] == [n for n in d.region_names for _ in range(2)]
    assert pd.vertices is None and pd.parcels is p and "12 parcels" in pd.notes[-1]
    np.testing.assert_allclose(pd.bold_train[1, :, 3], d.bold_train[1][:, p.of_voxel == 3].mean(axis=1), rtol=1e-5)
    assert synthetic_atlas(d, per_region=1).names == d.region_names


def test_parcel_means_raise_the_snr_of_a_shared_signal() -> None:
    """Planted: 20 voxels share one signal with independent noise of 3x its sd; the parcel
    mean's correlation with the signal is the closed form sqrt(n / (n + 9)) = 0.83, a voxel's
    sqrt(1 / 10) = 0.32."""
    rng = np.random.default_rng(1)
    s = rng.standard_normal(5000)
    Y = s[:, None] + 3 * rng.standard_normal((5000, 20))
    m = parcel_means(Y, from_labels(np.ones(20, int)))[:, 0]
    assert abs(np.corrcoef(m, s)[0, 1] - np.sqrt(20 / 29)) < 0.02
    assert abs(np.corrcoef(Y[:, 0], s)[0, 1] - np.sqrt(0.1)) < 0.03


def test_parcel_table_against_hand_computed_values() -> None:
    p = Parcels(np.array([0, 0, 1, 1]), ("a", "b"), (1, 2))
    r = [np.array([[[0.1, 0.5], [0.3, 0.2]], [[0.2, 0.4], [0.5, 0.1]]])]  # (2 subjects, 2 layers, 2 parcels)
    cv = [np.array([[[0.0, 0.3], [0.1, 0.1]], [[0.0, 0.2], [0.2, 0.0]]])]
    pv = [np.array([[[0.5, 0.001], [0.001, 0.5]], [[0.5, 0.5], [0.001, 0.5]]])]
    keep = np.array([[True, False], [True, True]])
    bad = np.zeros((2, 2), bool)
    t = parcel_table(p, np.array([0, 1]), ("R0", "R1"), ("v",), r, cv, pv, keep, np.array([[0.5, 0.2], [0.7, 0.4]]),
                     bad, 0.05)
    assert t["a"]["v"] == {"best_layer": 1, "test_r": pytest.approx(0.4), "significant_subjects": 2}
    assert t["b"]["v"] == {"best_layer": 0, "test_r": pytest.approx(0.45), "significant_subjects": 1}
    assert t["a"]["kept_subjects"] == 2 and t["b"]["kept_subjects"] == 1 and t["b"]["region"] == "R1"
    assert t["a"]["ceiling"] == pytest.approx(0.6) and t["a"]["voxels"] == 2 and t["b"]["label"] == 2
