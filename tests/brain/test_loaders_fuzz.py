"""Fuzzing the loaders of user files (hypothesis): malformed shapes, dtypes, NaN, truncation.

The contract every case checks (``attempt``): the loader either returns a valid result
(the documented shape and dtype, finite; where an exact oracle exists, exactly the
expected values) or raises ``ValueError`` / ``FileNotFoundError`` (exactly these types:
no subclass such as ``UnicodeDecodeError``, no raw ``KeyError``, ``BadZipFile``,
``OSError``, ``EOFError``, ``TypeError``...) whose message names the file and says what
is wrong. No ``RuntimeWarning`` or ``ComplexWarning`` (silent overflow, NaN casts,
dropped imaginary parts) may be emitted, and every file in the folder -- the input and a
sibling output written before -- has the same bytes afterwards.
"""

from __future__ import annotations

import gzip
import re
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import nibabel as nib
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from brain.features.instructions import RESERVED, load_instructions, parse_instructions
from brain.loaders import (
    _load_labels,
    load_bold,
    load_experiment,
    load_features,
    load_repeats,
    resample_to_trs,
)
from tests.fuzzing import attempt as fuzz_attempt
from tests.fuzzing import fuzz

SIBLING = "earlier_output.h5"  # a result of an earlier run, beside the input: must survive


