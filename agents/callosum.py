"""The corpus-callosum link between two hemispheres: what crosses, and when.

Two kinds of link feed the other hemisphere's previous-layer activity into the input of
a hemisphere's next layer (from the second hidden layer on), by addition:

- ``paper`` (Rinaldo et al. 2024): the other side's activity max-pooled by 2 and
  zero-padded at the front back to the layer's width; no weights.
- ``learned``: a trainable linear projection (no bias) of the other side's activity.

A callosal delay of ``d`` control steps makes the crossing activity ``d`` steps old; the
delay line lives in the controller's carry.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def pool_and_pad(activity: jax.Array, width: int) -> jax.Array:
    """Max-pool the last axis by 2 (an odd last unit is dropped, as Keras' ``MaxPooling1D``
    does) and zero-pad at the front to ``width``: the paper's weightless callosal transfer."""
    n = activity.shape[-1] // 2 * 2
    pooled = jnp.max(activity[..., :n].reshape(*activity.shape[:-1], n // 2, 2), axis=-1)
    if pooled.shape[-1] > width:
        raise ValueError(f"callosal input of width {pooled.shape[-1]} exceeds layer width {width}")
    pad = [(0, 0)] * (pooled.ndim - 1) + [(width - pooled.shape[-1], 0)]
    return jnp.pad(pooled, pad)


def delayed(buffer: jax.Array, new: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Push ``new`` (..., width) into a delay line (..., delay, width), oldest first; return
    the oldest entry (what crosses now) and the shifted line. A zero-length line passes
    ``new`` straight through."""
    if buffer.shape[-2] == 0:
        return new, buffer
    line = jnp.concatenate([buffer, new[..., None, :]], axis=-2)
    return line[..., 0, :], line[..., 1:, :]
