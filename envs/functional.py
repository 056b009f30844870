"""The arm as a pure, batched, differentiable JAX environment.

The skeleton step is the closed-form semi-implicit Euler step of the two-link arm
``cfg.skeleton`` (``physics="closed_form"``, default) or ``mjx.step`` on the MJCF model
built from the same ``cfg.skeleton`` (``physics="mjx"``, ``envs.model.load_model``);
kinematics and joint limits read it too. To use your own MJCF arm, pass
``skeleton=envs.model.skeleton_from_model(your_model)``.

``env = make_functional("reach")``; ``state = env.reset(key)``;
``state = env.step(state, action)``. Both are pure and can be ``jit``-ed, ``vmap``-ed and
differentiated (``jax.grad`` of a loss over a whole rollout w.r.t. the actions). The env
object holds only the static model and settings, as in mujoco_playground.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
from flax import struct

with contextlib.redirect_stdout(io.StringIO()):  # mjx prints "Failed to import warp" (a backend not used here)
    from mujoco import mjx

from envs import motornet_tf, muscle, plant
from envs.config import ArmConfig
from envs.dynamics import euler_step, joint_acceleration, mjx_step_fn
from envs.limits import enforce_limits
from envs.model import load_model
from envs.tasks import Episode, external_force, sample_episode


@struct.dataclass
class ArmState:
    """Environment state; a pytree. Shapes for one environment (add batch axes by vmap).

    q, qd: joint angles (2,) rad and velocities (2,) rad/s. activation: (6,).
    joint_lag: (4,) joint state (q, qd) the muscle state is evaluated on: the previous
    plant step's for ``plant="motornet_tf"`` (see ``envs.motornet_tf``), else (q, qd).
    target, hand: (2,) m. load: (2,) N. feedback: delay line (longer delay + 1, 14), oldest
    first (each channel read at its own delay, ``envs.plant.observed_feedback``).
    obs: (``cfg.observation_size``,): the sensed feedback (14), target x, y and, with
    ``go_cue``, the cue (1.0 from step ``cue_step`` on, else 0.0). reward, done: (). step: ()
    control steps taken. key: PRNG key for sensory and motor noise. metrics: per-step loss
    terms, each () (with ``go_cue`` also ``displacement``, the hand's distance from
    ``start``). start: (2,) m the hand at reset. cue_step: () int32 the go cue's control step
    (0 without ``go_cue``).
    """

    q: jax.Array
    qd: jax.Array
    activation: jax.Array
    joint_lag: jax.Array
    target: jax.Array
    load: jax.Array
    hand: jax.Array
    feedback: jax.Array
    obs: jax.Array
    reward: jax.Array
    done: jax.Array
    step: jax.Array
    key: jax.Array
    metrics: dict[str, jax.Array]
    start: jax.Array
    cue_step: jax.Array


class FunctionalArmEnv:
    """Pure JAX arm environment; see module docstring. ``cfg`` is an :class:`ArmConfig`.

    The fast path checks nothing at run time: ``reset`` takes joint angles outside the joint
    ranges (the first step puts them on the stop) and NaN or inf joint states, targets and
    loads, and a NaN action gives NaN states and rewards, all silently. ``checked(env)``
    (``envs.checked``) gives the same reset and step refusing those, with named errors.
    """

    action_size: int = 6

    def __init__(self, cfg: ArmConfig):
        self.cfg = cfg
        self.observation_size: int = cfg.observation_size  # 16, 17 with the go cue
        self.mj_model: mujoco.MjModel = load_model(cfg.physics_dt, cfg.skeleton)  # MuJoCo/MJX follow cfg.skeleton
        skeleton, dt = cfg.skeleton, cfg.physics_dt  # the closed form's, both ways
        if cfg.physics == "closed_form":
            self._step = lambda q, qd, tau: euler_step(q, qd, tau, skeleton, dt)
        else:
            mjx_model = mjx.put_model(self.mj_model)
            self._step = mjx_step_fn(mjx_model, mjx.make_data(mjx_model), skeleton, dt, cfg.gradient)

    # -- public API -------------------------------------------------------------------
    def reset(
        self,
        key: jax.Array,
        joint_state: Any = None,
        target: Any = None,
        load: Any = None,
        target_index: Any = None,
        cue_step: Any = None,
    ) -> ArmState:
        """Start an episode. Options as in ``sample_episode``; omitted ones are drawn."""
        k_episode, k_noise, k_obs = jax.random.split(key, 3)
        ep = sample_episode(k_episode, self.cfg, joint_state, target, load, target_index, cue_step)
        return self.reset_to(ep, k_noise, k_obs)

    def reset_to(self, ep: Episode, noise_key: jax.Array, obs_key: jax.Array) -> ArmState:
        """Start an episode from explicit initial conditions ``ep``."""
        dtype = ep.joint_state.dtype
        q, qd = ep.joint_state[:2], ep.joint_state[2:]
        fb = plant.feedback(q, qd, self.cfg, jnp)
        buffer = jnp.broadcast_to(fb, (self.cfg.delay_steps + 1, plant.N_FEEDBACK))
        activation = jnp.full(6, self.cfg.muscles.min_activation, dtype)
        hand = fb[plant.N_PROPRIO:]
        terms = plant.loss_terms(hand, ep.target, jnp.zeros(6, dtype), jnp)
        if self.cfg.go_cue:
            terms["displacement"] = plant.displacement(hand, hand, jnp)
        zero = jnp.zeros((), dtype)
        step = jnp.zeros((), jnp.int32)
        cue_step = jnp.asarray(ep.cue_step, jnp.int32)
        return ArmState(
            q=q, qd=qd, activation=activation, joint_lag=ep.joint_state, target=ep.target, load=ep.load, hand=hand,
            feedback=buffer, obs=self._observe(buffer, ep.target, obs_key, step >= cue_step), reward=zero,
            done=jnp.zeros((), bool), step=step, key=noise_key,
            metrics={**terms, "load_x": ep.load[0], "load_y": ep.load[1]}, start=hand, cue_step=cue_step,
        )

    def step(self, state: ArmState, action: jax.Array) -> ArmState:
        """Advance one control step with excitations ``action`` (6,), clipped to [0, 1]
        (with ``motor_noise``: the muscles get ``clip(action + noise)``, the loss the
        commanded excitations)."""
        u = jnp.clip(action, 0.0, 1.0)
        noisy_obs, noisy_motor = self._noisy
        if noisy_motor:  # a third stream, so that runs without motor noise keep their streams
            key, obs_key, motor_key = jax.random.split(state.key, 3)
        elif noisy_obs:
            key, obs_key = jax.random.split(state.key)
        else:  # no noise: skip the (costly) split
            key = obs_key = state.key
        drive = u if not noisy_motor else jnp.clip(
            action + self.cfg.motor_noise * jax.random.normal(motor_key, u.shape, u.dtype), 0.0, 1.0)
        tf = self.cfg.plant == "motornet_tf"
        physics_step = self.motornet_tf_step if tf else self.physics_step
        load = external_force(state.load, state.step, self.cfg, jnp)

        def substep(carry: tuple[jax.Array, ...], _: None) -> tuple[tuple[jax.Array, ...], None]:
            return physics_step(*carry, drive, load), None

        carry = (state.q, state.qd, state.activation) + ((state.joint_lag,) if tf else ())
        if self.cfg.n_substeps == 1:
            carry = substep(carry, None)[0]
        else:  # a scan, so that compile time does not grow with the substeps
            carry, _ = jax.lax.scan(substep, carry, None, length=self.cfg.n_substeps)
        q, qd, act = carry[:3]
        if tf:
            lag = carry[3]
            fb = motornet_tf.feedback(q, lag, self.cfg, jnp)
        else:
            lag = jnp.concatenate([q, qd])
            fb = plant.feedback(q, qd, self.cfg, jnp)
        buffer = plant.push_delay(state.feedback, fb, jnp)
        hand = fb[plant.N_PROPRIO:]
        terms = plant.loss_terms(hand, state.target, u, jnp)
        if self.cfg.go_cue:
            terms["displacement"] = plant.displacement(hand, state.start, jnp)
        step = state.step + 1
        return state.replace(
            q=q, qd=qd, activation=act, joint_lag=lag, hand=hand, feedback=buffer,
            obs=self._observe(buffer, state.target, obs_key, step >= state.cue_step),
            reward=plant.reward(terms, self.cfg, state.step < state.cue_step, jnp),
            done=step >= self.cfg.episode_steps,
            step=step, key=key, metrics={**state.metrics, **terms},
        )

    def physics_step(
        self, q: jax.Array, qd: jax.Array, activation: jax.Array, u: jax.Array, load: jax.Array
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """One physics substep: activation dynamics, muscle forces, skeleton step, limits.

        Forces use the activation averaged over the substep (trapezoidal rule), which halves
        the error of using either end of it. ``envs.gym_env`` does exactly the same.
        """
        act = muscle.activation_step(activation, u, self.cfg.physics_dt, self.cfg.muscles, jnp)
        tau = plant.joint_torque(q, qd, 0.5 * (act + activation), load, self.cfg, jnp)
        q, qd = self._step(q, qd, tau)  # closed form or mjx.step (see envs.dynamics)
        q, qd = enforce_limits(q, qd, self.cfg.skeleton, jnp)
        return q, qd, act

    def motornet_tf_step(
        self, q: jax.Array, qd: jax.Array, activation: jax.Array, joint_lag: jax.Array,
        u: jax.Array, load: jax.Array,
    ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        """One MotorNet 0.1.5 plant step (``plant="motornet_tf"``, see ``envs.motornet_tf``):
        torque from the previous step's muscle force, explicit-Euler activation and skeleton
        (closed-form dynamics), limits. Returns (q', qd', activation', joint_lag')."""
        cfg = self.cfg
        tau = motornet_tf.joint_torque(q, activation, joint_lag, plant.hand_force(q, qd, load, cfg, jnp), cfg, jnp)
        act = motornet_tf.activation_step(activation, u, cfg.physics_dt, cfg.muscles, jnp)
        qdd = joint_acceleration(q, qd, tau, cfg.skeleton)
        q_next, qd_next = motornet_tf.integrate(q, qd, qdd, cfg.physics_dt, cfg.skeleton, jnp)
        return q_next, qd_next, act, jnp.concatenate([q, qd])

    def muscle_state(self, state: ArmState) -> jax.Array:
        """MotorNet 0.1.5's muscle state of ``state`` (..., 7, 6), rows
        ``envs.motornet_tf.MUSCLE_STATE_NAMES`` (activation, muscle length, muscle velocity,
        force-length PE, force-length CE, force-velocity CE, force). Works on a single, a
        batched or a stacked (rollout) state; pure, so jit / vmap / grad apply."""
        return motornet_tf.muscle_state(state.activation, state.joint_lag, self.cfg, jnp)

    @staticmethod
    def joint_state(state: ArmState) -> jax.Array:
        """MotorNet's joint state (..., 4): shoulder, elbow (rad), their velocities (rad/s)."""
        return jnp.concatenate([state.q, state.qd], axis=-1)

    def rollout(self, state: ArmState, actions: jax.Array) -> tuple[ArmState, ArmState]:
        """Apply ``actions`` (n_steps, 6) with ``lax.scan``; returns the final state and the
        stacked per-step states (leading axis n_steps)."""

        def body(s: ArmState, a: jax.Array) -> tuple[ArmState, ArmState]:
            s = self.step(s, a)
            return s, s

        return jax.lax.scan(body, state, actions)

    # -- helpers --------------------------------------------------------------------
    @property
    def _noisy(self) -> tuple[bool, bool]:
        """(any observation noise, motor noise): static, so no noise costs nothing."""
        return bool(plant.noise_scale(self.cfg).any()), self.cfg.motor_noise > 0

    def _observe(self, buffer: jax.Array, target: jax.Array, key: jax.Array, cue: jax.Array) -> jax.Array:
        """The observation: sensed feedback, target and (``go_cue``) the cue ``cue`` as 0.0 / 1.0."""
        sensed = plant.observed_feedback(buffer, self.cfg, jnp)
        if self._noisy[0]:
            scale = jnp.asarray(plant.noise_scale(self.cfg), sensed.dtype)
            sensed = sensed + scale * jax.random.normal(key, sensed.shape, sensed.dtype)
        parts = [sensed, target] + ([cue.astype(sensed.dtype)[None]] if self.cfg.go_cue else [])
        return jnp.concatenate(parts)


def make_functional(task: str = "reach", **overrides: Any) -> FunctionalArmEnv:
    """The pure JAX environment of ``task`` (``reach``, ``hold``, ``centre_out``) with
    :class:`ArmConfig` settings overridden by keyword."""
    return FunctionalArmEnv(ArmConfig.from_overrides(task, **overrides))


def checked(env: FunctionalArmEnv) -> Any:
    """``env`` with reset and step that refuse bad inputs (``envs.checked.CheckedArmEnv``)."""
    from envs.checked import CheckedArmEnv

    return CheckedArmEnv(env)
