"""The arm as a gymnasium environment, simulated by MuJoCo C (one environment, CPU).

Registered as ``callosum/ArmReach-v0``, ``callosum/ArmHold-v0`` and
``callosum/ArmCentreOut-v0`` by ``import envs``. Muscles, loads, limits, feedback and
loss terms come from the same code as the JAX environment (``envs.plant``); only the
skeleton integration differs (``mujoco.mj_step`` here, ``mjx.step`` there); the MuJoCo
model is built from ``cfg.skeleton`` (``envs.model.load_model``), as the JAX env's is. With
``plant="motornet_tf"`` MuJoCo's forward dynamics (``mj_forward``) gives the joint
accelerations and the explicit-Euler step of ``envs.motornet_tf`` integrates them (MuJoCo
has no explicit Euler integrator), as the JAX env does with the closed-form dynamics.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import jax
import mujoco
import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec

from envs import geometry, motornet_tf, muscle, plant
from envs.config import ArmConfig
from envs.limits import check_joint_state, check_load, check_target, enforce_limits
from envs.model import load_model
from envs.tasks import external_force, sample_episode


class ArmEnv(gym.Env):
    """Muscle-driven planar arm; see module docstring.

    Observation (16,) float32: 6 muscle lengths / optimal length, 6 muscle velocities /
    max velocity (delayed by ``proprioceptive_delay``), hand x, y (m, delayed by
    ``visual_delay``; both default to ``feedback_delay``) and target x, y (m); with
    ``go_cue`` a 17th entry, the go cue (0.0 before the episode's cue step, 1.0 from it on;
    see ``envs.config.TaskConfig``), so the observation is (``cfg.observation_size``,).
    Action (6,) float32: excitations, clipped to [0, 1]. Episodes end by truncation after
    ``episode_steps`` control steps; made by ``gymnasium.make``, after its
    ``max_episode_steps`` (see :attr:`spec`). ``reset`` options: ``joint_state``
    ([shoulder, elbow] rad, optionally with velocities), ``target`` ([x, y] m), ``load``
    ([fx, fy] N), ``target_index`` (centre-out), ``cue_step`` (the go cue's control step,
    a whole number in [0, episode_steps); needs ``go_cue``; default: drawn from the window).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 100}

    def __init__(
        self,
        task: str = "reach",
        render_mode: str | None = None,
        width: int = 480,
        height: int = 480,
        **settings: Any,
    ):
        self.cfg = ArmConfig.from_overrides(task, **settings)
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": round(1.0 / self.cfg.control_dt)}
        self.model = load_model(self.cfg.physics_dt, self.cfg.skeleton)
        self.data = mujoco.MjData(self.model)
        self.observation_space = spaces.Box(-plant.OBS_BOUND, plant.OBS_BOUND, (self.cfg.observation_size,), np.float32)
        self.action_space = spaces.Box(0.0, 1.0, (6,), np.float32)
        self._size = (height, width)
        self._renderer: mujoco.Renderer | None = None
        self._target_mocap = self.model.body("target").mocapid[0]
        self._episode = 0
        self._ready = False
        self._spec: EnvSpec | None = None
        # the step at which this env truncates; None: a TimeLimit wrapper does (see spec)
        self._truncate_at: int | None = self.cfg.episode_steps

    @property
    def spec(self) -> EnvSpec | None:
        """The gymnasium spec ``gymnasium.make`` gives the env (``None`` if built directly).

        ``gymnasium.make`` builds the env, then sets this spec (its ``max_episode_steps`` is
        always ``None`` here) and wraps the env in ``TimeLimit(max_episode_steps)``: the
        ``max_episode_steps`` passed to ``make``, else the registered 50. ``make`` never
        tells the env that number, so once it sets the spec the env stops truncating by
        itself and the TimeLimit ends episodes: ``make(id, max_episode_steps=100)`` gives
        100-step episodes, not 50 cut short by ``episode_steps`` (``-1``, gymnasium's "no
        TimeLimit", gives episodes without end). ``env.spec.max_episode_steps`` on the
        wrapped env reports the length; ``cfg.episode_steps`` applies only to an ``ArmEnv``
        built directly.

        ``make(id, episode_steps=100)`` raises ``ValueError``. Its TimeLimit would still cut
        the episodes at max_episode_steps (50), and the env cannot tell that call from
        ``make(id, episode_steps=100, max_episode_steps=100)``, nor follow episode_steps,
        so no value is accepted: refusing costs the user one edit and names it, silently
        accepting (or ignoring) it would cut episodes the user asked to be longer.
        ``gymnasium.make_vec`` follows the same rule (see ``ArmVectorEnv``).
        """
        return self._spec

    @spec.setter
    def spec(self, spec: EnvSpec | None) -> None:
        if spec is not None and "episode_steps" in (spec.kwargs or {}):
            n = spec.kwargs["episode_steps"]
            registered = gym.registry.get(spec.id)
            default = registered.max_episode_steps if registered is not None else None
            raise ValueError(
                f"gymnasium.make({spec.id!r}, episode_steps={n!r}): under gymnasium.make the episode "
                f"length is max_episode_steps (gymnasium's TimeLimit, registered as {default}), which would "
                f"cut episodes whatever episode_steps says. Pass max_episode_steps={n!r} instead of "
                f"episode_steps, or build envs.ArmEnv({spec.kwargs.get('task', 'reach')!r}, "
                f"episode_steps={n!r}) without gymnasium.make."
            )
        self._spec = spec
        self._truncate_at = None if spec is not None else self.cfg.episode_steps

    # -- gymnasium API ------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self._episode = 0
        opts = dict(options or {})
        unknown = set(opts) - {"joint_state", "target", "load", "target_index", "cue_step"}
        if unknown:
            raise ValueError(f"unknown reset option(s) {sorted(unknown)}")
        if opts.get("cue_step") is not None:
            c = opts["cue_step"]
            if not self.cfg.go_cue:
                raise ValueError("reset option 'cue_step' needs the go cue (task setting go_cue=True)")
            if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c < self.cfg.episode_steps:
                raise ValueError(f"reset option 'cue_step' must be a whole number of control steps in "
                                 f"[0, {self.cfg.episode_steps}), got {c!r}")
        if self.cfg.task == "centre_out" and opts.get("target_index") is None and opts.get("target") is None:
            opts["target_index"] = self._episode % self.cfg.centre_out_targets
        if opts.get("joint_state") is not None:
            check_joint_state(_finite("joint_state", opts["joint_state"]), self.cfg.skeleton)
        if opts.get("target") is not None:
            check_target(_finite("target", opts["target"]), self.cfg.skeleton)
        if opts.get("load") is not None:
            check_load(_finite("load", opts["load"]), self.cfg.muscles)
        key = jax.random.key(int(self.np_random.integers(2**31 - 1)))
        with jax.default_device(jax.devices("cpu")[0]):
            ep = sample_episode(key, self.cfg, **{k: _finite(k, v) for k, v in opts.items()})
        js = np.asarray(ep.joint_state, np.float64)
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:], self.data.qvel[:] = js[:2], js[2:]
        self.target = np.asarray(ep.target, np.float64)
        self.load = np.asarray(ep.load, np.float64)
        self.cue_step = int(ep.cue_step)
        self.activation = np.full(6, self.cfg.muscles.min_activation)
        self.joint_lag = js.copy()
        fb = plant.feedback(self.data.qpos, self.data.qvel, self.cfg)
        self._feedback = np.repeat(fb[None], self.cfg.delay_steps + 1, axis=0)
        self._steps = 0
        self._episode += 1
        self._ready = True
        self.start = self.hand.copy()
        terms = self._terms(np.zeros(6))
        return self._observe(), self._info(terms)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self._ready:
            raise RuntimeError("call reset() before step()")
        action = self._check_action(action)
        u = np.clip(action, 0.0, 1.0)
        m, d, cfg = self.model, self.data, self.cfg
        drive = u if cfg.motor_noise == 0 else np.clip(
            action + cfg.motor_noise * self.np_random.standard_normal(u.shape), 0.0, 1.0)
        tf = cfg.plant == "motornet_tf"
        load = external_force(self.load, self._steps, cfg, np)
        for _ in range(cfg.n_substeps):
            if tf:
                self._motornet_tf_step(drive, load)
                continue
            act = muscle.activation_step(self.activation, drive, cfg.physics_dt, cfg.muscles)
            d.qfrc_applied[:] = plant.joint_torque(
                d.qpos, d.qvel, 0.5 * (act + self.activation), load, cfg
            )
            self.activation = act
            mujoco.mj_step(m, d)
            d.qpos[:], d.qvel[:] = enforce_limits(d.qpos, d.qvel, cfg.skeleton)
        if tf:
            fb = motornet_tf.feedback(d.qpos, self.joint_lag, cfg)
        else:
            self.joint_lag = self.joint_state
            fb = plant.feedback(d.qpos, d.qvel, cfg)
        self._feedback = plant.push_delay(self._feedback, fb)
        before_cue = self._steps < self.cue_step
        self._steps += 1
        terms = self._terms(u)
        truncated = self._truncate_at is not None and self._steps >= self._truncate_at
        self._ready = not truncated
        return self._observe(), float(plant.reward(terms, cfg, before_cue)), False, truncated, self._info(terms)

    def _motornet_tf_step(self, u: np.ndarray, load: np.ndarray) -> None:
        """One MotorNet 0.1.5 plant step (see ``envs.motornet_tf``): accelerations from
        MuJoCo's forward dynamics under the lagged muscle forces, then explicit Euler."""
        m, d, cfg = self.model, self.data, self.cfg
        d.qfrc_applied[:] = motornet_tf.joint_torque(
            d.qpos, self.activation, self.joint_lag, plant.hand_force(d.qpos, d.qvel, load, cfg), cfg
        )
        mujoco.mj_forward(m, d)
        self.activation = motornet_tf.activation_step(self.activation, u, cfg.physics_dt, cfg.muscles)
        self.joint_lag = self.joint_state
        d.qpos[:], d.qvel[:] = motornet_tf.integrate(
            d.qpos, d.qvel, d.qacc.copy(), cfg.physics_dt, cfg.skeleton
        )
        d.time += cfg.physics_dt

    @property
    def muscle_state(self) -> np.ndarray:
        """MotorNet 0.1.5's muscle state (7, 6), as ``FunctionalArmEnv.muscle_state``."""
        return motornet_tf.muscle_state(self.activation, self.joint_lag, self.cfg)

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.model, *self._size)
        self.data.mocap_pos[self._target_mocap, :2] = self.target
        mujoco.mj_forward(self.model, self.data)
        self._renderer.update_scene(self.data, camera="top")
        return self._renderer.render()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # -- helpers -----------------------------------------------------------------------
    @property
    def hand(self) -> np.ndarray:
        """Hand position (2,) m, undelayed."""
        return geometry.hand_position(self.data.qpos, self.cfg.skeleton)

    @property
    def joint_state(self) -> np.ndarray:
        """(shoulder, elbow, shoulder_vel, elbow_vel), rad and rad/s."""
        return np.concatenate([self.data.qpos, self.data.qvel])

    def _terms(self, u: np.ndarray) -> dict[str, Any]:
        terms = plant.loss_terms(self.hand, self.target, u)
        if self.cfg.go_cue:
            terms["displacement"] = plant.displacement(self.hand, self.start)
        return terms

    def _observe(self) -> np.ndarray:
        sensed = plant.observed_feedback(self._feedback, self.cfg)
        scale = plant.noise_scale(self.cfg)
        if scale.any():
            sensed = sensed + scale * self.np_random.standard_normal(sensed.shape)
        cue = [[float(self._steps >= self.cue_step)]] if self.cfg.go_cue else []
        return np.concatenate([sensed, self.target, *cue]).astype(np.float32)

    def _info(self, terms: dict[str, Any]) -> dict[str, Any]:
        cue = {"cue_step": self.cue_step} if self.cfg.go_cue else {}
        return {
            "hand_pos": self.hand.copy(),
            "target_pos": self.target.copy(),
            "load": self.load.copy(),
            "joint_state": self.joint_state,
            **cue,
            **{k: float(v) for k, v in terms.items()},
        }

    def _check_action(self, action: Any) -> np.ndarray:
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (6,):
            raise ValueError(f"action must have shape (6,) (one excitation per muscle), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action contains NaN or inf: {a}")
        return a


def _finite(name: str, value: Any) -> Any:
    if value is not None and not np.all(np.isfinite(np.asarray(value, dtype=float))):
        raise ValueError(f"reset option {name!r} contains NaN or inf: {value}")
    return value
