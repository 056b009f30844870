"""``gymnasium.make_vec`` served by the batched JAX backend, with next-step autoreset."""

from __future__ import annotations

import gymnasium as gym
import jax
import numpy as np
from gymnasium.vector import AutoresetMode

import envs


def test_make_vec_uses_jax_backend() -> None:
    venv = gym.make_vec("callosum/ArmReach-v0", num_envs=4)
    assert isinstance(venv, envs.ArmVectorEnv)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    obs, info = venv.reset(seed=0)
    assert obs.shape == (4, 16) and obs.dtype == np.float32
    assert venv.observation_space.contains(obs)
    assert info["hand_pos"].shape == (4, 2) and info["position_error"].shape == (4,)


def test_vector_env_matches_functional_env() -> None:
    venv = gym.make_vec("callosum/ArmHold-v0", num_envs=3)
    js = np.array([[0.5, 1.0], [1.0, 1.5], [1.5, 0.5]])
    loads = np.array([[5.0, 0.0], [0.0, -5.0], [-3.0, 3.0]])
    obs, _ = venv.reset(seed=0, options={"joint_state": js, "load": loads})
    acts = np.random.default_rng(0).uniform(0, 1, (10, 3, 6)).astype(np.float32)
    for a in acts:
        obs, *_ = venv.step(a)
    fenv = envs.make_functional("hold")
    for i in range(3):
        s = fenv.reset(jax.random.key(0), joint_state=js[i], load=loads[i])
        _, traj = fenv.rollout(s, acts[:, i])
        np.testing.assert_allclose(obs[i], traj.obs[-1], rtol=1e-5, atol=1e-6)


def test_autoreset_restarts_counters_and_delay_line() -> None:
    venv = gym.make_vec("callosum/ArmReach-v0", num_envs=2, max_episode_steps=3, feedback_delay=0.02)
    venv.reset(seed=1)
    ones = np.ones((2, 6), np.float32)
    truncs = [venv.step(ones)[3] for _ in range(3)]
    assert truncs[-1].all() and not truncs[0].any()
    obs, reward, term, trunc, info = venv.step(ones)  # next step: autoreset, action ignored
    np.testing.assert_array_equal(reward, 0.0)
    assert not trunc.any() and not term.any()
    state = venv.state
    np.testing.assert_array_equal(np.asarray(state.step), 0)
    np.testing.assert_allclose(np.asarray(state.activation), venv.cfg.muscles.min_activation)
    # The delay line is refilled with the new start's feedback, not the old episode's.
    fb = np.asarray(state.feedback)
    np.testing.assert_allclose(fb, np.repeat(fb[:, -1:], fb.shape[1], axis=1))
    np.testing.assert_allclose(obs[:, 12:14], info["hand_pos"], rtol=1e-5)
    obs2, *_ = venv.step(ones)
    assert np.asarray(venv.state.step).tolist() == [1, 1]


def test_vector_env_rejects_bad_actions() -> None:
    venv = gym.make_vec("callosum/ArmReach-v0", num_envs=2)
    venv.reset(seed=0)
    import pytest

    with pytest.raises(ValueError, match="shape"):
        venv.step(np.zeros((3, 6)))
    with pytest.raises(ValueError, match="NaN"):
        venv.step(np.full((2, 6), np.nan))


def test_step_moves_only_the_actions_in_and_one_packed_array_out() -> None:
    """No implicit transfers in ``step``, also on the autoreset step: the actions go in by
    one explicit copy (JAX's transfer guard raises on any implicit one; on the CPU backend it
    checks host-to-device copies only), and the returned arrays equal the device state."""
    venv = gym.make_vec("callosum/ArmReach-v0", num_envs=3, max_episode_steps=2)
    venv.reset(seed=0)
    acts = np.full((3, 6), 0.3, np.float32)
    venv.step(acts)  # compile outside the guard
    with jax.transfer_guard("disallow"):
        outs = [venv.step(acts) for _ in range(2)]  # the 2nd step ends episodes, the 3rd resets
    (obs, rew, term, trunc, info), last = outs
    assert trunc.all() and not last[3].any() and np.all(last[1] == 0.0)
    assert obs.dtype == np.float32 and rew.dtype == np.float64 and trunc.dtype == bool
    np.testing.assert_array_equal(last[4]["hand_pos"], np.asarray(venv.state.hand))
    np.testing.assert_array_equal(last[0], np.asarray(venv.state.obs))
    np.testing.assert_array_equal(last[4]["position_error"], np.asarray(venv.state.metrics["position_error"]))
