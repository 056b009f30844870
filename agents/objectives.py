"""Loss terms, the paper's objectives, and per-hemisphere gradient routing.

Terms (REFERENCE section 1, MotorNet's definitions), each a mean over episodes and steps:

- ``abs_position_error``: mean |hand - target| over x and y;
- ``squared_position_error``: mean((10 (hand - target))^2) / 10;
- ``effort``: mean u^2 over the six excitations;
- ``hidden_reg``: for every hidden layer of every hemisphere, mean(h^2) + 0.05 *
  mean((dh/dt)^2) (MotorNet's ``L2xDxRegularizer``, dh/dt by forward differences over
  the control step), summed over layers.

With the go cue (``task.go_cue``, :func:`go_cue_terms`) the two position terms count from
the cue on, and every trained objective gets ``go_cue_penalty`` times ``precue_movement``
(the mean distance of the hand from its start before the cue) on top.

Objectives are weighted sums of these terms. ``specialised`` is not one objective but two,
routed: the left (dominant) hemisphere's parameters receive the gradient of
``dominant`` only, the right (non-dominant) one's that of ``nondominant`` only, and the
shared parameters (combination weights, output layer) half of each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

DERIV_WEIGHT = 0.05
WEIGHTS: dict[str, dict[str, float]] = {
    "unspecialised": {"effort": 1.0, "abs_position_error": 2.5, "squared_position_error": 2.5,
                      "hidden_reg": 0.01},
    "dominant": {"abs_position_error": 5.0, "hidden_reg": 0.02},
    "nondominant": {"squared_position_error": 5.0, "effort": 2.0},
}
# objective name -> the weighted sums trained (one, or two routed ones)
OBJECTIVES: dict[str, tuple[str, ...]] = {
    "unspecialised": ("unspecialised",),
    "dominant": ("dominant",),
    "nondominant": ("nondominant",),
    "specialised": ("dominant", "nondominant"),
}
ROUTES = {"dominant": "left", "nondominant": "right"}
# what the activity regulariser acts on: the hemispheres' hidden activity (the paper's text)
# or the plant outputs the original Keras code's loss mapping gave it (see plant_reg)


# the order of the terms in a weight matrix (see weight_matrix)
TERMS: tuple[str, ...] = ("abs_position_error", "squared_position_error", "effort", "hidden_reg")


def weight_matrix(names: tuple[str, ...], dominant_effort: float = 0.0) -> jax.Array:
    """(len(names), len(TERMS)): row i holds the weights of objective ``names[i]`` over
    ``TERMS``, so that ``weight_matrix(names) @ term_vector`` gives every objective's value
    (as :func:`weighted`). Weights as data let models with different objectives share one
    compiled training step."""
    rows = [[objective_weights(n, dominant_effort).get(k, 0.0) for k in TERMS] for n in names]
    return jnp.asarray(rows, jnp.float32)


def objective_weights(name: str, dominant_effort: float = 0.0) -> dict[str, float]:
    """The weights of objective ``name`` over its terms (``WEIGHTS``), with
    ``dominant_effort`` added to the dominant objective's effort weight (0 in the paper)."""
    w = {k: float(v) for k, v in WEIGHTS[name].items()}
    if name == "dominant" and dominant_effort:
        w["effort"] = w.get("effort", 0.0) + float(dominant_effort)
    return w


def check_objective(name: str) -> str:
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; valid: {', '.join(OBJECTIVES)}")
    return name


def l2xdx(y: jax.Array, dt: float, axis: int) -> jax.Array:
    """MotorNet's ``L2xDxRegularizer``: mean(y^2) + 0.05 mean((dy/dt)^2), dy/dt by forward
    differences along the time ``axis``."""
    dy = jnp.diff(y, axis=axis) / dt
    return jnp.mean(y**2) + DERIV_WEIGHT * jnp.mean(dy**2)


def hidden_reg(hidden: Mapping[str, list[jax.Array]], dt: float) -> jax.Array:
    """Sum over layers of mean(h^2) + 0.05 mean((dh/dt)^2); each h is (..., steps, width)."""
    return sum((l2xdx(h, dt, axis=-2) for layers in hidden.values() for h in layers), jnp.zeros(()))


