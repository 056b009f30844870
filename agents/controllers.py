"""Controllers of the arm: two hemispheres joined by a corpus callosum, or one alone.

Both map an observation (..., 16) to six muscle excitations in (0, 1), step by step:
``carry, u, hidden = model.apply(params, carry, obs, lesion=...)``; ``model.initial_carry``
gives the zero carry (GRU states and callosal delay lines). ``hidden`` holds each
hemisphere's layer activities, for the activity regulariser and for analysis.

Bilateral (Rinaldo et al. 2024): both hemispheres see the same observation; their last
layers are combined as ``w_left * h_left + w_right * h_right`` (trainable, non-negative,
initially 0.5; non-negativity is kept by projection after each update, as the paper's Keras
constraint did), then a shared ``Dense(6, sigmoid)`` gives the excitations.

Lesions act at evaluation, on trained parameters: ``silence_left`` / ``silence_right``
zero every activity of that hemisphere (so it neither drives the output nor crosses the
callosum); ``cut_callosum`` removes the callosal input of both sides. The original code's
lesions: ``input_left`` / ``input_right`` (its ``highleft`` / ``highright``) zero the
observation a hemisphere receives (its biases still act and its activity still crosses
the callosum); ``output_left`` / ``output_right`` (``lowleft`` / ``lowright``) zero only
its last layer's output, before the combination.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from agents.callosum import delayed
from agents.config import CALLOSA, CELLS, check_choice, check_widths
from agents.hemisphere import Hemisphere, kernel_init

N_MUSCLES = 6
LESIONS: tuple[str, ...] = ("none", "silence_left", "silence_right", "cut_callosum",
                             "input_left", "input_right", "output_left", "output_right")
SIDES: tuple[str, ...] = ("left", "right")

Carry = dict[str, Any]


def check_lesion(lesion: str) -> str:
    if lesion not in LESIONS:
        raise ValueError(f"unknown lesion {lesion!r}; valid: {', '.join(LESIONS)}")
    return lesion


def lesion_mask(lesion: str) -> jax.Array:
    """The lesion as data, (7,) = (keep left, keep right, keep callosum, keep left input,
    keep right input, keep left output, keep right output), so that one compiled evaluation
    serves every lesion."""
    check_lesion(lesion)
    return jnp.asarray([lesion != "silence_left", lesion != "silence_right", lesion != "cut_callosum",
                        lesion != "input_left", lesion != "input_right",
                        lesion != "output_left", lesion != "output_right"], jnp.float32)


def _zeros(batch_shape: tuple[int, ...], width: int, dtype: Any) -> jax.Array:
    return jnp.zeros(tuple(batch_shape) + (width,), dtype)


class BilateralController(nn.Module):
    """Two hemispheres, a corpus callosum (``none``, ``paper``, ``learned``; delayed by
    ``callosal_delay`` control steps) and a shared output layer. Parameters: ``left``,
    ``right`` (each hemisphere's own), ``w_left``, ``w_right`` and ``output`` (shared)."""

    widths: tuple[int, ...] = (64, 64)
    cell: str = "mlp"
    callosum: str = "paper"
    callosal_delay: int = 0
    n_outputs: int = N_MUSCLES
    initializer: str = "lecun_normal"

    def setup(self) -> None:
        check_widths(self.widths)
        check_choice("cell", self.cell, CELLS)
        check_choice("callosum", self.callosum, CALLOSA)
        if int(self.callosal_delay) < 0:
            raise ValueError(f"callosal_delay must be >= 0 control steps, got {self.callosal_delay}")
        self.left = Hemisphere(self.widths, self.cell, self.callosum, self.initializer)
        self.right = Hemisphere(self.widths, self.cell, self.callosum, self.initializer)
        self.w_left = self.param("w_left", nn.initializers.constant(0.5), ())
        self.w_right = self.param("w_right", nn.initializers.constant(0.5), ())
        self.output = nn.Dense(self.n_outputs, kernel_init=kernel_init(self.initializer))

    def initial_carry(self, batch_shape: tuple[int, ...] = (), dtype: Any = jnp.float32) -> Carry:
        """Zero GRU states (``gru``) and zero callosal delay lines, per side."""
        widths = check_widths(self.widths)
        gru = {s: [_zeros(batch_shape, w, dtype) for w in widths] if self.cell == "gru" else []
               for s in SIDES}
        d = int(self.callosal_delay)
        lines = {s: [jnp.zeros(tuple(batch_shape) + (d, w), dtype) for w in widths[:-1]]
                 if self.callosum != "none" else [] for s in SIDES}
        return {"gru": gru, "callosum": lines}

    def __call__(self, carry: Carry, obs: jax.Array, lesion: str | jax.Array = "none"
                 ) -> tuple[Carry, jax.Array, dict[str, list[jax.Array]]]:
        """One control step. ``lesion``: a name from ``LESIONS`` or its ``lesion_mask``."""
        mask = lesion_mask(lesion) if isinstance(lesion, str) else jnp.asarray(lesion)
        keep = {"left": mask[0], "right": mask[1]}
        linked = self.callosum != "none"
        hemis = {"left": self.left, "right": self.right}
        x = {"left": obs * mask[3], "right": obs * mask[4]}
        hidden: dict[str, list[jax.Array]] = {"left": [], "right": []}
        gru = {s: list(carry["gru"][s]) for s in SIDES}
        lines = {s: list(carry["callosum"][s]) for s in SIDES}
        for i in range(len(self.widths)):
            if i > 0 and linked:
                crossing = {}
                for s in SIDES:  # what s sends across now, and its delay line
                    crossing[s], lines[s][i - 1] = delayed(lines[s][i - 1], hidden[s][i - 1])
                x = {"left": x["left"] + mask[2] * self.left.cross(i, crossing["right"]),
                     "right": x["right"] + mask[2] * self.right.cross(i, crossing["left"])}
            for s in SIDES:
                h = hemis[s].layer(i, x[s], gru[s][i] if self.cell == "gru" else None) * keep[s]
                hidden[s].append(h)
                if self.cell == "gru":
                    gru[s][i] = h
            x = {s: hidden[s][i] for s in SIDES}
        combined = (self.w_left * mask[5] * hidden["left"][-1]
                    + self.w_right * mask[6] * hidden["right"][-1])
        u = nn.sigmoid(self.output(combined))
        return {"gru": gru, "callosum": lines}, u, hidden


class UnilateralController(nn.Module):
    """One hemisphere (``hemisphere``) of the same size and an output layer (``output``)."""

    widths: tuple[int, ...] = (64, 64)
    cell: str = "mlp"
    n_outputs: int = N_MUSCLES
    initializer: str = "lecun_normal"

    def setup(self) -> None:
        self.hemisphere = Hemisphere(check_widths(self.widths), check_choice("cell", self.cell, CELLS), "none", self.initializer)
        self.output = nn.Dense(self.n_outputs, kernel_init=kernel_init(self.initializer))

    def initial_carry(self, batch_shape: tuple[int, ...] = (), dtype: Any = jnp.float32) -> Carry:
        widths = check_widths(self.widths)
        return {"gru": [_zeros(batch_shape, w, dtype) for w in widths] if self.cell == "gru" else []}

    def __call__(self, carry: Carry, obs: jax.Array, lesion: str = "none"
                 ) -> tuple[Carry, jax.Array, dict[str, list[jax.Array]]]:
        if check_lesion(lesion) != "none":
            raise ValueError(f"lesion {lesion!r} needs a bilateral controller; a unilateral "
                             f"controller takes only lesion='none'")
        x, gru, hidden = obs, list(carry["gru"]), []
        for i in range(len(self.widths)):
            h = self.hemisphere.layer(i, x, gru[i] if self.cell == "gru" else None)
            hidden.append(h)
            if self.cell == "gru":
                gru[i] = h
            x = h
        u = nn.sigmoid(self.output(x))
        return {"gru": gru}, u, {"hemisphere": hidden}


def project_nonnegative(params: Any) -> Any:
    """Clip the combination weights ``w_left``, ``w_right`` at 0 (no-op for unilateral)."""
    inner = params["params"]
    if "w_left" not in inner:
        return params
    inner = {**inner, "w_left": jnp.maximum(inner["w_left"], 0.0),
             "w_right": jnp.maximum(inner["w_right"], 0.0)}
    return {**params, "params": inner}
