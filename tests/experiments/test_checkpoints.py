"""Checkpoint files (``experiments.checkpoints``): atomic saves, and fuzzing (hypothesis)
``load`` with truncated, corrupt and mismatched checkpoints.

Contract: ``load`` returns a tree of exactly the target's keys, shapes and dtypes and a
dict meta, or raises ``ValueError`` (``FileNotFoundError`` for a missing file) -- exactly
these types -- naming the checkpoint; it never changes a file (neither the checkpoint nor
an earlier one beside it).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flax import serialization
from hypothesis import assume, given
from hypothesis import strategies as st

from experiments import checkpoints as checkpoint
from tests.fuzzing import attempt as fuzz_attempt
from tests.fuzzing import fuzz

TARGET = {"params": {"w": np.zeros((3, 2), np.float32), "b": np.zeros(2, np.float32)},
          "step": np.zeros((), np.int32)}
SAVED = {"params": {"w": np.arange(6, dtype=np.float32).reshape(3, 2), "b": np.ones(2, np.float32)},
         "step": np.array(7, np.int32)}


def attempt(path: Path) -> Any:
    """load(path, TARGET)'s result or exception, after checking the contract."""
    result = fuzz_attempt(lambda: checkpoint.load(path, TARGET), path.parent, path.name)
    if not isinstance(result, Exception):
        tree, meta = result
        assert isinstance(meta, dict)
        pairs = [(tree["params"][k], TARGET["params"][k]) for k in ("w", "b")] + [(tree["step"], TARGET["step"])]
        for got, want in pairs:
            assert np.shape(got) == want.shape and np.asarray(got).dtype == want.dtype
    return result


def with_earlier_checkpoint() -> tempfile.TemporaryDirectory:
    tmp = tempfile.TemporaryDirectory()
    checkpoint.save(Path(tmp.name) / "epoch_001.msgpack", SAVED, {"epoch": 1})
    return tmp


@fuzz(40)
@given(data=st.data())
def test_truncated_or_corrupted_checkpoints(data: st.DataObject) -> None:
    with with_earlier_checkpoint() as tmp:
        p = Path(tmp) / "epoch_002.msgpack"
        checkpoint.save(p, SAVED, {"epoch": 2, "note": "x" * data.draw(st.integers(0, 20))})
        raw = p.read_bytes()
        mode = data.draw(st.sampled_from(["cut", "flip", "random"]))
        if mode == "cut":
            p.write_bytes(raw[:data.draw(st.integers(0, len(raw) - 1))])
        elif mode == "flip":
            b = bytearray(raw)
            for _ in range(data.draw(st.integers(1, 4))):
                b[data.draw(st.integers(0, len(b) - 1))] = data.draw(st.integers(0, 255))
            p.write_bytes(bytes(b))
        else:
            p.write_bytes(data.draw(st.binary(max_size=300)))
        result = attempt(p)
        if mode == "cut":  # a strict prefix of a msgpack map is never a whole one
            assert isinstance(result, ValueError)


LEAF = st.one_of(
    st.just("same"),
    st.sampled_from([np.float64, np.int32, np.float16, np.complex64, np.bool_, np.uint8]),
    st.sampled_from([(), (2,), (3, 3), (0, 2)]),
    st.sampled_from(["missing", "nested", "python_float", "python_int", "string", "nan"]),
)


def mutate(value: np.ndarray, how: Any) -> Any:
    if isinstance(how, str):
        return {"same": value, "missing": None, "nested": {"inner": value}, "python_float": 1.5,
                "python_int": 3, "string": "abc", "nan": np.full_like(value, np.nan)
                if value.dtype.kind == "f" else value}[how]
    if isinstance(how, tuple):
        return np.zeros(how, value.dtype)
    return value.astype(how)


@fuzz(60)
@given(w=LEAF, b=LEAF, step=LEAF, extra=st.booleans(),
       meta=st.sampled_from(['{"epoch": 3}', "{}", "[1, 2]", "{", "5", "null", 7, None, '{"x": NaN}']))