def plant_reg(plant: Mapping[str, jax.Array], dt: float) -> jax.Array:
    """The activity regulariser as the original code applied it, on plant outputs (see
    ``agents.original_loss``): over every array y (batch, steps, ...), mean(y^2) + 0.05
    mean((dy/dt)^2), dy/dt by forward differences along the steps axis; summed."""
    return sum((l2xdx(y, dt, axis=1) for y in plant.values()), jnp.zeros(()))


def loss_terms(hand: jax.Array, target: jax.Array, excitation: jax.Array,
               hidden: Mapping[str, list[jax.Array]], dt: float,
               plant: Mapping[str, jax.Array] | None = None) -> dict[str, jax.Array]:
    """The four terms of one batch of episodes. ``hand`` (..., steps, 2) m, ``target``
    (..., 2) or (..., steps, 2) m, ``excitation`` (..., steps, 6), ``hidden`` as returned
    by the controllers with a steps axis before the unit axis. With ``plant`` (name ->
    (batch, steps, ...)) the ``hidden_reg`` term acts on those plant outputs instead
    (:func:`plant_reg`), as the original code's did."""
    if target.ndim == hand.ndim - 1:
        target = target[..., None, :]
    err = hand - target
    return {
        "abs_position_error": jnp.mean(jnp.abs(err)),
        "squared_position_error": jnp.mean((10.0 * err) ** 2) / 10.0,
        "effort": jnp.mean(excitation**2),
        "hidden_reg": hidden_reg(hidden, dt) if plant is None else plant_reg(plant, dt),
    }


def _masked_mean(x: jax.Array, mask: jax.Array) -> jax.Array:
    """The mean of ``x`` over the entries where ``mask`` (same shape) is 1 (0 if none)."""
    return jnp.sum(x * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def go_cue_terms(hand: jax.Array, start: jax.Array, target: jax.Array, cue_step: jax.Array
                 ) -> dict[str, jax.Array]:
    """The terms that the go cue changes, from ``hand`` (B, T, 2) m after each step, ``start``
    and ``target`` (B, 2) m and ``cue_step`` (B,) int. Step t (``hand[:, t]``, the hand after
    the action taken on the observation of step t) is before the cue when t < cue_step.

    ``abs_position_error`` and ``squared_position_error``: as in :func:`loss_terms`, averaged
    over the steps from the cue on (t >= cue_step) of all episodes together;
    ``precue_movement``: the mean over the steps before the cue of all episodes together of
    the hand's distance from its start ``|hand[:, t] - start|`` (m; 0 when no episode has a
    step before its cue)."""
    steps = jnp.arange(hand.shape[-2])
    before = (steps < cue_step[..., None]).astype(hand.dtype)  # (B, T)
    after = 1.0 - before
    err = hand - target[..., None, :]
    moved = jnp.sqrt(jnp.maximum(jnp.sum((hand - start[..., None, :]) ** 2, axis=-1), 1e-12))
    return {"abs_position_error": _masked_mean(jnp.mean(jnp.abs(err), axis=-1), after),
            "squared_position_error": _masked_mean(jnp.mean((10.0 * err) ** 2, axis=-1), after) / 10.0,
            "precue_movement": _masked_mean(moved, before)}


def weighted(terms: Mapping[str, jax.Array], name: str, dominant_effort: float = 0.0) -> jax.Array:
    """The objective ``name`` (a key of ``WEIGHTS``) from its terms; ``dominant_effort``
    adds that weight of ``effort`` to the dominant objective (0 in the paper)."""
    return sum(w * terms[k] for k, w in objective_weights(name, dominant_effort).items())


def route(grads: Mapping[str, Any]) -> Any:
    """Combine the gradients of the two specialised objectives (``{"dominant": g_d,
    "nondominant": g_n}``, each a ``{"params": ...}`` tree of a bilateral controller):
    ``left`` <- g_d, ``right`` <- g_n, everything else <- 0.5 (g_d + g_n)."""
    g_d, g_n = grads["dominant"]["params"], grads["nondominant"]["params"]
    out = {}
    for name in g_d:
        if name == ROUTES["dominant"]:
            out[name] = g_d[name]
        elif name == ROUTES["nondominant"]:
            out[name] = g_n[name]
        else:
            out[name] = jax.tree.map(lambda a, b: 0.5 * (a + b), g_d[name], g_n[name])
    return {"params": out}
