"""Task kind ``perturbation`` (``task=perturbation task.controllers=<run>``): force pulses or
steps on the hand during reach and during hold, on the trained controllers of a finished motor
run, and the dynamic test of "the non-dominant system is better at positional stability".

The controllers, their seeds and the arm are the run's (:mod:`experiments.controllers`). For
each evaluation task, variant and direction the same episodes run with and without the force
(:func:`agents.evaluation.evaluate_perturbation`, same noise); the measures are
:func:`agents.perturbation.response`'s, summarised per seed over every direction's episodes
(:func:`agents.perturbation.summary`), and the claim is
:func:`agents.claims.stability_claim`'s. Without ``task.controllers`` the task refuses (it
trains nothing: run ``task=reach`` or ``task=hold`` first).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from agents.perturbation import summary
from experiments.settings import RunSettings

log = logging.getLogger("callosum")
WITHIN = ("silence_left", "silence_right")  # the lesions of task.lesions: one hemisphere left


def check(settings: RunSettings) -> Any:
    """The up-front check: ``task.controllers`` names a finished motor run with every
    checkpoint, and the perturbation fits that run's arm (whole control steps, an onset
    inside the episode). Returns the run (:class:`experiments.controllers.MotorRun`)."""
    from agents.evaluation import perturbed_config
    from envs.config import ArmConfig
    from experiments.controllers import read_run
    from experiments.settings import arm_settings

    t = settings.task
    if not t.controllers:
        raise ValueError("task=perturbation needs task.controllers=<the directory of a finished task=reach or "
                         "task=hold run> (it trains no controllers of its own; run that task first)")
    run = read_run(t.controllers)
    cfg = ArmConfig.from_overrides("reach", **arm_settings(run.settings))
    for angle in t.angles:
        try:
            perturbed_config(cfg, t.force, angle, t.onset, t.duration)
        except ValueError as exc:
            raise ValueError(f"task.onset={t.onset} / task.duration={t.duration} on the run's arm "
                             f"({cfg.episode_steps} steps of {cfg.control_dt} s): {exc}") from None
    return run


def run(run_settings: RunSettings, out_dir: Path) -> dict[str, Any]:
    import jax

    from agents.claims import SPECIALISED, stability_claim
    from agents.evaluation import evaluate_perturbation, perturbed_config
    from agents.rollout import EpisodeSampler
    from envs.functional import FunctionalArmEnv
    from experiments.controllers import load
    from experiments.io import write_npz
    from experiments.report.perturbation import write_report

    t = run_settings.task
    check(run_settings)
    started = time.perf_counter()
    controllers = load(t.controllers)
    sampler = EpisodeSampler(**controllers.arm)
    cfg = sampler.env.cfg
    envs = [FunctionalArmEnv(perturbed_config(cfg, t.force, a, t.onset, t.duration)) for a in t.angles]
    key = jax.random.PRNGKey(t.eval_seed)
    variants: dict[str, Any] = {}
    lesions: dict[str, Any] = {}
    curves: dict[str, np.ndarray] = {}
    for task in t.eval_tasks:
        for name, c in controllers.judged_on(task).items():
            out = evaluate_perturbation(c.model, c.params, sampler, task, t.episodes, key, envs, base_mask=c.mask)
            variants.setdefault(name, {})[task] = _summaries(out, t.angles, c.trained_on)
            curves[f"{task}/{name}"] = out["displacement"]
            log.info("%s on %s: peak %.2f cm, back in %s", name, task,
                     100 * variants[name][task]["peak_displacement"],
                     _ms(variants[name][task]["time_to_return"]))
            if t.lesions and name in SPECIALISED:
                for lesion in WITHIN:
                    out = evaluate_perturbation(c.model, c.params, sampler, task, t.episodes, key, envs,
                                                lesion=lesion, base_mask=c.mask)
                    lesions.setdefault(name, {}).setdefault(lesion, {})[task] = _summaries(out, t.angles,
                                                                                          c.trained_on)
    onset = envs[0].cfg.steps_of("perturbation_onset")
    steps = envs[0].cfg.steps_of("perturbation_duration")
    metrics: dict[str, Any] = {
        "task": t.name, "controllers": str(controllers.run.run_dir), "seeds": controllers.run.seeds,
        "trained_task": controllers.run.settings.task.train_task,
        "perturbation": {"force": t.force, "angles": list(t.angles), "onset": t.onset, "onset_step": onset,
                         "duration": t.duration, "steps": steps, "kind": "step" if t.duration is None else "pulse",
                         "control_dt": cfg.control_dt, "episode_steps": cfg.episode_steps},
        "episodes": t.episodes, "eval_seed": t.eval_seed, "arm": controllers.arm, "variants": variants}
    if lesions:
        metrics["lesions"] = lesions
    metrics["claim"] = stability_claim(variants, lesions)
    metrics["timing"] = {"seconds": time.perf_counter() - started}
    write_npz(out_dir / "displacement.npz", **curves)
    write_report(metrics, curves, out_dir)
    return metrics


def _summaries(out: dict[str, Any], angles: list[float], trained_on: str) -> dict[str, Any]:
    """One variant on one task: over every direction's episodes, and per direction."""
    response = out["response"]  # metric -> (seeds, directions, episodes)
    seeds = next(iter(response.values())).shape[0]
    pooled = summary({k: v.reshape(seeds, -1) for k, v in response.items()})
    pooled["by_angle"] = {f"{a:g}": {k: v for k, v in summary({m: r[:, i] for m, r in response.items()}).items()
                                     if k != "per_seed"} for i, a in enumerate(angles)}
    pooled["trained_on"] = trained_on
    return pooled


def _ms(x: float | None) -> str:
    return "never (no episode returned)" if x is None else f"{1000 * x:.0f} ms"