def attempt(fn: Callable[[], Any], folder: Path, names: list[str] | tuple[str, ...]) -> Any:
    """fn()'s result or the exception it raised, after checking the contract (module docstring)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fuzz_attempt(fn, folder, names)
    loud = [f"{w.category.__name__}: {w.message} ({w.filename})" for w in caught  # values changed by a cast
            if issubclass(w.category, np.exceptions.ComplexWarning)
            or (issubclass(w.category, RuntimeWarning) and "cast" in str(w.message)
                and not w.filename.endswith("wrapstruct.py"))]  # nilearn setting a header's cal_max
    assert not loud, f"silent numeric trouble: {loud}"
    if isinstance(result, Exception):
        rest = str(result).replace(str(folder), "")
        for n in names:
            rest = rest.replace(n, "")
        assert len(re.findall(r"[a-z]{3,}", rest)) >= 2, f"the message does not say what is wrong: {result}"
    return result


def folder_with_sibling() -> tempfile.TemporaryDirectory:
    tmp = tempfile.TemporaryDirectory()
    with h5py.File(Path(tmp.name) / SIBLING, "w") as f:
        f["scores"] = np.arange(6.0)
    return tmp


# -- strategies -----------------------------------------------------------------------------
SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)
REAL_DTYPES = st.one_of(hnp.floating_dtypes(sizes=(16, 32, 64)), hnp.integer_dtypes(),
                        hnp.unsigned_integer_dtypes(), hnp.boolean_dtypes())
ODD_DTYPES = st.one_of(hnp.complex_number_dtypes(), hnp.unicode_string_dtypes(max_len=3),
                       hnp.byte_string_dtypes(max_len=3), hnp.datetime64_dtypes(),
                       st.just(np.dtype([("a", "<f4"), ("b", "<i2")])))
H5_ODD_DTYPES = st.one_of(hnp.complex_number_dtypes(), hnp.byte_string_dtypes(max_len=3),
                          st.just(np.dtype([("a", "<f4"), ("b", "<i2")])))


def _cast(dtype: np.dtype) -> Callable[[float], Any]:
    def cast(x: float) -> Any:
        with np.errstate(over="ignore"):
            return dtype.type(x)
    return cast


def big_floats(dtype: np.dtype) -> st.SearchStrategy:
    """Mostly ordinary values, sometimes NaN, inf or beyond float32 range."""
    return st.one_of(st.floats(-1e3, 1e3, width=dtype.itemsize * 8),
                     st.sampled_from([np.nan, np.inf, -np.inf, 1e300, -3e39]).map(_cast(dtype)))


@st.composite
def arrays(draw: st.DrawFn, odd: st.SearchStrategy = ODD_DTYPES, shapes: st.SearchStrategy = SHAPES,
           valid_bias: bool = True) -> np.ndarray:
    """Arrays of any shape (0-d, empty, 1- to 4-d) and dtype, biased towards plausible ones."""
    kind = draw(st.sampled_from(["plausible", "plausible", "real", "odd"]) if valid_bias else
                st.sampled_from(["real", "odd"]))
    if kind == "plausible":
        shape = draw(hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=5))
        dtype = draw(st.sampled_from([np.dtype("float32"), np.dtype("float64"), np.dtype("float16")]))
        return draw(hnp.arrays(dtype, shape, elements=big_floats(dtype)))
    shape = draw(shapes)
    dtype = draw(REAL_DTYPES if kind == "real" else odd)
    return draw(hnp.arrays(dtype, shape))


def _finite32(arr: np.ndarray) -> bool:
    with np.errstate(all="ignore"):
        return bool(np.isfinite(arr.astype(np.float32)).all())


def valid_matrix(arr: np.ndarray, ndim: int = 2) -> bool:
    return arr.dtype.kind in "biuf" and arr.ndim == ndim and arr.size > 0 and _finite32(arr)


def _write(path: Path, arrays: dict[str, Any]) -> None:
    """npy (the first array), npz or HDF5 (a dict value ``'group'`` makes an HDF5 group)."""
    if path.suffix == ".npy":
        np.save(path, next(iter(arrays.values())), allow_pickle=True)
    elif path.suffix == ".npz":
        np.savez(path, **arrays)
    else:
        with h5py.File(path, "w") as f:
            for k, v in arrays.items():
                if isinstance(v, str) and v == "group":
                    f.create_group(k).create_dataset("x", data=np.zeros((2, 2)))
                else:
                    f.create_dataset(k, data=v)


# -- load_bold from arrays: exact oracle ------------------------------------------------------
@st.composite
def bold_files(draw: st.DrawFn) -> tuple[str, dict[str, Any], bool]:
    ext = draw(st.sampled_from([".npy", ".npz", ".h5"]))
    odd = H5_ODD_DTYPES if ext == ".h5" else ODD_DTYPES
    repeats = draw(st.booleans())
    shapes = hnp.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=3) if repeats else SHAPES
    arr = draw(arrays(odd=odd, shapes=shapes) if not repeats else
               st.one_of(arrays(odd=odd, shapes=shapes, valid_bias=False),
                         hnp.arrays(np.float32, shapes, elements=big_floats(np.dtype("float32")))))
    content: dict[str, Any] = {draw(st.sampled_from(["bold", "bold", "data"])): arr}
    if ext != ".npy" and draw(st.booleans()):  # a second array (or an HDF5 group) beside it
        content[draw(st.sampled_from(["bold", "other"]))] = (
            draw(st.sampled_from(["group", np.zeros(3)])) if ext == ".h5" else np.zeros(3))
    if ext == ".npy" and draw(st.integers(0, 9)) == 0:
        content = {"bold": np.array([[1.0, None]], dtype=object)}  # pickled objects
    return ext, content, repeats


@fuzz(60)
@given(case=bold_files())
def test_load_bold_accepts_exactly_the_valid_arrays(case: tuple[str, dict[str, Any], bool]) -> None:
    ext, content, repeats = case
    with folder_with_sibling() as tmp:
        p = Path(tmp) / f"sub-01_bold{ext}"
        _write(p, content)
        if ext == ".npy":
            arr = content[next(iter(content))]
        elif "bold" in content or ext == ".h5":  # HDF5: dataset "bold" only, no fallback
            arr = content.get("bold")
        else:
            arr = content["data"] if len(content) == 1 else None  # several arrays, none is "bold"
        result = attempt(lambda: load_bold(p, repeats=repeats), Path(tmp), [p.name])
        ok = (isinstance(arr, np.ndarray) and not isinstance(arr, str) and arr.dtype != object
              and valid_matrix(arr, 3 if repeats else 2))
        if ok:
            assert isinstance(result, np.ndarray), f"valid BOLD {arr.dtype} {arr.shape} refused: {result}"
            assert result.dtype == np.float32 and np.array_equal(result, arr.astype(np.float32))
        else:
            assert isinstance(result, Exception), f"invalid BOLD accepted: {content}"
            if isinstance(arr, np.ndarray) and arr.dtype.kind in "biuf" and arr.ndim == (3 if repeats else 2) \
                    and arr.size and not np.isfinite(arr).all():
                assert "NaN" in str(result)


# -- every format, truncated, corrupted or replaced by random bytes ---------------------------
def _valid_bytes(ext: str, tmp: Path) -> bytes:
    rng = np.random.default_rng(0)
    bold = rng.standard_normal((6, 5)).astype(np.float32)
    p = tmp / f"whole{ext}"
    if ext == ".npz.compressed":
        p = tmp / "whole.npz"
        np.savez_compressed(p, bold=bold, other=np.ones(20))
    elif ext == ".gii":
        nib.save(nib.gifti.GiftiImage(darrays=[nib.gifti.GiftiDataArray(r) for r in bold]), p)
    elif ext in (".nii.gz", ".nii"):
        nib.save(nib.Nifti1Image(rng.standard_normal((3, 3, 2, 6)).astype(np.float32), np.eye(4)), p)
    else:
        _write(p, {"bold": bold, "timestamps": np.arange(6) * 0.5} if ext == ".h5" else {"bold": bold})
    return p.read_bytes()


FORMATS = [".npy", ".npz", ".npz.compressed", ".h5", ".gii", ".nii.gz", ".nii"]
MAGICS = [b"", b"\x93NUMPY", b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (9, 9), }",
          b"PK\x03\x04", b"PK\x05\x06", b"\x89HDF\r\n\x1a\n", b"<?xml version='1.0'?><GIFTI>", b"\x1f\x8b\x08"]


@st.composite
def damaged(draw: st.DrawFn, valid: bytes) -> bytes:
    mode = draw(st.sampled_from(["cut", "cut", "flip", "random"]))
    if mode == "cut":
        return valid[:draw(st.integers(0, len(valid) - 1))]
    if mode == "flip":
        data = bytearray(valid)
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        return bytes(data)
    return draw(st.sampled_from(MAGICS)) + draw(st.binary(max_size=300))


@pytest.mark.parametrize("fmt", FORMATS)
@fuzz(25)
@given(data=st.data())
def test_damaged_bold_files_are_refused_clearly(fmt: str, data: st.DataObject) -> None:
    with folder_with_sibling() as tmp:
        folder = Path(tmp)
        raw = data.draw(damaged(_valid_bytes(fmt, folder)))
        (folder / next(folder.glob("whole*"))).unlink()
        ext = ".npz" if fmt == ".npz.compressed" else fmt
        p = folder / f"run-1_bold{ext}"
        p.write_bytes(raw)
        mask = None
        if ext.startswith(".nii"):
            mask = folder / "mask.nii.gz"
            nib.save(nib.Nifti1Image(np.ones((3, 3, 2), np.uint8), np.eye(4)), mask)
        result = attempt(lambda: load_bold(p, mask=mask), folder, [p.name])
        if not isinstance(result, Exception):
            assert result.dtype == np.float32 and result.ndim == 2 and np.isfinite(result).all()


@fuzz(25)
@given(raw=st.binary(max_size=400), ext=st.sampled_from([".npz", ".h5", ".hdf5"]),
       magic=st.sampled_from(MAGICS))
def test_garbage_feature_files_are_refused_clearly(raw: bytes, ext: str, magic: bytes) -> None:
    with folder_with_sibling() as tmp:
        p = Path(tmp) / f"features{ext}"
        p.write_bytes(magic + raw)
        result = attempt(lambda: load_features(p), Path(tmp), [p.name])
        assert isinstance(result, Exception)


@fuzz(30)
@given(data=st.data(), ext=st.sampled_from([".npz", ".h5"]))
def test_damaged_feature_files_are_refused_clearly(data: st.DataObject, ext: str) -> None:
    with folder_with_sibling() as tmp:
        folder = Path(tmp)
        p = folder / f"features{ext}"
        _write(p, {"layer_00": np.ones((8, 3)), "layer_01": np.zeros((8, 4), np.float32)})
        p.write_bytes(data.draw(damaged(p.read_bytes())))
        result = attempt(lambda: load_features(p), folder, [p.name])
        if not isinstance(result, Exception):
            assert all(v.dtype == np.float32 and v.ndim == 2 and np.isfinite(v).all() for v in result.values())


# -- GIfTI and NIfTI contents ------------------------------------------------------------------
@fuzz(30)
@given(darrays=st.lists(st.one_of(
    hnp.arrays(st.sampled_from([np.float32, np.int32, np.uint8]), hnp.array_shapes(min_dims=1, max_dims=2, max_side=4),
               elements=None),
    hnp.arrays(np.float32, st.sampled_from([(4,), (4,), (3,)]), elements=big_floats(np.dtype("float32")))),
    min_size=0, max_size=4))
def test_gifti_contents(darrays: list[np.ndarray]) -> None:
    with folder_with_sibling() as tmp:
        p = Path(tmp) / "lh.func.gii"
        try:
            nib.save(nib.gifti.GiftiImage(darrays=[nib.gifti.GiftiDataArray(d) for d in darrays]), p)
        except Exception:  # noqa: BLE001 - nibabel cannot write every combination; not our loader
            assume(False)
        result = attempt(lambda: load_bold(p), Path(tmp), [p.name])
        any_bad = any(not np.isfinite(d.astype(np.float64)).all() for d in darrays)
        if not isinstance(result, Exception):
            assert result.dtype == np.float32 and result.ndim == 2 and np.isfinite(result).all()
            assert result.size == sum(d.size for d in darrays)
        assert not (any_bad and not isinstance(result, Exception)), "NaN GIfTI data accepted"
        if not darrays or len({d.shape for d in darrays}) > 1:
            assert isinstance(result, Exception)


@fuzz(20)
@given(data=hnp.arrays(st.sampled_from([np.uint8, np.int16, np.float32, np.float64, np.complex64]),
                       st.sampled_from([(3, 3, 2, 4), (3, 3, 2), (3, 3, 2, 1), (2, 3, 2, 4)]),
                       elements=None),
       mask=hnp.arrays(np.uint8, st.sampled_from([(3, 3, 2), (3, 3, 2), (2, 2, 2), (3, 3, 2, 2)]),
                       elements=st.integers(0, 1)))
def test_nifti_contents(data: np.ndarray, mask: np.ndarray) -> None:
    with folder_with_sibling() as tmp:
        folder = Path(tmp)
        p, m = folder / "bold.nii.gz", folder / "brainmask.nii"
        nib.save(nib.Nifti1Image(data, np.eye(4)), p)
        nib.save(nib.Nifti1Image(mask, np.eye(4)), m)
        result = attempt(lambda: load_bold(p, mask=m), folder, [p.name, m.name])
        if not isinstance(result, Exception):
            assert result.dtype == np.float32 and result.ndim == 2 and np.isfinite(result).all()
            assert result.shape[1] == int((mask if mask.ndim == 3 else mask.all(axis=3)).sum()) > 0
            assert data.dtype.kind != "c", "complex NIfTI accepted"


# -- features: layers, timestamps, tr / n_trs --------------------------------------------------
LAYER_NAMES = st.sampled_from(["layer_00", "layer_01", "layer_10", "layer_2", "conv", "timestamps"])


@st.composite
def feature_files(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    ext = draw(st.sampled_from([".npz", ".h5"]))
    odd = H5_ODD_DTYPES if ext == ".h5" else ODD_DTYPES
    rows = draw(st.sampled_from([4, 4, 4, 5]))
    layers: dict[str, Any] = {}
    for name in draw(st.lists(LAYER_NAMES, max_size=3, unique=True)):
        if name == "timestamps":
            continue
        if draw(st.integers(0, 2)):
            n_rows = draw(st.sampled_from([rows, rows, rows, rows + 1]))
            shape = (n_rows, draw(st.integers(1, 3)))
            dtype = draw(st.sampled_from([np.dtype("float32"), np.dtype("float64"), np.dtype("int16")]))
            elements = big_floats(dtype) if dtype.kind == "f" else None
            layers[name] = draw(hnp.arrays(dtype, shape, elements=elements))
        else:
            layers[name] = draw(arrays(odd=odd, valid_bias=False))
    if ext == ".h5" and draw(st.integers(0, 5)) == 0:
        layers["instr"] = "group"
    return ext, layers


def expected_layers(layers: dict[str, Any]) -> dict[str, np.ndarray] | None:
    """load_features' result for a file without timestamps, or None where it must fail."""
    arrays = {k: v for k, v in layers.items() if not isinstance(v, str)}
    if not arrays or not all(valid_matrix(v) for v in arrays.values()):
        return None
    if len({v.shape[0] for v in arrays.values()}) != 1:
        return None
    order = sorted(arrays, key=lambda n: (int(m.group(1)) if (m := re.search(r"(\d+)$", n)) else -1, n))
    return {k: arrays[k].astype(np.float32) for k in order}


