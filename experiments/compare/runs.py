"""Run directories for ``experiments.compare``: discovery, loading and labels.

A run directory is what ``experiments.run`` writes: ``config.json`` (first) and
``metrics.json`` (last), plus ``.hydra/overrides.yaml`` when it ran through the Hydra CLI.
A Hydra multirun directory holds numbered run directories (0, 1, ...); any directory that
holds run directories (at most :data:`MAX_DEPTH` levels down) is accepted as well.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments.tasks import COMPARABLE_KINDS

# runs of the benchmarks from when they were runner tasks (task=bench_*; now python -m benchmarks)
RETIRED_PREFIX = "bench_"
MAX_DEPTH = 3  # how far below a given directory run directories are looked for
_SKIP_DIRS = {"checkpoints", "__pycache__"}


class CompareError(ValueError):
    """A problem with the run directories given to ``experiments.compare`` (shown to the user)."""


@dataclass(frozen=True)
class Run:
    """One finished run: its directory, resolved config, metrics and CLI overrides
    (None when it did not run through the Hydra CLI)."""

    path: Path
    config: dict[str, Any]
    metrics: dict[str, Any]
    overrides: tuple[str, ...] | None

    @property
    def kind(self) -> str:
        return str(self.config["task"]["kind"])


def is_run_dir(path: Path) -> bool:
    return (path / "config.json").is_file() or (path / "metrics.json").is_file()


def _natural_key(path: Path) -> tuple[Any, ...]:
    """Numbered directories in numeric order (0, 1, ..., 10), then the rest by name."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path.name))


def _subdirs(path: Path) -> list[Path]:
    return sorted((p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")
                   and p.name not in _SKIP_DIRS), key=_natural_key)


def _search(path: Path, depth: int, warnings: list[str]) -> list[Path]:
    found: list[Path] = []
    for sub in _subdirs(path):
        if is_run_dir(sub):
            found.append(sub)
        elif (sub / ".hydra").is_dir():  # a Hydra job directory whose run never started
            warnings.append(f"{sub}: not a run (no config.json or metrics.json); skipped")
        elif depth > 1:
            found += _search(sub, depth - 1, warnings)
    return found


def discover(paths: list[str | Path]) -> tuple[list[Path], list[str]]:
    """Run directories named by ``paths`` (run, multirun or parent directories), in the
    given order, each once; and warnings about job directories that hold no run. Use
    :func:`load_runs` with ``named=paths`` to tell named runs from found ones.

    Raises :class:`CompareError` for a missing path, a file, or a directory that neither is
    a run nor holds one.
    """
    if not paths:
        raise CompareError("no run directories given")
    runs: list[Path] = []
    warnings: list[str] = []
    for given in map(Path, paths):
        if not given.exists():
            raise CompareError(f"{given}: no such directory")
        if not given.is_dir():
            raise CompareError(f"{given}: not a directory (give a run directory, a Hydra multirun "
                               f"directory, or a directory holding run directories)")
        if is_run_dir(given):
            found = [given]
        else:
            found = _search(given, MAX_DEPTH, warnings)
            if not found:
                raise CompareError(f"{given} is not a run directory (no config.json or metrics.json) "
                                   f"and holds no run directories")
        runs += [p for p in found if p.resolve() not in {r.resolve() for r in runs}]
    return runs, warnings


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CompareError(f"{path}: cannot read it as JSON ({exc})") from exc


