"""The go cue (``task.go_cue``, a delayed reach): the cue entry of the observation, 0 before
and 1 from the episode's cue step; the cue step reproducible from the key and inside the
window; the JAX, MuJoCo C and gymnasium faces alike; the reward before the cue; gradients
through an episode with the cue; bad settings named."""

from __future__ import annotations

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.config import ArmConfig, TaskConfig
from envs.tasks import sample_episode
from tests.envs.helpers import assert_directional_derivatives

JS, TARGET = np.array([0.6, 1.4, 0.0, 0.0]), np.array([0.05, 0.45])
PUSH = np.array([1.0, 0.0, 0.0, 1.0, 0.2, 0.0], np.float32)  # excitations that swing the arm
CUE = dict(go_cue=True, go_cue_window=(0.05, 0.15))  # steps 5 .. 15


def test_the_default_observation_is_unchanged() -> None:
    env = envs.make_functional("reach")
    assert env.observation_size == 16 and env.reset(jax.random.key(0)).obs.shape == (16,)
    assert envs.ArmEnv("reach").observation_space.shape == (16,)
    with_cue = envs.make_functional("reach", **CUE)
    assert with_cue.observation_size == 17
    s0, s1 = env.reset(jax.random.key(3)), with_cue.reset(jax.random.key(3))
    # the same key draws the same start, target and load with the cue as without it
    np.testing.assert_array_equal(np.asarray(s1.obs[:16]), np.asarray(s0.obs))
    np.testing.assert_array_equal(np.asarray(s1.load), np.asarray(s0.load))


def test_cue_entry_is_0_before_and_1_from_the_cue_step() -> None:
    env = envs.make_functional("reach", **CUE)
    for cue in (5, 9, 15):
        s0 = env.reset(jax.random.key(0), joint_state=JS, target=TARGET, cue_step=cue)
        _, states = env.rollout(s0, jnp.tile(jnp.asarray(PUSH), (25, 1)))
        seen = np.concatenate([[float(s0.obs[-1])], np.asarray(states.obs[:, -1])])  # the observation of steps 0..25
        np.testing.assert_array_equal(seen, (np.arange(26) >= cue).astype(np.float32))


def test_cue_step_is_reproducible_from_the_key_and_inside_the_window() -> None:
    cfg = ArmConfig.from_overrides("reach", **CUE)
    keys = jax.random.split(jax.random.key(7), 400)
    steps = np.asarray(jax.vmap(lambda k: sample_episode(k, cfg).cue_step)(keys))
    again = np.asarray(jax.vmap(lambda k: sample_episode(k, cfg).cue_step)(keys))
    np.testing.assert_array_equal(steps, again)
    assert steps.min() >= 5 and steps.max() <= 15
    assert set(np.unique(steps)) == set(range(5, 16))  # every whole step of the window, both ends
    centre = ArmConfig.from_overrides("centre_out", **CUE)
    assert int(sample_episode(keys[0], centre).cue_step) == int(steps[0])  # the same draw on centre-out
    fixed = ArmConfig.from_overrides("reach", go_cue=True, go_cue_window=(0.08, 0.08))
    assert set(np.asarray(jax.vmap(lambda k: sample_episode(k, fixed).cue_step)(keys[:20])).tolist()) == {8}


def test_reward_before_the_cue_penalises_movement() -> None:
    """Steps whose action came before the cue score -(penalty * distance from the start +
    effort_weight * effort); from the cue on, the usual -(distance to target + ...)."""
    env = envs.make_functional("reach", feedback_delay=0.0, go_cue_penalty=3.0, **CUE)
    s0 = env.reset(jax.random.key(0), joint_state=JS, target=TARGET, cue_step=6)
    _, states = env.rollout(s0, jnp.tile(jnp.asarray(PUSH), (12, 1)))
    hand, start = np.asarray(states.hand, np.float64), np.asarray(s0.hand, np.float64)
    effort = np.mean(PUSH.astype(np.float64) ** 2)
    moved = np.linalg.norm(hand - start, axis=-1)
    to_target = np.linalg.norm(hand - TARGET, axis=-1)
    expected = -np.where(np.arange(12) < 6, 3.0 * moved, to_target) - 0.1 * effort
    assert moved[5] > 0.005  # the arm moved before the cue, so the penalty is not zero
    np.testing.assert_allclose(np.asarray(states.reward), expected, rtol=1e-5, atol=1e-6)


