"""Per-seed numbers pooled across runs (``agents.pooling``), against scipy's t interval."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from agents.pooling import effect_cell, pooled_cell, seed_values


def _t(values: list[float]) -> tuple[float, float]:
    v = np.asarray(values)
    return float(v.mean()), float(stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))


def test_runs_split_over_seeds_pool_into_one_interval() -> None:
    one = ([0], {"position_error": 0.02, "position_error_ci95": 0.001, "ci_over": "episodes"})
    two = ([1, 2], {"position_error": 0.0, "per_seed": {"position_error": [0.03, 0.025]}})
    again = ([2], {"position_error": 0.9})  # seed 2 twice: the first run's value is used
    cell = pooled_cell([one, two, again], "position_error")
    mean, half = _t([0.02, 0.03, 0.025])
    assert cell.n == 3 and cell.over == "seeds" and cell.values == (0.02, 0.03, 0.025)
    assert cell.mean == pytest.approx(mean) and cell.half == pytest.approx(half)
    alone = pooled_cell([one], "position_error")  # one single-seed run: its own CI over episodes
    assert (alone.mean, alone.half, alone.over) == (0.02, 0.001, "episodes")
    assert pooled_cell([([0, 1], {"effort": 1.0}), ([2], {"effort": 2.0})], "effort") is None  # none kept per seed


def test_lesion_effects_are_paired_by_seed() -> None:
    intact = {"per_seed": {"position_error": [0.01, 0.02, 0.015]}}
    lesioned = {"per_seed": {"position_error": [0.03, 0.05, 0.02]}}
    cell = effect_cell([([0, 1, 2], intact, lesioned)], "position_error")
    mean, half = _t([0.02, 0.03, 0.005])
    assert cell.mean == pytest.approx(mean) and cell.half == pytest.approx(half) and cell.n == 3


def test_per_seed_values_that_do_not_match_the_seeds_are_refused() -> None:
    with pytest.raises(ValueError, match=r"per-seed position_error has 2 values for seeds \[0, 1, 2\]"):
        seed_values({"per_seed": {"position_error": [0.1, 0.2]}}, "position_error", [0, 1, 2])