@fuzz(60)
@given(case=feature_files())
def test_load_features_accepts_exactly_the_valid_layers(case: tuple[str, dict[str, Any]]) -> None:
    ext, layers = case
    with folder_with_sibling() as tmp:
        p = Path(tmp) / f"clip_features{ext}"
        _write(p, layers)
        result = attempt(lambda: load_features(p), Path(tmp), [p.name])
        want = expected_layers(layers)
        if want is None:
            assert isinstance(result, Exception), f"invalid layers accepted: {layers}"
        else:
            assert not isinstance(result, Exception), f"valid layers refused: {result}"
            assert list(result) == list(want)
            for k in want:
                assert result[k].dtype == np.float32 and np.array_equal(result[k], want[k])


TIMES = st.one_of(
    st.integers(1, 8).flatmap(lambda n: hnp.arrays(np.float64, n, elements=st.floats(0, 10)).map(np.sort)),
    hnp.arrays(np.float64, st.integers(0, 8), elements=big_floats(np.dtype("float64"))),
    arrays(valid_bias=False),
)


@fuzz(60)
@given(rows=st.integers(1, 8), n_feat=st.integers(1, 3), stamps=TIMES,
       tr=st.one_of(st.none(), st.sampled_from([0.5, 1.0, 2.0, 0.0, -1.0, np.nan, np.inf, 1e-300])),
       n_trs=st.one_of(st.none(), st.sampled_from([1, 3, 6, 0, -2])))
