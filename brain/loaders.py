"""Loading user data for encoding: BOLD responses and per-layer model features.

BOLD comes as 4-D NIfTI with a mask (nilearn's ``NiftiMasker``), GIfTI surface data, or
plain ``.npy`` / ``.npz`` / HDF5 arrays of shape (n_trs, n_voxels) — or, for repeated test
presentations, (n_repeats, n_trs, n_voxels). Features come as ``.npz`` or HDF5 files with
one 2-D dataset per layer (``layer_00``, ``layer_01``, ...), one row per TR or one row per
timestamp (then averaged into TR bins). Every problem raises a ``ValueError`` or
``FileNotFoundError`` that names the file and the offending sizes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

BOLD_KEY = "bold"
TIMESTAMP_KEY = "timestamps"


def _existing(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    return p


def _suffix(p: Path) -> str:
    name = p.name.lower()
    for ext in (".nii.gz", ".nii", ".gii", ".npy", ".npz", ".h5", ".hdf5"):
        if name.endswith(ext):
            return ext
    raise ValueError(f"{p}: unsupported file type; use .nii/.nii.gz, .gii, .npy, .npz, .h5/.hdf5")


def _read_array(p: Path, key: str) -> np.ndarray:
    ext = _suffix(p)
    if ext == ".npy":
        return np.load(p, allow_pickle=False)
    if ext == ".npz":
        with np.load(p, allow_pickle=False) as z:
            if key in z:
                return z[key]
            if len(z.files) == 1:
                return z[z.files[0]]
            raise ValueError(f"{p}: no array {key!r}; arrays in the file: {sorted(z.files)}")
    import h5py

    with h5py.File(p, "r") as f:
        if key not in f:
            raise ValueError(f"{p}: no dataset {key!r}; datasets in the file: {sorted(f.keys())}")
        return f[key][()]


def _check_bold(arr: np.ndarray, source: Any, repeats: bool) -> np.ndarray:
    want = 3 if repeats else 2
    shape = "(n_repeats, n_trs, n_voxels)" if repeats else "(n_trs, n_voxels)"
    if arr.ndim != want:
        raise ValueError(f"{source}: BOLD must have shape {shape}, got {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{source}: BOLD is empty, shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr)))
        raise ValueError(f"{source}: BOLD contains {bad} NaN or infinite values")
    return np.asarray(arr, dtype=np.float32)


def load_bold(path: str | Path, mask: str | Path | None = None, repeats: bool = False,
              key: str = BOLD_KEY) -> np.ndarray:
    """BOLD responses, float32 (n_trs, n_voxels), or (n_repeats, n_trs, n_voxels) if ``repeats``.

    NIfTI needs ``mask`` (a binary 3-D image); HDF5/``.npz`` read dataset ``key``.
    For repeats in NIfTI or GIfTI, give a list of files to ``load_repeats`` instead.
    """
    p = _existing(path)
    ext = _suffix(p)
    if ext in (".nii", ".nii.gz"):
        if mask is None:
            raise ValueError(f"{p}: volumetric BOLD needs a mask image (mask=...)")
        from nilearn.maskers import NiftiMasker

        mask_p = _existing(mask)
        masker = NiftiMasker(mask_img=str(mask_p), standardize=None)
        try:
            arr = masker.fit_transform(str(p))
        except Exception as exc:  # nilearn's own message names the mismatch
            raise ValueError(f"{p} with mask {mask_p}: {exc}") from exc
        if arr.shape[1] == 0:
            raise ValueError(f"{p}: the mask {mask_p} selects no voxels")
    elif ext == ".gii":
        import nibabel as nib

        darrays = nib.load(str(p)).darrays
        arr = (np.stack([d.data for d in darrays]) if len(darrays) > 1 else darrays[0].data)
        if arr.ndim == 2 and arr.shape[0] > arr.shape[1] and len(darrays) == 1:
            arr = arr.T  # one (n_vertices, n_trs) array
    else:
        try:
            arr = _read_array(p, key)
        except (OSError, EOFError, ValueError) as exc:
            if str(p) in str(exc):
                raise
            raise ValueError(f"{p}: cannot read the file (truncated or corrupt?): {exc}") from exc
    return _check_bold(arr, p, repeats)


def load_repeats(paths: list[str | Path], **kwargs: Any) -> np.ndarray:
    """Repeated presentations, one file each, stacked to (n_repeats, n_trs, n_voxels)."""
    runs = [load_bold(p, **kwargs) for p in paths]
    shapes = {r.shape for r in runs}
    if len(shapes) != 1:
        raise ValueError(f"repeats differ in shape: {[r.shape for r in runs]}")
    return np.stack(runs)


def _layer_order(name: str) -> tuple[int, str]:
    m = re.search(r"(\d+)$", name)
    return (int(m.group(1)) if m else -1, name)


def _feature_arrays(p: Path) -> dict[str, np.ndarray]:
    ext = _suffix(p)
    if ext == ".npz":
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    if ext in (".h5", ".hdf5"):
        import h5py

        with h5py.File(p, "r") as f:
            return {k: f[k][()] for k in f.keys() if isinstance(f[k], h5py.Dataset)}
    raise ValueError(f"{p}: features must be .npz or HDF5 with one dataset per layer")


def resample_to_trs(values: np.ndarray, timestamps: np.ndarray, tr: float, n_trs: int) -> np.ndarray:
    """Average rows of ``values`` (n_samples, n_features) whose ``timestamps`` (s) fall in
    each TR bin [k tr, (k + 1) tr); empty bins are linearly interpolated. (n_trs, n_features)."""
    t = np.asarray(timestamps, dtype=float)
    if t.shape != (values.shape[0],):
        raise ValueError(f"timestamps {t.shape} do not match {values.shape[0]} feature rows")
    if not np.all(np.diff(t) >= 0):
        raise ValueError("timestamps must be non-decreasing")
    bins = np.floor(t / tr).astype(int)
    keep = (bins >= 0) & (bins < n_trs)
    sums = np.zeros((n_trs, values.shape[1]))
    np.add.at(sums, bins[keep], values[keep])
    counts = np.bincount(bins[keep], minlength=n_trs)
    out = sums / np.maximum(counts, 1)[:, None]
    empty = counts == 0
    if empty.all():
        raise ValueError(f"no timestamp falls inside the {n_trs} TRs of {tr} s")
    if empty.any():
        centres = (np.arange(n_trs) + 0.5) * tr
        for j in range(values.shape[1]):
            out[empty, j] = np.interp(centres[empty], centres[~empty], out[~empty, j])
    return out


def load_features(path: str | Path, layers: list[str] | None = None, tr: float | None = None,
                  n_trs: int | None = None) -> dict[str, np.ndarray]:
    """Per-layer features {layer name: (n_trs, n_features) float32}, in layer order.

    If the file holds a ``timestamps`` dataset (s, one per row), rows are averaged into TR
    bins of ``tr`` seconds over ``n_trs`` TRs (both required then).
    """
    p = _existing(path)
    try:
        arrays = _feature_arrays(p)
    except (OSError, EOFError, ValueError) as exc:
        if str(p) in str(exc):
            raise
        raise ValueError(f"{p}: cannot read the file (truncated or corrupt?): {exc}") from exc
    stamps = arrays.pop(TIMESTAMP_KEY, None)
    names = sorted(arrays, key=_layer_order) if layers is None else list(layers)
    missing = [n for n in names if n not in arrays]
    if missing or not names:
        raise ValueError(f"{p}: missing layer(s) {missing or names}; layers in the file: "
                         f"{sorted(arrays, key=_layer_order)}")
    out = {}
    for name in names:
        x = np.asarray(arrays[name], dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"{p}: layer {name!r} must be (n_rows, n_features), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{p}: layer {name!r} contains NaN or infinite values")
        if stamps is not None:
            if tr is None or n_trs is None:
                raise ValueError(f"{p} has timestamps: give tr and n_trs to resample to the TR grid")
            x = resample_to_trs(x, stamps, tr, n_trs)
        out[name] = x.astype(np.float32)
    rows = {v.shape[0] for v in out.values()}
    if len(rows) != 1:
        raise ValueError(f"{p}: layers have different numbers of rows: "
                         f"{ {k: v.shape[0] for k, v in out.items()} }")
    return out
