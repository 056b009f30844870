"""Motor runs compared: the variant x task table pooled over seeds (across runs) with 95 %
confidence intervals, and lesion effects (lesioned minus intact, paired by seed).

Runs whose configs differ only in the seed (``seed``, ``task.seeds``) or in how they ran
(``resume``, ``runtime``) form one group, e.g. a multirun over ``seed=0,1,2`` with
``task.seeds=1``; their per-seed values are pooled and the interval is the t-interval over
seeds, as ``agents.evaluation.mean_ci`` computes it within a run. ``metrics.json`` keeps
per-seed values of every metric (``per_seed``; older runs: of the position error only, as
``per_seed_position_error``); other metrics of such runs have per-seed values only in
single-seed runs, so they are pooled only across those. A group
of one run shows that run's own aggregate (its CI over episodes when it has a single seed).
"""

from __future__ import annotations

import copy
import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.pooling import Cell, effect_cell, pooled_cell
from experiments.compare.runs import (
    CompareError,
    Run,
    common_overrides,
    differing_labels,
    directory_names,
    override_map,
)
from experiments.io import save_figure
from experiments.report.html import Report
from experiments.report.plots import pyplot

METRICS = ("position_error", "final_position_error", "effort")
POOL_IGNORED = ("seed", "resume", "task.seeds", "runtime")  # config paths that do not split a group
LENGTHS = ("position_error", "final_position_error")  # metres; shown in cm


