"""Task kind ``motor`` (``task=reach``, ``task=hold``, ``task=paper``, ``task=paper_original``):
train the controller variants on the JAX arm over several seeds, evaluate them and their
lesions on every task, test the paper's claims and write metrics, checkpoints and a report.

The plan (which models train, in which families, what each is judged on, which variant is
best) is :mod:`agents.plan`'s; this module trains, evaluates and writes. Each
family trains all members at once (``jit(vmap(epoch))``), epoch by epoch, with a progress
bar; after every epoch its state is checkpointed atomically under
``checkpoints/<family>.msgpack``. ``resume=true`` with the run directory of an interrupted
run (``hydra.run.dir=<dir>``) continues from the last checkpoints and reaches the same
parameters as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from agents.evaluation import aggregate, evaluate
from agents.plan import (
    Unit,
    best_variant,
    families,
    family_variant,
    hold_fraction,
    judged_on,
    training_task,
    training_units,
)
from agents.rollout import EpisodeSampler
from agents.training import Member, TrainConfig, Trainer, TrainState
from agents.variants import build_model, check_variants, make_variant
from experiments import checkpoints
from experiments.settings import AgentSettings, MotorTask, RunSettings, arm_settings
from experiments.validate import differences

log = logging.getLogger("callosum")
CLAIM_METRICS = ("position_error", "final_phase_error")  # kept per episode for the claims' bootstrap
HISTORY_KEYS = ("train_loss", "train_position_error", "val_loss", "val_position_error",
                "val_final_position_error")


def _settings(settings: RunSettings) -> dict[str, Any]:
    """Everything that determines the trained parameters, for checkpoint compatibility."""
    return {"arm": arm_settings(settings), "agent": dataclasses.asdict(settings.agent),
            "train": dataclasses.asdict(settings.train),
            "train_task": settings.task.train_task, "seed": settings.seed, "seeds": settings.task.seeds}


def train_variant(trainer: Trainer, keys: jax.Array, path: Path, settings: dict[str, Any],
                  resume: bool, desc: str, devices: list[Any] | None = None,
                  members: list[Member] | None = None) -> tuple[TrainState, dict[str, list], float]:
    """Train ``trainer`` for every key (seed) at once, the seeds split over ``devices``
    (default: the first device); checkpoint after each epoch. With ``members`` (one per
    key) each key's state trains its member (a family: see the module docstring).

    Returns the final state (leading seed axis), the per-epoch history and the training
    seconds. A non-finite loss raises ``FloatingPointError`` and leaves the last good
    checkpoint as it was.
    """
    state = trainer.init_seeds(keys, members)
    history: dict[str, list] = {k: [] for k in HISTORY_KEYS}
    epoch, seconds = 0, 0.0
    if path.exists():
        if not resume:
            raise FileExistsError(f"{path} exists: pass resume=true to continue that run, or "
                                  f"use a new run directory (nothing was overwritten)")
        state, meta = checkpoints.load(path, state)
        diff = differences(meta["settings"], settings)
        if diff:
            raise ValueError(f"cannot resume from {path}: settings differ: " + "; ".join(diff))
        history, epoch, seconds = meta["history"], int(meta["epoch"]), float(meta["seconds"])
        log.info("%s: resumed at epoch %d", desc, epoch)
    devices = devices or jax.local_devices()[:1]
    state = trainer.place(state, devices)
    from experiments.trace_cache import cached

    identity = {**{k: v for k, v in settings.items() if k not in ("seed", "seeds")},
                "model": repr(trainer.model), "objective": trainer.objective, "masked": trainer.masked}
    step = cached(trainer.epoch_sharded(devices), "epoch", identity)
    max_epochs = trainer.cfg.max_epochs
    with tqdm(total=max_epochs, initial=epoch, desc=desc, unit="epoch", leave=False) as bar:
        while epoch < max_epochs and not bool(np.all(np.asarray(state.stopped))):
            start = time.perf_counter()
            new_state, logs = step(state)
            logs = jax.device_get(logs)
            seconds += time.perf_counter() - start
            bad = ~(np.isfinite(logs["train_loss"]).all(axis=-1) & np.isfinite(logs["val_loss"]))
            if bad.any():
                raise FloatingPointError(
                    f"{desc}: non-finite loss in epoch {epoch + 1} for seed index(es) "
                    f"{np.flatnonzero(bad).tolist()}; training stopped, the last good checkpoint "
                    f"{path} (epoch {epoch}) is kept")
            state, epoch = new_state, epoch + 1
            for k in HISTORY_KEYS:
                value = np.asarray(logs[k])
                history[k].append((value.mean(axis=-1) if value.ndim > 1 else value).tolist())
            checkpoints.save(path, state, {"settings": settings, "history": history,
                                          "epoch": epoch, "seconds": seconds})
            bar.update(1)
            bar.set_postfix(val_err=f"{np.mean(logs['val_position_error']):.4f} m")
    return state, history, seconds


def _combination_weights(params: Any) -> dict[str, list[float]]:
    inner = params["params"]
    if "w_left" not in inner:
        return {}
    return {"w_left": np.asarray(inner["w_left"]).tolist(),
            "w_right": np.asarray(inner["w_right"]).tolist()}


def family_model(name: str, units: list[Unit], agent: AgentSettings) -> Any:
    """The flax model a family trains."""
    return build_model(family_variant(name, units), agent.widths, agent.cell, agent.callosal_delay,
                       agent.unilateral_widths, agent.init)


def family_trainer(name: str, members: list[Unit], run_settings: RunSettings, sampler: EpisodeSampler,
                   train_cfg: TrainConfig, seeds: list[int]) -> tuple[Any, Trainer, list[Member], jax.Array]:
    """A family's model, its trainer, each member's :class:`Member` (in ``members``' order)
    and the PRNG keys of its states (member-major: every seed of the first member, then the
    next), as ``run`` trains them and :mod:`experiments.controllers` restores them."""
    model, objective = family_model(name, members, run_settings.agent), members[0].variant.objective
    linked = getattr(model, "callosum", "none") != "none"
    cut = [linked and u.variant.callosum == "none" for u in members]
    trainer = Trainer(model, objective, sampler, train_cfg, masked=any(cut))
    spec = [trainer.member(u.variant.objective, hold_fraction(u.trained_on, train_cfg.hold_fraction), cut_callosum=c)
            for u, c in zip(members, cut)]
    keys = jnp.stack([jax.random.PRNGKey(s) for _ in members for s in seeds])
    return model, trainer, spec, keys


def checkpoint_path(run_dir: Path, family: str) -> Path:
    """Where a run keeps a family's training state."""
    return Path(run_dir) / "checkpoints" / f"{family}.msgpack"


def family_record(settings: dict[str, Any], name: str, members: list[Unit]) -> dict[str, Any]:
    """The settings a family's checkpoint is saved with (and must match to be restored)."""
    return {**settings, "family": name, "members": [[u.variant.name, u.trained_on] for u in members]}


def check(settings: RunSettings) -> tuple[list[Unit], dict[str, Any], TrainConfig]:
    """The checks the schema (``experiments.settings.MotorTask``) cannot make, before anything
    is written or compiled (the runner calls it up front, for each job of a sweep too): the
    callosum the variants need, and the training settings through ``TrainConfig``'s own
    checks, and the arm through ``ArmConfig``'s (a go cue window that ends after the episode,
    a go cue on hold training). Returns the models to train, the settings and the training config."""
    t = settings.task
    callosum = settings.agent.callosum
    if callosum == "none":
        raise ValueError("agent.callosum=none: the _cc variants need a callosum (paper or learned); the "
                         "_nocc variants are the ones without. Sweep agent.callosum=paper,learned")
    variants = [make_variant(n, callosum) for n in check_variants(t.variants)]
    units = training_units(variants, t.train_task)
    record = _settings(settings)
    from envs.config import ArmConfig

    ArmConfig.from_overrides("reach", **record["arm"])
    if t.go_cue and t.train_task == "hold":
        raise ValueError("task.go_cue=true with task.train_task=hold: hold episodes start at their target and "
                         "have no movement to cue (their cue is on from the first step); train on reach or mixed")
    train_cfg = TrainConfig.from_overrides(task=training_task(t.train_task), **record["train"])
    return units, record, train_cfg


def run(run_settings: RunSettings, out_dir: Path) -> dict[str, Any]:
    t = run_settings.task
    units, settings, train_cfg = check(run_settings)
    regime = t.train_task
    per_task = regime == "per_task"
    eval_tasks = list(t.eval_tasks)
    sampler = EpisodeSampler(**settings["arm"])
    seeds = [run_settings.seed + i for i in range(t.seeds)]
    eval_key = jax.random.PRNGKey(t.eval_seed)
    from experiments.runtime import COMPILE_CLOCK, seed_devices

    started = time.perf_counter()
    metrics: dict[str, Any] = {"task": t.name, "train_task": regime, "seeds": seeds,
                               "agent": settings["agent"], "train": settings["train"],
                               "arm": settings["arm"], "variants": {}, "lesions": {},
                               "cross_task": {}, "training": {}, "devices": []}
    figures_data: dict[str, Any] = {"history": {}, "centre_out": {}, "reach": {}}
    # per-episode values (seeds, episodes) of the claims' metrics, for the two-level bootstrap:
    # kept out of metrics.json (its size), written to episodes.npz
    episodes: dict[str, Any] = {"variants": {}, "lesions": {}}
    for name, members in tqdm(families(units).items(), desc="families", unit="family"):
        model, trainer, spec, keys = family_trainer(name, members, run_settings, sampler, train_cfg, seeds)
        n = len(seeds)
        devices = seed_devices(len(keys), run_settings.runtime.devices)
        metrics["devices"] = [str(d) for d in devices]
        state, history, seconds = train_variant(
            trainer, keys, checkpoint_path(out_dir, name), family_record(settings, name, members),
            run_settings.resume, f"{name} ({len(members)} models x {n} seeds)", devices,
            [m for m in spec for _ in seeds])
        kept = jax.device_put(trainer.kept_params(state), jax.local_devices()[0])
        for i, (unit, member) in enumerate(zip(members, spec)):
            part = lambda tree, i=i, n=n: jax.tree.map(lambda a: a[i * n:(i + 1) * n], tree)
            _evaluate_unit(metrics, figures_data, unit, model, part(kept), member.mask, sampler,
                           eval_tasks, t, eval_key, per_task, episodes)
            metrics["training"].setdefault(unit.variant.name, {})[unit.trained_on] = {
                "epochs": np.asarray(part(state.epoch)).tolist(),
                "best_val_loss": np.asarray(part(state.best_val)).tolist(),
                "kept": train_cfg.keep, "family": name, "family_seconds": seconds,
                **_combination_weights(part(kept))}
            figures_data["history"][f"{unit.variant.name} ({unit.trained_on})"] = {
                k: [np.asarray(v)[i * n:(i + 1) * n].tolist() for v in values] for k, values in history.items()}
    if t.claims:
        from agents.claims import evaluate_claims

        margin = t.claims_margin
        for key, metric in (("claims", "position_error"), ("claims_final_phase", "final_phase_error")):
            metrics[key] = evaluate_claims(metrics["variants"], metrics["lesions"], metric, margin,
                                           episodes["variants"], episodes["lesions"])
        from experiments.io import write_npz

        write_npz(out_dir / "episodes.npz", **{
            "/".join(path): v for path, v in _leaves(episodes)})
    metrics["accuracy"] = best_variant(metrics["variants"], regime)
    metrics["timing"] = {"seconds": time.perf_counter() - started,
                         "train_seconds": sum({t["family"]: t["family_seconds"] for per in metrics["training"].values()
                                               for t in per.values()}.values()),
                         **COMPILE_CLOCK.snapshot()}
    from experiments.io import write_npz

    write_npz(out_dir / "trajectories.npz", **_flatten(figures_data))
    from experiments.report.motor import write_report

    write_report(metrics, figures_data, out_dir)
    return metrics


def _evaluate_unit(metrics: dict[str, Any], figures: dict[str, Any], unit: Unit, model: Any, params: Any,
                   mask: jax.Array, sampler: EpisodeSampler, eval_tasks: list[str], t: MotorTask,
                   key: jax.Array, per_task: bool, episodes: dict[str, Any] | None = None) -> None:
    """Evaluate one trained model on every evaluation task (and its lesions) into ``metrics``.

    ``variants[v][task]``: the model judged on ``task`` (per task: the one trained on it);
    ``cross_task[v][trained_on][task]``: every model on every task; ``lesions[v][lesion][task]``.
    ``episodes`` (``{"variants": ..., "lesions": ...}``, same layout, ``[metric]`` arrays
    (seeds, episodes) of :data:`CLAIM_METRICS`): the per-episode values of the judged models.
    """
    episodes = episodes if episodes is not None else {"variants": {}, "lesions": {}}
    name, n = unit.variant.name, t.eval_episodes
    keep = figures if (not per_task or unit.trained_on == "reach") else None
    per_ep: dict[str, Any] = {}
    results = _evaluate_all(model, params, sampler, eval_tasks, n, key, "none", mask, keep, name, per_ep)
    for r in results.values():
        r["trained_on"] = unit.trained_on
    metrics["cross_task"].setdefault(name, {})[unit.trained_on] = results
    judged = {task: r for task, r in results.items() if judged_on(unit, task, per_task)}
    metrics["variants"].setdefault(name, {}).update(judged)
    episodes["variants"].setdefault(name, {}).update({task: per_ep[task] for task in judged})
    lesion_tasks = [unit.trained_on] if per_task else eval_tasks
    if t.lesions:
        per_lesion = metrics["lesions"].setdefault(name, {})
        for lesion in unit.variant.lesions:
            lesion_ep: dict[str, Any] = {}
            per_lesion.setdefault(lesion, {}).update(
                _evaluate_all(model, params, sampler, lesion_tasks, n, key, lesion, mask, per_episode=lesion_ep))
            episodes["lesions"].setdefault(name, {}).setdefault(lesion, {}).update(lesion_ep)
    log.info("%s (trained on %s): %s", name, unit.trained_on, ", ".join(
        f"{k} {v['position_error']:.4f} m" for k, v in results.items()))


def _evaluate_all(model: Any, params: Any, sampler: EpisodeSampler, tasks: list[str], n: int,
                  key: jax.Array, lesion: str, mask: jax.Array | None = None,
                  keep: dict[str, Any] | None = None, name: str = "",
                  per_episode: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {}
    for task in tasks:
        # centre_out cycles through its targets, so every task shares one compiled rollout
        numbers, traj = evaluate(model, params, sampler, task, n, key, lesion, mask)
        out[task] = aggregate(numbers)
        if per_episode is not None:
            per_episode[task] = {m: np.asarray(numbers[m], np.float32) for m in CLAIM_METRICS}
        if keep is not None and task in ("centre_out", "reach"):  # seed 0's paths, for figures
            k = sampler.envs["centre_out"].cfg.centre_out_targets
            keep[task][name] = {"hand": np.asarray(traj.hand[0, :k]), "start": np.asarray(traj.start[0, :k]),
                                "target": np.asarray(traj.target[0, :k]),
                                "excitation": np.asarray(traj.excitation[0, :k])}
    return out


def _leaves(tree: dict[str, Any], path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], np.ndarray]]:
    out = []
    for k, v in tree.items():
        out += _leaves(v, path + (k,)) if isinstance(v, dict) else [(path + (k,), np.asarray(v))]
    return out


def _flatten(data: dict[str, Any]) -> dict[str, np.ndarray]:
    out = {}
    for task in ("centre_out", "reach"):
        for variant, arrays in data[task].items():
            for k, v in arrays.items():
                out[f"{task}/{variant}/{k}"] = v
    return out
