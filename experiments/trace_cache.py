"""A persistent cache of traced and lowered programs, one level above JAX's compilation cache.

JAX's persistent cache stores XLA executables, but every process still traces and lowers
each function before it can look one up: for a motor run's training epochs that is ~3 s per
family on a 2-core CPU, most of a warm run's compile time. :func:`cached` stores a function's
lowered program with ``jax.export`` (StableHLO plus its calling convention) and, in a later
process, calls the stored program instead of tracing the function again; XLA's compile of
that program then hits JAX's cache. Stored and traced programs compute the same thing; a run
uses the stored program from the first call, so a cold and a warm run run the same executable.

A stored program is reused only when everything that shaped it is equal: the caller's
``identity`` (the settings the function closes over), the source of the traced packages
(``envs``, ``agents`` and the MJCF assets), the versions of the libraries that trace it, JAX's
numerical flags, and the input shapes, dtypes, shardings and tree structure. Anything that
cannot be exported or read back falls back to the function itself (logged at debug level).
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import sys
from collections.abc import Callable
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

log = logging.getLogger("callosum")

TRACED_PACKAGES = ("envs", "agents")
VERSIONED = ("jax", "jaxlib", "flax", "optax", "mujoco", "mujoco-mjx", "numpy")
_directory: Path | None = None


def set_directory(path: str | Path | None) -> None:
    """Store programs in ``path`` (created on first store); ``None`` turns the cache off."""
    global _directory
    _directory = None if path is None else Path(path)


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A hash of the traced packages' source files and assets, and of the library versions."""
    import importlib

    h = hashlib.sha256(sys.version.encode())
    for name in VERSIONED:
        try:
            h.update(f"{name}={metadata.version(name)}".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{name}=absent".encode())
    for package in TRACED_PACKAGES:
        root = Path(importlib.import_module(package).__file__).parent
        for f in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def _signature(args: tuple[Any, ...]) -> str:
    import jax

    leaves, treedef = jax.tree.flatten(args)
    parts = [str(treedef)]
    for x in leaves:
        sharding = getattr(x, "sharding", None)
        parts.append(f"{getattr(x, 'shape', ())}/{getattr(x, 'dtype', type(x).__name__)}/{sharding}")
    return "\n".join(parts)


def _key(name: str, identity: Any, args: tuple[Any, ...]) -> str:
    import jax

    flags = {k: str(jax.config.values.get(k)) for k in
             ("jax_enable_x64", "jax_default_matmul_precision", "jax_numpy_rank_promotion",
              "jax_numpy_dtype_promotion", "jax_default_prng_impl", "jax_threefry_partitionable")}
    h = hashlib.sha256()
    for part in (name, json.dumps(identity, sort_keys=True, default=str), code_fingerprint(),
                 json.dumps(flags, sort_keys=True), _signature(args),
                 str([(d.platform, d.device_kind) for d in jax.devices()])):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def _export(fn: Callable, args: tuple[Any, ...]) -> tuple[Any, Any]:
    """The exported program of ``fn`` on flat inputs, and the tree of its outputs."""
    import jax
    from jax import export

    leaves, in_tree = jax.tree.flatten(args)
    out_tree: list[Any] = []

    def flat(*xs: Any) -> list[Any]:
        out, tree = jax.tree.flatten(fn(*jax.tree.unflatten(in_tree, xs)))
        out_tree.append(tree)
        return out

    return export.export(jax.jit(flat))(*leaves), out_tree[0]


def _load(path: Path) -> tuple[Any, Any]:
    from jax import export

    with open(path, "rb") as f:
        blob, out_tree = pickle.load(f)
    return export.deserialize(bytearray(blob)), out_tree


def _store(path: Path, exported: Any, out_tree: Any) -> None:
    from experiments.io import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        pickle.dump((bytes(exported.serialize()), out_tree), f)


def cached(fn: Callable, name: str, identity: Any) -> Callable:
    """``fn`` (a jitted function of arrays; pytrees in, pytrees out) through the cache:
    the same results, without tracing in processes after the first. ``identity``: JSON-able
    settings that, with the code, determine what ``fn`` computes. Without a cache directory
    (:func:`set_directory`) this is ``fn``."""
    if _directory is None:
        return fn
    import jax

    compiled: dict[str, tuple[Callable, Any]] = {}

    def call(*args: Any) -> Any:
        key = _key(name, identity, args)
        if key not in compiled:
            compiled[key] = _program(fn, name, key, args)
        program, out_tree = compiled[key]
        if program is None:
            return fn(*args)
        return jax.tree.unflatten(out_tree, program(*jax.tree.leaves(args)))

    return call


def _program(fn: Callable, name: str, key: str, args: tuple[Any, ...]) -> tuple[Callable | None, Any]:
    import jax

    path = _directory / f"{name}-{key}.exported"
    if path.exists():
        try:
            exported, out_tree = _load(path)
            log.debug("%s: stored program %s", name, path.name)
            return jax.jit(exported.call), out_tree
        except Exception as exc:  # unreadable (an older JAX, a cut file): trace it again
            log.debug("%s: cannot read %s (%s); tracing again", name, path, exc)
    try:
        exported, out_tree = _export(fn, args)
        _store(path, exported, out_tree)
    except Exception as exc:  # not exportable (or not serialisable): run the function itself
        log.debug("%s: not stored (%s: %s)", name, type(exc).__name__, exc)
        return None, None
    return jax.jit(exported.call), out_tree
