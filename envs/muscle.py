"""Rigid-tendon Hill muscle: first-order activation dynamics and force-length-velocity.

A transcription of MotorNet's ``RigidTendonHillMuscle`` (after Kistemaker, Wong & Gribble
2010). The functions are written against an array namespace ``xp`` (``numpy`` for the
MuJoCo C environment, ``jax.numpy`` for the differentiable one) so that both faces of the
environment run literally the same muscle. Branches are computed on clamped inputs so that
``jnp.where`` never differentiates through a division by zero.

Shapes: ``(..., 6)`` over muscles; any leading batch axes broadcast.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.params import MuscleParams

# Constants of the Kistemaker force-velocity curve (MotorNet names).
_S_AS = 0.001
_F_ISO_N_DEN = 0.66**2
_Q_CRIT = 0.3
_MIN_FLCE = 0.01


def activation_step(
    activation: Any, excitation: Any, dt: float, p: MuscleParams, xp: Any = np
) -> Any:
    """Advance the activation ODE by ``dt`` (s) (Thelen 2003, as MotorNet and MuJoCo).

    ``da/dt = (u - a) / tau`` with ``tau = tau_act (0.5 + 1.5 a)`` when ``u > a`` and
    ``tau_deact / (0.5 + 1.5 a)`` otherwise. ``tau`` is frozen over the step and the linear
    ODE solved exactly (exponential Euler): unlike explicit Euler (MotorNet), this stays
    accurate and cannot overshoot when ``dt`` is close to ``tau`` (0.0075-0.1 s).
    ``activation``, ``excitation``: (..., 6), clipped to ``[min_activation, 1]``.
    """
    u = xp.clip(excitation, p.min_activation, 1.0)
    a = xp.clip(activation, p.min_activation, 1.0)
    scale = 0.5 + 1.5 * a
    tau = xp.where(u > a, p.tau_activation * scale, p.tau_deactivation / scale)
    return u + (a - u) * xp.exp(-dt / tau)


def muscle_length(musculotendon_length: Any, p: MuscleParams, xp: Any = np) -> Any:
    """Fibre length (m) of a rigid-tendon muscle: ``max(L_mt - L_tendon, 0)``, (..., 6)."""
    return xp.maximum(musculotendon_length - p.tendon_length, 0.0)


def muscle_force(
    activation: Any,
    musculotendon_length: Any,
    musculotendon_velocity: Any,
    p: MuscleParams,
    xp: Any = np,
) -> Any:
    """Muscle tension (N), active force-length-velocity plus passive element, (..., 6).

    ``activation`` in [min_activation, 1]; lengths in m; velocities in m/s (positive =
    lengthening).
    """
    flpe, _, active = force_terms(activation, musculotendon_length, musculotendon_velocity, p, xp)
    return (active + flpe) * p.max_isometric_force


def force_terms(
    activation: Any,
    musculotendon_length: Any,
    musculotendon_velocity: Any,
    p: MuscleParams,
    xp: Any = np,
) -> tuple[Any, Any, Any]:
    """Normalised force terms, each (..., 6): passive force-length ``flpe``, active
    force-length ``flce`` and active force-length-velocity ``active`` (force / max isometric
    force = ``active + flpe``). Arguments as :func:`muscle_force`.
    """
    length = muscle_length(musculotendon_length, p, xp)
    strain = xp.maximum((length - p.slack_length) / p.optimal_length, 0.0)
    len_n = length / p.optimal_length
    vel_n = musculotendon_velocity / p.max_velocity
    a = activation

    flpe = p.k_pe * strain**2
    flce = xp.maximum(1.0 + (-(len_n**2) + 2.0 * len_n - 1.0) / _F_ISO_N_DEN, _MIN_FLCE)
    a_rel = xp.where(len_n > 1.0, 0.41 * flce, 0.41)
    a_low = xp.minimum(a, _Q_CRIT)
    b_rel = xp.where(
        a < _Q_CRIT, 5.2 * (1.0 - 0.9 * ((a_low - _Q_CRIT) / (5e-3 - _Q_CRIT))) ** 2, 5.2
    )
    dfdvcon0 = a * (flce + a_rel) / b_rel  # inverse slope at the isometric point
    f_x_a = flce * a

    # The eccentric branch is singular where s_as - 2 dfdvcon0 crosses zero (tiny activation
    # on a muscle far from its optimal length, where the force is ~0 anyway): keep it < 0.
    p_den = xp.minimum(_S_AS - 2.0 * dfdvcon0, -1e-6)
    p_nom = 0.5 * f_x_a
    p1 = -p_nom / p_den
    p2 = p_nom**2 / p_den
    p3 = -1.5 * f_x_a

    v_con = xp.minimum(vel_n, 0.0)  # shortening branch
    v_ecc = xp.maximum(vel_n, 0.0)  # lengthening branch
    concentric = (v_con * a * a_rel + f_x_a * b_rel) / (b_rel - v_con)
    eccentric = (-p1 * p3 + p1 * _S_AS * v_ecc + p2 - p3 * v_ecc + _S_AS * v_ecc**2) / (
        p1 + v_ecc
    )
    active = xp.maximum(xp.where(vel_n < 0.0, concentric, eccentric), 0.0)
    return flpe, flce, active