def test_features_with_timestamps(rows: int, n_feat: int, stamps: np.ndarray, tr: float | None,
                                  n_trs: int | None) -> None:
    with folder_with_sibling() as tmp:
        p = Path(tmp) / "timed.npz"
        values = np.arange(rows * n_feat, dtype=np.float64).reshape(rows, n_feat)
        np.savez(p, layer_00=values, timestamps=stamps)
        result = attempt(lambda: load_features(p, tr=tr, n_trs=n_trs), Path(tmp), [p.name])
        stamps_ok = (stamps.dtype.kind in "biuf" and stamps.shape == (rows,)
                     and np.isfinite(stamps.astype(np.float64)).all() and np.all(np.diff(stamps.astype(float)) >= 0))
        args_ok = tr is not None and n_trs is not None and np.isfinite(tr) and tr > 0 and n_trs >= 1
        if not (stamps_ok and args_ok):
            assert isinstance(result, Exception), "bad timestamps, tr or n_trs accepted"
        if not isinstance(result, Exception):
            out = result["layer_00"]
            assert out.shape == (n_trs, n_feat) and out.dtype == np.float32 and np.isfinite(out).all()


@fuzz(50)
@given(values=arrays(), stamps=TIMES,
       tr=st.sampled_from([0.5, 2.0, 0.0, -1.0, np.nan, "2", None]),
       n_trs=st.sampled_from([1, 4, 0, -1, 2.5, None, True]))
