"""The velocity-dependent curl field on the hand (``field_strength``, ``field_direction``):
the force against finite differences of the hand's path, perpendicular to the velocity, the
path bent to the side the field names, the MuJoCo C env the same as the JAX env, and bad
settings named."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs import geometry, plant
from envs.config import ArmConfig, TaskConfig

JS, TARGET = np.array([0.6, 1.4, 0.0, 0.0]), np.array([0.05, 0.45])
PUSH = jnp.array([1.0, 0.0, 0.0, 1.0, 0.2, 0.0])  # excitations that swing the arm


def test_field_force_against_finite_differences_and_does_no_work() -> None:
    cfg = ArmConfig.from_overrides("reach", field_strength=12.0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        q, qd = rng.uniform([0.3, 0.5], [1.2, 2.0]), rng.normal(0, 2, 2)
        eps = 1e-6  # the hand's velocity by central differences of the forward kinematics
        v = (geometry.hand_position(q + eps * qd, cfg.skeleton) - geometry.hand_position(q - eps * qd, cfg.skeleton)) / (2 * eps)
        f = plant.field_force(q, qd, cfg)
        np.testing.assert_allclose(f, 12.0 * np.array([v[1], -v[0]]), rtol=1e-6)
        assert abs(np.dot(f, v)) < 1e-9 * (1 + np.linalg.norm(v) ** 2)  # perpendicular: no work
        ccw = ArmConfig.from_overrides("reach", field_strength=12.0, field_direction="counterclockwise")
        np.testing.assert_allclose(plant.field_force(q, qd, ccw), -f, rtol=1e-12)
    # the field on top of the load, through J^T into joint torques
    q, qd, act = np.array([0.7, 1.1]), np.array([1.0, -0.5]), np.full(6, 0.2)
    load = np.array([1.0, -2.0])
    none = ArmConfig.from_overrides("reach")
    np.testing.assert_allclose(plant.joint_torque(q, qd, act, load, cfg),
                               plant.joint_torque(q, qd, act, load + plant.field_force(q, qd, cfg), none), rtol=1e-12)


def _path(**settings) -> np.ndarray:
    env = envs.make_functional("reach", feedback_delay=0.0, **settings)
    s0 = env.reset(jax.random.key(0), joint_state=jnp.asarray(JS, jnp.float32), target=jnp.asarray(TARGET, jnp.float32))
    _, states = env.rollout(s0, jnp.tile(PUSH, (25, 1)))
    return np.vstack([np.asarray(s0.hand)[None], np.asarray(states.hand)])


def test_the_field_bends_the_path_to_its_side() -> None:
    """Against the null field's path from the same start under the same excitations, a
    clockwise field puts the hand to the right of the direction of motion, a counter-clockwise
    one to the left, the more the stronger the field."""
    null = _path()
    heading = np.diff(null, axis=0)
    def side(path: np.ndarray) -> float:  # mean signed offset from the null path; > 0 to the left of its motion
        off = path[1:] - null[1:]
        return float(np.mean(heading[:, 0] * off[:, 1] - heading[:, 1] * off[:, 0]))
    assert np.linalg.norm(null[-1] - null[0]) > 0.05  # the arm moved
    cw, ccw, strong = _path(field_strength=10.0), _path(field_strength=10.0, field_direction="counterclockwise"), \
        _path(field_strength=20.0)
    assert side(cw) < 0 < side(ccw)
    assert side(strong) < side(cw)


@pytest.mark.parametrize("plant_name", ["motornet", "motornet_tf"])
def test_the_mujoco_c_env_feels_the_same_field(plant_name: str) -> None:
    settings = dict(field_strength=15.0, field_direction="counterclockwise", plant=plant_name, feedback_delay=0.0)
    fn, c = envs.make_functional("reach", **settings), envs.ArmEnv("reach", **settings)
    c.reset(seed=0, options={"joint_state": JS, "target": TARGET})
    state = fn.reset(jax.random.key(0), joint_state=jnp.asarray(JS, jnp.float32), target=jnp.asarray(TARGET, jnp.float32))
    step = jax.jit(fn.step)
    for _ in range(15):
        _, _, _, _, info = c.step(np.asarray(PUSH, np.float32))
        state = step(state, PUSH)
        np.testing.assert_allclose(info["hand_pos"], np.asarray(state.hand), atol=2e-4)


def test_bad_field_settings_are_named() -> None:
    for kw, name in (({"field_strength": -1.0}, "field_strength"), ({"field_strength": float("inf")}, "field_strength"),
                     ({"field_direction": "sideways"}, "field_direction")):
        with pytest.raises(ValueError, match=name):
            TaskConfig(**kw)
        with pytest.raises(ValueError, match=name):
            envs.ArmEnv("reach", **kw)
