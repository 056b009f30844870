"""A checked mode of the JAX arm environment: the same reset and step, refusing bad inputs.

``env = envs.functional.checked(make_functional("reach"))``; ``state = env.reset(key, joint_state=...)``;
``state = env.step(state, action)``. Each call runs under ``jit(checkify.checkify(...))``
(``jax.experimental.checkify``) and raises ``checkify.JaxRuntimeError`` naming the problem.
Slower than the fast path (one error value per call, one compiled program each); for
debugging and for inputs from outside, not for training loops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
from jax.experimental import checkify

from envs.limits import JOINT_RANGE_TOL
from envs.tasks import sample_episode

if TYPE_CHECKING:
    from envs.functional import ArmState, FunctionalArmEnv


class CheckedArmEnv:
    """``env``'s reset and step with checks (one unbatched environment; see module docstring).

    reset refuses joint angles outside [q_lower, q_upper] (rad) and non-finite joint states,
    targets and loads; step refuses non-finite actions and reports a non-finite state after
    the step. Valid inputs give the fast path's result to float rounding (the checks make
    another compiled program, which XLA may fuse differently).
    """

    def __init__(self, env: FunctionalArmEnv):
        self.env = env
        self._reset = jax.jit(checkify.checkify(self._checked_reset))
        self._step = jax.jit(checkify.checkify(self._checked_step))

    def reset(self, key: jax.Array, joint_state: Any = None, target: Any = None, load: Any = None,
              target_index: Any = None, cue_step: Any = None) -> ArmState:
        """As ``FunctionalArmEnv.reset``, with the checks of the class docstring."""
        err, state = self._reset(key, joint_state, target, load, target_index, cue_step)
        err.throw()
        return state

    def step(self, state: ArmState, action: jax.Array) -> ArmState:
        """As ``FunctionalArmEnv.step``, with the checks of the class docstring."""
        err, out = self._step(state, action)
        err.throw()
        return out

    def _checked_reset(self, key, joint_state, target, load, target_index, cue_step=None) -> ArmState:
        k_episode, k_noise, k_obs = jax.random.split(key, 3)
        ep = sample_episode(k_episode, self.env.cfg, joint_state, target, load, target_index, cue_step)
        sk = self.env.cfg.skeleton
        for i in range(4):
            checkify.check(jnp.isfinite(ep.joint_state[i]), f"reset: joint state [{i}]={{x}} is not finite",
                           x=ep.joint_state[i])
        for j, name in enumerate(("shoulder", "elbow")):
            q, lo, hi = ep.joint_state[j], float(sk.q_lower[j]), float(sk.q_upper[j])
            checkify.check((q >= lo - JOINT_RANGE_TOL) & (q <= hi + JOINT_RANGE_TOL),
                           f"reset: joint angle q[{j}]={{q}} rad ({name}) outside [{lo:.4g}, {hi:.4g}]", q=q)
        for what, value, unit in (("target", ep.target, "m"), ("load", ep.load, "N")):
            checkify.check(jnp.all(jnp.isfinite(value)), f"reset: {what}={{v}} {unit} is not finite", v=value)
        return self.env.reset_to(ep, k_noise, k_obs)

    def _checked_step(self, state: ArmState, action: jax.Array) -> ArmState:
        checkify.check(jnp.all(jnp.isfinite(action)), "step: action={a} has NaN or inf entries", a=action)
        out = self.env.step(state, action)
        finite = jnp.all(jnp.isfinite(out.q)) & jnp.all(jnp.isfinite(out.qd)) & jnp.all(jnp.isfinite(out.activation))
        checkify.check(finite, "step: non-finite state after the step: q={q} rad, qd={qd} rad/s", q=out.q, qd=out.qd)
        return out

