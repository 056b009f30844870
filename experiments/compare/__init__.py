"""Cross-run comparison report: ``python -m experiments.compare RUN_DIR [RUN_DIR ...] [--out PATH]``.

Each RUN_DIR is a run directory of ``experiments.run``, a Hydra multirun directory (numbered
run directories) or any directory holding run directories. Writes one self-contained HTML
file (figures embedded as PNG data URIs): a section per kind of run, encoding
(``experiments.compare.encoding``) and motor (``experiments.compare.motor``); with encoding
runs also ``<out>.json``, every test between runs and between model families with its p, q
and verdict. Runs are
labelled by the Hydra overrides that differ between them; unfinished runs are skipped and
listed in the report. Default output: ``<RUN_DIR>/comparison.html`` for one directory,
``./comparison.html`` for several.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments.compare.runs import COMPARABLE_KINDS, CompareError, Run, discover, load_runs, run_labels
from experiments.io import write_json
from experiments.report.html import Report

TITLE = "callosum: cross-run comparison"


@dataclass(frozen=True)
class Built:
    """What :func:`build_report` wrote: the HTML path, the runs per kind with their labels,
    the number of figures per kind and the warnings (skipped directories)."""

    path: Path
    runs: dict[str, list[Run]]
    labels: dict[str, list[str]]
    figures: dict[str, int]
    warnings: list[str]


def default_out(paths: list[str | Path]) -> Path:
    return Path(paths[0]) / "comparison.html" if len(paths) == 1 else Path("comparison.html")


def build_report(paths: list[str | Path], out: str | Path | None = None) -> Built:
    """Discover and load the runs under ``paths`` and write the comparison report to ``out``
    (atomically). Raises :class:`CompareError` for unusable inputs."""
    dirs, warnings = discover(paths)
    runs, skipped = load_runs(dirs, named=paths)
    warnings += skipped
    if not runs:
        raise CompareError("no finished runs found under " + ", ".join(map(str, paths))
                           + ("" if not warnings else ": " + "; ".join(warnings)))
    by_kind = {k: [r for r in runs if r.kind == k] for k in COMPARABLE_KINDS}
    by_kind = {k: v for k, v in by_kind.items() if v}
    labels = {k: run_labels(v) for k, v in by_kind.items()}
    out = Path(out) if out is not None else default_out(paths)
    out.parent.mkdir(parents=True, exist_ok=True)

    rep = Report(TITLE)
    rep.text(f"{len(runs)} finished run(s): " + ", ".join(f"{len(v)} {k}" for k, v in by_kind.items())
             + ". Labels are the Hydra overrides that differ between runs (else the directory name).")
    rep.heading("Runs")
    rep.table(["label", "kind", "directory", "overrides"],
              [[lab, k, str(r.path), " ".join(r.overrides) if r.overrides is not None else "(not run via the CLI)"]
               for k, rs in by_kind.items() for r, lab in zip(rs, labels[k])])
    if warnings:
        rep.heading("Skipped")
        for w in warnings:
            rep.text("warning: " + w)
    figures: dict[str, int] = {}
    tests: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="compare-") as tmp:
        if "encoding" in by_kind:
            from experiments.compare.encoding import add_encoding_section

            figures["encoding"], tests["encoding"] = add_encoding_section(rep, by_kind["encoding"],
                                                                          labels["encoding"], Path(tmp))
        if "motor" in by_kind:
            from experiments.compare.motor import add_motor_section

            figures["motor"] = add_motor_section(rep, by_kind["motor"], Path(tmp))
    rep.write(out)
    if tests:
        write_json(out.with_suffix(".json"), {"runs": {k: [{"label": lab, "path": str(r.path)} for r, lab in
                                                           zip(rs, labels[k])] for k, rs in by_kind.items()},
                                              **tests, "warnings": warnings})
    return Built(out, by_kind, labels, figures, warnings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.compare", description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories, Hydra multirun directories, or directories "
                        "holding run directories")
    parser.add_argument("--out", help="HTML file to write (default: <RUN_DIR>/comparison.html for one "
                        "directory, ./comparison.html for several)")
    args = parser.parse_args(argv)
    try:
        built = build_report(args.runs, args.out)
    except CompareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for w in built.warnings:
        print(f"warning: {w}", file=sys.stderr)
    n = sum(built.figures.values())
    print(f"{built.path}: {', '.join(f'{len(v)} {k} run(s)' for k, v in built.runs.items())}, {n} figure(s)")
    return 0
