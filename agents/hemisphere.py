"""One hemisphere: a stack of tanh layers (``mlp``) or GRU cells (``gru``), run layer by
layer so that a corpus callosum can join two of them between layers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from agents.callosum import pool_and_pad
from agents.config import CALLOSA, CELLS, check_choice, check_widths
from agents.config import INITS as INIT_NAMES

# kernel initialisers of the dense layers by name (agents.config.INITS: flax's default, or
# Keras's, the original code's)
INITS: dict[str, Callable[..., Any]] = {name: getattr(nn.initializers, name)() for name in INIT_NAMES}


def kernel_init(name: str) -> Callable[..., Any]:
    """The dense kernel initialiser ``name`` (a key of ``INITS``); biases start at zero."""
    if name not in INITS:
        raise ValueError(f"unknown kernel initialiser {name!r}; valid: {', '.join(INITS)}")
    return INITS[name]


class Hemisphere(nn.Module):
    """Hidden layers of one hemisphere. ``layer(i, x, h)`` computes layer ``i`` from its input
    ``x`` (and, for ``gru``, its previous state ``h``); ``cross(i, other)`` turns the other
    hemisphere's layer ``i - 1`` activity into a callosal input for layer ``i``.

    Parameters of the callosal projections into this hemisphere (``learned``) belong to it:
    the receiving side owns its synapses.
    """

    widths: tuple[int, ...]
    cell: str = "mlp"
    callosum: str = "none"
    initializer: str = "lecun_normal"

    def setup(self) -> None:
        check_widths(self.widths)
        check_choice("cell", self.cell, CELLS)
        check_choice("callosum", self.callosum, CALLOSA)
        if self.cell == "mlp":
            self.layers = [nn.Dense(w, kernel_init=kernel_init(self.initializer)) for w in self.widths]
        else:
            self.layers = [nn.GRUCell(w) for w in self.widths]
        if self.callosum == "learned":
            self.callosal = [nn.Dense(w, use_bias=False) for w in self.widths[:-1]]

    def layer(self, i: int, x: jax.Array, h: jax.Array | None = None) -> jax.Array:
        """Activity of layer ``i`` (..., widths[i])."""
        if self.cell == "mlp":
            return jnp.tanh(self.layers[i](x))
        new_h, _ = self.layers[i](h, x)
        return new_h

    def cross(self, i: int, other: jax.Array) -> jax.Array:
        """Callosal input to layer ``i >= 1`` from the other side's layer ``i - 1`` activity."""
        width = self.widths[i - 1]
        if self.callosum == "paper":
            return pool_and_pad(other, width)
        if self.callosum == "learned":
            return self.callosal[i - 1](other)
        return jnp.zeros(other.shape[:-1] + (width,), other.dtype)
