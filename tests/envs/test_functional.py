"""The pure JAX environment: shapes, purity under jit/vmap, gradients, delays, limits."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.geometry import hand_position
from envs.params import SkeletonParams
from tests.envs.helpers import assert_directional_derivatives


@pytest.fixture(scope="module")
def reach() -> envs.FunctionalArmEnv:
    return envs.make_functional("reach")


def test_reset_and_step_shapes(reach: envs.FunctionalArmEnv) -> None:
    s = reach.reset(jax.random.key(0))
    assert s.obs.shape == (16,) and s.obs.dtype == jnp.float32
    s = jax.jit(reach.step)(s, jnp.full(6, 0.3))
    assert s.obs.shape == (16,) and s.reward.shape == () and s.done.dtype == jnp.bool_
    assert set(s.metrics) >= {"position_error", "abs_position_error", "squared_position_error", "effort"}
    assert int(s.step) == 1
    np.testing.assert_allclose(s.metrics["effort"], 0.09, rtol=1e-6)


def test_reset_options_and_tasks() -> None:
    hold = envs.make_functional("hold")
    s = hold.reset(jax.random.key(3), joint_state=[0.5, 1.0])
    np.testing.assert_allclose(s.target, hand_position(np.array([0.5, 1.0]), SkeletonParams()), rtol=1e-6)
    assert np.all(np.abs(np.asarray(s.load)) <= 10) and np.any(np.asarray(s.load) != 0)
    reach = envs.make_functional("reach")
    s = reach.reset(jax.random.key(3), joint_state=[0.5, 1.0, 0.2, -0.1], target=[0.1, 0.4])
    np.testing.assert_allclose(s.qd, [0.2, -0.1])
    np.testing.assert_allclose(s.target, [0.1, 0.4])
    np.testing.assert_allclose(s.load, 0.0)
    with pytest.raises(ValueError, match="joint_state"):
        reach.reset(jax.random.key(0), joint_state=[1.0, 2.0, 3.0])


def test_centre_out_targets_lie_on_circle() -> None:
    env = envs.make_functional("centre_out")
    targets = envs.centre_out_targets(env.cfg)
    start = hand_position(np.asarray(env.cfg.centre_out_start), env.cfg.skeleton)
    assert targets.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(targets - start, axis=1), 0.1)
    s = jax.vmap(lambda i: env.reset(jax.random.key(0), target_index=i))(jnp.arange(8))
    np.testing.assert_allclose(s.target, targets, rtol=1e-6)
    np.testing.assert_allclose(s.q, np.tile(env.cfg.centre_out_start, (8, 1)), rtol=1e-6)


def test_vmap_equals_python_loop(reach: envs.FunctionalArmEnv) -> None:
    keys = jax.random.split(jax.random.key(1), 4)
    acts = jax.random.uniform(jax.random.key(2), (4, 10, 6))
    roll = jax.jit(reach.rollout)
    _, batched = jax.jit(jax.vmap(reach.rollout))(jax.vmap(reach.reset)(keys), acts)
    for i in range(4):
        _, single = roll(reach.reset(keys[i]), acts[i])
        np.testing.assert_allclose(batched.hand[i], single.hand, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(batched.obs[i], single.obs, rtol=1e-5, atol=1e-6)


def test_feedback_delay_shifts_observations() -> None:
    key, acts = jax.random.key(4), jax.random.uniform(jax.random.key(5), (6, 6))
    now_env = envs.make_functional("reach", feedback_delay=0.0)
    _, now = now_env.rollout(now_env.reset(key), acts)
    late_env = envs.make_functional("reach", feedback_delay=0.02)
    s0 = late_env.reset(key)
    _, late = late_env.rollout(s0, acts)
    # Two control steps late: obs at step t shows the undelayed feedback of step t - 2.
    np.testing.assert_allclose(late.obs[2:, :14], now.obs[:-2, :14], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(late.obs[:2, :14], np.tile(s0.obs[:14], (2, 1)), rtol=1e-6)
    np.testing.assert_allclose(late.obs[:, 14:], now.obs[:, 14:])  # target is never delayed


def test_sensory_noise_spares_the_target() -> None:
    env = envs.make_functional("reach", obs_noise=0.01)
    quiet = envs.make_functional("reach")
    key = jax.random.key(6)
    noisy, clean = env.reset(key).obs, quiet.reset(key).obs
    diff = np.asarray(noisy - clean)
    assert 0.002 < diff[:14].std() < 0.03
    np.testing.assert_array_equal(diff[14:], 0.0)


def test_joint_limits_hold_under_maximal_excitation() -> None:
    env = envs.make_functional("reach")
    sk = env.cfg.skeleton
    patterns = jnp.array([
        [1, 0, 1, 0, 1, 0],  # all flexors
        [0, 1, 0, 1, 0, 1],  # all extensors
        [1, 1, 1, 1, 1, 1],  # full co-contraction
        [1, 0, 0, 1, 0, 0],  # shoulder flexion, elbow extension
    ], dtype=jnp.float32)
    starts = jnp.array([[0.1, 0.1], [2.2, 2.6], [0.05, 2.6], [2.3, 0.05], [1.0, 1.0]])
    q0 = jnp.repeat(starts, len(patterns), axis=0)
    acts = jnp.tile(patterns[:, None, :], (len(starts), 50, 1))
    s0 = jax.vmap(lambda q: env.reset(jax.random.key(0), joint_state=q))(q0)
    _, traj = jax.jit(jax.vmap(env.rollout))(s0, acts)
    q = np.asarray(traj.q)
    assert np.all(q >= sk.q_lower - 1e-6) and np.all(q <= sk.q_upper + 1e-6)
    # ...and the stops are really reached (the test would pass trivially otherwise).
    at_stop = np.isclose(q[:, -1], sk.q_lower, atol=1e-6) | np.isclose(q[:, -1], sk.q_upper, atol=1e-6)
    assert at_stop.mean() > 0.5


def test_load_displaces_silent_arm() -> None:
    env = envs.make_functional("hold")
    silent = jnp.zeros((50, 6))
    q0 = [0.8, 1.4]
    _, free = env.rollout(env.reset(jax.random.key(0), joint_state=q0, load=[0.0, 0.0]), silent)
    _, pushed = env.rollout(env.reset(jax.random.key(0), joint_state=q0, load=[10.0, 0.0]), silent)
    # Passive muscle forces make even the unloaded arm drift: compare with it.
    shift = np.asarray(pushed.hand[-1] - free.hand[-1])
    assert shift[0] > 0.03, f"a 10 N push along +x should move the hand along +x, got {shift}"


def test_gradient_matches_finite_differences() -> None:
    with jax.enable_x64(True):
        env = envs.make_functional("reach")
        s0 = env.reset(jax.random.key(7), joint_state=[0.8, 1.2], target=[0.05, 0.45])
        rng = np.random.default_rng(0)
        acts = jnp.asarray(rng.uniform(0.1, 0.5, (50, 6)))

        def loss(a: jax.Array) -> jax.Array:
            _, traj = env.rollout(s0, a)
            return jnp.mean(traj.metrics["position_error"]) + 0.1 * jnp.mean(traj.metrics["effort"])

        grad = jax.jit(jax.grad(loss))(acts)
        assert np.all(np.isfinite(np.asarray(grad))) and np.abs(np.asarray(grad)).max() > 0
        assert_directional_derivatives(jax.jit(loss), grad, acts, rng, eps=1e-5, rtol=1e-2)
