"""Run outputs written atomically (a crash never leaves a half-written file).

:func:`atomic_path` is the project's one way to write a file that must never be seen half
written: every run output, checkpoint, feature file and resumable piece goes through it.
Files get the mode a plain ``open()`` would give them (the user's umask)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Files get the mode a plain open() would give them (mkstemp's are private, 0600): the
# collaborators a user's umask admits can read the run's outputs.
FILE_MODE = 0o666 & ~_umask()


def _default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


@contextmanager
def atomic_path(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary file beside ``path`` (ending in ``suffix``) to write; renamed onto
    ``path`` when the block ends normally, deleted when it raises."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    os.chmod(tmp, FILE_MODE)
    try:
        yield Path(tmp)
        _fsync(tmp)  # the data on disk before the rename makes it the file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and an atomic rename."""
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` via a temporary file and an atomic rename."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(data, f, indent=2, default=_default, allow_nan=False)


def write_npz(path: Path, **arrays: Any) -> None:
    """``np.savez_compressed`` to ``path`` via a temporary file and an atomic rename."""
    with atomic_path(path, suffix=".tmp.npz") as tmp:  # numpy appends .npz to other names
        np.savez_compressed(tmp, **arrays)


def save_figure(fig: Any, path: Path, close: bool = False, **kwargs: Any) -> None:
    """``fig.savefig`` to ``path`` via a temporary file (same format) and an atomic rename;
    ``close``: then close the figure (pyplot's)."""
    with atomic_path(path, suffix=Path(path).suffix) as tmp:
        fig.savefig(tmp, **kwargs)
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
