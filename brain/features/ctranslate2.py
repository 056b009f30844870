"""Reader of CTranslate2 model files (``model.bin``) into NumPy arrays, with NumPy only.

A CTranslate2 binary (version 6, as ``ctranslate2/specs/model_spec.py: ModelSpec._serialize``
writes it) is a header (binary version, spec name, spec revision), a table of named variables
(shape, dtype, raw little-endian data) and a table of aliases (names that share another
variable's data). ``read_ctranslate2`` loads selected variables by name, ``read_ctranslate2_header``
reads the header alone. A model may be given as several files read as one concatenated byte
stream (``_ChainedFiles``), so a ``model.bin`` split for distribution needs no joined copy on disk.
"""

from __future__ import annotations

import contextlib
import math
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Self

import numpy as np

# CTranslate2 binary format (ctranslate2/specs/model_spec.py: ModelSpec._serialize).
_CT2_SUPPORTED_VERSIONS = (6,)
# Order of the DataType enum (ctranslate2/specs/model_spec.py: _dtype_to_type_id); None = bfloat16.
_CT2_DTYPES: tuple[np.dtype | None, ...] = (
    np.dtype("<f4"),
    np.dtype("i1"),
    np.dtype("<i2"),
    np.dtype("<i4"),
    np.dtype("<f2"),
    None,
)
_CT2_DTYPE_NAMES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")


