"""Episode initial conditions of the three tasks: start posture, target and endpoint load;
and the external force on the hand step by step (the load from its onset, a perturbation).

Pure JAX; both environments draw their episodes here (the gymnasium env derives a JAX key
from its seeded generator), so a seed means the same thing on both faces.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from envs.config import ArmConfig
from envs.geometry import hand_position


class Episode(NamedTuple):
    """Initial conditions: ``joint_state`` (4,) = q (2, rad) and qd (2, rad/s);
    ``target`` (2,) m; ``load`` (2,) N; ``cue_step`` () int, the control step of the go cue
    (``cfg.go_cue``; 0, the cue from the start, otherwise and when not given)."""

    joint_state: jax.Array
    target: jax.Array
    load: jax.Array
    cue_step: Any = 0


def centre_out_targets(cfg: ArmConfig) -> np.ndarray:
    """The centre-out evaluation targets, (n_targets, 2) m, anticlockwise from +x."""
    start = hand_position(np.asarray(cfg.centre_out_start), cfg.skeleton)
    angles = 2 * np.pi * np.arange(cfg.centre_out_targets) / cfg.centre_out_targets
    return start + cfg.centre_out_radius * np.stack([np.cos(angles), np.sin(angles)], -1)


def _uniform_posture(key: jax.Array, cfg: ArmConfig) -> jax.Array:
    lo, hi = cfg.skeleton.q_lower, cfg.skeleton.q_upper
    return jax.random.uniform(key, (2,), minval=lo, maxval=hi)


def _as_joint_state(value: Any) -> jax.Array:
    js = jnp.asarray(value, dtype=jnp.result_type(float))
    if js.shape == (2,):
        return jnp.concatenate([js, jnp.zeros(2, js.dtype)])
    if js.shape != (4,):
        raise ValueError(
            f"joint_state must be [shoulder, elbow] (rad) or [shoulder, elbow, "
            f"shoulder_vel, elbow_vel], got shape {js.shape}"
        )
    return js


def _as_xy(value: Any, name: str) -> jax.Array:
    xy = jnp.asarray(value, dtype=jnp.result_type(float))
    if xy.shape != (2,):
        raise ValueError(f"{name} must be [x, y], got shape {xy.shape}")
    return xy


def sample_episode(
    key: jax.Array,
    cfg: ArmConfig,
    joint_state: Any = None,
    target: Any = None,
    load: Any = None,
    target_index: Any = None,
    cue_step: Any = None,
) -> Episode:
    """Draw one episode of ``cfg.task``; any given option overrides the draw.

    reach: start and target postures uniform in joint space, target in hand coordinates.
    hold: target = start hand position, load uniform in [-load_range, load_range]^2.
    centre_out: fixed start, target ``target_index`` (random if None) of the circle.
    With ``cfg.go_cue`` the cue step is drawn by :func:`draw_cue_step` (from ``fold_in(key, 3)``,
    so the start, target and load draws are those of the same key without the cue).
    """
    k_start, k_target, k_load = jax.random.split(key, 3)
    if joint_state is None:
        if cfg.task == "centre_out":
            q0 = jnp.asarray(cfg.centre_out_start, dtype=jnp.result_type(float))
        else:
            q0 = _uniform_posture(k_start, cfg)
        js = jnp.concatenate([q0, jnp.zeros_like(q0)])
    else:
        js = _as_joint_state(joint_state)

    if target is not None:
        tgt = _as_xy(target, "target")
    elif cfg.task == "reach":
        tgt = hand_position(_uniform_posture(k_target, cfg), cfg.skeleton, jnp)
    elif cfg.task == "hold":
        tgt = hand_position(js[:2], cfg.skeleton, jnp)
    else:
        targets = jnp.asarray(centre_out_targets(cfg), dtype=js.dtype)
        if target_index is None:
            target_index = jax.random.randint(k_target, (), 0, cfg.centre_out_targets)
        tgt = targets[target_index]

    if load is not None:
        ld = _as_xy(load, "load")
    else:
        r = cfg.load_range
        ld = jax.random.uniform(k_load, (2,), minval=-r, maxval=r, dtype=js.dtype)
    if cue_step is not None:
        cue = jnp.asarray(cue_step, jnp.int32)
    elif cfg.go_cue:
        cue = draw_cue_step(jax.random.fold_in(key, 3), cfg)
    else:
        cue = jnp.zeros((), jnp.int32)
    return Episode(js, tgt.astype(js.dtype), ld.astype(js.dtype), cue)


def draw_cue_step(key: jax.Array, cfg: ArmConfig) -> jax.Array:
    """The go cue's control step () int32, uniform over the whole steps of
    ``cfg.go_cue_window``, both ends included."""
    earliest, latest = cfg.go_cue_steps
    return jax.random.randint(key, (), earliest, latest + 1, jnp.int32)


def external_force(load: Any, step: Any, cfg: ArmConfig, xp: Any = jnp) -> Any:
    """The force on the hand (2,) N during control step ``step`` (0 = the first): the
    episode's ``load`` from ``cfg.load_onset`` on, plus the perturbation
    (``cfg.perturbation_force`` N at ``cfg.perturbation_angle`` degrees) from
    ``cfg.perturbation_onset`` for ``cfg.perturbation_duration``. The velocity-dependent
    curl field is added in ``envs.plant.hand_force``. Static settings: with no onset and no
    perturbation this is ``load`` itself."""
    out = load
    if cfg.load_onset_steps > 0:
        out = xp.where(step >= cfg.load_onset_steps, load, xp.zeros_like(load))
    if cfg.perturbation_force > 0:
        start = cfg.steps_of("perturbation_onset")
        on = (step >= start) & (step < start + cfg.steps_of("perturbation_duration"))
        angle = np.deg2rad(cfg.perturbation_angle)
        push = cfg.perturbation_force * np.array([np.cos(angle), np.sin(angle)])
        out = out + xp.where(on, xp.asarray(push, dtype=out.dtype), xp.zeros_like(out))
    return out
