"""The gymnasium face: registration, API conformance, determinism, errors, rendering."""

from __future__ import annotations

import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs


@pytest.mark.parametrize("env_id", sorted(envs.ENV_IDS.values()))
def test_env_checker_passes_without_warnings(env_id: str) -> None:
    env = gym.make(env_id, render_mode="rgb_array", width=64, height=64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    env.close()


def test_module_prefix_registration_in_fresh_interpreter() -> None:
    code = (
        "import gymnasium as gym\n"
        "env = gym.make('envs:callosum/ArmReach-v0')\n"
        "obs, info = env.reset(seed=0)\n"
        "print(type(env.unwrapped).__name__, obs.shape, obs.dtype)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ArmEnv (16,) float32" in out.stdout


def test_reset_step_shapes_and_info() -> None:
    env = gym.make("callosum/ArmHold-v0")
    obs, info = env.reset(seed=0)
    assert obs.shape == (16,) and obs.dtype == np.float32
    assert env.observation_space.contains(obs)
    obs, reward, terminated, truncated, info = env.step(np.full(6, 0.2, np.float32))
    assert obs.dtype == np.float32 and isinstance(reward, float)
    assert not terminated and not truncated
    for key in ("hand_pos", "target_pos", "position_error", "effort", "load",
                "abs_position_error", "squared_position_error"):
        assert key in info
    err = np.linalg.norm(info["hand_pos"] - info["target_pos"])
    assert info["position_error"] == pytest.approx(err, rel=1e-6)
    assert info["effort"] == pytest.approx(0.04)
    assert reward == pytest.approx(-(err + env.unwrapped.cfg.effort_weight * 0.04))
    assert np.all(np.abs(info["load"]) <= 10)
    np.testing.assert_allclose(obs[12:14], info["hand_pos"] * 0 + obs[12:14])  # float32 hand


def test_episode_truncates_after_50_steps() -> None:
    env = gym.make("callosum/ArmReach-v0")
    env.reset(seed=1)
    flags = [env.step(env.action_space.sample())[3] for _ in range(50)]
    assert flags[-1] and not any(flags[:-1])
    env = envs.ArmEnv("reach")  # built directly, the env truncates by itself
    env.reset(seed=1)
    flags = [env.step(env.action_space.sample())[3] for _ in range(50)]
    assert flags[-1] and not any(flags[:-1])
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(6))


def test_determinism_under_seed() -> None:
    def run(seed: int) -> np.ndarray:
        env = gym.make("callosum/ArmReach-v0", obs_noise=0.01)
        env.action_space.seed(seed)
        obs = [env.reset(seed=seed)[0]]
        obs += [env.step(env.action_space.sample())[0] for _ in range(20)]
        return np.array(obs)

    np.testing.assert_array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))


def test_reset_options_give_deterministic_starts() -> None:
    env = gym.make("callosum/ArmReach-v0")
    _, info = env.reset(seed=0, options={"joint_state": [0.4, 1.1], "target": [0.1, 0.4]})
    np.testing.assert_allclose(info["joint_state"], [0.4, 1.1, 0, 0])
    np.testing.assert_allclose(info["target_pos"], [0.1, 0.4])
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"posture": [0, 0]})
    with pytest.raises(ValueError, match="NaN"):
        env.reset(options={"target": [np.nan, 0.0]})


