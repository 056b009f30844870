"""Arm geometry: muscle paths (moment arms, musculotendon lengths) and hand kinematics.

Written against an array namespace ``xp`` like ``envs.muscle``. Joint angles ``q`` and
velocities ``qd`` are (..., 2) = (shoulder, elbow) in rad and rad/s; the shoulder is at
the origin, angles are measured counter-clockwise, the elbow angle relative to the upper
arm. Hand coordinates are (..., 2) = (x, y) in m.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.params import MuscleParams, SkeletonParams


def moment_arms(q: Any, p: MuscleParams, xp: Any = np) -> Any:
    """d L_mt / d q (m), (..., 2, 6): MotorNet's polynomial ``a1 + 2 a2 (q - a3)``."""
    dq = (q - p.a3)[..., :, None]
    return p.a1 + 2.0 * p.a2 * dq


def musculotendon_length(q: Any, p: MuscleParams, xp: Any = np) -> Any:
    """Musculotendon length (m), (..., 6)."""
    dq = (q - p.a3)[..., :, None]
    return p.a0 + xp.sum((p.a1 + p.a2 * dq) * dq, axis=-2)


def musculotendon_velocity(q: Any, qd: Any, p: MuscleParams, xp: Any = np) -> Any:
    """Musculotendon velocity (m/s), positive = lengthening, (..., 6)."""
    return xp.sum(qd[..., :, None] * moment_arms(q, p, xp), axis=-2)


def hand_position(q: Any, p: SkeletonParams, xp: Any = np) -> Any:
    """Forward kinematics of the hand (end of the forearm), (..., 2) in m."""
    s, e = q[..., 0], q[..., 1]
    x = p.l1 * xp.cos(s) + p.l2 * xp.cos(s + e)
    y = p.l1 * xp.sin(s) + p.l2 * xp.sin(s + e)
    return xp.stack([x, y], axis=-1)


def hand_jacobian(q: Any, p: SkeletonParams, xp: Any = np) -> Any:
    """d hand / d q, (..., 2 (x, y), 2 (shoulder, elbow))."""
    s, e = q[..., 0], q[..., 1]
    s12, c12 = xp.sin(s + e), xp.cos(s + e)
    row_x = xp.stack([-p.l1 * xp.sin(s) - p.l2 * s12, -p.l2 * s12], axis=-1)
    row_y = xp.stack([p.l1 * xp.cos(s) + p.l2 * c12, p.l2 * c12], axis=-1)
    return xp.stack([row_x, row_y], axis=-2)


def load_torque(q: Any, load: Any, p: SkeletonParams, xp: Any = np) -> Any:
    """Joint torques (N m) of a force ``load`` (N, (..., 2)) at the hand: ``J^T f``, (..., 2)."""
    return xp.sum(hand_jacobian(q, p, xp) * load[..., :, None], axis=-2)
