"""Episode length of the gymnasium ids: the registered ``max_episode_steps`` and how
``gymnasium.make`` / ``make_vec`` pass it, ``episode_steps`` refused there; and ``import
envs``, which registers the ids and starts no JAX backend (XLA can still be configured)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import envs

REACH = "callosum/ArmReach-v0"


def steps_until_truncated(env: Any, limit: int) -> int | None:
    """Steps (half-excited muscles) until ``env`` truncates; ``None`` if not within ``limit``."""
    env.reset(seed=0)
    for t in range(1, limit + 1):
        _, _, terminated, truncated, _ = env.step(np.full(6, 0.5, np.float32))
        assert not terminated
        if truncated:
            return t
    return None


def vec_steps_until_truncated(venv: Any, limit: int) -> int | None:
    venv.reset(seed=0)
    for t in range(1, limit + 1):
        _, _, terminated, truncated, _ = venv.step(np.full((venv.num_envs, 6), 0.5, np.float32))
        assert not terminated.any()
        if truncated.any():
            assert truncated.all()
            return t
    return None


@pytest.mark.parametrize("env_id", sorted(envs.ENV_IDS.values()))
def test_registered_specs_carry_max_episode_steps(env_id: str) -> None:
    assert gym.spec(env_id).max_episode_steps == 50 == envs.EPISODE_STEPS == envs.ArmConfig().episode_steps
    env = gym.make(env_id)
    assert env.spec.max_episode_steps == 50
    assert any(isinstance(w, gym.wrappers.TimeLimit) for w in _wrappers(env))
    assert steps_until_truncated(env, 60) == 50


def test_make_max_episode_steps_sets_the_episode_length() -> None:
    env = gym.make(REACH, max_episode_steps=100)  # longer than the default: not cut at 50
    assert env.spec.max_episode_steps == 100
    assert steps_until_truncated(env, 120) == 100
    assert steps_until_truncated(env, 120) == 100  # and again after a reset
    assert steps_until_truncated(gym.make(REACH, max_episode_steps=7), 20) == 7
    # the spec remakes the env with its length
    assert steps_until_truncated(gym.make(env.spec), 120) == 100
    # -1: gymnasium's "no TimeLimit": the episode does not end
    assert steps_until_truncated(gym.make(REACH, max_episode_steps=-1), 120) is None


@pytest.mark.parametrize("kwargs", [{"episode_steps": 100}, {"episode_steps": 100, "max_episode_steps": 100},
                                    {"episode_steps": 50}])
def test_make_refuses_episode_steps_naming_the_fix(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=r"episode_steps=\d+\).*max_episode_steps.*Pass max_episode_steps=\d+"):
        gym.make(REACH, **kwargs)
    with pytest.raises(ValueError, match="max_episode_steps"):
        gym.make_vec(REACH, num_envs=2, vectorization_mode="sync", **kwargs)


def test_direct_arm_env_keeps_episode_steps() -> None:
    env = envs.ArmEnv("reach", episode_steps=7)
    assert env.spec is None
    assert steps_until_truncated(env, 20) == 7
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(6, np.float32))
    assert steps_until_truncated(envs.ArmEnv("hold"), 60) == 50


def test_make_vec_episode_length() -> None:
    venv = gym.make_vec(REACH, num_envs=2)
    assert isinstance(venv.unwrapped, envs.ArmVectorEnv)
    assert venv.spec.max_episode_steps == 50 and venv.unwrapped.cfg.episode_steps == 50
    assert vec_steps_until_truncated(venv, 60) == 50
    venv = gym.make_vec(REACH, num_envs=2, max_episode_steps=100)
    assert venv.spec.max_episode_steps == 100 and venv.unwrapped.cfg.episode_steps == 100
    assert vec_steps_until_truncated(venv, 120) == 100
    again = gym.make_vec(venv.spec)  # the spec remakes it with its length
    assert again.spec.max_episode_steps == 100 and again.unwrapped.cfg.episode_steps == 100
    sync = gym.make_vec(REACH, num_envs=2, vectorization_mode="sync", max_episode_steps=60)
    assert vec_steps_until_truncated(sync, 80) == 60
    assert envs.ArmVectorEnv(2, episode_steps=4).cfg.episode_steps == 4  # built directly


@pytest.mark.parametrize("kwargs", [{"episode_steps": 100}, {"episode_steps": 100, "max_episode_steps": 100}])
def test_make_vec_refuses_episode_steps_naming_the_fix(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=r"episode_steps=100 and max_episode_steps=\d+.*max_episode_steps=100 alone"):
        gym.make_vec(REACH, num_envs=2, **kwargs)


def test_make_vec_refuses_unlimited_episodes() -> None:
    with pytest.raises(ValueError, match="max_episode_steps must be a whole number >= 1"):
        gym.make_vec(REACH, num_envs=2, max_episode_steps=-1)


def test_import_envs_registers_the_ids_and_starts_no_jax_backend() -> None:
    code = (
        "import envs\n"
        "from jax._src import xla_bridge\n"
        "assert not xla_bridge.backends_are_initialized()\n"  # XLA's flags can still be set
        "import gymnasium as gym\n"
        "assert gym.spec('callosum/ArmHold-v0').max_episode_steps == 50\n"  # registered on import
        "assert envs.config.ArmConfig(task='hold').load_range == 10.0\n"
        "assert set(envs.__all__) <= set(dir(envs))\n"
        "from envs import ArmEnv, make_functional\n"
        "assert ArmEnv.__module__ == 'envs.gym_env' and make_functional.__module__ == 'envs.functional'\n"
        "assert all(getattr(envs, n) is not None for n in envs.__all__)\n"
        "assert envs.plant.N_OBS == 16\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        envs.nonexistent  # noqa: B018


def _wrappers(env: Any) -> list[Any]:
    out = [env]
    while hasattr(out[-1], "env"):
        out.append(out[-1].env)
    return out