def test_resample_to_trs(values: np.ndarray, stamps: np.ndarray, tr: Any, n_trs: Any) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = resample_to_trs(values, stamps, tr, n_trs)
        except ValueError as exc:
            assert type(exc) is ValueError, f"{type(exc).__name__}: {exc}"
            return
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert values.dtype.kind in "biuf" and values.ndim == 2 and np.isfinite(values).all()  # float64 out
    assert values.shape[0] == stamps.shape[0]
    assert out.shape == (n_trs, values.shape[1]) and np.isfinite(out).all()
    with np.errstate(all="ignore"):
        bins = np.floor(stamps.astype(float) / float(tr))
    for k in range(n_trs):  # occupied bins hold the mean of their rows
        if (bins == k).any():
            np.testing.assert_allclose(out[k], values[bins == k].astype(float).mean(axis=0), rtol=1e-6, atol=1e-9)


# -- region labels, runs, vertices and whole experiments ---------------------------------------
@fuzz(40)
@given(labels=st.one_of(arrays(valid_bias=False),
                        hnp.arrays(st.sampled_from([np.int64, np.float64, np.int8]),
                                   st.sampled_from([(5,), (5, 1), (1, 5)]), elements=st.integers(-2, 4))))
def test_region_labels(labels: np.ndarray) -> None:
    with folder_with_sibling() as tmp:
        p = Path(tmp) / "atlas_labels.npy"
        np.save(p, labels)
        result = attempt(lambda: _load_labels(p, None), Path(tmp), [p.name])
        with np.errstate(all="ignore"):
            small = (labels.dtype.kind not in "uf" or labels.size == 0
                     or np.abs(labels.astype(np.float64)).max() < 2 ** 62)
            whole = labels.dtype.kind in "bi" or (labels.dtype.kind == "u" and small) or (
                labels.dtype.kind == "f" and np.isfinite(labels).all() and np.all(labels == np.round(labels))
                and small)
        vector = labels.size > 0 and sum(n > 1 for n in labels.shape) <= 1 or labels.ndim == 1
        if not (whole and vector):
            assert isinstance(result, Exception), f"bad labels accepted: {labels!r}"
        else:
            assert not isinstance(result, Exception), f"good labels refused: {result}"
            assert result.ndim == 1 and result.dtype.kind == "i"
            np.testing.assert_array_equal(result, labels.reshape(-1).astype(int))


