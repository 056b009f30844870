"""Evaluation of trained controllers (several seeds at once), lesions included.

``evaluate(model, params, sampler, task, n_episodes, key, lesion)`` runs the controllers
of all seeds (``params`` with a leading seed axis) on the same ``n_episodes`` episodes of
``task`` (``centre_out``: its targets in turn) and returns per-seed, per-episode numbers plus the trajectories.
``aggregate`` turns those into the reported means and 95 % confidence intervals.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import numpy as np
from scipy import stats

from agents.controllers import BilateralController, lesion_mask
from agents.rollout import EpisodeSampler, Trajectory, closed_loop

METRICS: tuple[str, ...] = ("position_error", "final_position_error", "effort")


@partial(jax.jit, static_argnames=("model", "env"))
def _run(model: Any, params: Any, env: Any, state0: Any, mask: jax.Array) -> Trajectory:
    # the lesion is data (a mask), so one compilation serves every lesion and task
    lesion = mask if isinstance(model, BilateralController) else "none"
    return jax.vmap(lambda p: closed_loop(model, p, env, state0, lesion=lesion))(params)


def evaluate(model: Any, params: Any, sampler: EpisodeSampler, task: str, n_episodes: int,
             key: jax.Array, lesion: str = "none") -> tuple[dict[str, np.ndarray], Trajectory]:
    """Per-seed, per-episode ``position_error`` (mean hand-target distance over the
    episode, m), ``final_position_error`` (m) and ``effort`` (mean u^2), each (seeds,
    episodes), and the trajectories (leading axes seeds, episodes)."""
    if lesion != "none" and not isinstance(model, BilateralController):
        raise ValueError(f"lesion {lesion!r} needs a bilateral controller")
    state0 = sampler.draw(key, int(n_episodes), task)
    traj = _run(model, params, sampler.env, state0, lesion_mask(lesion))
    err = np.asarray(traj.position_error)
    numbers = {"position_error": err.mean(axis=-1), "final_position_error": err[..., -1],
               "effort": np.asarray(traj.excitation ** 2).mean(axis=(-1, -2))}
    return numbers, traj


def t_interval(values: Any) -> tuple[float, float, int]:
    """Mean, half-width of the two-sided 95 % Student-t interval of the mean (NaN for fewer
    than two values) and the number of values."""
    x = np.asarray(values, float).ravel()
    if x.size == 0:
        return float("nan"), float("nan"), 0
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else float("nan")
    return float(x.mean()), half, int(x.size)


def mean_ci(values: np.ndarray) -> tuple[float, float, str]:
    """Mean of ``values`` (seeds, episodes) and the half-width of its 95 % t-interval over
    seed means (over episodes when there is one seed), and which it was."""
    values = np.asarray(values, float)
    per_seed = values.mean(axis=-1)
    sample, over = (per_seed, "seeds") if per_seed.size > 1 else (values, "episodes")
    return float(per_seed.mean()), t_interval(sample)[1], over


def aggregate(numbers: dict[str, np.ndarray]) -> dict[str, Any]:
    """``{metric: mean, metric_ci95: half-width, ..., ci_over: seeds|episodes}``."""
    out: dict[str, Any] = {}
    for name in METRICS:
        mean, half, over = mean_ci(numbers[name])
        out[name], out[f"{name}_ci95"] = mean, half
        out["ci_over"] = over
    out["per_seed_position_error"] = np.asarray(numbers["position_error"]).mean(axis=-1).tolist()
    return out
