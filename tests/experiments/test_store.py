"""The resumable store: pieces written atomically, the manifest checked on resume, bad
folders and names refused, refusals change nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from experiments.store import MANIFEST, ResumableStore


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_pieces_round_trip_and_resume_checks_the_manifest(tmp_path: Path) -> None:
    folder = tmp_path / "job"
    store = ResumableStore(folder, {"a": 1, "nested": {"b": [1, 2]}}, resume=False, what="test job")
    assert not store.has("g/0000000") and store.get("g/0000000") is None
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    store.put("g/0000000", values=x, other=np.array([1, 2]))
    assert store.has("g/0000000")
    got = store.get("g/0000000")
    assert sorted(got) == ["other", "values"] and got["values"].dtype == np.float32
    np.testing.assert_array_equal(got["values"], x)
    before = _files(folder)
    with pytest.raises(FileExistsError, match=r"unfinished test job: pass resume=true"):
        ResumableStore(folder, {"a": 1, "nested": {"b": [1, 2]}}, resume=False, what="test job")
    with pytest.raises(ValueError, match=r"settings differ: nested.b: saved \[1, 2\], now \[1, 3\]"):
        ResumableStore(folder, {"a": 1, "nested": {"b": [1, 3]}}, resume=True)
    with pytest.raises(ValueError, match=r"settings differ: c: saved None, now 0"):
        ResumableStore(folder, {"a": 1, "nested": {"b": [1, 2]}, "c": 0}, resume=True)
    assert _files(folder) == before  # refusals change nothing
    again = ResumableStore(folder, {"a": 1, "nested": {"b": (1, 2)}}, resume=True)  # a tuple is stored as a list
    np.testing.assert_array_equal(again.get("g/0000000")["values"], x)
    again.remove()
    assert not folder.exists()


def test_foreign_folders_broken_manifests_and_bad_names_are_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=f"no {MANIFEST}"):
        ResumableStore(foreign, {}, resume=True)
    assert _files(foreign) == {"notes.txt": b"mine"}
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / MANIFEST).write_text("{")
    with pytest.raises(ValueError, match="unreadable"):
        ResumableStore(broken, {}, resume=True)
    store = ResumableStore(tmp_path / "ok", {}, resume=False)
    for name in ("", "../escape", "/abs", ".hidden", MANIFEST):
        with pytest.raises(ValueError, match="invalid piece name"):
            store.put(name, x=np.zeros(1))
    assert sorted(_files(tmp_path / "ok")) == [MANIFEST]


def test_a_failed_write_keeps_the_previous_piece_and_leaves_no_temporary_file(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import experiments.io

    store = ResumableStore(tmp_path / "job", {}, resume=False)
    store.put("p", x=np.ones(3))

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(experiments.io.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        store.put("p", x=np.zeros(3))
    with pytest.raises(OSError, match="disk full"):
        store.put("q", x=np.zeros(3))
    monkeypatch.undo()
    np.testing.assert_array_equal(store.get("p")["x"], np.ones(3))
    assert not store.has("q") and sorted(_files(tmp_path / "job")) == [MANIFEST, "p.npz"]
