"""Task ``rollout``: roll a fixed open-loop controller out on one task of the JAX arm.

Random or silent excitations: a floor that trained controllers must beat, and a quick
check of the whole path from config to metrics and figures.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import envs
from agents.figures import plot_hand_paths
from envs.config import ArmConfig
from experiments.io import save_figure
from experiments.settings import CONTROLLERS, RunSettings, arm_settings

log = logging.getLogger("callosum")


def controller_actions(name: str, key: jax.Array, episodes: int, steps: int) -> jax.Array:
    """Excitations (episodes, steps, 6) of a fixed open-loop controller."""
    if name == "random":
        return jax.random.uniform(key, (episodes, steps, 6))
    if name == "zero":
        return jnp.zeros((episodes, steps, 6))
    raise ValueError(f"unknown controller {name!r}; valid controllers: {', '.join(CONTROLLERS)}")


def summarise(values: np.ndarray) -> tuple[float, float]:
    """Mean and 95 % normal-approximation confidence half-width over axis 0."""
    n = values.shape[0]
    half = 1.96 * values.std(ddof=1) / np.sqrt(n) if n > 1 else float("nan")
    return float(values.mean()), float(half)


def check(settings: RunSettings) -> ArmConfig:
    """The runner's up-front check (the schema checked the ranges and choices): the arm's
    settings through ``ArmConfig``'s checks; returns the arm."""
    return ArmConfig.from_overrides(settings.task.env, **arm_settings(settings))


def run(settings: RunSettings, out_dir: Path) -> dict[str, Any]:
    """Roll out ``task.controller`` for ``task.episodes`` episodes; write a plot."""
    t = settings.task
    env = envs.make_functional(t.env, **arm_settings(settings))
    key_reset, key_act = jax.random.split(jax.random.key(settings.seed))
    n, steps = t.episodes, env.cfg.episode_steps
    resets = jax.random.split(key_reset, n)
    if env.cfg.task == "centre_out":
        index = jnp.arange(n) % env.cfg.centre_out_targets
        state0 = jax.vmap(lambda k, i: env.reset(k, target_index=i))(resets, index)
    else:
        state0 = jax.vmap(env.reset)(resets)
    actions = controller_actions(t.controller, key_act, n, steps)
    log.info("rolling out %d %s episodes of %s", n, t.controller, env.cfg.task)
    _, traj = jax.jit(jax.vmap(env.rollout))(state0, actions)
    err = np.asarray(traj.metrics["position_error"])  # (episodes, steps)
    effort = np.asarray(traj.metrics["effort"])
    mean_err, ci_err = summarise(err.mean(axis=1))
    final, ci_final = summarise(err[:, -1])
    metrics = {
        "task": env.cfg.task,
        "controller": t.controller,
        "episodes": n,
        "n_substeps": env.cfg.n_substeps,
        "position_error": mean_err,
        "position_error_ci95": ci_err,
        "final_position_error": final,
        "final_position_error_ci95": ci_final,
        "effort": float(effort.mean()),
        "reward": float(np.asarray(traj.reward).sum(axis=1).mean()),
    }
    hands = np.concatenate([np.asarray(state0.hand)[:, None], np.asarray(traj.hand)], axis=1)
    k = min(t.plot_episodes, n)
    save_figure(plot_hand_paths(hands[:k], np.asarray(state0.target)[:k],
                                title=f"{env.cfg.task}: {t.controller} controller"), out_dir / "hand_paths.png", close=True)
    log.info("mean position error %.3f m, final %.3f m", mean_err, final)
    return metrics
