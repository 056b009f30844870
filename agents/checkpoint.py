"""Checkpoints of training state as bytes: flax msgpack of the pytree and a JSON meta.

``dumps(tree, meta)`` gives the bytes of a pytree and a JSON-able ``meta`` dict;
``loads(data, target, source)`` restores them into the structure of ``target`` (e.g. a
freshly initialised state). Bytes that are truncated, corrupt, or hold other keys, shapes
or dtypes than ``target`` (or a meta that is not a JSON object) raise ``ValueError``
naming ``source`` (the file they came from). Writing and reading files is the runner's
(:mod:`experiments.checkpoints`: atomic writes, resume).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import serialization


def dumps(tree: Any, meta: dict[str, Any] | None = None) -> bytes:
    """The msgpack bytes of ``tree`` (fetched to the host) and ``meta``."""
    state = serialization.to_state_dict(jax.device_get(tree))
    return serialization.msgpack_serialize({"state": state, "meta": json.dumps(meta or {})})


def loads(data: bytes, target: Any, source: str | Path = "checkpoint") -> tuple[Any, dict[str, Any]]:
    """The tree in ``data``, restored into ``target``'s structure, and its meta."""
    path = source
    try:
        raw = serialization.msgpack_restore(data)
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


def _check_keys(want: Any, got: Any, path: str | Path) -> None:
    """The checkpoint's state dict has exactly the entries of the target's."""
    want_keys, got_keys = _key_paths(want), _key_paths(got)
    if want_keys != got_keys:
        missing, extra = sorted(want_keys - got_keys)[:3], sorted(got_keys - want_keys)[:3]
        raise ValueError(f"checkpoint {path} holds other entries than this model (missing {missing}, "
                         f"unexpected {extra}; another model or version?)")


def _check_shapes(target: Any, tree: Any, path: str | Path) -> None:
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