def test_mujoco_c_gymnasium_and_jax_faces_agree() -> None:
    """The same episode (start, target, cue step) in the JAX env, the MuJoCo C env built
    directly, ``gymnasium.make`` and ``gymnasium.make_vec``: the observations (cue included)
    and rewards step by step."""
    settings = dict(feedback_delay=0.0, **CUE)
    fn = envs.make_functional("reach", **settings)
    state = fn.reset(jax.random.key(0), joint_state=jnp.asarray(JS), target=jnp.asarray(TARGET), cue_step=7)
    c = envs.ArmEnv("reach", **settings)
    made = gym.make("callosum/ArmReach-v0", **settings)
    vec = gym.make_vec("callosum/ArmReach-v0", num_envs=2, **settings)
    opts = {"joint_state": JS, "target": TARGET, "cue_step": 7}
    obs_c, info = c.reset(seed=0, options=opts)
    obs_m, _ = made.reset(seed=0, options=opts)
    assert c.observation_space.shape == made.observation_space.shape == (17,) and info["cue_step"] == 7
    assert vec.single_observation_space.shape == (17,)
    obs_v, _ = vec.reset(seed=0, options={"joint_state": np.tile(JS, (2, 1)), "target": np.tile(TARGET, (2, 1)),
                                          "cue_step": np.array([7, 7])})
    step = jax.jit(fn.step)
    np.testing.assert_allclose(obs_c, np.asarray(state.obs), atol=1e-6)
    np.testing.assert_array_equal(obs_m, obs_c)
    np.testing.assert_allclose(obs_v, np.tile(np.asarray(state.obs), (2, 1)), atol=1e-6)
    for t in range(15):
        obs_c, r_c, _, _, _ = c.step(PUSH)
        obs_m, r_m, *_ = made.step(PUSH)
        obs_v, r_v, *_ = vec.step(np.tile(PUSH, (2, 1)))
        state = step(state, jnp.asarray(PUSH))
        np.testing.assert_allclose(obs_c, np.asarray(state.obs), atol=2e-4)
        assert obs_c[-1] == float(t + 1 >= 7) == float(state.obs[-1])
        np.testing.assert_allclose(r_c, float(state.reward), atol=2e-4)
        np.testing.assert_array_equal(obs_m, obs_c)
        assert r_m == r_c
        np.testing.assert_allclose(obs_v, np.tile(np.asarray(state.obs), (2, 1)), atol=1e-5)
        np.testing.assert_allclose(r_v, float(state.reward), atol=1e-5)
    vec.reset(seed=1)  # the vector env's own draws: in the window
    cue_v = np.asarray(vec.unwrapped.state.cue_step if hasattr(vec, "unwrapped") else vec.state.cue_step)
    assert cue_v.min() >= 5 and cue_v.max() <= 15
    with pytest.raises(ValueError, match="cue_step"):
        vec.reset(options={"cue_step": np.array([3, 60])})


def test_gym_env_draws_the_cue_in_the_window_and_refuses_bad_cue_steps() -> None:
    c = envs.ArmEnv("reach", **CUE)
    drawn = {c.reset(seed=s)[1]["cue_step"] for s in range(30)}
    assert drawn <= set(range(5, 16)) and len(drawn) > 3
    with pytest.raises(ValueError, match="cue_step"):
        c.reset(options={"cue_step": 50})
    with pytest.raises(ValueError, match="cue_step.*go_cue"):
        envs.ArmEnv("reach").reset(options={"cue_step": 3})


def test_gradients_through_an_episode_with_the_cue_are_finite_and_match_finite_differences() -> None:
    """The episode's reward (movement before the cue penalised, the reach error after it) as
    test_functional's episode loss: finite, against central finite differences."""
    with jax.enable_x64(True):
        env = envs.make_functional("reach", **CUE)
        s0 = env.reset(jax.random.key(0), joint_state=JS, target=TARGET, cue_step=6)
        rng = np.random.default_rng(0)
        acts = jnp.asarray(rng.uniform(0.1, 0.5, (15, 6)))

        def loss(a: jax.Array) -> jax.Array:
            _, states = env.rollout(s0, a)
            return -jnp.sum(states.reward)

        grad = jax.jit(jax.grad(loss))(acts)
        assert np.all(np.isfinite(np.asarray(grad))) and np.abs(np.asarray(grad)).max() > 0
        assert_directional_derivatives(jax.jit(loss), grad, acts, rng, eps=1e-5, rtol=1e-3)


@pytest.mark.parametrize("settings, key, why", [
    (dict(go_cue=True, go_cue_window=(0.1, 0.6)), "go_cue_window", "before the episode's end"),
    (dict(go_cue=True, go_cue_window=(0.3, 0.1)), "go_cue_window", "latest < earliest"),
    (dict(go_cue=True, go_cue_window=(-0.1, 0.1)), "go_cue_window", ">= 0"),
    (dict(go_cue=True, go_cue_window=(0.015, 0.1)), "go_cue_window", "whole number of control steps"),
    (dict(go_cue=True, go_cue_window=(0.1,)), "go_cue_window", "earliest, latest"),
    (dict(go_cue=True, go_cue_penalty=-1.0), "go_cue_penalty", ">= 0"),
    (dict(go_cue="yes"), "go_cue", "true or false"),
])
def test_bad_settings_are_named(settings: dict, key: str, why: str) -> None:
    with pytest.raises(ValueError, match=f"{key}=.*{why}"):
        ArmConfig.from_overrides("reach", **settings)


def test_go_cue_on_the_hold_task_is_refused() -> None:
    with pytest.raises(ValueError, match="go_cue=True.*hold"):
        TaskConfig(task="hold", go_cue=True)
    with pytest.raises(ValueError, match="go_cue=True.*hold"):
        envs.ArmEnv("hold", go_cue=True)
    # without the cue its window is not held to the episode or the control step
    assert not ArmConfig.from_overrides("reach", go_cue_window=(0.015, 0.9)).go_cue