def read_overrides(path: Path) -> tuple[str, ...] | None:
    """The override strings Hydra saved in ``path/.hydra/overrides.yaml``, or None."""
    file = path / ".hydra" / "overrides.yaml"
    if not file.is_file():
        return None
    import yaml

    try:
        data = yaml.safe_load(file.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CompareError(f"{file}: cannot read it as YAML ({exc})") from exc
    if data is None:
        return ()
    if not isinstance(data, list):
        raise CompareError(f"{file}: expected a list of override strings, got {type(data).__name__}")
    return tuple(str(x) for x in data)


def _unfinished(path: Path) -> str:
    status = ""
    prov = path / "provenance.json"
    if prov.is_file():
        try:
            last = (json.loads(prov.read_text()).get("attempts") or [{}])[-1]
            status = f" (last attempt: {last.get('status', '?')}" + (
                f": {last['error']}" if last.get("error") else "") + ")"
        except (OSError, json.JSONDecodeError, AttributeError, TypeError):
            status = ""
    return f"{path}: unfinished run (config.json but no metrics.json){status}; skipped"


def load_runs(paths: list[Path], named: list[str | Path] | None = None) -> tuple[list[Run], list[str]]:
    """Finished runs among ``paths`` and a warning per unfinished one or voxel-chunk job of
    an encoding run (skipped: the merged run is compared).

    Raises :class:`CompareError` for a run without config.json or of an unknown kind, and
    for a run of a known kind that cannot be compared (a benchmark, ...) or a config.json
    without ``task.kind`` in one of the directories ``named`` by the user (None: all are);
    those two found inside a named directory are skipped with a warning.
    """
    from experiments.tasks import KINDS

    explicit = None if named is None else {Path(p).resolve() for p in named}
    runs, warnings = [], []
    for path in paths:
        if not (path / "config.json").is_file():
            raise CompareError(f"{path}: metrics.json but no config.json, so the kind of run is unknown")
        config = _read_json(path / "config.json")
        kind = config.get("task", {}).get("kind") if isinstance(config, dict) else None
        if kind not in COMPARABLE_KINDS:
            message = (f"{path}: runs of kind {kind!r} cannot be compared "
                       f"(supported: {', '.join(COMPARABLE_KINDS)})")
            found = explicit is not None and path.resolve() not in explicit
            if found and kind is None:  # some other program's config.json
                warnings.append(f"{path}: not a run of experiments.run (config.json without task.kind); skipped")
                continue
            if found and (kind in KINDS or str(kind).startswith(RETIRED_PREFIX)):
                warnings.append(message + "; skipped")
                continue
            raise CompareError(message)
        if not (path / "metrics.json").is_file():
            warnings.append(_unfinished(path))
            continue
        chunk = config["task"].get("chunk") if kind == "encoding" else None
        if chunk is not None:
            warnings.append(f"{path}: voxel-chunk job (task.chunk={chunk} of task.chunks="
                            f"{config['task'].get('chunks')}), a part of a run; skipped (compare the "
                            f"merged run, task.merge=<dir of the chunk runs>)")
            continue
        runs.append(Run(path, config, _read_json(path / "metrics.json"), read_overrides(path)))
    return runs, warnings


def parse_override(text: str) -> tuple[str, str]:
    """``"task.seeds=1"`` -> ("task.seeds", "1"); ``+key=v``/``++key=v`` -> key; ``~key`` -> (key, "~")."""
    text = text.strip()
    if text.startswith("~"):
        return text[1:].split("=", 1)[0], "~"
    key, _, value = text.lstrip("+").partition("=")
    return key.strip(), value.strip()


def override_map(overrides: tuple[str, ...] | None, ignore: tuple[str, ...] = ()) -> dict[str, str] | None:
    if overrides is None:
        return None
    pairs = (parse_override(o) for o in overrides)
    return {k: v for k, v in pairs if k not in ignore}


def common_overrides(maps: list[dict[str, str] | None]) -> dict[str, str] | None:
    """The overrides every map shares with the same value (None if any map is None)."""
    if not maps or any(m is None for m in maps):
        return None
    first = maps[0]
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}


def differing_labels(maps: list[dict[str, str] | None], fallbacks: list[str]) -> list[str]:
    """One label per item: the overrides whose values differ between the items
    (``key=value, ...``, in order of first appearance); the fallback where an item has no
    overrides, or its label would be empty or not unique (then ``label (fallback)``)."""
    known = [m for m in maps if m is not None]
    keys: list[str] = []
    for m in known:
        keys += [k for k in m if k not in keys]
    differ = [k for k in keys if len({m.get(k) for m in known}) > 1]
    labels = [", ".join(f"{k}={m[k]}" for k in differ if k in m) if m is not None else "" for m in maps]
    out = []
    for label, fallback in zip(labels, fallbacks):
        if not label:
            out.append(fallback)
        elif labels.count(label) > 1:
            out.append(f"{label} ({fallback})")
        else:
            out.append(label)
    return out


def directory_names(paths: list[Path]) -> list[str]:
    """Short unique names: the directory names, or paths relative to their common parent."""
    names = [p.name for p in paths]
    if len(set(names)) == len(names):
        return names
    resolved = [p.resolve() for p in paths]
    root = Path(os.path.commonpath(resolved)) if len(resolved) > 1 else resolved[0].parent
    return [str(p.relative_to(root)) if p != root else p.name for p in resolved]


def run_labels(runs: list[Run]) -> list[str]:
    """What distinguishes each run: the CLI overrides that differ between the runs, falling
    back to the directory name."""
    return differing_labels([override_map(r.overrides) for r in runs], directory_names([r.path for r in runs]))
