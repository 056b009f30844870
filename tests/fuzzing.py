"""What the fuzz tests of file readers share: hypothesis settings and the contract that a
reader either returns or refuses with an allowed error naming the file, and changes no file."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings

ALLOWED = (ValueError, FileNotFoundError)


def fuzz(n: int) -> settings:
    """Modest, reproducible settings; FUZZ_SCALE=20 (environment) for a deeper local search."""
    return settings(max_examples=n * int(os.environ.get("FUZZ_SCALE", "1")), deadline=None,
                    derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (recursively) by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def attempt(fn: Callable[[], Any], folder: Path, names: str | tuple[str, ...] | list[str],
            allowed: tuple[type[Exception], ...] = ALLOWED) -> Any:
    """fn()'s result or the exception it raised, after checking that no file under ``folder``
    changed and that an exception is one of ``allowed`` and names one of ``names``."""
    names = (names,) if isinstance(names, str) else tuple(names)
    before = snapshot(folder)
    try:
        result = fn()
    except Exception as exc:  # noqa: BLE001 - the point is to see what leaks
        result = exc
    assert snapshot(folder) == before, "reading changed or removed files in the folder"
    if isinstance(result, Exception):
        assert type(result) in allowed, f"{type(result).__name__} leaked: {result}"
        assert any(n in str(result) for n in names), f"the message names none of {names}: {result}"
    return result
