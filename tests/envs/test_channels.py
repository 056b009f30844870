"""Per-channel sensory delays and noise and motor noise (MotorNet's proprioception / vision /
action noise) in the JAX and the MuJoCo C environments: the delay lines against a
hand-built buffer of the undelayed feedback, the noise's statistics, motor noise reproduced
from its key, the shorthands, gradients through noisy, delayed rollouts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs import muscle, plant
from envs.config import ArmConfig, PlantConfig

P_DELAY, V_DELAY = 0.02, 0.05  # 2 and 5 control steps


def _undelayed(env, states) -> np.ndarray:
    """(T, 14) the feedback of each step's state, undelayed and noiseless (hand-built reference)."""
    return np.asarray(plant.feedback(states.q, states.qd, env.cfg, jnp))


def _delayed(fb: np.ndarray, fb0: np.ndarray, steps: int) -> np.ndarray:
    """fb (T, n) seen ``steps`` control steps late; before the episode, the first feedback."""
    past = np.vstack([np.repeat(fb0[None], steps, axis=0), fb])
    return past[: len(fb)]


def test_each_channel_is_delayed_by_its_own_steps() -> None:
    env = envs.make_functional("reach", proprioceptive_delay=P_DELAY, visual_delay=V_DELAY)
    assert (env.cfg.proprioceptive_steps, env.cfg.visual_steps, env.cfg.delay_steps) == (2, 5, 5)
    key, acts = jax.random.key(4), jax.random.uniform(jax.random.key(5), (12, 6))
    s0 = env.reset(key)
    _, states = env.rollout(s0, acts)
    fb = _undelayed(env, states)
    fb0 = np.asarray(plant.feedback(s0.q, s0.qd, env.cfg, jnp))
    obs = np.asarray(states.obs)
    np.testing.assert_allclose(obs[:, :12], _delayed(fb, fb0, 2)[:, :12], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(obs[:, 12:14], _delayed(fb, fb0, 5)[:, 12:], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(obs[:, 14:], np.tile(np.asarray(s0.target), (12, 1)))  # the target: never late


def test_the_mujoco_c_env_delays_the_channels_alike() -> None:
    """Same episode and excitations in the gymnasium env (MuJoCo C) and the JAX env: the
    observations agree, so both faces read each channel at its own delay."""
    settings = dict(proprioceptive_delay=P_DELAY, visual_delay=V_DELAY)
    fn = envs.make_functional("reach", **settings)
    c = envs.ArmEnv("reach", **settings)
    js, target = np.array([0.8, 1.2, 0.0, 0.0]), np.array([0.05, 0.45])
    obs_c, _ = c.reset(seed=0, options={"joint_state": js, "target": target})
    state = fn.reset(jax.random.key(0), joint_state=jnp.asarray(js, jnp.float32), target=jnp.asarray(target, jnp.float32))
    np.testing.assert_allclose(obs_c, np.asarray(state.obs), rtol=1e-5, atol=1e-5)
    rng = np.random.default_rng(1)
    step = jax.jit(fn.step)
    for _ in range(10):
        a = rng.uniform(size=6).astype(np.float32)
        obs_c, *_ = c.step(a)
        state = step(state, jnp.asarray(a))
        np.testing.assert_allclose(obs_c, np.asarray(state.obs), rtol=1e-4, atol=1e-4)


def test_noise_per_channel_has_its_standard_deviation() -> None:
    """Observation minus the noiseless observation over 4,000 resets: zero mean, the
    proprioceptive entries' spread that channel's, the hand's the visual one's, the
    target untouched."""
    sp, sv = 0.02, 0.003
    noisy = envs.make_functional("reach", proprioceptive_noise=sp, visual_noise=sv)
    quiet = envs.make_functional("reach")
    keys = jax.random.split(jax.random.key(7), 4000)
    diff = np.asarray(jax.vmap(noisy.reset)(keys).obs - jax.vmap(quiet.reset)(keys).obs, np.float64)
    n = diff.shape[0]
    for cols, sd in ((slice(0, 12), sp), (slice(12, 14), sv)):
        d = diff[:, cols]
        assert np.abs(d.mean(axis=0)).max() < 4 * sd / np.sqrt(n)
        np.testing.assert_allclose(d.std(axis=0), sd, rtol=0.06)  # SE of a std over 4,000: 1.1 %
    np.testing.assert_array_equal(diff[:, 14:], 0.0)
    corr = np.corrcoef(diff[:, :14].T)[np.triu_indices(14, 1)]
    assert np.abs(corr).max() < 0.07  # independent entries (|r| of 91 null pairs at n = 4,000: < 0.06 mostly)


def test_motor_noise_drives_the_muscles_not_the_loss() -> None:
    """With motor_noise the activation after a step is the activation dynamics under
    clip(action + noise) for the noise the step's key gives; the effort term is the
    commanded excitation's; without noise nothing changes."""
    sd = 0.2
    env = envs.make_functional("reach", motor_noise=sd, feedback_delay=0.0)
    quiet = envs.make_functional("reach", feedback_delay=0.0)
    s0 = env.reset(jax.random.key(3))
    a = jnp.full(6, 0.4)
    s1, q1 = env.step(s0, a), quiet.step(quiet.reset(jax.random.key(3)), a)
    _, _, motor_key = jax.random.split(s0.key, 3)
    drive = jnp.clip(a + sd * jax.random.normal(motor_key, (6,)), 0.0, 1.0)
    expected = muscle.activation_step(s0.activation, drive, env.cfg.physics_dt, env.cfg.muscles, jnp)
    np.testing.assert_allclose(np.asarray(s1.activation), np.asarray(expected), rtol=1e-6)
    assert not np.allclose(np.asarray(s1.activation), np.asarray(q1.activation))
    assert float(s1.metrics["effort"]) == pytest.approx(float(q1.metrics["effort"]), rel=1e-6)


def test_the_gym_env_adds_motor_noise_from_its_generator() -> None:
    """Two seeds give different noisy trajectories; one seed twice the same; no noise and
    motor_noise=0 the same as before."""
    def run(seed: int, **kw) -> np.ndarray:
        env = envs.ArmEnv("reach", **kw)
        env.reset(seed=seed, options={"joint_state": [0.8, 1.2], "target": [0.05, 0.45]})
        return np.array([env.step(np.full(6, 0.4, np.float32))[0] for _ in range(5)])

    assert np.array_equal(run(0, motor_noise=0.2), run(0, motor_noise=0.2))
    assert not np.allclose(run(0, motor_noise=0.2), run(1, motor_noise=0.2))
    np.testing.assert_array_equal(run(0), run(1))  # noiseless: the seed only draws the episode (given here)


def test_shorthands_fill_the_channels_and_bad_values_are_named() -> None:
    cfg = ArmConfig.from_overrides("reach", feedback_delay=0.03, obs_noise=0.01, visual_delay=0.07)
    assert (cfg.proprioceptive_delay, cfg.visual_delay) == (0.03, 0.07)
    assert (cfg.proprioceptive_noise, cfg.visual_noise, cfg.motor_noise) == (0.01, 0.01, 0.0)
    for name, value in (("visual_delay", 0.015), ("proprioceptive_delay", -0.01), ("visual_noise", -1.0),
                        ("motor_noise", float("nan")), ("proprioceptive_noise", "0.1")):
        with pytest.raises(ValueError, match=name):
            PlantConfig(**{name: value})


def test_gradients_through_noisy_delayed_rollouts_are_finite() -> None:
    env = envs.make_functional("reach", proprioceptive_delay=P_DELAY, visual_delay=V_DELAY,
                               proprioceptive_noise=0.01, visual_noise=0.002, motor_noise=0.05)
    s0 = env.reset(jax.random.key(2))

    def loss(acts: jax.Array) -> jax.Array:
        _, states = env.rollout(s0, acts)
        return jnp.mean(states.metrics["position_error"]) + jnp.mean(states.obs ** 2)

    g = jax.grad(loss)(jnp.full((10, 6), 0.3))
    assert np.all(np.isfinite(np.asarray(g))) and float(jnp.abs(g).sum()) > 0
