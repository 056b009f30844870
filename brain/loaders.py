"""Loading user data for encoding: BOLD responses and per-layer model features.

BOLD comes as 4-D NIfTI with a mask (nilearn's ``NiftiMasker``), GIfTI surface data, or
plain ``.npy`` / ``.npz`` / HDF5 arrays of shape (n_trs, n_voxels) — or, for repeated test
presentations, (n_repeats, n_trs, n_voxels). Features come as ``.npz`` or HDF5 files with
one 2-D dataset per layer (``layer_00``, ``layer_01``, ...), one row per TR or one row per
timestamp (then averaged into TR bins). Every problem raises a ``ValueError`` or
``FileNotFoundError`` that names the file and the offending sizes: files that cannot be
parsed (truncated, corrupt, wrong format), arrays of the wrong shape or of non-numeric
dtype (strings, objects, complex, records, dates), NaN or infinite values, values beyond
float32 range, and sizes that differ between files. Loading never writes anything.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

BOLD_KEY = "bold"
TIMESTAMP_KEY = "timestamps"
N_FSAVERAGE5_VERTICES = 20484  # both hemispheres: surface vertex indices are 0..20483
_REAL_KINDS = "biuf"  # bool, signed and unsigned integers, floats


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


def _unreadable(p: Path, exc: Exception) -> ValueError:
    """The ValueError for a file whose parsing failed with ``exc``; our own errors pass as they are."""
    if type(exc) is ValueError and str(exc).startswith(f"{p}"):
        return exc
    kind = next((e for e in (".nii.gz", ".nii", ".gii", ".npy", ".npz", ".h5", ".hdf5")
                 if p.name.lower().endswith(e)), p.suffix)
    return ValueError(f"{p}: cannot read the file (truncated, corrupt or not a {kind} file?): "
                      f"{type(exc).__name__}: {exc}")


def _as_float32(arr: Any, source: Any, what: str, keep_nonfinite: bool = False) -> np.ndarray:
    """``arr`` as float32, or a ValueError naming ``source`` if it is not real numbers (strings,
    objects, complex, records, dates), holds NaN or infinite values or exceeds float32 range.
    ``keep_nonfinite``: return NaN and infinite values (and values beyond float32 range, as
    infinities) instead of raising."""
    arr = np.asarray(arr)
    if arr.dtype.kind not in _REAL_KINDS:
        raise ValueError(f"{source}: {what} must hold real numbers (bool, integer or float), "
                         f"got dtype {arr.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):
        out = arr.astype(np.float32, copy=False)
    if not keep_nonfinite and not np.isfinite(out).all():
        n_bad = int(np.count_nonzero(~np.isfinite(arr))) if arr.dtype.kind == "f" else 0
        if n_bad:
            raise ValueError(f"{source}: {what} contains {n_bad} NaN or infinite values")
        raise ValueError(f"{source}: {what} has {int(np.count_nonzero(~np.isfinite(out)))} values beyond "
                         f"the float32 range (|x| > {np.finfo(np.float32).max:.3g})")
    return out


def _check_signature(p: Path, ext: str) -> None:
    """ValueError unless ``p`` starts like a ``.npy`` file or a zip archive (``.npz``), and,
    for ``.npy``, holds as many bytes as its header promises (a truncated file or a corrupt
    header claiming a huge array fails here, before any memory is allocated for it)."""
    with open(p, "rb") as f:
        head = f.read(6)
        ok = head == b"\x93NUMPY" if ext == ".npy" else head[:4] in (b"PK\x03\x04", b"PK\x05\x06")
        if not ok:
            what = "a .npy file (no NUMPY header)" if ext == ".npy" else "a .npz file (not a zip archive)"
            raise ValueError(f"{p}: not {what}; is it truncated, corrupt or of another format?")
        if ext != ".npy":
            return
        f.seek(0)
        fmt = np.lib.format
        version = fmt.read_magic(f)
        read_header = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
        if read_header is None:  # other versions: np.load checks them itself
            return
        shape, _, dtype = read_header(f)
        if dtype.hasobject:
            return  # refused by np.load (allow_pickle=False)
        need = int(np.prod(shape, dtype=object)) * dtype.itemsize
        have = p.stat().st_size - f.tell()
    if have < need:
        raise ValueError(f"{p}: the .npy header promises a {dtype} array of shape {shape} ({need} bytes) "
                         f"but the file holds {have} bytes of data; is it truncated?")


def _read_array(p: Path, key: str) -> np.ndarray:
    ext = _suffix(p)
    if ext in (".npy", ".npz"):
        _check_signature(p, ext)
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
        if not isinstance(f[key], h5py.Dataset):
            raise ValueError(f"{p}: {key!r} is a group, not a dataset")  # noqa: TRY004 - file content
        return f[key][()]


def _check_bold(arr: np.ndarray, source: Any, repeats: bool, keep_nonfinite: bool = False) -> np.ndarray:
    want = 3 if repeats else 2
    shape = "(n_repeats, n_trs, n_voxels)" if repeats else "(n_trs, n_voxels)"
    if arr.ndim != want:
        raise ValueError(f"{source}: BOLD must have shape {shape}, got {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{source}: BOLD is empty, shape {arr.shape}")
    return _as_float32(arr, source, "BOLD", keep_nonfinite)


def load_bold(path: str | Path, mask: str | Path | None = None, repeats: bool = False,
              key: str = BOLD_KEY, keep_nonfinite: bool = False) -> np.ndarray:
    """BOLD responses, float32 (n_trs, n_voxels), or (n_repeats, n_trs, n_voxels) if ``repeats``.

    NIfTI needs ``mask`` (a binary 3-D image); HDF5/``.npz`` read dataset ``key``.
    For repeats in NIfTI or GIfTI, give a list of files to ``load_repeats`` instead.
    NaN or infinite values raise a ValueError, unless ``keep_nonfinite`` (then they are
    returned as they are, NaN in NIfTI included, and values beyond float32 range as inf).
    """
    return _check_bold(_read_bold(path, mask, key, keep_nonfinite), Path(path), repeats, keep_nonfinite)


def _read_bold(path: str | Path, mask: str | Path | None, key: str, keep_nonfinite: bool) -> np.ndarray:
    """The raw BOLD array of any file type (not yet checked for shape or values)."""
    p = existing_file(path)
    ext = _suffix(p)
    if ext in (".nii", ".nii.gz"):
        if mask is None:
            raise ValueError(f"{p}: volumetric BOLD needs a mask image (mask=...)")
        import nibabel as nib
        from nilearn.maskers import NiftiMasker

        mask_p = existing_file(mask)
        masker = NiftiMasker(mask_img=str(mask_p), standardize=None, reports=False)
        _same_grid(p, mask_p)
        try:
            img = nib.load(str(p))
            data = np.asanyarray(img.dataobj)  # read (and decompressed) once
            if data.dtype.kind not in _REAL_KINDS:  # nilearn would drop imaginary parts
                raise ValueError(f"{p}: BOLD must hold real numbers (bool, integer or float), "
                                 f"got dtype {data.dtype}")
            arr = masker.fit().transform(nib.Nifti1Image(data, img.affine))
            hits = _nonfinite_in_mask(masker, data, img.affine)
        except ImportError:
            raise
        except Exception as exc:  # nibabel / nilearn: unreadable image, mismatched mask
            raise ValueError(f"{p} with mask {mask_p}: {type(exc).__name__}: {exc}") from exc
        if hits is not None and hits.any():  # nilearn would silently have replaced them by zeros
            if not keep_nonfinite:
                raise ValueError(f"{p}: BOLD contains {int(np.count_nonzero(hits))} NaN or infinite values "
                                 f"inside the mask {mask_p}")
            arr = np.where(hits.reshape(arr.shape), np.nan, arr)
        if arr.ndim == 2 and arr.shape[1] == 0:
            raise ValueError(f"{p}: the mask {mask_p} selects no voxels")
    elif ext == ".gii":
        arr = _read_gifti(p)[0]
    else:
        try:
            arr = _read_array(p, key)
        except (ImportError, MemoryError):
            raise
        except Exception as exc:  # numpy, zipfile, zlib, h5py: truncated or corrupt files
            raise _unreadable(p, exc) from exc
    return arr


def _read_gifti(p: Path) -> tuple[np.ndarray, Any]:
    """The raw data of a GIfTI file (one data array per volume, stacked to (n_trs, n_vertices),
    or one (n_vertices, n_trs) array, transposed) and the nibabel image (for its metadata)."""
    import nibabel as nib

    try:
        img = nib.load(str(p))
        darrays = [np.asarray(d.data) for d in img.darrays]
    except (ImportError, MemoryError):
        raise
    except Exception as exc:
        raise _unreadable(p, exc) from exc
    if not darrays:
        raise ValueError(f"{p}: the GIfTI file holds no data arrays")
    if len({d.shape for d in darrays}) != 1:
        raise ValueError(f"{p}: GIfTI data arrays differ in shape: {[d.shape for d in darrays]}")
    arr = np.stack(darrays) if len(darrays) > 1 else darrays[0]
    if arr.ndim == 2 and arr.shape[0] > arr.shape[1] and len(darrays) == 1:
        arr = arr.T  # one (n_vertices, n_trs) array
    return arr, img


def load_gifti(path: str | Path) -> tuple[np.ndarray, float | None]:
    """Surface BOLD of one GIfTI file as :func:`load_bold` reads it, float32 (n_trs,
    n_vertices), and the ``TimeStep`` its metadata gives (first data array's, else the
    file's; None when absent, 0 or not a number), as written: FreeSurfer (hence fMRIPrep)
    writes milliseconds, AFNI seconds. The file is parsed once."""
    p = existing_file(path)
    arr, img = _read_gifti(p)
    arr = _check_bold(arr, p, repeats=False)
    step = None
    for meta in (img.darrays[0].meta, img.meta):
        try:
            value = float(dict(meta or {}).get("TimeStep", "nan"))
        except (TypeError, ValueError):
            continue
        if np.isfinite(value) and value > 0:
            step = value
            break
    return arr, step


def same_grid(a: Any, b: Any) -> bool:
    """Whether two images (nibabel) share a voxel grid: the same 3-D shape and affine."""
    return a.shape[:3] == b.shape[:3] and bool(np.allclose(a.affine, b.affine, atol=1e-4))


def read_table(path: str | Path, what: str, columns: tuple[str, ...], optional: str = "") -> list[dict[str, str]]:
    """The rows of a tab-separated table with a header, which must hold ``columns``; errors
    name ``what`` the table is (e.g. "stimulus table") and the ``optional`` columns it may add."""
    import csv

    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"{what} {p}: no such file")
    with p.open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows or not set(columns) <= set(rows[0]):
        article = "an" if what[0] in "aeiou" else "a"
        raise ValueError(f"{p}: {article} {what} needs tab-separated columns {' and '.join(columns)}"
                         + (f" (optionally {optional})" if optional else ""))
    return rows


TR_TOL = 1e-3  # s: a header's TR and the TR given (or a sidecar's) agree within this


def _same_grid(p: Path, mask_p: Path) -> None:
    """Refuse a mask on another grid than the BOLD image (nilearn would resample it silently)."""
    import nibabel as nib

    try:
        img, m = nib.load(str(p)), nib.load(str(mask_p))
    except Exception:  # unreadable files are named by the reader that follows
        return
    if not same_grid(img, m):
        raise ValueError(f"{mask_p}: the mask is on another grid (shape {m.shape[:3]}) than the BOLD {p} (shape "
                         f"{img.shape[:3]}) or has another affine; resample it onto the BOLD grid first (it is not "
                         "resampled silently)")


def nifti_tr(path: str | Path) -> float | None:
    """The TR (s) a NIfTI header gives (``pixdim[4]``, in its time unit), or None when it gives
    none (0, or not a 4-D image)."""
    import nibabel as nib

    hdr = nib.load(str(path)).header
    zooms = hdr.get_zooms()
    if len(zooms) < 4 or not zooms[3] > 0:
        return None
    unit = hdr.get_xyzt_units()[1]
    return float(zooms[3]) / (1000.0 if unit == "msec" else 1e6 if unit == "usec" else 1.0)


def _nonfinite_in_mask(masker: Any, data: np.ndarray, affine: np.ndarray) -> np.ndarray | None:
    """Where the fitted NiftiMasker ``masker`` extracts values from non-finite ones of ``data``
    (nilearn replaces NaN and inf by zeros without telling): a bool array shaped like its
    output, or None if ``data`` is all finite. Scans ``data`` in blocks of volumes."""
    if data.dtype.kind not in "fc":
        return None
    if data.ndim >= 4:
        step = max(1, 2 ** 24 // max(1, int(np.prod(data.shape[:3]))))
        clean = all(np.isfinite(data[..., i:i + step]).all() for i in range(0, data.shape[-1], step))
    else:
        clean = bool(np.isfinite(data).all())
    if clean:
        return None
    import nibabel as nib

    return masker.transform(nib.Nifti1Image((~np.isfinite(data)).astype(np.float32), affine)) > 0


def load_repeats(paths: list[str | Path], **kwargs: Any) -> np.ndarray:
    """Repeated presentations, one file each, stacked to (n_repeats, n_trs, n_voxels)."""
    paths = list(paths)
    if not paths:
        raise ValueError("no repeat files given")
    runs = [load_bold(p, **kwargs) for p in paths]
    shapes = {r.shape for r in runs}
    if len(shapes) != 1:
        raise ValueError("repeats differ in shape: " + ", ".join(f"{p}: {r.shape}" for p, r in zip(paths, runs)))
    return np.stack(runs)


def _layer_order(name: str) -> tuple[int, str]:
    m = re.search(r"(\d+)$", name)
    return (int(m.group(1)) if m else -1, name)


def _feature_arrays(p: Path, group: str | None = None) -> dict[str, np.ndarray]:
    ext = _suffix(p)
    if ext == ".npz":
        if group is not None:
            raise ValueError(f"{p}: group={group!r} needs an HDF5 file; .npz files have no groups")
        _check_signature(p, ext)
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    if ext in (".h5", ".hdf5"):
        import h5py

        with h5py.File(p, "r") as f:
            _check_names(p, f)
            groups = sorted(k for k in f.keys() if isinstance(f[k], h5py.Group) and k != "clips")
            if group is not None and (group not in f or not isinstance(f[group], h5py.Group)):
                raise ValueError(f"{p}: no group {group!r}; groups in the file: {groups}")
            g = f if group is None else f[group]
            _check_names(p, g)
            arrays = {k: g[k][()] for k in g.keys() if isinstance(g[k], h5py.Dataset)}
            if not arrays and groups and group is None:
                raise ValueError(f"{p} holds one group of layers per instruction: choose one with "
                                 f"group=<name>; groups in the file: {groups}")
            return arrays
    raise ValueError(f"{p}: features must be .npz or HDF5 with one dataset per layer")


def _check_names(p: Path, group: Any) -> None:
    """ValueError for member names of an HDF5 group that are not UTF-8 (h5py hands them over as bytes)."""
    odd = [k for k in group if not isinstance(k, str)]
    if odd:
        raise ValueError(f"{p}: names that are not UTF-8 text: {odd[:3]}; is the file corrupt?")


def resample_to_trs(values: np.ndarray, timestamps: np.ndarray, tr: float, n_trs: int) -> np.ndarray:
    """Average rows of ``values`` (n_samples, n_features) whose ``timestamps`` (s) fall in
    each TR bin [k tr, (k + 1) tr); empty bins are linearly interpolated. (n_trs, n_features).

    ValueError for values that are not a finite real 2-D array, timestamps that are not
    finite, non-decreasing and one per row, a ``tr`` that is not a positive number of
    seconds or an ``n_trs`` that is not a positive integer."""
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"values must be (n_samples, n_features), got shape {values.shape}")
    if values.dtype.kind not in _REAL_KINDS or not np.all(np.isfinite(values)):
        raise ValueError(f"values must be finite real numbers, got dtype {values.dtype}"
                         + (" with NaN or infinite values" if values.dtype.kind in _REAL_KINDS else ""))
    values = values.astype(np.float64, copy=False)
    t = np.asarray(timestamps)
    if t.dtype.kind not in _REAL_KINDS:
        raise ValueError(f"timestamps must be real numbers (s), got dtype {t.dtype}")
    t = t.astype(float)
    if t.shape != (values.shape[0],):
        raise ValueError(f"timestamps {t.shape} do not match {values.shape[0]} feature rows")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"timestamps contain {int(np.sum(~np.isfinite(t)))} NaN or infinite values")
    if not np.all(np.diff(t) >= 0):
        raise ValueError("timestamps must be non-decreasing")
    if isinstance(tr, bool) or not isinstance(tr, numbers.Real) or not (np.isfinite(tr) and tr > 0):
        raise ValueError(f"tr must be a positive number of seconds, got {tr!r}")
    tr = float(tr)
    if isinstance(n_trs, bool) or not isinstance(n_trs, (int, np.integer)) or n_trs < 1:
        raise ValueError(f"n_trs must be a positive integer, got {n_trs!r}")
    n_trs = int(n_trs)
    with np.errstate(over="ignore"):
        fbins = np.floor(t / tr)
    keep = (fbins >= 0) & (fbins < n_trs)
    bins = fbins[keep].astype(int)
    sums = np.zeros((n_trs, values.shape[1]))
    np.add.at(sums, bins, values[keep])
    counts = np.bincount(bins, minlength=n_trs)
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
    except (ImportError, MemoryError):
        raise
    except Exception as exc:  # numpy, zipfile, zlib, h5py: truncated or corrupt files
        raise _unreadable(p, exc) from exc
    stamps = arrays.pop(TIMESTAMP_KEY, None)
    if not arrays:
        raise ValueError(f"{p}: no feature layers in the file" + (f" (group {group!r})" if group else ""))
    names = sorted(arrays, key=_layer_order) if layers is None else list(layers)
    missing = [n for n in names if n not in arrays]
    if missing or not names:
        raise ValueError(f"{p}: missing layer(s) {missing or names}; layers in the file: "
                         f"{sorted(arrays, key=_layer_order)}")
    if stamps is not None and (tr is None or n_trs is None):
        raise ValueError(f"{p} has timestamps: give tr and n_trs to resample to the TR grid")
    out = {}
    for name in names:
        arr = np.asarray(arrays[name])
        if arr.ndim != 2:
            raise ValueError(f"{p}: layer {name!r} must be (n_rows, n_features), got {arr.shape}")
        if arr.size == 0:
            raise ValueError(f"{p}: layer {name!r} is empty, shape {arr.shape}")
        x = _as_float32(arr, p, f"layer {name!r}")
        if stamps is not None:
            try:
                x = resample_to_trs(np.asarray(arr, dtype=np.float64), stamps, tr, n_trs).astype(np.float32)
            except ValueError as exc:
                raise ValueError(f"{p}: layer {name!r}: {exc}") from exc
        out[name] = x
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
    """Assemble an :class:`~brain.dataset.EncodingData` from user files, checking everything
    before any fitting.

    ``bold``: one training BOLD file per subject. ``test_bold``: per subject, a list of
    repeat files, or one file: (n_repeats, n_trs, n_voxels), or (n_trs, n_voxels) / a 4-D
    NIfTI for a single presentation (then ``bold_test`` has a repeat axis of 1 and
    ``EncodingData.n_repeats == 1``: no split-half noise ceiling). Every subject needs the
    same number of presentations. ``features``: {space: {"train": file, "test": file,
    "group": optional HDF5 group}} per-layer files (same layers, and the same width per
    layer, in both); ``"groups": [names]`` or ``"groups": "all"`` instead of ``group`` makes
    one space per instruction group, named by the group (listed in
    ``EncodingData.instructions``). ``runs``: ``.npy`` integer run labels (n_train,) (whole-number floats
    are accepted; strings and fractions are not). ``labels``: ``.npy`` integer region labels
    (n_voxels,) or, for NIfTI data, a label image; named by ``region_names``. ``vertices``:
    ``.npy`` fsaverage5 indices for surface maps. ``mask``: for NIfTI BOLD.

    Voxels with NaN or infinite values are set to 0 for that subject (train and test) and,
    like constant (e.g. all-zero) voxels, counted in ``EncodingData.notes`` and flagged in
    ``EncodingData.bad_voxels``; a subject with no usable voxel is an error. Any other
    problem raises a ValueError naming the files.
    """
    from brain.dataset import EncodingData, unusable_voxels

    bold, test_bold = _as_list(bold), _as_list(test_bold)
    if not bold or len(bold) != len(test_bold):
        raise ValueError(f"need one training and one test entry per subject, got {len(bold)} and "
                         f"{len(test_bold)}")
    for f in [*bold, *(x for entry in test_bold for x in _as_list(entry))]:
        if str(f).lower().endswith((".nii", ".nii.gz")) and Path(f).is_file():
            try:
                header_tr = nifti_tr(f)
            except Exception:  # unreadable: named by the reader below
                continue
            if header_tr is not None and abs(header_tr - float(tr)) > TR_TOL:
                raise ValueError(f"{f}: the NIfTI header gives TR {header_tr:g} s, but tr={float(tr):g} s was "
                                 "given; give the header's TR (or fix the header)")
    train = np.stack(_same_shape([load_bold(p, mask=mask, keep_nonfinite=True) for p in bold],
                                 "training BOLD", bold))
    test = _load_test_bold(test_bold, mask)
    n_train, n_test, n_vox = train.shape[1], test.shape[2], train.shape[2]
    if test.shape[3] != n_vox:
        raise ValueError(f"test BOLD {test_bold[0]} has {test.shape[3]} voxels, training BOLD {bold[0]} "
                         f"has {n_vox}")
    f_train, f_test = _load_feature_spaces(features, n_train, n_test, bold[0], _as_list(test_bold[0])[0])
    region = np.zeros(n_vox, int) if labels is None else _load_labels(labels, mask)
    if region.shape != (n_vox,):
        raise ValueError(f"{labels}: {region.size} region labels for {n_vox} voxels of {bold[0]}")
    names = tuple(region_names) if region_names else tuple(
        ["all"] if labels is None else [f"region_{i}" for i in range(int(region.max()) + 1)])
    if region.size and (region.min() < 0 or region.max() >= len(names)):
        raise ValueError(f"{labels}: region labels span {region.min()}..{region.max()} but {len(names)} "
                         f"names are given")
    if region_names and region.size and len(names) > int(region.max()) + 1:
        raise ValueError(f"{len(names)} region names {list(names)} for the labels 0..{region.max()} of {labels}: "
                         f"give one name per label")
    run_labels = None if runs is None else _load_vector(runs, "run labels", "biuf", integer=True)
    if run_labels is not None and run_labels.shape != (n_train,):
        raise ValueError(f"{runs}: {run_labels.size} run labels for {n_train} training TRs of {bold[0]}")
    vertex_ids = None if vertices is None else _load_vector(vertices, "vertex indices", "biuf", integer=True)
    if vertex_ids is not None:
        if vertex_ids.shape != (n_vox,):
            raise ValueError(f"{vertices}: {vertex_ids.size} vertex indices for {n_vox} voxels of {bold[0]}")
        if vertex_ids.size and (vertex_ids.min() < 0 or vertex_ids.max() >= N_FSAVERAGE5_VERTICES):
            raise ValueError(f"{vertices}: vertex indices span {vertex_ids.min()}..{vertex_ids.max()}; "
                             f"fsaverage5 has 0..{N_FSAVERAGE5_VERTICES - 1}")
    notes = _bad_voxel_notes(train, test, bold, test_bold, unusable_voxels)
    if test.shape[1] == 1:
        notes.append("test BOLD: one presentation per subject, so no split-half noise ceiling")
    return EncodingData(
        features_train=f_train, features_test=f_test, bold_train=train, runs=run_labels,
        bold_test=test, region=region, region_names=names, spaces=tuple(f_train),
        instructions=_expand_groups(features)[1] if isinstance(features, Mapping) else (),
        vertices=vertex_ids, tr=float(tr), mask=None if mask is None else str(existing_file(mask)),
        notes=tuple(notes),
    )


def _load_test_bold(test_bold: list[Any], mask: str | Path | None) -> np.ndarray:
    """(n_subjects, n_repeats, n_test, n_vox) float32 (NaN kept); ValueError naming the files
    when subjects differ in repeats, TRs or voxels."""
    tests = []
    for subject, entry in enumerate(test_bold):
        files = _as_list(entry)
        if not files:
            raise ValueError(f"test_bold of subject {subject}: no files given")
        if len(files) > 1:
            tests.append(load_repeats(files, mask=mask, keep_nonfinite=True))
            continue
        arr = _read_bold(files[0], mask, BOLD_KEY, keep_nonfinite=True)
        if np.ndim(arr) == 2:  # a single presentation
            arr = np.asarray(arr)[None]
        tests.append(_check_bold(arr, Path(files[0]), repeats=True, keep_nonfinite=True))
    reps = [t.shape[0] for t in tests]
    if len(set(reps)) != 1:
        raise ValueError("test BOLD: subjects have different numbers of test presentations: "
                         + ", ".join(f"{e}: {n}" for e, n in zip(test_bold, reps)))
    return np.stack(_same_shape(tests, "test BOLD", test_bold))


def feature_groups(path: str | Path) -> list[str]:
    """Instruction groups of a features file (HDF5 ``/<group>/layer_XX``, as ``task=features``
    writes), in the file's order; ValueError when it has none (a plain encoder's file or .npz)."""
    p = existing_file(path)
    if _suffix(p) not in (".h5", ".hdf5"):
        raise ValueError(f"{p}: instruction groups need an HDF5 features file")
    import h5py

    try:
        with h5py.File(p, "r") as f:
            _check_names(p, f)
            groups = [k for k in f.keys() if isinstance(f[k], h5py.Group) and k != "clips"]
    except Exception as exc:
        raise _unreadable(p, exc) from exc
    if not groups:
        raise ValueError(f"{p}: no instruction groups in the file (layers at its root: a plain encoder's file)")
    return groups


def _expand_groups(features: Mapping) -> tuple[dict[str, Mapping], tuple[str, ...]]:
    """``features`` with every entry that has ``groups`` (a list of group names, or ``all``)
    replaced by one entry per group, named by the group; (entries, the names made so)."""
    out: dict[str, Mapping] = {}
    instructions: list[str] = []
    for space, paths in features.items():
        if not isinstance(paths, Mapping) or paths.get("groups") is None:
            if space in out:
                raise ValueError(f"features: space {space!r} is also the name of an instruction group")
            out[space] = paths
            continue
        if paths.get("group") is not None:
            raise ValueError(f"features.{space}: give group (one) or groups (several), not both")
        groups = paths["groups"]
        if groups == "all":
            groups = feature_groups(paths.get("train", ""))
        if isinstance(groups, str) or not isinstance(groups, (list, tuple)) or not groups:
            raise ValueError(f"features.{space}.groups must be a non-empty list of group names or 'all', "
                             f"got {groups!r}")
        for g in groups:
            if str(g) in out:
                raise ValueError(f"features.{space}: instruction group {g!r} names another feature space too")
            out[str(g)] = {k: v for k, v in paths.items() if k != "groups"} | {"group": str(g)}
            instructions.append(str(g))
    return out, tuple(instructions)


def _load_feature_spaces(features: Any, n_train: int, n_test: int, train_src: Any,
                         test_src: Any) -> tuple[dict[str, list[np.ndarray]], dict[str, list[np.ndarray]]]:
    """{space: [per-layer train features]}, {space: [per-layer test features]}, checked against
    the BOLD TRs and each other (same layers, same width per layer)."""
    if not features or not isinstance(features, Mapping):
        raise ValueError("no feature spaces given (features: {space: {train: ..., test: ...}})")
    features, _ = _expand_groups(features)
    f_train, f_test = {}, {}
    for space, paths in features.items():
        if not isinstance(paths, Mapping):
            raise ValueError(f"features.{space} must map train and test to files, got {paths!r}")  # noqa: TRY004
        unknown = sorted(set(paths) - {"train", "test", "group"})
        if unknown or "train" not in paths or "test" not in paths:
            raise ValueError(f"features.{space} needs train and test files (and optionally group or groups), "
                             f"got keys {sorted(paths)}")
        group = paths.get("group")
        tr_layers = load_features(paths["train"], group=group)
        te_layers = load_features(paths["test"], group=group)
        if list(tr_layers) != list(te_layers):
            raise ValueError(f"{space}: train layers {list(tr_layers)} ({paths['train']}) differ from test "
                             f"layers {list(te_layers)} ({paths['test']})")
        for name in tr_layers:
            if tr_layers[name].shape[1] != te_layers[name].shape[1]:
                raise ValueError(f"{paths['test']}: layer {name!r} ({space} test) has {te_layers[name].shape[1]} "
                                 f"features but {tr_layers[name].shape[1]} in the train file {paths['train']}")
        for split, layers, n, source in (("train", tr_layers, n_train, train_src),
                                         ("test", te_layers, n_test, test_src)):
            rows = next(iter(layers.values())).shape[0]
            if rows != n:
                raise ValueError(f"{paths[split]}: {rows} feature rows ({space} {split}) but the {split} "
                                 f"BOLD ({source}) has {n} TRs")
        f_train[space], f_test[space] = list(tr_layers.values()), list(te_layers.values())
    return f_train, f_test


def _bad_voxel_notes(train: np.ndarray, test: np.ndarray, bold: list[Any], test_bold: list[Any],
                     unusable: Any) -> list[str]:
    """Set voxels with non-finite values to 0 in place (per subject, train and test) and
    describe them and the constant voxels; ValueError if a subject has no usable voxel."""
    notes = []
    for s in range(train.shape[0]):
        nonfinite = ~np.isfinite(train[s]).all(axis=0) | ~np.isfinite(test[s]).all(axis=(0, 1))
        train[s][:, nonfinite] = 0.0
        test[s][..., nonfinite] = 0.0
        bad = unusable(train[s:s + 1], test[s:s + 1])[0]
        if bad.all():
            raise ValueError(f"subject {s} ({bold[s]}, {test_bold[s]}): no usable voxel; all "
                             f"{bad.size} are constant or hold NaN or infinite values")
        if bad.any():
            notes.append(f"subject {s} ({bold[s]}, {test_bold[s]}): {int(nonfinite.sum())} voxels with NaN or "
                         f"infinite values (set to 0) and {int((bad & ~nonfinite).sum())} constant voxels "
                         f"(e.g. all zero), of {bad.size}: flagged in bad_voxels")
    return notes


def _load_vector(path: str | Path, what: str, kinds: str, integer: bool = False) -> np.ndarray:
    """A 1-D ``.npy`` array (a row or column vector is flattened) of dtype kind in ``kinds``:
    finite if floating, whole numbers (returned as int) if ``integer``."""
    p = existing_file(path)
    if not p.name.lower().endswith(".npy"):
        raise ValueError(f"{p}: {what} must be a .npy file")
    try:
        _check_signature(p, ".npy")
        arr = np.load(p, allow_pickle=False)
    except (ImportError, MemoryError):
        raise
    except Exception as exc:
        raise _unreadable(p, exc) from exc
    if arr.ndim != 1 and sum(n > 1 for n in arr.shape) <= 1 and arr.size:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ValueError(f"{p}: {what} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind not in kinds:
        found = f"e.g. {arr.reshape(-1)[:3].tolist()!r}" if arr.size and arr.dtype.kind in "USb" else ""
        raise ValueError(f"{p}: {what} must be {'integers' if integer else 'numbers or strings'}; "
                         f"found dtype {arr.dtype} {found}".rstrip())
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{p}: {what} contain {int(np.sum(~np.isfinite(arr)))} NaN or infinite values")
        if integer and not np.all(arr == np.round(arr)):
            raise ValueError(f"{p}: {what} must be integers (whole numbers), found "
                             f"{int(np.sum(arr != np.round(arr)))} with a fraction, e.g. {arr[arr != np.round(arr)][0]}")
    if integer:
        if arr.dtype.kind in "uf" and arr.size and np.abs(arr.astype(np.float64)).max() >= 2 ** 62:
            raise ValueError(f"{p}: {what} are too large, up to {np.abs(arr.astype(np.float64)).max():.3g}")
        arr = arr.astype(np.int64)
    return arr


def _load_labels(labels: str | Path, mask: str | Path | None) -> np.ndarray:
    """Integer region label per voxel: a ``.npy`` array (n_voxels,), or a NIfTI label image
    read through ``mask`` (nearest-neighbour resampling onto the mask's grid)."""
    p = existing_file(labels)
    if p.name.lower().endswith((".nii", ".nii.gz")):
        if mask is None:
            raise ValueError(f"{p}: a label image needs the BOLD mask (mask=...)")
        from nilearn.image import resample_to_img
        from nilearn.masking import apply_mask

        mask_p = existing_file(mask)
        try:
            img = resample_to_img(str(p), str(mask_p), interpolation="nearest",
                                  force_resample=True, copy_header=True)
            # on the mask's grid now; ensure_finite=False: NaN must not become label 0
            labels_2d = np.atleast_2d(apply_mask(img, str(mask_p), ensure_finite=False))
        except (ImportError, MemoryError):
            raise
        except Exception as exc:  # nibabel / nilearn: unreadable image or mismatched grids
            raise ValueError(f"{p} with mask {mask_p}: cannot read the label image: "
                             f"{type(exc).__name__}: {exc}") from exc
        if labels_2d.shape[0] != 1:
            raise ValueError(f"{p}: a label image must be 3-D, got {labels_2d.shape[0]} volumes")
        values = labels_2d[0]
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{p}: the label image holds NaN or infinite values inside the mask")
        if not np.all(values == np.round(values)):
            raise ValueError(f"{p}: region labels must be whole numbers")
        return values.round().astype(int)
    return _load_vector(p, "region labels", "biuf", integer=True).astype(int)


def _same_shape(arrays: list[np.ndarray], what: str, sources: list[Any]) -> list[np.ndarray]:
    shapes = [a.shape for a in arrays]
    if len(set(shapes)) != 1:
        raise ValueError(f"{what} differs in shape between subjects: "
                         + ", ".join(f"{src}: {shape}" for src, shape in zip(sources, shapes)))
    return arrays
