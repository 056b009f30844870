"""Evaluation of trained controllers (several seeds at once), lesions included.

``evaluate(model, params, sampler, task, n_episodes, key, lesion)`` runs the controllers
of all seeds (``params`` with a leading seed axis) on the same ``n_episodes`` episodes of
``task`` (``centre_out``: its targets in turn) and returns per-seed, per-episode numbers
(:func:`episode_metrics`; the movement's shape: :mod:`agents.kinematics`) plus the trajectories. ``aggregate`` turns those into the reported
means, 95 % confidence intervals and per-seed values.
"""

from __future__ import annotations

import dataclasses
import warnings
from functools import partial
from typing import Any

import jax
import numpy as np

from agents.controllers import BilateralController, lesion_mask
from agents.kinematics import GO_CUE_KINEMATICS, KINEMATICS, go_cue_kinematics, kinematics
from agents.rollout import EpisodeSampler, Trajectory, closed_loop
from brain.stats import t_interval
from envs.config import ArmConfig
from envs.functional import FunctionalArmEnv

METRICS: tuple[str, ...] = ("position_error", "final_position_error", "final_phase_error",
                            "time_to_target", "reached", "load_drift", "max_deviation", "effort") + KINEMATICS
MEDIANS: tuple[str, ...] = ("time_to_target", "straightness")  # skewed: also reported as per-seed medians
FINAL_PHASE = 0.1  # s, the final phase of an episode
REACH_RADIUS = 0.01  # m, "at the target"


def episode_metrics(error: Any, hand: Any, start: Any, load: Any, excitation: Any,
                    control_dt: float) -> dict[str, np.ndarray]:
    """Per-episode numbers from trajectories with leading axes ``(...)`` (e.g. seeds, episodes).

    ``error`` (..., T) hand-target distance after each step, m; ``hand`` (..., T, 2) m;
    ``start`` (..., 2) m; ``load`` (..., 2) N; ``excitation`` (..., T, n_muscles).
    Returns, each (...): ``position_error`` (mean error, m), ``final_position_error`` (last
    step, m), ``final_phase_error`` (mean over the last round(0.1 s / control_dt) steps, m),
    ``time_to_target`` ((first step within 1 cm + 1) * control_dt, s; NaN if never),
    ``reached`` (1.0/0.0), ``load_drift`` (final-phase mean hand displacement from the start
    along the load's unit vector, m, positive: yielded to the load; NaN without load),
    ``max_deviation`` (largest hand-start distance, m) and ``effort`` (mean u^2).
    """
    err = np.asarray(error, np.float64)
    hand, start = np.asarray(hand, np.float64), np.asarray(start, np.float64)
    load = np.asarray(load, np.float64)
    n_final = min(err.shape[-1], max(1, int(round(FINAL_PHASE / control_dt))))
    within = err <= REACH_RADIUS
    reached = within.any(axis=-1)
    first = np.argmax(within, axis=-1)
    displacement = hand[..., -n_final:, :].mean(axis=-2) - start
    load_norm = np.linalg.norm(load, axis=-1)
    has_load = load_norm > 0
    unit = load / np.where(has_load, load_norm, 1.0)[..., None]
    return {"position_error": err.mean(axis=-1),
            "final_position_error": err[..., -1],
            "final_phase_error": err[..., -n_final:].mean(axis=-1),
            "time_to_target": np.where(reached, (first + 1) * control_dt, np.nan),
            "reached": reached.astype(np.float64),
            "load_drift": np.where(has_load, (displacement * unit).sum(axis=-1), np.nan),
            "max_deviation": np.linalg.norm(hand - start[..., None, :], axis=-1).max(axis=-1),
            "effort": (np.asarray(excitation, np.float64) ** 2).mean(axis=(-1, -2))}


@partial(jax.jit, static_argnames=("model", "env"))
def _run(model: Any, params: Any, env: Any, state0: Any, mask: jax.Array) -> Trajectory:
    # the lesion is data (a mask), so one compilation serves every lesion and task
    lesion = mask if isinstance(model, BilateralController) else "none"
    return jax.vmap(lambda p: closed_loop(model, p, env, state0, lesion=lesion))(params)


def evaluate(model: Any, params: Any, sampler: EpisodeSampler, task: str, n_episodes: int,
             key: jax.Array, lesion: str = "none", base_mask: jax.Array | None = None
             ) -> tuple[dict[str, np.ndarray], Trajectory]:
    """Per-seed, per-episode :data:`METRICS` (see :func:`episode_metrics` and, for the shape
    of the movement, :func:`agents.kinematics.kinematics`; with the go cue also
    :data:`agents.kinematics.GO_CUE_KINEMATICS`), each (seeds, episodes), and the trajectories (leading axes seeds, episodes). ``base_mask``: a lesion
    mask the model was trained with (``cut_callosum`` for a ``_nocc`` variant trained on a
    callosal model), applied on top of ``lesion``."""
    if lesion != "none" and not isinstance(model, BilateralController):
        raise ValueError(f"lesion {lesion!r} needs a bilateral controller")
    state0 = sampler.draw(key, int(n_episodes), task)
    mask = lesion_mask(lesion) if base_mask is None else lesion_mask(lesion) * base_mask
    traj = _run(model, params, sampler.env, state0, mask)
    numbers = episode_metrics(traj.position_error, traj.hand, traj.start, traj.load,
                              traj.excitation, sampler.env.cfg.control_dt)
    numbers |= kinematics(traj.hand, traj.start, traj.target, sampler.env.cfg.control_dt)
    if getattr(sampler.env.cfg, "go_cue", False):  # reaction time and movement before the cue
        numbers |= go_cue_kinematics(traj.hand, traj.start, traj.cue_step, sampler.env.cfg.control_dt)
    return numbers, traj