def test_checkpoints_of_other_models(w: Any, b: Any, step: Any, extra: bool, meta: Any) -> None:
    """Exactly the checkpoints with the target's keys, shapes and dtypes and a JSON-object meta load."""
    params = {k: mutate(SAVED["params"][k], how) for k, how in (("w", w), ("b", b))}
    state = {"params": {k: v for k, v in params.items() if v is not None}, "step": mutate(SAVED["step"], step)}
    if state["step"] is None:
        del state["step"]
    if extra:
        state["optimizer"] = {"mu": np.zeros(2, np.float32)}
    payload: dict[str, Any] = {"state": state}
    if meta is not None:
        payload["meta"] = meta
    try:
        raw = serialization.msgpack_serialize(payload)
    except Exception:  # noqa: BLE001 - flax cannot write it; nothing to load
        assume(False)
    with with_earlier_checkpoint() as tmp:
        p = Path(tmp) / "other_model.msgpack"
        p.write_bytes(raw)
        result = attempt(p)
    loads = _fits(state) and isinstance(meta, str) and isinstance(_json(meta), dict)
    assert isinstance(result, tuple) == loads, f"w={w} b={b} step={step} extra={extra} meta={meta}: {result}"
    if loads:  # NaN is a (diverged) training state, not a broken file: it loads as saved
        assert result[1] == _json(meta)


def _fits(state: dict[str, Any]) -> bool:
    """The state has exactly TARGET's keys, and arrays of its shapes and dtypes."""
    if set(state) != set(TARGET) or not isinstance(state["params"], dict) or set(state["params"]) != {"w", "b"}:
        return False
    pairs = [(state["params"][k], TARGET["params"][k]) for k in ("w", "b")] + [(state["step"], TARGET["step"])]
    return all(isinstance(got, (np.ndarray, int, float)) and np.shape(got) == want.shape
               and np.result_type(got) == want.dtype for got, want in pairs)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def test_missing_checkpoint_and_directory(tmp_path: Path) -> None:
    (tmp_path / "dir.msgpack").mkdir()
    for name in ("absent.msgpack", "dir.msgpack"):
        with pytest.raises(FileNotFoundError, match=name):
            checkpoint.load(tmp_path / name, TARGET)


def test_failed_load_keeps_both_checkpoints_byte_identical(tmp_path: Path) -> None:
    good, bad = tmp_path / "epoch_001.msgpack", tmp_path / "epoch_002.msgpack"
    checkpoint.save(good, SAVED, {"epoch": 1})
    checkpoint.save(bad, SAVED, {"epoch": 2})
    bad.write_bytes(bad.read_bytes()[:-7])  # a copy cut short
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (good, bad)}
    with pytest.raises(ValueError, match="epoch_002.msgpack"):
        checkpoint.load(bad, TARGET)
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (good, bad)} == before
    assert sorted(os.listdir(tmp_path)) == ["epoch_001.msgpack", "epoch_002.msgpack"]
    tree, meta = checkpoint.load(good, TARGET)
    assert meta == {"epoch": 1} and np.array_equal(tree["params"]["w"], SAVED["params"]["w"])


def test_failed_save_keeps_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import experiments.io

    path = tmp_path / "state.msgpack"
    checkpoint.save(path, SAVED, {"epoch": 1})
    before = path.read_bytes()

    def unchanged() -> None:
        assert path.read_bytes() == before
        assert os.listdir(tmp_path) == ["state.msgpack"]  # no temporary files left
        tree, meta = checkpoint.load(path, TARGET)
        assert meta == {"epoch": 1} and np.array_equal(tree["params"]["w"], SAVED["params"]["w"])

    with pytest.raises(TypeError):  # not serialisable
        checkpoint.save(path, {"params": object()})
    unchanged()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    for name in ("fsync", "replace"):  # fail while writing, and at the final rename
        with monkeypatch.context() as m:
            m.setattr(experiments.io.os, name, broken)
            with pytest.raises(OSError, match="disk full"):
                checkpoint.save(path, {**SAVED, "step": np.array(8, np.int32)}, {"epoch": 2})
        unchanged()
    checkpoint.save(path, {**SAVED, "step": np.array(8, np.int32)}, {"epoch": 2})
    assert checkpoint.load(path, TARGET)[1] == {"epoch": 2}
    assert (path.stat().st_mode & 0o777) == (0o666 & ~_umask())  # the user's mode, not mkstemp's 0600


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