@fuzz(20)
@given(values=hnp.arrays(np.float32, (3, 3, 2), elements=st.sampled_from([0.0, 1.0, 2.0, 1.5, np.nan])))
def test_label_images(values: np.ndarray) -> None:
    with folder_with_sibling() as tmp:
        folder = Path(tmp)
        p, m = folder / "atlas.nii.gz", folder / "mask.nii.gz"
        nib.save(nib.Nifti1Image(values, np.eye(4)), p)
        nib.save(nib.Nifti1Image(np.ones((3, 3, 2), np.uint8), np.eye(4)), m)
        result = attempt(lambda: _load_labels(p, m), folder, [p.name, m.name])
        if np.isnan(values).any() or (values == 1.5).any():
            assert isinstance(result, Exception), "NaN or fractional region labels accepted"
        else:
            assert not isinstance(result, Exception) and result.shape == (18,)


PARTS = ("bold1", "test0", "test1", "feat_train", "feat_test", "runs", "labels", "vertices", "repeat", "reps",
         "width")


@fuzz(40)
@given(deltas=st.fixed_dictionaries({k: st.sampled_from([0, 0, 0, 0, 1, -1]) for k in PARTS}),
       vertex_max=st.sampled_from([20483, 20483, 20484, -1]), runs_nan=st.integers(0, 7))
