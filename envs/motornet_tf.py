"""The plant step of MotorNet 0.1.5 (TensorFlow), ``plant="motornet_tf"`` in :class:`ArmConfig`.

MotorNet 0.1.5's ``RigidTendonArm26`` with ``RigidTendonHillMuscle`` (the plant of the
original bilateral-control code) advances one plant step of ``dt`` as follows, all
derivatives taken at the start of the step (explicit Euler):

1. joint torque = ``-moment_arms(q) . force + J(q)^T load``, where ``force`` is the muscle
   force stored in the muscle state by the *previous* step;
2. activation ``a' = clip(a + dt (u - a) / tau(a, u), min_activation, 1)`` (explicit Euler;
   from rest, full excitation saturates activation within one 10 ms step);
3. the new muscle state (length, velocity, force) is evaluated with ``a'`` on the geometry
   of the joint state at the *start* of the step (so forces and proprioception lag the
   skeleton by one step);
4. skeleton: ``qd' = qd + dt qdd(q, qd, torque)``, ``q' = q + dt qd``; then velocities are
   clipped to +-1000 rad/s, a velocity pointing out of range is zeroed where ``q'`` lies on
   or past a limit, and ``q'`` is clipped into range.

The muscle constants are MotorNet 0.3's except the passive slack length (1.0, see
:meth:`envs.params.MuscleParams.motornet_tf`). The step keeps, besides activation, the joint
state ``joint_lag`` (q, qd) on which the muscle state was last evaluated: at reset the
initial joint state, afterwards the previous step's.

Functions take an array namespace ``xp`` (numpy for MuJoCo C, jax.numpy for the JAX env);
leading batch axes broadcast. Shapes: q, qd (..., 2) rad, rad/s; activation (..., 6);
joint states (..., 4) = (q, qd); loads (..., 2) N.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs import geometry, muscle, plant
from envs.config import ArmConfig
from envs.limits import enforce_limits
from envs.params import MuscleParams, SkeletonParams

VELOCITY_BOUND = 1000.0  # rad/s, MotorNet's default joint velocity bound
MUSCLE_STATE_NAMES: tuple[str, ...] = (
    "activation", "muscle length", "muscle velocity", "force-length PE", "force-length CE",
    "force-velocity CE", "force",
)  # rows of MotorNet 0.1.5's RigidTendonHillMuscle state
GEOMETRY_STATE_NAMES: tuple[str, ...] = (
    "musculotendon length", "musculotendon velocity", "moment for joint 0", "moment for joint 1",
)  # rows of MotorNet 0.1.5's RigidTendonArm26 geometry state


def activation_step(
    activation: Any, excitation: Any, dt: float, p: MuscleParams, xp: Any = np
) -> Any:
    """One explicit-Euler step of the activation ODE (same ODE as ``envs.muscle``), clipped
    to ``[min_activation, 1]``; ``activation``, ``excitation`` (..., 6)."""
    u = xp.clip(excitation, p.min_activation, 1.0)
    a = xp.clip(activation, p.min_activation, 1.0)
    scale = 0.5 + 1.5 * a
    tau = xp.where(u > a, p.tau_activation * scale, p.tau_deactivation / scale)
    return xp.clip(a + dt * (u - a) / tau, p.min_activation, 1.0)


def split_joint(joint: Any) -> tuple[Any, Any]:
    """(q, qd) of a joint state (..., 4)."""
    return joint[..., :2], joint[..., 2:]


def muscle_state(activation: Any, joint_lag: Any, cfg: ArmConfig, xp: Any = np) -> Any:
    """MotorNet 0.1.5's muscle state (..., 7, 6), rows :data:`MUSCLE_STATE_NAMES`.

    activation (-), muscle length (m), muscle velocity (m/s, the musculotendon velocity,
    positive = lengthening), passive and active force-length (normalised), active
    force-length-velocity (normalised), force (N), all evaluated with ``activation``
    (..., 6) on the geometry of ``joint_lag`` (..., 4). The ``force`` row is what the next
    step applies to the skeleton.
    """
    mp = cfg.muscles
    q, qd = split_joint(joint_lag)
    lmt = geometry.musculotendon_length(q, mp, xp)
    vmt = geometry.musculotendon_velocity(q, qd, mp, xp)
    flpe, flce, active = muscle.force_terms(activation, lmt, vmt, mp, xp)
    force = (active + flpe) * mp.max_isometric_force
    length = muscle.muscle_length(lmt, mp, xp)
    rows = [activation, length, vmt, flpe, flce, active, force]
    return xp.stack([xp.broadcast_to(r, force.shape) for r in rows], axis=-2)


def muscle_force(activation: Any, joint_lag: Any, cfg: ArmConfig, xp: Any = np) -> Any:
    """The ``force`` row of :func:`muscle_state` (N), (..., 6)."""
    q, qd = split_joint(joint_lag)
    mp = cfg.muscles
    lmt = geometry.musculotendon_length(q, mp, xp)
    vmt = geometry.musculotendon_velocity(q, qd, mp, xp)
    return muscle.muscle_force(activation, lmt, vmt, mp, xp)


def geometry_state(joint: Any, cfg: ArmConfig, xp: Any = np) -> Any:
    """MotorNet 0.1.5's geometry state (..., 4, 6), rows :data:`GEOMETRY_STATE_NAMES`:
    musculotendon length (m) and velocity (m/s), moment arms about shoulder and elbow (m)."""
    q, qd = split_joint(joint)
    mp = cfg.muscles
    lmt = geometry.musculotendon_length(q, mp, xp)
    vmt = geometry.musculotendon_velocity(q, qd, mp, xp)
    arms = geometry.moment_arms(q, mp, xp)
    return xp.concatenate([lmt[..., None, :], vmt[..., None, :], arms], axis=-2)


def cartesian_state(joint: Any, cfg: ArmConfig, xp: Any = np) -> Any:
    """MotorNet's cartesian state (..., 4): hand x, y (m) and hand velocity x, y (m/s)."""
    q, qd = split_joint(joint)
    hand = geometry.hand_position(q, cfg.skeleton, xp)
    vel = xp.sum(geometry.hand_jacobian(q, cfg.skeleton, xp) * qd[..., None, :], axis=-1)
    return xp.concatenate([hand, vel], axis=-1)


