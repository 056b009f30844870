"""The optimiser of controller training: gradient clipping, then Adam.

Two clipping rules:

- ``global``: the gradient of all parameters together is rescaled to norm at most
  ``clip_norm`` (``optax.clip_by_global_norm``);
- ``per_variable``: each parameter array (a kernel, a bias, a combination weight) is
  rescaled on its own to norm at most ``clip_norm``. This is what Keras's ``clipnorm``
  does (``tf.clip_by_norm`` on each variable's gradient), and so what the original code
  of Rinaldo et al. (Adam(clipnorm=1.)) trained with.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from agents.config import CLIPS, SCHEDULES


def clip_by_norm_per_variable(max_norm: float) -> optax.GradientTransformation:
    """Rescale every leaf ``g`` of the update to ``g * max_norm / max(|g|, max_norm)``
    (``|g|`` its L2 norm over all its entries), independently of the other leaves."""

    def update(updates: Any, state: optax.EmptyState, params: Any = None) -> tuple[Any, optax.EmptyState]:
        del params

        def clip(g: jax.Array) -> jax.Array:
            norm = jnp.sqrt(jnp.sum(jnp.square(g)))
            return jnp.where(norm > max_norm, g * (max_norm / jnp.maximum(norm, 1e-30)), g)

        return jax.tree.map(clip, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def make_optimizer(learning_rate: float, clip_norm: float, clip: str = "global",
                   eps: float = 1e-8, schedule: str = "constant", total_steps: int = 0,
                   final_fraction: float = 0.05) -> optax.GradientTransformation:
    """Clipping (``clip`` one of ``CLIPS``) then Adam with ``eps`` (optax's default 1e-8;
    Keras's Adam uses 1e-7) and step size ``learning_rate``: constant, or (``cosine``)
    decayed along a half cosine to ``final_fraction * learning_rate`` over ``total_steps``
    updates (``optax.cosine_decay_schedule``), then held there."""
    if clip not in CLIPS:
        raise ValueError(f"unknown clipping rule {clip!r}; valid: {', '.join(CLIPS)}")
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")
    clipper = optax.clip_by_global_norm(clip_norm) if clip == "global" else clip_by_norm_per_variable(clip_norm)
    rate: Any = learning_rate
    if schedule == "cosine":
        if total_steps < 1:
            raise ValueError(f"a cosine schedule needs total_steps >= 1, got {total_steps}")
        rate = optax.cosine_decay_schedule(learning_rate, total_steps, alpha=final_fraction)
    return optax.chain(clipper, optax.adam(rate, eps=eps))
