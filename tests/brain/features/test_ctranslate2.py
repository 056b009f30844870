"""The CTranslate2 model.bin reader on small hand-written files (no model package needed)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from brain.features.ctranslate2 import read_ctranslate2, read_ctranslate2_header

# dtype ids of CTranslate2's DataType enum: float32, int8, float16, bfloat16
F32, I8, F16, BF16 = 0, 1, 4, 5


def _string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def _model_bin(variables: list[tuple[str, tuple[int, ...], int, bytes]], aliases: dict[str, str],
               version: int = 6) -> bytes:
    """Bytes of a CTranslate2 binary, laid out as ModelSpec._serialize writes it."""
    out = struct.pack("<I", version) + _string("TinySpec") + struct.pack("<I", 2)
    out += struct.pack("<I", len(variables))
    for name, shape, dtype_id, data in variables:
        out += _string(name) + struct.pack("<B", len(shape)) + struct.pack(f"<{len(shape)}I", *shape)
        out += struct.pack("<BI", dtype_id, len(data)) + data
    out += struct.pack("<I", len(aliases))
    for alias, target in aliases.items():
        out += _string(alias) + _string(target)
    return out


WEIGHT = np.arange(6, dtype="<f4").reshape(2, 3) / 4
HALF = np.array([1.5, -2.0, 0.25], dtype="<f2")
WIDE = np.array([[1.0, -3.5], [0.0, 2.0 ** -8]], dtype=np.float32)  # exact in bfloat16
VARIABLES = [
    ("layer/weight", (2, 3), F32, WEIGHT.tobytes()),
    ("layer/heads", (), I8, np.int8(4).tobytes()),
    ("layer/half", (3,), F16, HALF.tobytes()),
    ("layer/bf16", (2, 2), BF16, (WIDE.view(np.uint32) >> 16).astype("<u2").tobytes()),
]


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "model.bin"
    path.write_bytes(_model_bin(VARIABLES, {"other/weight": "layer/weight"}))
    return path


def test_reads_every_dtype_shape_and_alias(model: Path) -> None:
    assert read_ctranslate2_header(model) == (6, "TinySpec", 2)
    got = read_ctranslate2(model)
    assert list(got) == ["layer/weight", "layer/heads", "layer/half", "layer/bf16", "other/weight"]
    np.testing.assert_array_equal(got["layer/weight"], WEIGHT)
    assert got["layer/heads"].shape == () and int(got["layer/heads"]) == 4 and got["layer/heads"].dtype == np.int8
    assert got["layer/half"].dtype == np.float16
    np.testing.assert_array_equal(got["layer/half"], HALF)
    assert got["layer/bf16"].dtype == np.float32  # bfloat16 widened
    np.testing.assert_array_equal(got["layer/bf16"], WIDE)
    assert got["other/weight"] is got["layer/weight"]


def test_split_files_read_as_one_stream(model: Path, tmp_path: Path) -> None:
    data = model.read_bytes()
    cuts = [0, 7, 40, len(data) - 3, len(data)]  # mid-header, mid-variable, mid-alias table
    parts = []
    for i, (a, b) in enumerate(zip(cuts, cuts[1:], strict=False)):
        parts.append(tmp_path / f"model.bin.part{i}")
        parts[-1].write_bytes(data[a:b])
    assert read_ctranslate2_header(parts) == read_ctranslate2_header(model)
    whole, split = read_ctranslate2(model), read_ctranslate2(parts)
    assert whole.keys() == split.keys()
    for name in whole:
        np.testing.assert_array_equal(whole[name], split[name])


def test_include_selects_names_and_an_alias_alone_loads_its_target(model: Path) -> None:
    got = read_ctranslate2(model, include=lambda name: name == "other/weight")
    assert list(got) == ["other/weight"]
    np.testing.assert_array_equal(got["other/weight"], WEIGHT)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_model_bin(VARIABLES, {})[:-20], "Truncated CTranslate2 model"),
        (_model_bin(VARIABLES, {}, version=5), "Unsupported CTranslate2 binary version 5"),
        (_model_bin(VARIABLES, {}) + b"\0", "1 trailing bytes"),
        (_model_bin(VARIABLES, {"a": "missing"}), "points to unknown variable 'missing'"),
        (_model_bin([("x", (2,), F32, b"\0" * 4)], {}), "do not match shape"),
        (_model_bin([("x", (1,), 9, b"\0")], {}), "unknown CTranslate2 dtype id 9"),
    ],
)
def test_malformed_files_are_clear_errors(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=message):
        read_ctranslate2(path)


def test_no_file_given() -> None:
    with pytest.raises(ValueError, match="No CTranslate2 model file given"):
        read_ctranslate2([])