def perturbed_config(cfg: ArmConfig, force: float, angle: float, onset: float,
                     duration: float | None) -> ArmConfig:
    """``cfg`` with a force of ``force`` N on the hand at ``angle`` degrees from ``onset`` s
    for ``duration`` s (None: to the episode's end, a step); ``ArmConfig``'s own checks judge
    it (whole control steps, an onset inside the episode)."""
    if duration is None:
        duration = max(cfg.episode_steps * cfg.control_dt - onset, cfg.control_dt)
    return dataclasses.replace(cfg, perturbation_force=float(force), perturbation_angle=float(angle),
                               perturbation_onset=float(onset), perturbation_duration=float(duration))


def evaluate_perturbation(model: Any, params: Any, sampler: EpisodeSampler, task: str, n_episodes: int,
                          key: jax.Array, envs: list[FunctionalArmEnv], lesion: str = "none",
                          base_mask: jax.Array | None = None) -> dict[str, Any]:
    """The controllers of all seeds on the same ``n_episodes`` episodes of ``task``, with the
    same sensory and motor noise (the noise keys are part of each episode's start state),
    once unperturbed (``sampler.env``) and once on each arm of ``envs`` (the same arm with
    a perturbation, :func:`perturbed_config`; build them once: each compiles its rollout).

    Returns ``response``: :data:`agents.perturbation.RESPONSE` per seed, direction and
    episode (seeds, len(envs), episodes); ``displacement``: the mean over seeds and
    episodes of the distance between the perturbed and the unperturbed hand after each step
    (len(envs), T), m; ``onsets``: each perturbation's first control step."""
    from agents.perturbation import displacement, response

    if lesion != "none" and not isinstance(model, BilateralController):
        raise ValueError(f"lesion {lesion!r} needs a bilateral controller")
    state0 = sampler.draw(key, int(n_episodes), task)
    mask = lesion_mask(lesion) if base_mask is None else lesion_mask(lesion) * base_mask
    free = _run(model, params, sampler.env, state0, mask)
    hand_free, u_free = np.asarray(free.hand), np.asarray(free.excitation)
    per: dict[str, list[np.ndarray]] = {}
    gaps, onsets = [], []
    for env in envs:
        cfg = env.cfg
        traj = _run(model, params, env, state0, mask)
        hand, u = np.asarray(traj.hand), np.asarray(traj.excitation)
        onset = cfg.steps_of("perturbation_onset")
        for name, values in response(hand, hand_free, u, u_free, onset, cfg.control_dt).items():
            per.setdefault(name, []).append(values)
        gaps.append(displacement(hand, hand_free).mean(axis=(0, 1)))
        onsets.append(onset)
    return {"response": {k: np.stack(v, axis=1) for k, v in per.items()},
            "displacement": np.stack(gaps), "onsets": onsets}


def _finite(x: np.ndarray) -> np.ndarray:
    return x[np.isfinite(x)]


def _per_seed(values: np.ndarray, reduce: Any = np.nanmean) -> np.ndarray:
    """(seeds, episodes) -> (seeds,), NaN episodes left out (NaN for a seed with none)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN seeds: NaN, said so
        return reduce(np.asarray(values, float), axis=-1)


def mean_ci(values: np.ndarray) -> tuple[float, float, str]:
    """Mean of ``values`` (seeds, episodes) and the half-width of its 95 % t-interval over
    seed means (over episodes when there is one seed), and which it was. NaN values (and
    seeds with no finite value) are left out; the mean is NaN when nothing is left."""
    values = np.asarray(values, float)
    per_seed = _per_seed(values)
    sample, over = (_finite(per_seed), "seeds") if per_seed.size > 1 else (_finite(values), "episodes")
    mean, half, _ = t_interval(sample)
    return mean, half, over


def _json(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def aggregate(numbers: dict[str, np.ndarray]) -> dict[str, Any]:
    """The reported numbers of one variant on one task, JSON-ready (None where NaN)::

        {metric: mean over seeds, metric_ci95: 95 % t half-width, ..., ci_over: seeds|episodes,
         per_seed: {metric: [per-seed mean over episodes, ...]}}

    for every metric of :data:`METRICS` and, where ``numbers`` has them (the go cue), of
    :data:`agents.kinematics.GO_CUE_KINEMATICS` (NaN episodes left out: ``time_to_target`` is the
    mean over the episodes that reached the target, ``load_drift`` over loaded episodes;
    ``reached`` and ``single_peak_fraction`` are fractions), plus ``<m>_median`` for each of
    :data:`MEDIANS`: per seed the median over the episodes (time to target: the reached ones),
    then as above (robust to a few slow or looping episodes; with one seed, that seed's median
    and no interval).
    """
    out: dict[str, Any] = {}
    per_seed: dict[str, list[float | None]] = {}
    for name in METRICS + tuple(k for k in GO_CUE_KINEMATICS if k in numbers):
        mean, half, out["ci_over"] = mean_ci(numbers[name])
        out[name], out[f"{name}_ci95"] = _json(mean), _json(half)
        per_seed[name] = [_json(v) for v in _per_seed(numbers[name])]
    for name in MEDIANS:
        medians = _per_seed(numbers[name], np.nanmedian)
        mean, half, _ = t_interval(_finite(medians)) if medians.size > 1 else (medians[0], np.nan, 1)
        out[f"{name}_median"], out[f"{name}_median_ci95"] = _json(mean), _json(half)
        per_seed[f"{name}_median"] = [_json(v) for v in medians]
    out["per_seed"] = per_seed
    return out
