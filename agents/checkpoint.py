"""Checkpoints of training state: flax msgpack serialisation, written atomically.

``save(path, tree, meta)`` writes the pytree and a JSON-able ``meta`` dict to a temporary
file beside ``path`` and renames it into place, so a crash never leaves a half-written
checkpoint and the previous one survives until the new one is complete. ``load(path,
target)`` restores into the structure of ``target`` (e.g. a freshly initialised state);
a file that is missing raises ``FileNotFoundError``, one that is truncated, corrupt, or
holds other keys, shapes or dtypes than ``target`` (or a meta that is not a JSON object)
raises ``ValueError`` naming the file. Loading writes nothing.
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# The mode a plain open() gives (mkstemp's files are private, 0600); read once, at import:
# reading the umask sets it for a moment. experiments.io does the same for run outputs (the
# library cannot import the runner).
FILE_MODE = 0o666 & ~_umask()


def save(path: Path, tree: Any, meta: dict[str, Any] | None = None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = serialization.to_state_dict(jax.device_get(tree))
    payload = serialization.msgpack_serialize({"state": state, "meta": json.dumps(meta or {})})
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.chmod(tmp, FILE_MODE)
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
        _check_keys(serialization.to_state_dict(target), state, path)
        tree = serialization.from_state_dict(target, state)
    except MemoryError:
        raise
    except ValueError as exc:
        if str(exc).startswith(f"checkpoint {path}"):
            raise
        raise ValueError(f"checkpoint {path} is unreadable or does not match this model: {exc}") from exc
    except Exception as exc:  # msgpack / structure errors: name the file
        raise ValueError(f"checkpoint {path} is unreadable or does not match this model: "
                         f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(meta, dict):  # a file's content, not the caller's argument: ValueError
        raise ValueError(  # noqa: TRY004
            f"checkpoint {path}: its meta must be a JSON object, got {type(meta).__name__}")
    _check_shapes(target, tree, path)
    return tree, meta


def _key_paths(tree: Any) -> set[str]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(k) for k, _ in leaves}


def _check_keys(want: Any, got: Any, path: Path) -> None:
    """The checkpoint's state dict has exactly the entries of the target's."""
    want_keys, got_keys = _key_paths(want), _key_paths(got)
    if want_keys != got_keys:
        missing, extra = sorted(want_keys - got_keys)[:3], sorted(got_keys - want_keys)[:3]
        raise ValueError(f"checkpoint {path} holds other entries than this model (missing {missing}, "
                         f"unexpected {extra}; another model or version?)")


def _check_shapes(target: Any, tree: Any, path: Path) -> None:
    want = jax.tree.map(np.shape, target)
    got = jax.tree.map(np.shape, tree)
    if want != got:
        raise ValueError(f"checkpoint {path} holds arrays of other shapes than this model "
                         f"(different widths, seeds or settings?)")
    dtypes = zip(jax.tree_util.tree_flatten_with_path(target)[0], jax.tree.leaves(tree))
    for (key, w), g in dtypes:
        if _dtype(w) != _dtype(g):
            raise ValueError(f"checkpoint {path} holds {jax.tree_util.keystr(key)} as {_dtype(g)} "
                             f"where this model has {_dtype(w)}")


def _dtype(leaf: Any) -> np.dtype:
    """An array's dtype; a Python scalar's (or string's) as numpy would store it."""
    return np.dtype(leaf.dtype) if hasattr(leaf, "dtype") else np.asarray(leaf).dtype