class _ChainedFiles:
    """Random-access reads over several files taken as one byte stream (no joined copy on disk)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self._files: list[BinaryIO] = []
        self._starts: list[int] = []
        self._sizes: list[int] = []
        self.size = 0
        with contextlib.ExitStack() as stack:
            for path in paths:
                f = stack.enter_context(open(path, "rb"))
                self._files.append(f)
                self._starts.append(self.size)
                self._sizes.append(os.fstat(f.fileno()).st_size)
                self.size += self._sizes[-1]
            stack.pop_all()  # all opened: keep them until close()

    def close(self) -> None:
        for f in self._files:
            f.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read_at(self, offset: int, n: int) -> bytearray:
        """Exactly ``n`` bytes starting at ``offset``; ValueError if the stream is too short."""
        if offset < 0 or offset + n > self.size:
            raise ValueError(
                f"Truncated CTranslate2 model: need bytes [{offset}, {offset + n}) "
                f"of a {self.size}-byte stream"
            )
        buf = bytearray(n)
        view = memoryview(buf)
        done = 0
        for f, start, size in zip(self._files, self._starts, self._sizes, strict=True):
            if done == n:
                break
            pos, end = offset + done, start + size
            if pos >= end:
                continue
            take = min(n - done, end - pos)
            f.seek(pos - start)
            got = f.readinto(view[done : done + take])
            if got != take:
                raise OSError(f"Short read from {f.name}: {got} of {take} bytes")
            done += take
        return buf


@dataclass(frozen=True)
class _Variable:
    offset: int
    shape: tuple[int, ...]
    dtype_id: int
    nbytes: int


@dataclass(frozen=True)
class _Index:
    version: int
    spec: str
    revision: int
    variables: dict[str, _Variable]
    aliases: dict[str, str]


class _Cursor:
    """Sequential little-endian decoding on top of ``_ChainedFiles``."""

    def __init__(self, stream: _ChainedFiles) -> None:
        self.stream = stream
        self.pos = 0

    def unpack(self, fmt: str) -> int:
        size = struct.calcsize("<" + fmt)
        (value,) = struct.unpack("<" + fmt, self.stream.read_at(self.pos, size))
        self.pos += size
        return value

    def string(self) -> str:
        n = self.unpack("H")  # length including the trailing NUL
        raw = self.stream.read_at(self.pos, n)
        self.pos += n
        if n == 0 or raw[-1] != 0:
            raise ValueError(f"Malformed CTranslate2 string at byte {self.pos - n}")
        return raw[:-1].decode("utf-8")


def _index_ctranslate2(stream: _ChainedFiles) -> _Index:
    """Parse header, variable table (skipping data) and aliases of a CTranslate2 ``model.bin``."""
    cur = _Cursor(stream)
    version = cur.unpack("I")
    if version not in _CT2_SUPPORTED_VERSIONS:
        raise ValueError(
            f"Unsupported CTranslate2 binary version {version} (this reader knows {_CT2_SUPPORTED_VERSIONS})"
        )
    spec = cur.string()
    revision = cur.unpack("I")
    variables: dict[str, _Variable] = {}
    for _ in range(cur.unpack("I")):
        name = cur.string()
        rank = cur.unpack("B")
        shape = tuple(cur.unpack("I") for _ in range(rank))
        dtype_id = cur.unpack("B")
        nbytes = cur.unpack("I")
        if dtype_id >= len(_CT2_DTYPES):
            raise ValueError(f"Variable {name!r}: unknown CTranslate2 dtype id {dtype_id}")
        itemsize = 2 if _CT2_DTYPES[dtype_id] is None else _CT2_DTYPES[dtype_id].itemsize  # type: ignore[union-attr]
        if nbytes != math.prod(shape) * itemsize:
            raise ValueError(
                f"Variable {name!r}: {nbytes} bytes do not match shape {shape} "
                f"of {_CT2_DTYPE_NAMES[dtype_id]}"
            )
        variables[name] = _Variable(cur.pos, shape, dtype_id, nbytes)
        cur.pos += nbytes
    aliases: dict[str, str] = {}
    for _ in range(cur.unpack("I")):
        alias = cur.string()
        aliases[alias] = cur.string()
    if cur.pos != stream.size:
        raise ValueError(f"CTranslate2 model has {stream.size - cur.pos} trailing bytes after its aliases")
    for alias, target in aliases.items():
        if target not in variables:
            raise ValueError(f"CTranslate2 alias {alias!r} points to unknown variable {target!r}")
    return _Index(version, spec, revision, variables, aliases)


def _decode(raw: bytearray, var: _Variable) -> np.ndarray:
    dtype = _CT2_DTYPES[var.dtype_id]
    if dtype is None:  # bfloat16: the high half of a float32
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(var.shape)
    return np.frombuffer(raw, dtype=dtype).reshape(var.shape)


def _as_paths(path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    if isinstance(path, (str, os.PathLike)):
        return [Path(path)]
    paths = [Path(p) for p in path]
    if not paths:
        raise ValueError("No CTranslate2 model file given")
    return paths


def read_ctranslate2(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    include: Callable[[str], bool] | None = None,
) -> dict[str, np.ndarray]:
    """Variables of a CTranslate2 ``model.bin`` as NumPy arrays, by their CTranslate2 names.

    ``path`` is the file, or a sequence of files read as one concatenated byte stream (split
    models). ``include`` selects names (variables or aliases) to load; the others are skipped
    without reading their data. Aliases (duplicates CTranslate2 stores once) map to the same array
    as their target. Arrays keep the stored dtype (bfloat16 is widened to float32); scalars are
    0-d arrays.
    """
    with _ChainedFiles(_as_paths(path)) as stream:
        index = _index_ctranslate2(stream)
        names = list(index.variables) + list(index.aliases)
        wanted = [n for n in names if include is None or include(n)]
        out: dict[str, np.ndarray] = {}
        cache: dict[str, np.ndarray] = {}
        for name in wanted:
            target = index.aliases.get(name, name)
            if target not in cache:
                var = index.variables[target]
                cache[target] = _decode(stream.read_at(var.offset, var.nbytes), var)
            out[name] = cache[target]
    return out


def read_ctranslate2_header(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
) -> tuple[int, str, int]:
    """``(binary_version, spec_name, spec_revision)`` of a CTranslate2 ``model.bin`` (data not read)."""
    with _ChainedFiles(_as_paths(path)) as stream:
        index = _index_ctranslate2(stream)
    return index.version, index.spec, index.revision