@dataclass
class MotorGroup:
    """Runs pooled together and their tables: ``table[(variant, task, metric)]`` and
    ``lesions[(variant, lesion, task)] = (intact, lesioned, lesioned - intact)`` position
    error cells (None: not computable)."""

    label: str
    runs: list[Run]
    seeds: list[int]
    variants: list[str]
    tasks: list[str]
    table: dict[tuple[str, str, str], Cell | None] = field(default_factory=dict)
    lesions: dict[tuple[str, str, str], tuple[Cell | None, Cell | None, Cell | None]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _drop(config: dict[str, Any], dotted: str) -> None:
    *parents, last = dotted.split(".")
    node: Any = config
    for p in parents:
        node = node.get(p) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(last, None)


def pooling_key(config: dict[str, Any]) -> str:
    """The config without :data:`POOL_IGNORED`: runs with equal keys are pooled."""
    c = copy.deepcopy(config)
    for path in POOL_IGNORED:
        _drop(c, path)
    return json.dumps(c, sort_keys=True)


def group_runs(runs: list[Run]) -> list[list[Run]]:
    """Runs grouped by :func:`pooling_key`, groups and runs in first-seen order."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(pooling_key(run.config), []).append(run)
    return list(groups.values())


def group_labels(groups: list[list[Run]]) -> list[str]:
    """What distinguishes the groups: their shared CLI overrides (seed overrides left out)
    that differ between groups; else the task's name for a lone group, or the members'
    directory names."""
    ignore = ("seed", "task.seeds")
    maps = [common_overrides([override_map(r.overrides, ignore) for r in g]) for g in groups]
    names = directory_names([r.path for g in groups for r in g])
    fallbacks, k = [], 0
    for g in groups:
        fallbacks.append(f"task={g[0].config['task'].get('name', '?')}" if len(groups) == 1 else
                         ", ".join(names[k:k + len(g)]) if len(g) <= 4 else
                         f"{names[k]} ... {names[k + len(g) - 1]} ({len(g)} runs)")
        k += len(g)
    return differing_labels(maps, fallbacks)


def _ordered(items: list[list[str]]) -> list[str]:
    return list(dict.fromkeys(x for xs in items for x in xs))


def summarise_group(runs: list[Run], label: str) -> MotorGroup:
    """The pooled variant x task x metric table and lesion effects of one group
    (``agents.pooling``); a run whose per-seed values do not match its seeds is named."""
    try:
        return _summarise_group(runs, label)
    except CompareError:
        raise
    except ValueError as exc:  # agents.pooling: per-seed values that do not match the seeds
        raise CompareError(f"{label} ({', '.join(str(r.path) for r in runs)}): {exc}") from exc


def _summarise_group(runs: list[Run], label: str) -> MotorGroup:
    metrics = [r.metrics for r in runs]
    for r in runs:
        if not isinstance(r.metrics.get("variants"), dict) or "seeds" not in r.metrics:
            raise CompareError(f"{r.path}: motor metrics.json without 'variants' and 'seeds'")
    seeds_of = [[int(s) for s in m["seeds"]] for m in metrics]
    group = MotorGroup(label, runs, sorted({s for ss in seeds_of for s in ss}),
                       _ordered([list(m["variants"]) for m in metrics]),
                       _ordered([list(v) for m in metrics for v in m["variants"].values()]))
    seen: dict[int, Path] = {}
    for run, seeds in zip(runs, seeds_of):
        for s in seeds:
            if s in seen:
                group.notes.append(f"seed {s} is in both {seen[s].name} and {run.path.name}: the first is used")
            seen.setdefault(s, run.path)
    for v in group.variants:
        for t in group.tasks:
            aggs = [(s, m["variants"][v][t]) for s, m in zip(seeds_of, metrics) if t in m["variants"].get(v, {})]
            for metric in METRICS:
                group.table[(v, t, metric)] = pooled_cell(aggs, metric) if aggs else None
    for v in group.variants:
        lesions = _ordered([list((m.get("lesions") or {}).get(v, {})) for m in metrics])
        for les in lesions:
            for t in group.tasks:
                pairs = [(s, m["variants"][v][t], m["lesions"][v][les][t]) for s, m in zip(seeds_of, metrics)
                         if t in (m.get("lesions") or {}).get(v, {}).get(les, {}) and t in m["variants"].get(v, {})]
                if pairs:
                    group.lesions[(v, les, t)] = (
                        pooled_cell([(s, a) for s, a, _ in pairs], "position_error"),
                        pooled_cell([(s, b) for s, _, b in pairs], "position_error"),
                        effect_cell(pairs, "position_error"))
    return group


def format_cell(cell: Cell | None, metric: str = "position_error") -> str:
    """``mean ± half (n seeds)`` in cm for lengths; ``n/a`` when not computable."""
    if cell is None:
        return "n/a (no per-seed values)"
    scale, digits = (100.0, 2) if metric in LENGTHS else (1.0, 4)
    half = "n/a" if cell.half != cell.half else f"{scale * cell.half:.{digits}f}"
    n = f"{cell.n} seed{'s' if cell.n != 1 else ''}" + (", CI over episodes" if cell.over == "episodes" else "")
    return f"{scale * cell.mean:.{digits}f} ± {half} ({n})"


def _bars(ax: Any, names: list[str], cells: list[Cell | None], scale: float, colors: Any) -> None:
    y = np.arange(len(names))
    mean = [scale * c.mean if c else np.nan for c in cells]
    half = [scale * np.nan_to_num(c.half) if c else 0.0 for c in cells]
    ax.barh(y, np.nan_to_num(mean), xerr=half, color=colors, alpha=0.75, capsize=3)
    for k, c in enumerate(cells):
        if c and c.values:
            ax.scatter(scale * np.asarray(c.values), np.full(len(c.values), y[k]), s=10, color="k", zorder=3)
    ax.invert_yaxis()


def plot_variants(group: MotorGroup, path: Path) -> None:
    """Position error per variant, one panel per task: mean over seeds with 95 % CI, points
    per seed."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(group.tasks), figsize=(4.2 * len(group.tasks), 1.2 + 0.45 * len(group.variants)),
                             dpi=100, squeeze=False)
    colors = plt.cm.tab10(np.arange(len(group.variants)) % 10)
    for ax, task in zip(axes[0], group.tasks):
        _bars(ax, group.variants, [group.table[(v, task, "position_error")] for v in group.variants], 100.0, colors)
        ax.set_yticks(range(len(group.variants)), group.variants if ax is axes[0][0] else [""] * len(group.variants),
                      fontsize=8)
        ax.set_xlabel("position error (cm)")
        ax.set_title(task)
    fig.suptitle(textwrap.fill(f"{group.label}: position error (mean over seeds, 95 % CI; points: seeds)", 120),
                 fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_lesions(group: MotorGroup, path: Path) -> None:
    """Lesioned minus intact position error per variant and lesion, one panel per task."""
    plt = pyplot()
    keys = list(dict.fromkeys((v, les) for v, les, _ in group.lesions))
    names = [f"{v}: {les}" for v, les in keys]
    fig, axes = plt.subplots(1, len(group.tasks), figsize=(4.6 * len(group.tasks), 1.2 + 0.45 * len(keys)),
                             dpi=100, squeeze=False)
    colors = plt.cm.tab10(np.arange(len(keys)) % 10)
    for ax, task in zip(axes[0], group.tasks):
        cells = [group.lesions.get((v, les, task), (None, None, None))[2] for v, les in keys]
        _bars(ax, names, cells, 100.0, colors)
        ax.axvline(0, color="#888", lw=0.8)
        ax.set_yticks(range(len(keys)), names if ax is axes[0][0] else [""] * len(keys), fontsize=8)
        ax.set_xlabel("lesioned - intact position error (cm)")
        ax.set_title(task)
    fig.suptitle(textwrap.fill(f"{group.label}: lesion effects (mean over seeds, 95 % CI; points: seeds)", 120),
                 fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def add_motor_section(rep: Report, runs: list[Run], fig_dir: Path) -> int:
    """Append the motor comparison to ``rep``; returns the number of figures added."""
    groups = group_runs(runs)
    n_fig = 0
    for gi, (members, label) in enumerate(zip(groups, group_labels(groups))):
        g = summarise_group(members, label)
        rep.heading(f"Motor: {label}")
        shared = common_overrides([override_map(r.overrides) for r in members])
        rep.text(f"{len(members)} run(s) pooled ({', '.join(r.path.name for r in members)}), seeds "
                 f"{g.seeds}; 95 % t-interval over seeds (lengths in cm)."
                 + (f" Overrides shared by these runs: {' '.join(f'{k}={v}' for k, v in shared.items())}."
                    if shared else ""))
        for note in g.notes:
            rep.text(note)
        png = fig_dir / f"motor_variants_{gi}.png"
        plot_variants(g, png)
        rep.figure(png, f"{label}: position error per variant and task")
        n_fig += 1
        for metric in METRICS:
            rep.text(f"{metric.replace('_', ' ')}" + (" (cm)" if metric in LENGTHS else " (mean squared excitation)"))
            rep.table(["variant"] + g.tasks,
                      [[v] + [format_cell(g.table[(v, t, metric)], metric) for t in g.tasks] for v in g.variants])
        if g.lesions:
            png = fig_dir / f"motor_lesions_{gi}.png"
            plot_lesions(g, png)
            rep.figure(png, f"{label}: lesion effects on the position error")
            n_fig += 1
            rep.text("Lesion effects on the position error (cm): lesioned minus intact per seed, pooled over "
                     "seeds; positive = the lesion hurts.")
            rep.table(["variant", "lesion", "task", "intact", "lesioned", "lesioned - intact"],
                      [[v, les, t] + [format_cell(c) for c in cells] for (v, les, t), cells in g.lesions.items()])
        else:
            rep.text("No lesions in these runs.")
    return n_fig