def joint_torque(
    q: Any, activation: Any, joint_lag: Any, load: Any, cfg: ArmConfig, xp: Any = np
) -> Any:
    """Generalised force (N m), (..., 2): the previous step's muscle forces through the
    moment arms at ``q`` (a muscle pulls to shorten) plus the endpoint load ``J(q)^T load``."""
    force = muscle_force(activation, joint_lag, cfg, xp)
    muscle_tau = -xp.sum(geometry.moment_arms(q, cfg.muscles, xp) * force[..., None, :], axis=-1)
    return muscle_tau + geometry.load_torque(q, load, cfg.skeleton, xp)


def integrate(
    q: Any, qd: Any, qdd: Any, dt: float, p: SkeletonParams, xp: Any = np
) -> tuple[Any, Any]:
    """Explicit Euler (``q' = q + dt qd``, ``qd' = qd + dt qdd``) and MotorNet's limits:
    velocity clipped to +-:data:`VELOCITY_BOUND`, outward velocity zeroed on a stop, angle
    clipped into range. Returns (q', qd'), each (..., 2)."""
    q_next = q + dt * qd
    qd_next = xp.clip(qd + dt * qdd, -VELOCITY_BOUND, VELOCITY_BOUND)
    return enforce_limits(q_next, qd_next, p, xp)


def feedback(q: Any, joint_lag: Any, cfg: ArmConfig, xp: Any = np) -> Any:
    """Undelayed feedback (..., 14) as MotorNet 0.1.5 reads it: normalised muscle lengths and
    velocities from the muscle state (the geometry of ``joint_lag``), hand x, y (m) at ``q``."""
    lag_q, lag_qd = split_joint(joint_lag)
    proprio = plant.feedback(lag_q, lag_qd, cfg, xp)[..., : plant.N_PROPRIO]
    return xp.concatenate([proprio, geometry.hand_position(q, cfg.skeleton, xp)], axis=-1)
