"""MuJoCo C (gymnasium env) vs the JAX env (closed-form step or ``mjx.step``): same start,
same actions, same hand path."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs

START = [0.7, 1.3, 0.0, 0.0]
TARGET = [0.1, 0.45]
LOAD = [4.0, -6.0]


def actions(seed: int, steps: int = 50) -> np.ndarray:
    """Smooth-ish excitations in [0, 0.6] that move the arm but keep it off its stops."""
    rng = np.random.default_rng(seed)
    return np.clip(0.25 + np.cumsum(rng.normal(0, 0.08, (steps, 6)), axis=0), 0, 0.6)


def gym_hand_path(task: str, acts: np.ndarray, **settings) -> np.ndarray:
    env = envs.ArmEnv(task, **settings)
    env.reset(seed=0, options={"joint_state": START, "target": TARGET, "load": LOAD})
    path = [env.step(a)[4]["hand_pos"] for a in acts]
    return np.array(path)


def jax_hand_path(task: str, acts: np.ndarray, **settings) -> np.ndarray:
    env = envs.make_functional(task, **settings)
    s0 = env.reset(jax.random.key(0), joint_state=START, target=TARGET, load=LOAD)
    _, traj = jax.jit(env.rollout)(s0, jnp.asarray(acts))
    return np.asarray(traj.hand)


@pytest.mark.parametrize("physics", ["closed_form", "mjx"])
@pytest.mark.parametrize("task,n_substeps", [("hold", 1), ("reach", 3)])
def test_mujoco_and_mjx_agree_float64(task: str, n_substeps: int, physics: str) -> None:
    acts = actions(1)
    with jax.enable_x64(True):
        jx = jax_hand_path(task, acts, n_substeps=n_substeps, physics=physics)
    c = gym_hand_path(task, acts, n_substeps=n_substeps)
    moved = np.linalg.norm(c[-1] - c[0])
    assert moved > 0.05, "the test trajectory should really move the hand"
    assert np.max(np.linalg.norm(jx - c, axis=-1)) < 1e-4


def test_mujoco_and_mjx_agree_float32() -> None:
    acts = actions(2)
    jx = jax_hand_path("hold", acts)
    c = gym_hand_path("hold", acts)
    assert np.max(np.linalg.norm(jx - c, axis=-1)) < 1e-3
