"""A controller closing the loop on the JAX arm, and batches of episodes to run it on.

``closed_loop(model, params, env, state0)`` scans the controller and the arm together over
one episode (``lax.scan``, fixed length, so ``jax.grad`` goes through it: back-propagation
through time through the differentiable arm). ``EpisodeSampler`` draws batches of start
states for ``reach``, ``hold``, ``centre_out`` or a ``mixed`` regime of reach and hold.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from agents.config import TRAIN_TASKS
from envs.config import TASKS, ArmConfig
from envs.functional import ArmState, FunctionalArmEnv
from envs.tasks import sample_episode

# training regimes of a run: one model per variant on those episodes, or one per variant and task
REGIMES: tuple[str, ...] = TRAIN_TASKS + ("per_task",)


class Trajectory(NamedTuple):
    """One batch of closed-loop episodes; leading axes (batch, steps).

    hand (B, T, 2) m after each step; start (B, 2) m; target (B, 2) m; load (B, 2) N;
    excitation (B, T, 6); position_error (B, T) m; hidden: per side, per layer (B, T, width);
    plant: the plant outputs the original Keras code's regulariser acted on (see
    ``agents.objectives``), name -> (B, T, ...), or an empty dict when not asked for.
    cue_step: (B,) int the go cue's control step (0 without ``go_cue``): ``hand[:, t]`` for
    t < cue_step followed actions taken before the cue.
    """

    hand: jax.Array
    start: jax.Array
    target: jax.Array
    load: jax.Array
    excitation: jax.Array
    position_error: jax.Array
    hidden: dict[str, list[jax.Array]]
    plant: dict[str, jax.Array]
    cue_step: jax.Array


def closed_loop(model: Any, params: Any, env: FunctionalArmEnv, state0: ArmState,
                lesion: str = "none", steps: int | None = None,
                plant_outputs: Callable[[ArmState], dict[str, jax.Array]] | None = None,
                remat: bool = True) -> Trajectory:
    """Run ``model`` on a batch of environments ``state0`` (leading axis B) for ``steps``
    control steps (default: the episode length). ``plant_outputs`` (env states -> named
    arrays, broadcasting over leading axes) is applied to the state after every step and
    kept in ``Trajectory.plant``; it runs once on the stacked states of the whole episode,
    after the time loop, so that a costly function of the state (MotorNet's muscle state)
    and its gradient are not evaluated step by step inside the loop.

    ``remat``: under differentiation keep only each step's carry (arm state, controller
    state) and recompute the step in the backward pass (``jax.checkpoint``). The arm and the
    small controllers are cheap to recompute but store dozens of intermediates per arm and
    step, and back-propagation through time on the CPU is bound by moving them: training the
    paper's controllers ran 1.6-2.3x faster per epoch with it (same numbers to rounding)."""
    steps = env.cfg.episode_steps if steps is None else int(steps)
    batch = state0.obs.shape[:-1]
    if len(batch) != 1:
        raise ValueError(f"closed_loop expects one batch axis, got observation shape {state0.obs.shape}")
    carry0 = model.initial_carry(batch, state0.obs.dtype)
    step = jax.vmap(env.step)

    def body(c: tuple[ArmState, Any], _: None) -> tuple[tuple[ArmState, Any], Any]:
        s, k = c
        k, u, hid = model.apply(params, k, s.obs, lesion=lesion)
        s = step(s, u)
        return (s, k), (s.hand, u, s.metrics["position_error"], hid, s if plant_outputs is not None else ())

    _, (hand, u, err, hid, states) = jax.lax.scan(jax.checkpoint(body, prevent_cse=False) if remat else body, (state0, carry0),
                                                  None, length=steps)
    extra = plant_outputs(states) if plant_outputs is not None else {}  # (steps, B, ...)
    to_batch_major = lambda a: jnp.swapaxes(a, 0, 1)
    return Trajectory(hand=to_batch_major(hand), start=state0.hand, target=state0.target,
                      load=state0.load, excitation=to_batch_major(u),
                      position_error=to_batch_major(err),
                      hidden=jax.tree.map(to_batch_major, hid),
                      plant=jax.tree.map(to_batch_major, extra),
                      cue_step=getattr(state0, "cue_step", jnp.zeros(batch, jnp.int32)))  # an env without the cue: 0