def test_experiment_with_mismatched_files(deltas: dict[str, int], vertex_max: int, runs_nan: int) -> None:
    """Sizes that disagree between files fail with a message naming a disagreeing file
    (``reps``: subject 0's number of test presentations; ``width``: a test layer's width)."""
    n_train, n_test, n_vox, n_rep = 6, 4, 5, 2
    rng = np.random.default_rng(0)
    with folder_with_sibling() as tmp:
        d = Path(tmp)
        np.save(d / "bold0.npy", rng.standard_normal((n_train, n_vox)))
        np.save(d / "bold1.npy", rng.standard_normal((n_train + deltas["bold1"], n_vox)))
        np.save(d / "test0.npy", rng.standard_normal((n_rep + deltas["reps"], n_test + deltas["test0"], n_vox)))
        for r in range(2):
            np.save(d / f"test1_rep{r}.npy",  # test1: voxels of both repeats, repeat: rows of one
                    rng.standard_normal((n_test + (deltas["repeat"] if r else 0), n_vox + deltas["test1"])))
        np.savez(d / "video_train.npz", layer_00=rng.standard_normal((n_train + deltas["feat_train"], 3)))
        np.savez(d / "video_test.npz", layer_00=rng.standard_normal((n_test + deltas["feat_test"],
                                                                     3 + deltas["width"])))
        runs = (np.arange(n_train + deltas["runs"]) // 3).astype(float)
        if runs_nan == 0:
            runs[0] = np.nan
        np.save(d / "runs.npy", runs)
        np.save(d / "labels.npy", np.arange(n_vox + deltas["labels"]) % 2)
        np.save(d / "vertices.npy", np.r_[np.arange(n_vox + deltas["vertices"] - 1), vertex_max])
        result = attempt(lambda: load_experiment(
            bold=[d / "bold0.npy", d / "bold1.npy"],
            test_bold=[d / "test0.npy", [d / "test1_rep0.npy", d / "test1_rep1.npy"]],
            features={"video": {"train": d / "video_train.npz", "test": d / "video_test.npz"}},
            runs=d / "runs.npy", labels=d / "labels.npy", region_names=["a", "b"],
            vertices=d / "vertices.npy"), d, [p.name for p in d.iterdir()])
        bad = {k for k, v in deltas.items() if v} | ({"vertices"} if not 0 <= vertex_max < 20484 else set()) \
            | ({"runs"} if runs_nan == 0 else set())
        if not bad:
            assert not isinstance(result, Exception), f"a consistent experiment was refused: {result}"
            assert result.bold_train.shape == (2, n_train, n_vox)
            assert result.bold_test.shape == (2, n_rep, n_test, n_vox)
            return
        assert isinstance(result, Exception), f"mismatched files accepted: {bad}"
        named = {"bold1": ["bold1"], "test0": ["test0", "test1"], "test1": ["test1", "test0"],
                 "repeat": ["test1_rep"], "feat_train": ["video_train"], "feat_test": ["video_test"],
                 "runs": ["runs"], "labels": ["labels"], "vertices": ["vertices"], "reps": ["test0", "test1"],
                 "width": ["video_test", "video_train"]}
        assert any(n in str(result) for k in bad for n in named[k]), f"no disagreeing file named: {result}"


def test_missing_and_directory_inputs(tmp_path: Path) -> None:
    (tmp_path / "dir.npy").mkdir()
    for call, name in [(lambda: load_bold(tmp_path / "none.npy"), "none.npy"),
                       (lambda: load_bold(tmp_path / "dir.npy"), "dir.npy"),
                       (lambda: load_features(tmp_path / "none.h5"), "none.h5"),
                       (lambda: load_repeats([tmp_path / "none.npy"]), "none.npy"),
                       (lambda: _load_labels(tmp_path / "none.npy", None), "none.npy")]:
        assert isinstance(attempt(call, tmp_path, [name]), FileNotFoundError)


def test_failed_loads_leave_earlier_outputs_byte_identical(tmp_path: Path) -> None:
    """The input file and an output written before keep their bytes, times and names."""
    np.save(tmp_path / "bold.npy", np.full((4, 3), np.nan))
    out = tmp_path / "encoding" / "scores.h5"
    out.parent.mkdir()
    with h5py.File(out, "w") as f:
        f["r"] = np.arange(3.0)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match="bold.npy.*NaN"):
        load_bold(tmp_path / "bold.npy")
    with pytest.raises(ValueError, match="scores.h5"):
        load_features(out)  # a result file is no feature file: refused, untouched
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()} == before


