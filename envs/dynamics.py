"""Closed-form two-link arm dynamics: the JAX environment's skeleton step.

The skeleton is the textbook planar two-link arm (tests check MuJoCo's mass matrix and bias
forces against these formulas), and MuJoCo integrates it with semi-implicit Euler (no
constraints). :func:`euler_step` writes that step out: with the parameters the MJCF model
is built from (``cfg.skeleton``, ``envs.model.load_model``) it equals ``mjx.step`` to float
rounding, in a few dozen element-wise operations that XLA fuses, where ``mjx.step`` runs its general
pipeline (kinematics, composite inertia, factorisation) op by op. It is the default
(``physics="closed_form"`` in :class:`~envs.config.ArmConfig`).

With ``physics="mjx"`` the forward pass is ``mjx.step``; reverse mode through it is slow
(for this arm at batch 64 its backward pass cost about nine forward passes), so
:func:`mjx_step_fn` takes the vector-Jacobian product of the closed-form step instead
(``gradient="analytic"``) or, with ``gradient="mjx"``, goes through ``mjx.step`` itself.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from envs.params import SkeletonParams


def mass_matrix(q: jax.Array, p: SkeletonParams) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Entries (m11, m12, m22) of the joint-space inertia matrix at angles ``q`` (2,)."""
    c2 = jnp.cos(q[1])
    m22 = p.m2 * p.l2g**2 + p.i2
    m12 = m22 + p.m2 * p.l1 * p.l2g * c2
    m11 = p.m1 * p.l1g**2 + p.i1 + p.m2 * (p.l2g**2 + p.l1**2) + p.i2 + 2 * p.m2 * p.l1 * p.l2g * c2
    return m11, m12, m22


def bias(q: jax.Array, qd: jax.Array, p: SkeletonParams) -> jax.Array:
    """Coriolis and centrifugal torques (2,) (MuJoCo's ``qfrc_bias`` without gravity)."""
    h = p.m2 * p.l1 * p.l2g * jnp.sin(q[1])
    return jnp.stack([-h * (2 * qd[0] + qd[1]) * qd[1], h * qd[0] ** 2])


def joint_acceleration(q: jax.Array, qd: jax.Array, tau: jax.Array, p: SkeletonParams) -> jax.Array:
    """Forward dynamics ``M(q)^-1 (tau - bias(q, qd))`` (rad/s^2), (2,); ``tau`` (2,) N m."""
    m11, m12, m22 = mass_matrix(q, p)
    f = tau - bias(q, qd, p)
    det = m11 * m22 - m12 * m12
    return jnp.stack([m22 * f[0] - m12 * f[1], m11 * f[1] - m12 * f[0]]) / det


def euler_step(q: jax.Array, qd: jax.Array, tau: jax.Array, p: SkeletonParams,
               dt: float) -> tuple[jax.Array, jax.Array]:
    """MuJoCo's semi-implicit Euler step: ``qd' = qd + dt M^-1 (tau - bias)``, ``q' = q + dt qd'``."""
    qdd = joint_acceleration(q, qd, tau, p)
    qd_next = qd + dt * qdd
    return q + dt * qd_next, qd_next


def mjx_step_fn(mjx_model, mjx_data, skeleton: SkeletonParams, dt: float, gradient: str = "analytic"
                ) -> Callable[[jax.Array, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]:
    """``step(q, qd, tau) -> (q', qd')`` for one unbatched arm: ``mjx.step`` forward;
    backward by the closed form (``gradient="analytic"``) or through ``mjx.step`` (``"mjx"``)."""
    from mujoco import mjx

    def forward(q: jax.Array, qd: jax.Array, tau: jax.Array) -> tuple[jax.Array, jax.Array]:
        data = mjx.step(mjx_model, mjx_data.replace(qpos=q, qvel=qd, qfrc_applied=tau))
        return data.qpos, data.qvel

    if gradient == "mjx":
        return forward
    if gradient != "analytic":
        from envs.config import GRADIENTS

        raise ValueError(f"gradient must be one of {', '.join(GRADIENTS)}, got {gradient!r}")

    @jax.custom_vjp
    def step(q: jax.Array, qd: jax.Array, tau: jax.Array) -> tuple[jax.Array, jax.Array]:
        return forward(q, qd, tau)

    def fwd(q, qd, tau):
        return forward(q, qd, tau), (q, qd, tau)

    def bwd(res, cotangent):
        _, vjp = jax.vjp(lambda a, b, c: euler_step(a, b, c, skeleton, dt), *res)
        return vjp(cotangent)

    step.defvjp(fwd, bwd)
    return step
