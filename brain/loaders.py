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


def existing_file(path: str | Path) -> Path:
    """``path`` as a Path; FileNotFoundError naming it when it is not a file."""
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
    p = existing_file(path)
    ext = _suffix(p)
    if ext in (".nii", ".nii.gz"):
        if mask is None:
            raise ValueError(f"{p}: volumetric BOLD needs a mask image (mask=...)")
        from nilearn.maskers import NiftiMasker

        mask_p = existing_file(mask)
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


def _feature_arrays(p: Path, group: str | None = None) -> dict[str, np.ndarray]:
    ext = _suffix(p)
    if ext == ".npz":
        if group is not None:
            raise ValueError(f"{p}: group={group!r} needs an HDF5 file; .npz files have no groups")
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    if ext in (".h5", ".hdf5"):
        import h5py

        with h5py.File(p, "r") as f:
            groups = sorted(k for k in f.keys() if isinstance(f[k], h5py.Group) and k != "clips")
            if group is not None and (group not in f or not isinstance(f[group], h5py.Group)):
                raise ValueError(f"{p}: no group {group!r}; groups in the file: {groups}")
            g = f if group is None else f[group]
            arrays = {k: g[k][()] for k in g.keys() if isinstance(g[k], h5py.Dataset)}
            if not arrays and groups and group is None:
                raise ValueError(f"{p} holds one group of layers per instruction: choose one with "
                                 f"group=<name>; groups in the file: {groups}")
            return arrays
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
                  n_trs: int | None = None, group: str | None = None) -> dict[str, np.ndarray]:
    """Per-layer features {layer name: (n_trs, n_features) float32}, in layer order.

    If the file holds a ``timestamps`` dataset (s, one per row), rows are averaged into TR
    bins of ``tr`` seconds over ``n_trs`` TRs (both required then). ``group``: the HDF5
    group to read (one per task instruction in files of ``task=features``).
    """
    p = existing_file(path)
    try:
        arrays = _feature_arrays(p, group)
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


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def load_experiment(
    bold: list[str | Path],
    test_bold: list[Any],
    features: dict[str, dict[str, str | Path]],
    runs: str | Path | None = None,
    labels: str | Path | None = None,
    region_names: list[str] | None = None,
    vertices: str | Path | None = None,
    mask: str | Path | None = None,
    tr: float = 1.49,
) -> Any:
    """Assemble an :class:`~brain.dataset.EncodingData` from user files.

    ``bold``: one training BOLD file per subject. ``test_bold``: per subject, a list of
    repeat files or one file of (n_repeats, n_trs, n_voxels). ``features``:
    {space: {"train": file, "test": file, "group": optional HDF5 group}} per-layer files
    (same layers in both).
    ``runs``: ``.npy`` run labels (n_train,). ``labels``: ``.npy`` integer region labels
    (n_voxels,) or, for NIfTI data, a label image; named by ``region_names``. ``vertices``: ``.npy`` fsaverage5 indices for
    surface maps. ``mask``: for NIfTI BOLD.
    """
    from brain.dataset import EncodingData

    if not bold or len(bold) != len(test_bold):
        raise ValueError(f"need one training and one test entry per subject, got {len(bold)} and "
                         f"{len(test_bold)}")
    train = np.stack(_same_shape([load_bold(p, mask=mask) for p in bold], "training BOLD"))
    tests = []
    for entry in test_bold:
        files = _as_list(entry)
        tests.append(load_bold(files[0], mask=mask, repeats=True) if len(files) == 1
                     else load_repeats(files, mask=mask))
    test = np.stack(_same_shape(tests, "test BOLD"))
    if not features:
        raise ValueError("no feature spaces given (features: {space: {train: ..., test: ...}})")
    f_train, f_test = {}, {}
    for space, paths in features.items():
        unknown = sorted(set(paths) - {"train", "test", "group"})
        if unknown or "train" not in paths or "test" not in paths:
            raise ValueError(f"features.{space} needs train and test files (and optionally group), "
                             f"got keys {sorted(paths)}")
        group = paths.get("group")
        tr_layers = load_features(paths["train"], group=group)
        te_layers = load_features(paths["test"], group=group)
        if list(tr_layers) != list(te_layers):
            raise ValueError(f"{space}: train layers {list(tr_layers)} differ from test layers {list(te_layers)}")
        f_train[space], f_test[space] = list(tr_layers.values()), list(te_layers.values())
    n_vox = train.shape[2]
    region = np.zeros(n_vox, int) if labels is None else _load_labels(labels, mask)
    if region.shape != (n_vox,):
        raise ValueError(f"{labels}: {region.size} region labels for {n_vox} voxels")
    names = tuple(region_names) if region_names else tuple(
        ["all"] if labels is None else [f"region_{i}" for i in range(int(region.max()) + 1)])
    if region.size and (region.min() < 0 or region.max() >= len(names)):
        raise ValueError(f"region labels span {region.min()}..{region.max()} but {len(names)} names are given")
    return EncodingData(
        features_train=f_train, features_test=f_test, bold_train=train,
        runs=None if runs is None else np.load(existing_file(runs), allow_pickle=False),
        bold_test=test, region=region, region_names=names, spaces=tuple(features),
        vertices=None if vertices is None else np.load(existing_file(vertices), allow_pickle=False).astype(int),
        tr=float(tr), mask=None if mask is None else str(existing_file(mask)),
    )


def _load_labels(labels: str | Path, mask: str | Path | None) -> np.ndarray:
    """Integer region label per voxel: a ``.npy`` array (n_voxels,), or a NIfTI label image
    read through ``mask`` (nearest-neighbour resampling onto the mask's grid)."""
    p = existing_file(labels)
    if _suffix(p) in (".nii", ".nii.gz"):
        if mask is None:
            raise ValueError(f"{p}: a label image needs the BOLD mask (mask=...)")
        from nilearn.image import resample_to_img
        from nilearn.maskers import NiftiMasker

        img = resample_to_img(str(p), str(existing_file(mask)), interpolation="nearest",
                              force_resample=True, copy_header=True)
        labels_2d = NiftiMasker(mask_img=str(mask), standardize=None).fit_transform(img)
        return np.atleast_2d(labels_2d)[0].round().astype(int)
    return np.load(p, allow_pickle=False).astype(int).ravel()


def _same_shape(arrays: list[np.ndarray], what: str) -> list[np.ndarray]:
    shapes = [a.shape for a in arrays]
    if len(set(shapes)) != 1:
        raise ValueError(f"{what} differs in shape between subjects: {shapes}")
    return arrays
