"""Shared checks of the envs tests."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np


def assert_directional_derivatives(f: Callable[[jax.Array], jax.Array], grad: jax.Array, x: jax.Array,
                                   rng: np.random.Generator, eps: float, rtol: float, n: int = 3) -> None:
    """``grad`` (of ``f`` at ``x``) against central finite differences along ``n`` random
    unit directions: |<grad, d> - (f(x + eps d) - f(x - eps d)) / 2 eps| <= rtol |fd| + 1e-9."""
    for _ in range(n):
        d = jnp.asarray(rng.normal(size=x.shape))
        d = d / jnp.linalg.norm(d)
        fd = (f(x + eps * d) - f(x - eps * d)) / (2 * eps)
        an = jnp.vdot(grad, d)
        assert abs(float(an - fd)) <= rtol * abs(float(fd)) + 1e-9, (float(an), float(fd))
