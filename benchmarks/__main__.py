"""``python -m benchmarks <name> [key=value ...] [--out DIR]``: run one benchmark from the
repository root, print its table and write its JSON (``bench_<name>.json``) into ``--out``
(default ``bench_results/<name>/<time>/``). Settings are checked before anything is written."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import sys
import time
import typing
from pathlib import Path
from typing import Any

import yaml

NAMES = ("envs", "encoding", "encoding_scale", "features", "runner")
ARM = ("envs", "runner")  # the arm's many tiny programs: CPU split into host devices, YNNPACK fusion off


def settings_class(name: str) -> type:
    return importlib.import_module(f"benchmarks.{name}").Settings


def describe(name: str) -> str:
    cls = settings_class(name)
    return "\n".join(f"  {f.name}={f.default!r}" for f in dataclasses.fields(cls))


def parse_settings(name: str, items: list[str]) -> Any:
    """The benchmark's frozen settings from ``key=value`` items (values read as YAML);
    ``ValueError`` naming an unknown key (with the valid ones) or a value of the wrong type."""
    cls = settings_class(name)
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"{item!r}: give settings as key=value")
        if key not in hints:
            raise ValueError(f"unknown setting {key!r} of benchmark {name}; valid: {', '.join(hints)}")
        value = yaml.safe_load(raw)
        hint = hints[key]
        origin = typing.get_origin(hint)
        if origin is tuple:
            item_type = typing.get_args(hint)[0]
            if not isinstance(value, list) or not all(isinstance(v, item_type) for v in value):
                raise ValueError(f"{key}={raw!r} must be a list of {item_type.__name__}")
            value = tuple(value)
        elif hint is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif hint is str:
            value = str(value)
        elif not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise ValueError(f"{key}={raw!r} must be of type {hint.__name__}")
        if hint in (int, float) and not value > 0 and key != "seed":
            raise ValueError(f"{key}={raw!r} must be > 0")
        values[key] = value
    return cls(**values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__ + "\n\nbenchmarks and their settings (defaults):\n"
        + "\n".join(f"{n}:\n{describe(n)}" for n in NAMES))
    parser.add_argument("name", choices=NAMES)
    parser.add_argument("settings", nargs="*", help="key=value settings of the benchmark")
    parser.add_argument("--out", type=Path, default=None, help="folder for bench_<name>.json")
    args = parser.parse_args(argv)
    try:
        settings = parse_settings(args.name, args.settings)
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))
    out = args.out or Path("bench_results") / args.name / time.strftime("%Y-%m-%d_%H-%M-%S")
    target = out / f"bench_{args.name}.json"
    if out.exists() and not out.is_dir():
        parser.error(f"--out {out} is a file, not a folder")
    if target.exists():
        parser.error(f"{target} exists already: choose another --out (nothing was changed)")
    from experiments.runtime import (
        enable_compilation_cache,
        prepare_environment,
        set_cpu_library_fusion,
        split_host_devices,
    )

    prepare_environment()
    if args.name in ARM:
        split_host_devices("auto")
        set_cpu_library_fusion(False)
    enable_compilation_cache(os.environ.get("CALLOSUM_JAX_CACHE", "~/.cache/callosum/jax"))
    out.mkdir(parents=True, exist_ok=True)
    run(args.name, settings, out)
    return 0


def run(name: str, settings: Any, out_dir: Path) -> dict[str, Any]:
    """Benchmark ``name`` with ``settings``: prints its table, writes ``bench_<name>.json``."""
    from benchmarks.timing import report_result

    module = importlib.import_module(f"benchmarks.{name}")
    kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(settings).items()}
    result = module.run_benchmark(**kwargs)
    return report_result(result, module.format_table(result), out_dir, f"bench_{name}.json")


if __name__ == "__main__":
    sys.exit(main())
