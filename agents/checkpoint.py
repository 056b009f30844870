"""Checkpoints of training state: flax msgpack serialisation, written atomically.

``save(path, tree, meta)`` writes the pytree and a JSON-able ``meta`` dict to a temporary
file beside ``path`` and renames it into place, so a crash never leaves a half-written
checkpoint and the previous one survives until the new one is complete. ``load(path,
target)`` restores into the structure of ``target`` (e.g. a freshly initialised state).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import serialization


def save(path: Path, tree: Any, meta: dict[str, Any] | None = None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = serialization.to_state_dict(jax.device_get(tree))
    payload = serialization.msgpack_serialize({"state": state, "meta": json.dumps(meta or {})})
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path, target: Any) -> tuple[Any, dict[str, Any]]:
    """The tree saved at ``path``, restored into ``target``'s structure, and its meta."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        raw = serialization.msgpack_restore(path.read_bytes())
        state, meta = raw["state"], json.loads(raw["meta"])
        tree = serialization.from_state_dict(target, state)
    except Exception as exc:  # msgpack / structure errors: name the file
        raise ValueError(f"checkpoint {path} is unreadable or does not match this model: {exc}") from exc
    _check_shapes(target, tree, path)
    return tree, meta


def _check_shapes(target: Any, tree: Any, path: Path) -> None:
    want = jax.tree.map(np.shape, target)
    got = jax.tree.map(np.shape, tree)
    if want != got:
        raise ValueError(f"checkpoint {path} holds arrays of other shapes than this model "
                         f"(different widths, seeds or settings?)")