# -- instruction files ------------------------------------------------------------------------
LINE = st.one_of(
    st.text(max_size=30),
    st.builds(lambda n, t: f"{n}: {t}", st.sampled_from(["faces", "clips", "_root", "a1", "1bad", "faces"]),
              st.text(max_size=15)),
    st.sampled_from(["", "# comment", "   ", "Describe it.", "describe it", "Clips", "::", "faces"]),
)


@fuzz(60)
@given(lines=st.lists(LINE, max_size=8), newline=st.sampled_from(["\n", "\r\n"]),
       bom=st.booleans())
def test_instruction_files(lines: list[str], newline: str, bom: bool) -> None:
    with folder_with_sibling() as tmp:
        p = Path(tmp) / "my_tasks.txt"
        p.write_bytes((("\ufeff" if bom else "") + newline.join(lines)).encode("utf-8", "surrogatepass"))
        result = attempt(lambda: load_instructions(p), Path(tmp), [p.name])
        if isinstance(result, Exception):
            return
        names = [i.name for i in result]
        assert len(set(names)) == len(names), names
        assert not set(names) & RESERVED
        assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n) for n in names)
        assert all(i.text and i.text == i.text.strip() for i in result)
        assert result == parse_instructions(newline.join(lines), source=str(p))  # a BOM is not text


@fuzz(30)
@given(raw=st.binary(max_size=200))
def test_binary_instruction_files(raw: bytes) -> None:
    with folder_with_sibling() as tmp:
        p = Path(tmp) / "tasks.bin"
        p.write_bytes(raw)
        result = attempt(lambda: load_instructions(p), Path(tmp), [p.name])
        if not isinstance(result, Exception):
            assert result and all(i.name and i.text for i in result)


def test_instruction_names_avoid_explicit_and_reserved_names() -> None:
    got = parse_instructions("faces\nfaces: Are there faces?\nclips\n")
    assert [i.name for i in got] == ["faces_2", "faces", "clips_2"]
    with pytest.raises(ValueError, match=r"tasks.txt, line 1: .*'clips' is reserved"):
        parse_instructions("clips: What is shown?", source="tasks.txt")


def test_gzip_named_npy_is_refused(tmp_path: Path) -> None:
    (tmp_path / "b.npy").write_bytes(gzip.compress(b"x" * 100))
    with pytest.raises(ValueError, match="b.npy.*not a .npy file"):
        load_bold(tmp_path / "b.npy")


def test_hdf5_member_name_that_is_not_utf8(tmp_path: Path) -> None:
    """Found by fuzzing: h5py hands a corrupt (non-UTF-8) name over as bytes."""
    p = tmp_path / "features.h5"
    _write(p, {"layer_00": np.ones((8, 3)), "layer_01": np.zeros((8, 4))})
    raw = bytearray(p.read_bytes())
    raw[raw.find(b"layer_00") + 8] = 0x80
    p.write_bytes(bytes(raw))
    assert isinstance(attempt(lambda: load_features(p), tmp_path, [p.name]), ValueError)
