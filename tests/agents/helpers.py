"""Shared helpers of the agents tests.

Compiling a training step through the arm dominates these tests' run time; the XLA CPU
options below cut it (fewer backend optimisations, classic fusion emitters) and apply only
on the CPU backend. Level 1, not 0: at level 0 XLA 0.10.2 computed NaN gradients for a
rematerialised GRU controller on the arm that levels 1 and 2 compute finite (found by
``tests/experiments/test_motor.py::test_gru_hemispheres_train_over_seeds``).
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

_FAST_CPU = {"xla_backend_optimization_level": 1, "xla_cpu_use_fusion_emitters": False}


def fast_jit(fun: Callable, **kwargs: Any) -> Callable:
    """``jax.jit`` with cheap-to-compile options on CPU."""
    if jax.default_backend() == "cpu":
        kwargs.setdefault("compiler_options", _FAST_CPU)
    return jax.jit(fun, **kwargs)


def assert_trees_equal(a: Any, b: Any) -> None:
    """Same structure and bit-identical leaves."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


def assert_trees_close(a: Any, b: Any, rtol: float = 1e-5, atol: float = 0.0) -> None:
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


# -- a stand-in for the arm: a point hand pushed by the excitations ------------------------
# For checks of the training machinery that do not depend on the arm (gradient plumbing),
# this environment compiles in a fraction of a second instead of the arm's ~10 s.
@struct.dataclass
class PointState:
    obs: jax.Array
    hand: jax.Array
    target: jax.Array
    load: jax.Array
    metrics: dict


class PointEnv:
    """Hand (2,) m moved by pairs of opposing excitations; observation (16,) = hand, target,
    zeros. Exposes what ``closed_loop`` and ``Trainer`` use of ``FunctionalArmEnv``."""

    observation_size = 16
    action_size = 6

    def __init__(self, episode_steps: int = 6, control_dt: float = 0.01):
        self.cfg = SimpleNamespace(episode_steps=episode_steps, control_dt=control_dt)

    def _state(self, hand: jax.Array, target: jax.Array, load: jax.Array) -> PointState:
        obs = jnp.concatenate([hand, target, jnp.zeros(12, hand.dtype)])
        err = jnp.sqrt(jnp.maximum(jnp.sum((hand - target) ** 2), 1e-12))
        return PointState(obs=obs, hand=hand, target=target, load=load,
                          metrics={"position_error": err})

    def reset(self, key: jax.Array) -> PointState:
        k_hand, k_target = jax.random.split(key)
        return self._state(jax.random.uniform(k_hand, (2,), minval=-0.2, maxval=0.2),
                           jax.random.uniform(k_target, (2,), minval=-0.2, maxval=0.2),
                           jnp.zeros(2))

    def step(self, state: PointState, u: jax.Array) -> PointState:
        push = 0.1 * (u[:2] - u[2:4]) + 0.05 * jnp.tanh(u[4:] * state.hand * 10.0)
        return self._state(state.hand + push, state.target, state.load)


class PointSampler:
    """``EpisodeSampler``'s interface over :class:`PointEnv` (every task alike)."""

    def __init__(self, episode_steps: int = 6):
        self.env = PointEnv(episode_steps)

    def states(self, key: jax.Array, n: int, task: str, hold_fraction: float = 0.5) -> PointState:
        return jax.vmap(self.env.reset)(jax.random.split(key, n))

    def states_from_keys(self, keys: jax.Array, task: str, hold_fraction: float = 0.5) -> PointState:
        return jax.vmap(self.env.reset)(keys)
