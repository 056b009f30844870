"""Per-seed evaluation numbers pooled across runs: the runs of one experiment split over
seeds (e.g. a sweep over ``seed`` with ``task.seeds=1``) give one mean with its 95 %
t-interval over all their seeds, as :func:`agents.evaluation.mean_ci` gives it within a run;
lesion effects are lesioned minus intact, paired by seed.

The inputs are :func:`agents.evaluation.aggregate`'s numbers (as ``metrics.json`` keeps
them): per-seed values under ``per_seed`` (runs written before it: ``per_seed_position_error``
only); a single-seed run's aggregate is its seed's value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from brain.stats import t_interval


@dataclass(frozen=True)
class Cell:
    """A mean with the half-width of its 95 % interval over ``n`` values ``over`` seeds or
    episodes (NaN half-width when it cannot be computed); ``values``: the per-seed values."""

    mean: float
    half: float
    n: int
    over: str
    values: tuple[float, ...] = ()


def seed_values(agg: dict[str, Any], metric: str, seeds: list[int]) -> dict[int, float] | None:
    """Per-seed values of ``metric`` from one run's aggregate (``agents.evaluation.aggregate``),
    keyed by seed; None when the run does not keep them (a multi-seed run from before
    ``per_seed``, metric other than the position error)."""
    kept = (agg.get("per_seed") or {}).get(metric)
    if kept is None and metric == "position_error":
        kept = agg.get("per_seed_position_error")  # metrics.json written before ``per_seed``
    if kept is not None:
        values = [float("nan") if v is None else float(v) for v in kept]
        if len(values) != len(seeds):
            raise ValueError(f"per-seed {metric} has {len(values)} values for seeds {seeds}")
        return dict(zip(seeds, values))
    if len(seeds) == 1:
        return {seeds[0]: float(agg[metric])}
    return None


def pool(per_run: list[dict[int, float] | None]) -> dict[int, float] | None:
    """Per-seed values of several runs merged (a seed seen twice: the first run's value);
    None if any run lacks them."""
    if any(d is None for d in per_run):
        return None
    out: dict[int, float] = {}
    for d in per_run:
        for seed, value in d.items():
            out.setdefault(seed, value)
    return out


def pooled_cell(aggs: list[tuple[list[int], dict[str, Any]]], metric: str) -> Cell | None:
    """``metric`` over all seeds of the runs' aggregates ``(seeds, aggregate)``."""
    pooled = pool([seed_values(agg, metric, seeds) for seeds, agg in aggs])
    if pooled is not None and len(pooled) >= 2:
        mean, half, n = t_interval(list(pooled.values()))
        return Cell(mean, half, n, "seeds", tuple(pooled.values()))
    if len(aggs) == 1:  # one run: its own aggregate (over episodes when it has one seed)
        seeds, agg = aggs[0]
        return Cell(float(agg[metric]), float(agg.get(f"{metric}_ci95", float("nan"))), len(seeds),
                    str(agg.get("ci_over", "seeds")), tuple(pooled.values()) if pooled else ())
    if pooled:
        return Cell(float(np.mean(list(pooled.values()))), float("nan"), len(pooled), "seeds",
                    tuple(pooled.values()))
    return None


def effect_cell(pairs: list[tuple[list[int], dict[str, Any], dict[str, Any]]], metric: str) -> Cell | None:
    """Lesioned minus intact ``metric`` per seed, pooled over runs ``(seeds, intact aggregate,
    lesioned aggregate)``, with the t-interval over seeds."""
    diffs: list[dict[int, float] | None] = []
    for seeds, intact, lesioned in pairs:
        a, b = seed_values(intact, metric, seeds), seed_values(lesioned, metric, seeds)
        diffs.append(None if a is None or b is None else {s: b[s] - a[s] for s in seeds})
    pooled = pool(diffs)
    if not pooled:
        return None
    mean, half, n = t_interval(list(pooled.values()))
    return Cell(mean, half, n, "seeds", tuple(pooled.values()))