def test_start_states_out_of_range_and_unreachable_targets_are_refused() -> None:
    from envs.geometry import hand_position
    from envs.limits import check_target

    env = gym.make("callosum/ArmReach-v0")
    with pytest.raises(ValueError, match=r"angle 10 rad of the shoulder is outside its range \[0, 2.356\]"):
        env.reset(options={"joint_state": [10.0, -5.0]})
    # [0.2, 0.3] m needs the shoulder at -2.8 degrees, past its stop at 0
    with pytest.raises(ValueError, match=r"target: \[0.2, 0.3\] m is out of the hand's reach"):
        env.reset(options={"target": [0.2, 0.3]})
    vec = gym.make_vec("callosum/ArmReach-v0", num_envs=2)
    with pytest.raises(ValueError, match="elbow is outside its range"):
        vec.reset(options={"joint_state": np.array([[0.5, 1.0], [0.5, 3.0]])})
    with pytest.raises(ValueError, match="out of the hand's reach"):
        vec.reset(options={"target": np.array([[0.1, 0.4], [0.7, 0.0]])})
    # every hand position the joint ranges allow passes, edges included
    p = env.unwrapped.cfg.skeleton
    q = np.random.default_rng(0).uniform(p.q_lower, p.q_upper, size=(5000, 2))
    edges = np.array([[a, b] for a in (p.q_lower[0], p.q_upper[0]) for b in (p.q_lower[1] + 1e-3, p.q_upper[1])])
    check_target(hand_position(np.concatenate([q, edges]), p), p)


def test_centre_out_cycles_through_targets() -> None:
    env = gym.make("callosum/ArmCentreOut-v0")
    targets = envs.centre_out_targets(env.unwrapped.cfg)
    seen = [env.reset(seed=0 if i == 0 else None)[1]["target_pos"] for i in range(9)]
    np.testing.assert_allclose(seen[:8], targets, atol=1e-6)
    np.testing.assert_allclose(seen[8], targets[0], atol=1e-6)


@pytest.mark.parametrize("bad", [np.full(6, np.nan), np.array([0, 0, np.inf, 0, 0, 0]), np.zeros(5), np.zeros((2, 6))])
def test_bad_actions_raise_value_error(bad: np.ndarray) -> None:
    env = gym.make("callosum/ArmReach-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(bad)


@pytest.mark.parametrize(
    "settings,name",
    [
        ({"task": "throw"}, "task"),
        ({"control_dt": 0.0}, "control_dt"),
        ({"control_dt": -0.01}, "control_dt"),
        ({"feedback_delay": 0.015}, "feedback_delay"),
        ({"load_range": -1.0}, "load_range"),
        ({"n_substeps": 0}, "n_substeps"),
        ({"wobble": 1}, "wobble"),
    ],
)
def test_invalid_settings_fail_at_construction(settings: dict, name: str) -> None:
    task = settings.pop("task", "reach")
    with pytest.raises(ValueError, match=name):
        envs.ArmEnv(task, **settings)
    with pytest.raises(ValueError, match=name):
        envs.make_functional(task, **settings)


def test_rgb_array_render_is_headless_and_shows_the_arm() -> None:
    env = gym.make("callosum/ArmReach-v0", render_mode="rgb_array", width=160, height=120)
    env.reset(seed=0)
    first = env.render()
    assert first.shape == (120, 160, 3) and first.dtype == np.uint8
    for _ in range(10):
        env.step(np.array([1, 0, 1, 0, 1, 0], np.float32))
    later = env.render()
    assert first.std() > 5  # not a blank frame
    assert np.abs(first.astype(int) - later.astype(int)).sum() > 0  # the arm moved
    env.close()


def test_loads_beyond_the_strongest_muscle_are_refused() -> None:
    import gymnasium as gym
    import pytest

    import envs
    from envs.limits import max_load

    env = gym.make(envs.ENV_IDS["hold"])
    bound = max_load(env.unwrapped.cfg.muscles)
    assert bound == 1549.0  # the default arm's strongest muscle (N)
    env.reset(seed=0, options={"load": [bound, -bound]})  # at the bound: accepted
    with pytest.raises(ValueError, match=r"'load': 1e\+09 N on an axis is more than the bound 1549 N"):
        env.reset(seed=0, options={"load": [1e9, 0.0]})
    with pytest.raises(ValueError, match="NaN or inf"):
        env.reset(seed=0, options={"load": [float("nan"), 0.0]})
    vec = gym.make_vec(envs.ENV_IDS["hold"], num_envs=2)
    with pytest.raises(ValueError, match="more than the bound 1549 N"):
        vec.reset(seed=0, options={"load": [[0.0, 0.0], [0.0, 2e3]]})
