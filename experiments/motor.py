"""Task kind ``motor`` (``task=reach``, ``task=hold``, ``task=paper``): train the controller
variants on the JAX arm over several seeds, evaluate them and their lesions on every task,
test the paper's claims (``task=paper``) and write metrics, checkpoints and a report.

Each variant trains all its seeds at once (``jit(vmap(epoch))``), epoch by epoch, with a
progress bar; after every epoch its state is checkpointed atomically under
``checkpoints/<variant>.msgpack``. ``resume=true`` with the run directory of an interrupted
run (``hydra.run.dir=<dir>``) continues each variant from its last checkpoint and reaches
the same parameters as an uninterrupted run.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from agents import checkpoint
from agents.claims import evaluate_claims
from agents.evaluation import aggregate, evaluate
from agents.rollout import EpisodeSampler
from agents.training import TrainConfig, Trainer, TrainState
from agents.variants import build_model, check_variants, make_variant
from envs.config import TASKS
from experiments.validate import differences

log = logging.getLogger("callosum")
HISTORY_KEYS = ("train_loss", "train_position_error", "val_loss", "val_position_error",
                "val_final_position_error")


def _settings(cfg: DictConfig) -> dict[str, Any]:
    """Everything that determines the trained parameters, for checkpoint compatibility."""
    arm = OmegaConf.to_container(cfg.arm, resolve=True)
    arm.pop("task", None)
    return {"arm": arm, "agent": OmegaConf.to_container(cfg.agent, resolve=True),
            "train": OmegaConf.to_container(cfg.train, resolve=True),
            "train_task": cfg.task.train_task, "seed": int(cfg.seed), "seeds": int(cfg.task.seeds)}


def train_variant(trainer: Trainer, keys: jax.Array, path: Path, settings: dict[str, Any],
                  resume: bool, desc: str, devices: list[Any] | None = None
                  ) -> tuple[TrainState, dict[str, list], float]:
    """Train ``trainer`` for every key (seed) at once, the seeds split over ``devices``
    (default: the first device); checkpoint after each epoch.

    Returns the final state (leading seed axis), the per-epoch history and the training
    seconds. A non-finite loss raises ``FloatingPointError`` and leaves the last good
    checkpoint as it was.
    """
    state = trainer.init_seeds(keys)
    history: dict[str, list] = {k: [] for k in HISTORY_KEYS}
    epoch, seconds = 0, 0.0
    if path.exists():
        if not resume:
            raise FileExistsError(f"{path} exists: pass resume=true to continue that run, or "
                                  f"use a new run directory (nothing was overwritten)")
        state, meta = checkpoint.load(path, state)
        diff = differences(meta["settings"], settings)
        if diff:
            raise ValueError(f"cannot resume from {path}: settings differ: " + "; ".join(diff))
        history, epoch, seconds = meta["history"], int(meta["epoch"]), float(meta["seconds"])
        log.info("%s: resumed at epoch %d", desc, epoch)
    devices = devices or jax.local_devices()[:1]
    state = trainer.place(state, devices)
    step = trainer.epoch_sharded(devices)
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
            checkpoint.save(path, state, {"settings": settings, "history": history,
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


def run_motor(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    t = cfg.task
    variants = [make_variant(n, cfg.agent.callosum) for n in check_variants(t.variants)]
    eval_tasks = list(t.eval_tasks)
    unknown = [x for x in eval_tasks if x not in TASKS]
    if unknown or not eval_tasks:
        raise ValueError(f"unknown or no evaluation task(s) {unknown}; valid: {', '.join(TASKS)}")
    if int(t.seeds) < 1 or int(t.eval_episodes) < 1:
        raise ValueError(f"seeds and eval_episodes must be >= 1, got {t.seeds}, {t.eval_episodes}")
    settings = _settings(cfg)
    train_cfg = TrainConfig.from_overrides(task=t.train_task, **settings["train"])
    sampler = EpisodeSampler(**settings["arm"])
    seeds = [int(cfg.seed) + i for i in range(int(t.seeds))]
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
    eval_key = jax.random.PRNGKey(int(t.eval_seed))
    agent = cfg.agent
    from experiments.runtime import seed_devices

    devices = seed_devices(len(seeds), (cfg.get("runtime") or {}).get("devices", "auto"))
    if len(devices) > 1:
        log.info("seeds sharded over %d devices: %s", len(devices), ", ".join(map(str, devices)))

    metrics: dict[str, Any] = {"task": t.name, "train_task": t.train_task, "seeds": seeds,
                               "agent": settings["agent"], "variants": {}, "lesions": {},
                               "training": {}, "devices": [str(d) for d in devices]}
    figures_data: dict[str, Any] = {"history": {}, "centre_out": {}, "reach": {}}
    for variant in tqdm(variants, desc="variants", unit="variant"):
        model = build_model(variant, agent.widths, agent.cell, int(agent.callosal_delay))
        trainer = Trainer(model, variant.objective, sampler, train_cfg)
        state, history, seconds = train_variant(
            trainer, keys, out_dir / "checkpoints" / f"{variant.name}.msgpack",
            {**settings, "variant": variant.name}, bool(cfg.resume), variant.name, devices)
        params = jax.device_put(state.best_params, jax.local_devices()[0])  # evaluate on one device
        metrics["training"][variant.name] = {
            "epochs": np.asarray(state.epoch).tolist(), "best_val_loss": np.asarray(state.best_val).tolist(),
            "seconds": seconds, **_combination_weights(params)}
        figures_data["history"][variant.name] = history
        metrics["variants"][variant.name] = _evaluate_all(
            model, params, sampler, eval_tasks, int(t.eval_episodes), eval_key, "none",
            figures_data, variant.name)
        if t.lesions:
            metrics["lesions"][variant.name] = {
                lesion: _evaluate_all(model, params, sampler, eval_tasks, int(t.eval_episodes),
                                      eval_key, lesion)
                for lesion in variant.lesions}
        log.info("%s: %s", variant.name, ", ".join(
            f"{k} {v['position_error']:.4f} m" for k, v in metrics["variants"][variant.name].items()))
    if t.claims:
        metrics["claims"] = evaluate_claims(metrics["variants"], metrics["lesions"])
    from experiments.io import write_npz

    write_npz(out_dir / "trajectories.npz", **_flatten(figures_data))
    from experiments.motor_report import write_report

    write_report(metrics, figures_data, out_dir)
    return metrics


def _evaluate_all(model: Any, params: Any, sampler: EpisodeSampler, tasks: list[str], n: int,
                  key: jax.Array, lesion: str, keep: dict[str, Any] | None = None,
                  name: str = "") -> dict[str, Any]:
    out = {}
    for task in tasks:
        # centre_out cycles through its targets, so every task shares one compiled rollout
        numbers, traj = evaluate(model, params, sampler, task, n, key, lesion)
        out[task] = aggregate(numbers)
        if keep is not None and task in ("centre_out", "reach"):  # seed 0's paths, for figures
            k = sampler.envs["centre_out"].cfg.centre_out_targets
            keep[task][name] = {"hand": np.asarray(traj.hand[0, :k]), "start": np.asarray(traj.start[0, :k]),
                                "target": np.asarray(traj.target[0, :k]),
                                "excitation": np.asarray(traj.excitation[0, :k])}
    return out


def _flatten(data: dict[str, Any]) -> dict[str, np.ndarray]:
    out = {}
    for task in ("centre_out", "reach"):
        for variant, arrays in data[task].items():
            for k, v in arrays.items():
                out[f"{task}/{variant}/{k}"] = v
    return out
