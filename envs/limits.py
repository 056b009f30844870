"""Joint limits as a projection after each physics step (MotorNet's rule).

MJX's constraint solver runs a ``while_loop`` that reverse-mode differentiation cannot pass,
so the solver is disabled and limits are enforced here, identically for MuJoCo C and MJX:
an angle past a limit is put back on it, and a velocity that points further out is zeroed
(an inelastic stop). Both are ``clip``/``where`` operations, differentiable almost
everywhere: gradients flow unchanged inside the range, and a joint resting against a stop
passes no gradient for pushing further into it, as for a real hard stop.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.params import SkeletonParams


def enforce_limits(q: Any, qd: Any, p: SkeletonParams, xp: Any = np) -> tuple[Any, Any]:
    """Project joint angles (..., 2) rad into range and stop outward velocities (..., 2)."""
    at_lower = (q <= p.q_lower) & (qd < 0)
    at_upper = (q >= p.q_upper) & (qd > 0)
    qd = xp.where(at_lower | at_upper, 0.0, qd)
    return xp.clip(q, p.q_lower, p.q_upper), qd


JOINT_RANGE_TOL = 1e-9  # rad: a start angle this far beyond a joint's range still counts as inside


def check_joint_state(joint_state: Any, p: SkeletonParams) -> None:
    """Refuse start angles (..., 2 or 4: angles first) outside the joint range: the arm would
    be put on a stop at its first step, with its outward speed lost."""
    q = np.asarray(joint_state, dtype=float)[..., :2]
    outside = (q < p.q_lower - JOINT_RANGE_TOL) | (q > p.q_upper + JOINT_RANGE_TOL)
    if np.any(outside):
        first = tuple(np.argwhere(outside)[0])  # the first angle outside; its last index is the joint
        joint = int(first[-1])
        raise ValueError(
            f"joint_state: angle {q[first]:.4g} rad of the {('shoulder', 'elbow')[joint]} is outside its "
            f"range [{p.q_lower[joint]:.4g}, {p.q_upper[joint]:.4g}] rad "
            f"({int(outside.any(axis=-1).sum())} start state(s) outside)")


def check_target(target: Any, p: SkeletonParams, tol: float = 1e-6) -> None:
    """Refuse targets (..., 2) m the hand cannot reach within the joint ranges (the elbow
    range starts at 0, so each reachable point has one joint solution: solve for it)."""
    t = np.asarray(target, dtype=float)
    r2 = np.sum(t**2, axis=-1)
    cos_e = (r2 - p.l1**2 - p.l2**2) / (2 * p.l1 * p.l2)
    e = np.arccos(np.clip(cos_e, -1.0, 1.0))
    s = np.arctan2(t[..., 1], t[..., 0]) - np.arctan2(p.l2 * np.sin(e), p.l1 + p.l2 * np.cos(e))
    s = np.where(s < p.q_lower[0] - tol, s + 2 * np.pi, s)
    ok = ((np.abs(cos_e) <= 1 + tol) & (e <= p.q_upper[1] + tol) & (e >= p.q_lower[1] - tol)
          & (s >= p.q_lower[0] - tol) & (s <= p.q_upper[0] + tol))
    if not np.all(ok):
        bad = t.reshape(-1, 2)[~np.asarray(ok).reshape(-1)]
        raise ValueError(f"target: {bad[0].round(4).tolist()} m is out of the hand's reach within the joint "
                         f"ranges ({len(bad)} target(s); the hand reaches at most {p.l1 + p.l2:.3f} m from "
                         f"the shoulder at (0, 0))")


def max_load(muscles: Any) -> float:
    """The largest endpoint load (N per axis) the gymnasium faces accept: the strongest
    muscle's maximal isometric force (1549 N for the default arm). The muscles hold about
    100 N at the hand, so a load beyond this bound is no experiment the arm can take part in
    (a 1e9 N load only overflows the integrator)."""
    return float(np.max(np.asarray(muscles.max_isometric_force)))


def check_load(load: Any, muscles: Any) -> None:
    """Refuse endpoint loads (..., 2) N above :func:`max_load` in magnitude on an axis."""
    bound = max_load(muscles)
    worst = float(np.max(np.abs(np.asarray(load, dtype=float)))) if np.size(load) else 0.0
    if worst > bound:
        raise ValueError(f"reset option 'load': {worst:g} N on an axis is more than the bound {bound:g} N (the "
                         f"strongest muscle's maximal isometric force)")
