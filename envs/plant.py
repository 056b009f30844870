"""What both faces of the environment share: joint torques, sensory feedback, loss terms.

Written against an array namespace ``xp`` (numpy or jax.numpy), so the MuJoCo C and the
MJX environment differ only in the call that integrates the skeleton.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs import geometry, muscle
from envs.config import ArmConfig

N_PROPRIO = 12  # 6 normalised muscle lengths + 6 normalised muscle velocities
N_FEEDBACK = N_PROPRIO + 2  # + hand x, y
N_OBS = N_FEEDBACK + 2  # + target x, y (and, with go_cue, the cue last: ArmConfig.observation_size)
OBS_BOUND = 1e3  # explicit, generous observation bounds; real values lie well inside


def joint_torque(
    q: Any, qd: Any, activation: Any, load: Any, cfg: ArmConfig, xp: Any = np
) -> Any:
    """Generalised force (N m), (..., 2): muscles + endpoint load + the curl field, if any.

    ``q``, ``qd`` (..., 2); ``activation`` (..., 6); ``load`` (..., 2) N at the hand.
    """
    mp = cfg.muscles
    lmt = geometry.musculotendon_length(q, mp, xp)
    vmt = geometry.musculotendon_velocity(q, qd, mp, xp)
    force = muscle.muscle_force(activation, lmt, vmt, mp, xp)
    # A muscle pulls to shorten: torque = -moment_arm . force (MotorNet's sign convention).
    muscle_tau = -xp.sum(geometry.moment_arms(q, mp, xp) * force[..., None, :], axis=-1)
    return (
        muscle_tau
        + geometry.load_torque(q, hand_force(q, qd, load, cfg, xp), cfg.skeleton, xp)
    )


def field_force(q: Any, qd: Any, cfg: ArmConfig, xp: Any = np) -> Any:
    """The curl field's force on the hand (..., 2) N: ``b [[0, 1], [-1, 0]] v`` for a
    clockwise field, its negative for a counter-clockwise one, ``v = J(q) qd`` the hand's
    velocity and ``b = cfg.field_strength`` (N s/m). It is perpendicular to ``v``: it does
    no work, it only bends the path."""
    v = xp.sum(geometry.hand_jacobian(q, cfg.skeleton, xp) * qd[..., None, :], axis=-1)
    b = cfg.field_strength if cfg.field_direction == "clockwise" else -cfg.field_strength
    return b * xp.stack([v[..., 1], -v[..., 0]], axis=-1)


def hand_force(q: Any, qd: Any, load: Any, cfg: ArmConfig, xp: Any = np) -> Any:
    """Everything that pushes the hand (..., 2) N: the constant ``load`` and, when
    ``cfg.field_strength`` > 0, the curl field (:func:`field_force`)."""
    return load if cfg.field_strength == 0 else load + field_force(q, qd, cfg, xp)


def feedback(q: Any, qd: Any, cfg: ArmConfig, xp: Any = np) -> Any:
    """Undelayed, noiseless feedback (..., 14): muscle lengths / optimal length, muscle
    velocities / max velocity, hand x, y (m)."""
    mp = cfg.muscles
    length = muscle.muscle_length(geometry.musculotendon_length(q, mp, xp), mp, xp)
    velocity = geometry.musculotendon_velocity(q, qd, mp, xp)
    hand = geometry.hand_position(q, cfg.skeleton, xp)
    return xp.concatenate(
        [length / mp.optimal_length, velocity / mp.max_velocity, hand], axis=-1
    )


def observed_feedback(buffer: Any, cfg: ArmConfig, xp: Any = np) -> Any:
    """What the controller senses (..., 14) from the delay line ``buffer`` (..., D + 1, 14),
    oldest first, D = ``cfg.delay_steps``: the muscle lengths and velocities
    ``cfg.proprioceptive_steps`` steps old, the hand position ``cfg.visual_steps`` steps old."""
    newest = buffer.shape[-2] - 1
    return xp.concatenate([buffer[..., newest - cfg.proprioceptive_steps, :N_PROPRIO],
                           buffer[..., newest - cfg.visual_steps, N_PROPRIO:]], axis=-1)


def noise_scale(cfg: ArmConfig) -> np.ndarray:
    """Standard deviation of the observation noise per feedback entry (14,): proprioceptive
    then visual."""
    return np.concatenate([np.full(N_PROPRIO, cfg.proprioceptive_noise), np.full(2, cfg.visual_noise)])


def push_delay(buffer: Any, new: Any, xp: Any = np) -> Any:
    """Shift the feedback delay line (..., delay + 1, 14) by one step; oldest first."""
    return xp.concatenate([buffer[..., 1:, :], new[..., None, :]], axis=-2)


def loss_terms(hand: Any, target: Any, excitation: Any, xp: Any = np) -> dict[str, Any]:
    """Per-step loss terms (REFERENCE section 1), each (...,).

    position_error: Euclidean hand-target distance (m); abs_position_error: mean |err|
    over x, y; squared_position_error: mean((10 err)^2) / 10; effort: mean u^2.
    """
    err = hand - target
    return {
        # max(., 1e-12): a finite gradient where the hand sits exactly on the target
        "position_error": xp.sqrt(xp.maximum(xp.sum(err**2, axis=-1), 1e-12)),
        "abs_position_error": xp.mean(xp.abs(err), axis=-1),
        "squared_position_error": xp.mean((10.0 * err) ** 2, axis=-1) / 10.0,
        "effort": xp.mean(excitation**2, axis=-1),
    }


def displacement(hand: Any, start: Any, xp: Any = np) -> Any:
    """The hand's distance from its start position (...,) m (floored like position_error)."""
    return xp.sqrt(xp.maximum(xp.sum((hand - start) ** 2, axis=-1), 1e-12))


def reward(terms: dict[str, Any], cfg: ArmConfig, before_cue: Any = False, xp: Any = np) -> Any:
    """-(position_error + effort_weight * effort). With ``cfg.go_cue``, on a step whose
    action was taken before the cue (``before_cue``): -(go_cue_penalty * displacement +
    effort_weight * effort), ``terms["displacement"]`` the hand's distance from its start."""
    position = terms["position_error"]
    if cfg.go_cue:
        position = xp.where(before_cue, cfg.go_cue_penalty * terms["displacement"], position)
    return -(position + cfg.effort_weight * terms["effort"])
