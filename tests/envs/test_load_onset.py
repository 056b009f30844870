"""``load_onset``: the hold task's load switches on after a settle period (posture control)
instead of acting from the first step (the step from rest, still the default)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.config import ArmConfig

JS, LOAD = np.array([0.8, 1.3, 0.0, 0.0]), np.array([8.0, -6.0])
ONSET = 0.1  # 10 control steps


def _hands(load: np.ndarray = LOAD, **settings) -> np.ndarray:
    env = envs.make_functional("hold", feedback_delay=0.0, **settings)
    s0 = env.reset(jax.random.key(0), joint_state=jnp.asarray(JS, jnp.float32), load=jnp.asarray(load, jnp.float32))
    _, states = env.rollout(s0, jnp.full((30, 6), 0.05))
    return np.asarray(states.hand)


def test_the_load_acts_from_its_onset() -> None:
    """Before the onset the arm moves as an unloaded one; from the onset step on it differs,
    and it then moves as the step-from-rest arm would from the state it had at the onset."""
    late = _hands(load_onset=ONSET)
    unloaded = _hands(np.zeros(2))
    np.testing.assert_allclose(late[:10], unloaded[:10], rtol=1e-6, atol=1e-7)
    assert np.abs(late[10:] - unloaded[10:]).max() > 1e-3  # the load pushes the hand after the onset
    env = envs.make_functional("hold", feedback_delay=0.0)
    s = env.reset(jax.random.key(0), joint_state=jnp.asarray(JS, jnp.float32), load=jnp.asarray(LOAD))
    late_env = envs.make_functional("hold", feedback_delay=0.0, load_onset=ONSET)
    t = late_env.reset(jax.random.key(0), joint_state=jnp.asarray(JS, jnp.float32), load=jnp.asarray(LOAD))
    for _ in range(10):
        t = late_env.step(t, jnp.full(6, 0.05))
    s = s.replace(q=t.q, qd=t.qd, activation=t.activation, joint_lag=t.joint_lag)  # the onset state, load from now
    for _ in range(5):
        s, t = env.step(s, jnp.full(6, 0.05)), late_env.step(t, jnp.full(6, 0.05))
        np.testing.assert_allclose(np.asarray(t.hand), np.asarray(s.hand), rtol=1e-6, atol=1e-7)


def test_the_mujoco_c_env_switches_the_load_on_alike() -> None:
    fn = envs.make_functional("hold", feedback_delay=0.0, load_onset=ONSET)
    c = envs.ArmEnv("hold", feedback_delay=0.0, load_onset=ONSET)
    c.reset(seed=0, options={"joint_state": JS, "load": LOAD})
    state = fn.reset(jax.random.key(0), joint_state=jnp.asarray(JS, jnp.float32), load=jnp.asarray(LOAD, jnp.float32))
    step = jax.jit(fn.step)
    for _ in range(20):
        *_, info = c.step(np.full(6, 0.05, np.float32))
        state = step(state, jnp.full(6, 0.05))
        np.testing.assert_allclose(info["hand_pos"], np.asarray(state.hand), atol=2e-4)


def test_bad_onsets_are_named() -> None:
    for onset, why in ((-0.01, ">= 0"), (0.015, "whole number of control steps"), (0.5, "before the episode's end")):
        with pytest.raises(ValueError, match=f"load_onset.*{why}"):
            ArmConfig.from_overrides("hold", load_onset=onset)
