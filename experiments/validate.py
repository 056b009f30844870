"""Check a composed run config before any work starts: keys the task does not know (also
ones added with ``+key=...``) and values outside a setting's choices fail, listing the
valid ones. In a sweep (``-m``), :class:`CheckSweep` checks every job's config before the
launcher starts any job (locally or on SLURM)."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

# Free-form nodes: their children are the user's (file maps, sizes of a user's experiment).
FREE_FORM = ("task.files", "task.settings", "task.reuse", "hydra")


def _choices() -> dict[str, tuple[Any, ...]]:
    """Setting -> valid values, taken from the modules that define them."""
    from agents.callosum import KINDS
    from agents.hemisphere import CELLS, INITS
    from agents.objectives import REGULARISERS
    from agents.optim import CLIPS
    from agents.rollout import REGIMES
    from agents.training import KEEP, VAL_LOSSES
    from agents.variants import VARIANTS
    from envs.config import PLANTS, TASKS
    from brain.noise_ceiling import EXTRAPOLATIONS
    from brain.ridge import SCORERS
    from experiments.encoding import NULLS
    from experiments.encoding_summary import CEILINGS
    from experiments.rollout import CONTROLLERS

    return {"agent.cell": CELLS, "agent.callosum": KINDS, "task.train_task": REGIMES,
            "agent.init": tuple(INITS), "train.clip": CLIPS, "train.keep": KEEP, "train.regulariser": REGULARISERS,
            "train.val_loss": VAL_LOSSES,
            "arm.gradient": ("analytic", "mjx"), "arm.plant": PLANTS, "task.data": ("synthetic", "files"),
            "task.mode": ("generate", "prompt"), "task.controller": CONTROLLERS, "task.env": TASKS,
            "task.variants": VARIANTS, "task.eval_tasks": TASKS, "task.score_cv": tuple(SCORERS),
            "task.ceiling": CEILINGS, "task.r_null": NULLS, "task.ceiling_fit": EXTRAPOLATIONS}


def differences(saved: dict[str, Any], current: dict[str, Any], prefix: str = "") -> list[str]:
    """``key: saved ..., now ...`` for every setting that differs (nested dicts by dotted key)."""
    out = []
    for k in sorted(set(saved) | set(current)):
        a, b = saved.get(k), current.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: saved {a!r}, now {b!r}")
    return out


def reference_config(task: str) -> DictConfig:
    """The config as shipped for ``task=<task>`` (no user overrides)."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        return compose(config_name="config", overrides=[f"task={task}"])
    with initialize_config_module(config_module="experiments.conf", version_base="1.3"):
        return compose(config_name="config", overrides=[f"task={task}"])


def unknown_keys(cfg: Any, ref: Any, prefix: str = "") -> list[tuple[str, list[str]]]:
    """(dotted key, valid keys at that level) for every key of ``cfg`` missing from ``ref``."""
    out = []
    for key in cfg:
        path = f"{prefix}{key}"
        if path in FREE_FORM:
            continue
        if key not in ref:
            out.append((path, sorted(str(k) for k in ref)))
        elif isinstance(cfg[key], dict) and isinstance(ref[key], dict):
            out += unknown_keys(cfg[key], ref[key], path + ".")
    return out


def validate_config(cfg: DictConfig) -> None:
    """Raise ``ValueError`` naming every unknown key and every value outside its choices."""
    task = OmegaConf.select(cfg, "task.name")
    if task is None:
        raise ValueError("the config has no task.name; choose a task with task=<name>")
    try:
        ref = reference_config(str(task))
    except Exception as exc:  # a task name without a shipped config (a user's own task file)
        if "task" in str(exc) and "not found" in str(exc).lower():
            ref = None
        else:
            raise
    problems = []
    if ref is not None:
        mine = OmegaConf.to_container(cfg, resolve=False)
        theirs = OmegaConf.to_container(ref, resolve=False)
        for key, valid in unknown_keys(mine, theirs):
            parent = key.rpartition(".")[0] or "the top level"
            problems.append(f"unknown key {key!r} (valid keys in {parent}: {', '.join(valid)})")
    for key, valid in _choices().items():
        value = OmegaConf.select(cfg, key, default=None)
        values = list(value) if isinstance(value, (list, ListConfig)) else [value]
        bad = [v for v in values if v is not None and v not in valid]
        if bad:
            shown = bad if isinstance(value, (list, ListConfig)) else bad[0]
            problems.append(f"{key}={shown!r} is not one of: {', '.join(map(str, valid))}")
    if problems:
        raise ValueError("invalid config, nothing was run: " + "; ".join(problems))


def sweep_jobs(overrides: list[str]) -> list[list[str]]:
    """The override list of every job of a sweep, as Hydra's basic sweeper expands them."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    return BasicSweeper.split_arguments(parsed, None)[0]


def check_jobs(jobs: list[list[str]]) -> None:
    """Compose and check every job's config; one error naming every bad job."""
    from hydra import compose

    problems = []
    for job in jobs:
        try:
            validate_config(compose(config_name="config", overrides=job))
        except Exception as exc:  # composition errors and ours alike: collect, then report
            problems.append(f"job [{' '.join(job)}]: {exc}")
    if problems:
        raise ValueError(f"{len(problems)} of {len(jobs)} sweep job(s) have an invalid config, no job was "
                         f"started:\n" + "\n".join(problems))


try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover - hydra-core < 1.1
    Callback = object  # type: ignore[assignment,misc]


class CheckSweep(Callback):  # type: ignore[misc]
    """Hydra callback (``hydra.callbacks`` in ``conf/config.yaml``): before a multirun
    launches anything, compose and check the config of each of its jobs."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        overrides = list(OmegaConf.select(config, "hydra.overrides.task", default=[]) or [])
        try:
            check_jobs(sweep_jobs(overrides))
        except ValueError as exc:
            # Hydra turns a callback's exceptions into warnings and goes on: stop the process.
            raise SystemExit(f"error: {exc}") from exc