class EpisodeSampler:
    """Start states of every task on one arm. ``arm`` holds :class:`ArmConfig` settings
    other than ``task``; all tasks share them, so one environment steps them all.

    With ``go_cue`` (a setting of reach and centre-out, refused for hold) the hold episodes
    are drawn as without it and started with the cue on from the first step (``cue_step``
    0), so that they have the same observation as the others and nothing to wait for."""

    def __init__(self, **arm: Any):
        arm = {k: v for k, v in arm.items() if k != "task"}
        self.envs = {t: FunctionalArmEnv(ArmConfig.from_overrides(
            t, **{**arm, **({"go_cue": False} if t == "hold" else {})})) for t in TASKS}
        self.env = self.envs["reach"]  # the one that steps (the task only changes the draw)
        self.draw = jax.jit(self.states, static_argnames=("n", "task"))  # compiled ``states``

    def _reset(self, task: str) -> Callable[..., ArmState]:
        """The reset of ``task``'s episodes, as the stepping env's states."""
        env = self.envs[task]
        if task != "hold" or not self.env.cfg.go_cue:
            return env.reset

        def reset(key: jax.Array) -> ArmState:  # FunctionalArmEnv.reset's draw, the cue from step 0
            k_episode, k_noise, k_obs = jax.random.split(key, 3)
            ep = sample_episode(k_episode, env.cfg)._replace(cue_step=jnp.zeros((), jnp.int32))
            return self.env.reset_to(ep, k_noise, k_obs)
        return reset

    def states(self, key: jax.Array, n: int, task: str, hold_fraction: float = 0.5) -> ArmState:
        """``n`` start states of ``task`` (``reach``, ``hold``, ``centre_out``: targets in
        turn, or ``mixed``: each episode hold with probability ``hold_fraction``)."""
        if task == "mixed":
            k_reach, k_hold, k_pick = jax.random.split(key, 3)
            reach, hold = self.states(k_reach, n, "reach"), self.states(k_hold, n, "hold")
            pick = jax.random.bernoulli(k_pick, hold_fraction, (n,))
            return jax.tree.map(
                lambda r, h: jnp.where(pick.reshape((n,) + (1,) * (r.ndim - 1)), h, r), reach, hold)
        self._check(task)
        env = self.envs[task]
        keys = jax.random.split(key, n)
        if task == "centre_out":
            index = jnp.arange(n) % env.cfg.centre_out_targets
            return jax.vmap(lambda k, i: env.reset(k, target_index=i))(keys, index)
        return jax.vmap(self._reset(task))(keys)

    def states_from_keys(self, keys: jax.Array, task: str, hold_fraction: float = 0.5) -> ArmState:
        """One start state per key (n, 2) of ``reach``, ``hold`` or ``mixed`` (each episode
        hold with probability ``hold_fraction``), so that a fixed set of episodes can be
        indexed by its keys."""
        if task == "mixed":
            def one(key: jax.Array) -> ArmState:
                k_pick, k_ep = jax.random.split(key)
                reach, hold = self.envs["reach"].reset(k_ep), self._reset("hold")(k_ep)
                pick = jax.random.bernoulli(k_pick, hold_fraction)
                return jax.tree.map(lambda r, h: jnp.where(pick, h, r), reach, hold)
            return jax.vmap(one)(keys)
        self._check(task)
        if task == "centre_out":
            raise ValueError("centre_out episodes are indexed by target, not drawn from keys; use states()")
        return jax.vmap(self._reset(task))(keys)

    def _check(self, task: str) -> None:
        if task not in self.envs:
            raise ValueError(f"unknown task {task!r}; valid: {', '.join(TASKS + ('mixed',))}")

