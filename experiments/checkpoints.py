"""Checkpoint files of a run: :mod:`agents.checkpoint`'s bytes, written atomically.

``save`` writes to a temporary file beside ``path`` and renames it into place
(:func:`experiments.io.write_bytes`), so a crash never leaves a half-written checkpoint
and the previous one survives until the new one is complete. ``load`` reads a checkpoint
back into the structure of ``target``; a missing file raises ``FileNotFoundError``, a
broken or mismatched one ``ValueError`` naming the file. Loading writes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents import checkpoint
from experiments.io import write_bytes


def save(path: str | Path, tree: Any, meta: dict[str, Any] | None = None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, checkpoint.dumps(tree, meta))


def load(path: str | Path, target: Any) -> tuple[Any, dict[str, Any]]:
    """The tree saved at ``path``, restored into ``target``'s structure, and its meta."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return checkpoint.loads(path.read_bytes(), target, source=path)
