"""``gymnasium.make_vec`` for the arm, served by the batched JAX environment.

One jitted, vmapped step advances all ``num_envs`` arms at once (no Python copies).
Autoreset mode is ``NEXT_STEP`` (gymnasium's default): the step after an episode ends
resets that sub-environment (its action is ignored, reward 0), restarting its step counter,
muscle state and feedback delay line.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from envs.config import ArmConfig
from envs.functional import ArmState, FunctionalArmEnv
from envs.plant import N_OBS, OBS_BOUND


def _select(mask: jax.Array, fresh: ArmState, old: ArmState) -> ArmState:
    def pick(a: jax.Array, b: jax.Array) -> jax.Array:
        return jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, b)

    return jax.tree.map(pick, fresh, old)


class ArmVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` arms of one task on the JAX backend; settings as :class:`ArmConfig`."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(
        self,
        num_envs: int,
        task: str = "reach",
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
        **settings: Any,
    ):
        if not (isinstance(num_envs, int) and num_envs >= 1):
            raise ValueError(f"num_envs must be a whole number >= 1, got {num_envs!r}")
        if render_mode is not None:
            raise ValueError("the JAX vector env does not render; use gymnasium.make(...) per env")
        if max_episode_steps is not None:
            settings.setdefault("episode_steps", max_episode_steps)
        self.cfg = ArmConfig.from_overrides(task, **settings)
        self.env = FunctionalArmEnv(self.cfg)
        self.num_envs = num_envs
        self.single_observation_space = spaces.Box(-OBS_BOUND, OBS_BOUND, (N_OBS,), np.float32)
        self.single_action_space = spaces.Box(0.0, 1.0, (6,), np.float32)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.render_mode = None
        self._reset_batch = jax.jit(jax.vmap(self.env.reset))
        self._reset_with: dict[tuple[str, ...], Any] = {}
        self._step_batch = jax.jit(self._autoreset_step)
        self.state: ArmState | None = None
        self._key = jax.random.key(0)
        self._needs_reset = np.zeros(num_envs, bool)

    def _reset_given(self, names: tuple[str, ...]) -> Any:
        """Jitted, vmapped reset taking the options ``names`` per env (others drawn)."""
        if names not in self._reset_with:
            def reset(key: jax.Array, *values: jax.Array) -> ArmState:
                return self.env.reset(key, **dict(zip(names, values)))

            self._reset_with[names] = jax.jit(jax.vmap(reset))
        return self._reset_with[names]

    def _autoreset_step(
        self, state: ArmState, actions: jax.Array, needs_reset: jax.Array, key: jax.Array
    ) -> tuple[ArmState, jax.Array]:
        key, sub = jax.random.split(key)
        stepped = jax.vmap(self.env.step)(state, actions)
        fresh = jax.vmap(self.env.reset)(jax.random.split(sub, self.num_envs))
        return _select(needs_reset, fresh, stepped), key

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset all sub-environments. ``options`` may hold batched ``joint_state``
        (num_envs, 2 or 4), ``target`` (num_envs, 2) and ``load`` (num_envs, 2); missing
        ones are drawn."""
        super().reset(seed=seed)
        if seed is not None:
            self._key = jax.random.key(seed)
        elif self.state is None:
            self._key = jax.random.key(int(self.np_random.integers(2**31 - 1)))
        self._key, sub = jax.random.split(self._key)
        keys = jax.random.split(sub, self.num_envs)
        opts = dict(options or {})
        unknown = set(opts) - {"joint_state", "target", "load"}
        if unknown:
            raise ValueError(f"unknown reset option(s) {sorted(unknown)}")
        if opts:
            names = tuple(sorted(opts))
            values = [self._batched_option(n, opts[n]) for n in names]
            self.state = self._reset_given(names)(keys, *values)
        else:
            self.state = self._reset_batch(keys)
        self._needs_reset = np.zeros(self.num_envs, bool)
        return self._obs(), self._info(self.state)

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        a = np.asarray(actions, dtype=np.float32)
        if a.shape != (self.num_envs, 6):
            raise ValueError(f"actions must have shape ({self.num_envs}, 6), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError("actions contain NaN or inf")
        was_reset = self._needs_reset
        self.state, self._key = self._step_batch(self.state, jnp.asarray(a), was_reset, self._key)
        done = np.asarray(self.state.done) & ~was_reset
        rewards = np.where(was_reset, 0.0, np.asarray(self.state.reward, np.float64))
        self._needs_reset = done
        terminated = np.zeros(self.num_envs, bool)
        return self._obs(), rewards, terminated, done, self._info(self.state)

    def _obs(self) -> np.ndarray:
        return np.asarray(self.state.obs, dtype=np.float32)

    @staticmethod
    def _info(state: ArmState) -> dict[str, Any]:
        info = {k: np.asarray(v) for k, v in state.metrics.items()}
        info.update(hand_pos=np.asarray(state.hand), target_pos=np.asarray(state.target),
                    load=np.asarray(state.load))
        return info

    def _batched_option(self, name: str, value: Any) -> jax.Array:
        """Check one batched reset option: a finite array with one row per env."""
        arr = np.asarray(value, dtype=float)
        if arr.ndim != 2 or arr.shape[0] != self.num_envs or not np.all(np.isfinite(arr)):
            raise ValueError(
                f"reset option {name!r} must be a finite array with one row per env "
                f"({self.num_envs}), got shape {arr.shape}"
            )
        return jnp.asarray(arr, dtype=jnp.result_type(float))
