"""``gymnasium.make_vec`` for the arm, served by the batched JAX environment.

One jitted, vmapped step advances all ``num_envs`` arms at once (no Python copies).
Autoreset mode is ``NEXT_STEP`` (gymnasium's default): the step after an episode ends
resets that sub-environment (its action is ignored, reward 0), restarting its step counter,
muscle state and feedback delay line.

Per step the host does one host-to-device copy (the actions) and one device-to-host copy:
everything gymnasium returns (observations, rewards, truncations, the info arrays) is packed
into one float32 array on the device and split into views on the host. The autoreset
bookkeeping stays on the device, and fresh episodes are drawn only on steps where some
sub-environment needs one (``lax.cond``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from envs.config import ArmConfig
from envs.functional import ArmState, FunctionalArmEnv
from envs.limits import check_joint_state, check_load, check_target
from envs.plant import OBS_BOUND


def _select(mask: jax.Array, fresh: ArmState, old: ArmState) -> ArmState:
    def pick(a: jax.Array, b: jax.Array) -> jax.Array:
        return jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, b)

    return jax.tree.map(pick, fresh, old)


class ArmVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` arms of one task on the JAX backend; settings as :class:`ArmConfig`.

    Episode length: ``max_episode_steps`` if given (``gymnasium.make_vec`` always passes
    it: the caller's, else the registered 50), else ``episode_steps`` (default 50). Giving
    both raises ``ValueError``, as ``episode_steps`` does under ``gymnasium.make`` (see
    ``ArmEnv.spec``): through ``make_vec`` it would otherwise override, without a word,
    the registered ``max_episode_steps`` that single envs are held to.
    """

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
            if "episode_steps" in settings:
                n = settings["episode_steps"]
                raise ValueError(
                    f"episode_steps={n!r} and max_episode_steps={max_episode_steps!r} both given (gymnasium."
                    f"make_vec passes max_episode_steps, the registered one unless you pass yours): set the "
                    f"episode length with max_episode_steps={n!r} alone, as for gymnasium.make."
                )
            if not (isinstance(max_episode_steps, int) and max_episode_steps >= 1):
                raise ValueError(
                    f"max_episode_steps must be a whole number >= 1 (the JAX vector env has no "
                    f"episodes without end), got {max_episode_steps!r}"
                )
            settings["episode_steps"] = max_episode_steps
        self.cfg = ArmConfig.from_overrides(task, **settings)
        self.env = FunctionalArmEnv(self.cfg)
        self.num_envs = num_envs
        self.single_observation_space = spaces.Box(-OBS_BOUND, OBS_BOUND, (self.env.observation_size,), np.float32)
        self.single_action_space = spaces.Box(0.0, 1.0, (6,), np.float32)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.render_mode = None
        self._spec: EnvSpec | None = None
        self._reset_batch = jax.jit(jax.vmap(self.env.reset))
        self._reset_with: dict[tuple[str, ...], Any] = {}
        self._step_batch = jax.jit(self._autoreset_step)
        self.state: ArmState | None = None
        self._key = jax.random.key(0)
        self._needs_reset = jnp.zeros(num_envs, bool)

    @property
    def spec(self) -> EnvSpec | None:
        """The spec ``gymnasium.make_vec`` sets, its ``max_episode_steps`` the episode length
        in use (``make_vec`` copies the registered one even when given another)."""
        return self._spec

    @spec.setter
    def spec(self, spec: EnvSpec | None) -> None:
        if spec is not None and spec.max_episode_steps != self.cfg.episode_steps:
            spec = dataclasses.replace(spec, max_episode_steps=self.cfg.episode_steps)
        self._spec = spec

    def _reset_given(self, names: tuple[str, ...]) -> Any:
        """Jitted, vmapped reset taking the options ``names`` per env (others drawn)."""
        if names not in self._reset_with:
            def reset(key: jax.Array, *values: jax.Array) -> ArmState:
                return self.env.reset(key, **dict(zip(names, values)))

            self._reset_with[names] = jax.jit(jax.vmap(reset))
        return self._reset_with[names]

    def _autoreset_step(
        self, state: ArmState, actions: jax.Array, needs_reset: jax.Array, key: jax.Array
    ) -> tuple[ArmState, jax.Array, jax.Array, jax.Array]:
        """Step every arm (resetting those in ``needs_reset``); returns the new state, key,
        the next step's ``needs_reset`` and the packed outputs (see :meth:`_pack`)."""
        key, sub = jax.random.split(key)
        stepped = jax.vmap(self.env.step)(state, actions)

        def with_resets(_: None) -> ArmState:
            fresh = jax.vmap(self.env.reset)(jax.random.split(sub, self.num_envs))
            return _select(needs_reset, fresh, stepped)

        new = jax.lax.cond(jnp.any(needs_reset), with_resets, lambda _: stepped, None)
        done = new.done & ~needs_reset
        reward = jnp.where(needs_reset, 0.0, new.reward)
        return new, key, done, self._pack(new, reward, done)

    def _pack(self, state: ArmState, reward: jax.Array, done: jax.Array) -> jax.Array:
        """What gymnasium returns, as one (num_envs, n) float32 array: observation, reward,
        truncation, the metrics (sorted names), hand, target and load."""
        cols = [state.obs, reward[:, None], done[:, None]]
        cols += [state.metrics[k][:, None] for k in sorted(state.metrics)]
        cols += [state.hand, state.target, state.load]
        return jnp.concatenate([c.astype(jnp.float32) for c in cols], axis=1)

    def _unpack(self, packed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Observations, rewards (float64), truncations (bool) and info of :meth:`_pack`."""
        names = sorted(self.state.metrics)  # the order of _pack
        n_obs = self.env.observation_size
        obs, reward, done = packed[:, :n_obs], packed[:, n_obs], packed[:, n_obs + 1]
        m = n_obs + 2
        info: dict[str, Any] = {k: packed[:, m + i] for i, k in enumerate(names)}
        rest = packed[:, m + len(names):]
        info.update(hand_pos=rest[:, 0:2], target_pos=rest[:, 2:4], load=rest[:, 4:6])
        return obs, reward.astype(np.float64), done > 0.5, info

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset all sub-environments. ``options`` may hold batched ``joint_state``
        (num_envs, 2 or 4), ``target`` (num_envs, 2), ``load`` (num_envs, 2) and, with the go
        cue, ``cue_step`` (num_envs,) whole control steps in [0, episode_steps); missing ones
        are drawn."""
        super().reset(seed=seed)
        if seed is not None:
            self._key = jax.random.key(seed)
        elif self.state is None:
            self._key = jax.random.key(int(self.np_random.integers(2**31 - 1)))
        self._key, sub = jax.random.split(self._key)
        keys = jax.random.split(sub, self.num_envs)
        opts = dict(options or {})
        unknown = set(opts) - {"joint_state", "target", "load", "cue_step"}
        if unknown:
            raise ValueError(f"unknown reset option(s) {sorted(unknown)}")
        if opts:
            names = tuple(sorted(opts))
            values = [self._batched_option(n, opts[n]) for n in names]
            if "load" in opts:
                check_load(opts["load"], self.cfg.muscles)
            self.state = self._reset_given(names)(keys, *values)
        else:
            self.state = self._reset_batch(keys)
        self._needs_reset = jnp.zeros(self.num_envs, bool)
        zero = jnp.zeros(self.num_envs, jnp.float32)
        obs, _, _, info = self._unpack(np.asarray(self._pack(self.state, zero, zero > 0)))
        return obs, info

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
        self.state, self._key, self._needs_reset, packed = self._step_batch(
            self.state, jax.device_put(a), self._needs_reset, self._key)
        obs, rewards, done, info = self._unpack(jax.device_get(packed))  # the one device-to-host copy
        return obs, rewards, np.zeros(self.num_envs, bool), done, info

    def _batched_option(self, name: str, value: Any) -> jax.Array:
        """Check one batched reset option: a finite array with one row per env."""
        if name == "cue_step":
            steps = np.asarray(value)
            if not self.cfg.go_cue:
                raise ValueError("reset option 'cue_step' needs the go cue (task setting go_cue=True)")
            if (steps.shape != (self.num_envs,) or not np.issubdtype(steps.dtype, np.integer)
                    or steps.min() < 0 or steps.max() >= self.cfg.episode_steps):
                raise ValueError(f"reset option 'cue_step' must be ({self.num_envs},) whole numbers of control "
                                 f"steps in [0, {self.cfg.episode_steps}), got {value!r}")
            return jnp.asarray(steps, jnp.int32)
        arr = np.asarray(value, dtype=float)
        if arr.ndim != 2 or arr.shape[0] != self.num_envs or not np.all(np.isfinite(arr)):
            raise ValueError(
                f"reset option {name!r} must be a finite array with one row per env "
                f"({self.num_envs}), got shape {arr.shape}"
            )
        if name == "joint_state":
            check_joint_state(arr, self.cfg.skeleton)
        if name == "target":
            check_target(arr, self.cfg.skeleton)
        return jnp.asarray(arr, dtype=jnp.result_type(float))
