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
