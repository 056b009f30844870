"""Check a composed run config before anything is written: keys the task does not know (also
ones added with ``+key=...``), values of the wrong type or outside a setting's choices, and
the task's own checks (:data:`experiments.run.TASKS`) fail, naming the valid ones; a run
directory that holds a finished run (without ``resume=true``), or a resume with other
settings than the saved run's, is refused. :class:`CheckRun` runs these checks before Hydra
creates the run directory or writes into it; in a sweep (``-m``), :class:`CheckSweep` checks
every job before the launcher starts any (locally or on SLURM)."""

from __future__ import annotations

import json
from pathlib import Path
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
    from brain.noise_ceiling import EXTRAPOLATIONS
    from brain.ridge import SCORERS
    from envs.config import GRADIENTS, PHYSICS, PLANTS, TASKS
    from experiments.encoding import DATA_SOURCES, NULLS
    from experiments.encoding_summary import CEILINGS
    from experiments.rollout import CONTROLLERS

    return {"agent.cell": CELLS, "agent.callosum": KINDS, "task.train_task": REGIMES,
            "agent.init": tuple(INITS), "train.clip": CLIPS, "train.keep": KEEP, "train.regulariser": REGULARISERS,
            "train.val_loss": VAL_LOSSES,
            "arm.gradient": GRADIENTS, "arm.plant": PLANTS, "arm.physics": PHYSICS, "task.data": DATA_SOURCES,
            "task.mode": ("generate", "prompt"), "task.controller": CONTROLLERS, "task.env": TASKS,
            "task.variants": VARIANTS, "task.eval_tasks": TASKS, "task.score_cv": tuple(SCORERS),
            "task.ceiling": CEILINGS, "task.r_null": NULLS, "task.ceiling_fit": EXTRAPOLATIONS}


def whole_number(cfg: DictConfig, key: str, minimum: int = 0) -> int:
    """The setting ``key`` as an int, or a ``ValueError`` naming it (not a raw traceback)."""
    value = OmegaConf.select(cfg, key)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{key}={value!r} must be a whole number >= {minimum}")
    return value


def _type_problem(key: str, value: Any, ref: Any) -> str | None:
    """A value of another kind than the shipped default's (int, number, bool, list, map)."""
    if ref is None or value is None or isinstance(value, str) and value.startswith("${"):
        return None
    if isinstance(ref, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(ref, int):
        ok, kind = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    elif isinstance(ref, float):
        ok, kind = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    elif isinstance(ref, list):
        ok, kind = isinstance(value, list), "a list [...]"
    elif isinstance(ref, dict):
        ok, kind = isinstance(value, dict), "a map {...}"
    else:  # strings: some also take numbers (runtime.devices=auto or 2)
        ok, kind = not isinstance(value, (list, dict)), "a single value"
    return None if ok else f"{key}={value!r} must be {kind} (default {ref!r})"


def type_problems(cfg: Any, ref: Any, prefix: str = "") -> list[str]:
    """Problems of every value whose type differs from the shipped default's."""
    out = []
    for key in cfg:
        path = f"{prefix}{key}"
        if path in FREE_FORM or key not in ref:
            continue
        if isinstance(cfg[key], dict) and isinstance(ref[key], dict):
            out += type_problems(cfg[key], ref[key], path + ".")
        else:
            problem = _type_problem(path, cfg[key], ref[key])
            if problem:
                out.append(problem)
    return out


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
        problems += type_problems(mine, theirs)
    for key, valid in _choices().items():
        value = OmegaConf.select(cfg, key, default=None)
        values = list(value) if isinstance(value, (list, ListConfig)) else [value]
        bad = [v for v in values if v is not None and v not in valid]
        if bad:
            shown = bad if isinstance(value, (list, ListConfig)) else bad[0]
            problems.append(f"{key}={shown!r} is not one of: {', '.join(map(str, valid))}")
    if problems:
        raise ValueError("invalid config, nothing was run: " + "; ".join(problems))


# Settings that may change when a run is resumed: where and how it runs, not what it computes.
RESUMABLE = ("resume", "runtime", "hydra")


def check_run_dir(cfg: DictConfig, out_dir: Path) -> None:
    """Refuse a directory that holds a run, finished or not, unless ``resume=true``, and a
    resume whose settings differ from the ones the run was started with (its ``config.json``)."""
    out_dir = Path(out_dir)
    resume = bool(cfg.get("resume"))
    if (out_dir / "metrics.json").exists() and not resume:
        raise FileExistsError(f"{out_dir} already holds a finished run (metrics.json): pass resume=true "
                              f"to continue it, or use a new run directory (nothing was changed)")
    saved_path = out_dir / "config.json"
    if saved_path.exists() and not resume:
        raise FileExistsError(f"{out_dir} holds an unfinished run (config.json, no metrics.json): pass "
                              f"resume=true to continue it, or use a new run directory (nothing was changed)")
    if resume and saved_path.exists():
        try:
            saved = json.loads(saved_path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"cannot resume {out_dir}: its config.json is unreadable ({exc}); nothing was "
                             f"changed") from exc
        kept = [k for k in cfg if k not in RESUMABLE]
        now = OmegaConf.to_container(OmegaConf.masked_copy(cfg, kept), resolve=True)
        diff = differences({k: v for k, v in saved.items() if k not in RESUMABLE}, now)
        if diff:
            raise ValueError(f"cannot resume {out_dir}: settings differ: " + "; ".join(diff)
                             + " (resume with the run's own settings, or start a new run; nothing was changed)")


def preflight(cfg: DictConfig, out_dir: Path | None = None) -> None:
    """All checks of a run before anything is written: :func:`validate_config`, the task's
    own check, and (``out_dir`` given) :func:`check_run_dir`."""
    validate_config(cfg)
    from experiments.run import task_check

    check = task_check(str(cfg.task.get("kind")))
    if check is not None:
        check(cfg)
    if out_dir is not None:
        check_run_dir(cfg, out_dir)


def sweep_jobs(overrides: list[str]) -> list[list[str]]:
    """The override list of every job of a sweep, as Hydra's basic sweeper expands them."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    return BasicSweeper.split_arguments(parsed, None)[0]


def job_dir(cfg: DictConfig, number: int) -> Path | None:
    """The directory of sweep job ``number`` (its config ``cfg``, composed with the hydra
    node) when Hydra's default ``sweep.subdir`` (the job number) is in force, else None (the
    job's own checks still run)."""
    raw = OmegaConf.to_container(cfg.hydra.sweep, resolve=False)
    if raw.get("subdir") != "${hydra.job.num}" or "${now:" in str(raw.get("dir")):
        return None  # a timestamped sweep directory is new: nothing in it to refuse
    return Path(str(cfg.hydra.sweep.dir)) / str(number)


def check_jobs(jobs: list[list[str]]) -> None:
    """Compose and check every job's config; one error naming every bad job."""
    from hydra import compose

    problems = []
    for number, job in enumerate(jobs):
        try:
            cfg = compose(config_name="config", overrides=job, return_hydra_config=True)
            preflight(cfg, job_dir(cfg, number))
        except Exception as exc:  # composition errors and ours alike: collect, then report
            problems.append(f"job [{' '.join(job)}]: {exc}")
    if problems:
        raise ValueError(f"{len(problems)} of {len(jobs)} sweep job(s) have an invalid config, no job was "
                         f"started:\n" + "\n".join(problems))


try:
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover - hydra-core < 1.1
    Callback = object  # type: ignore[assignment,misc]


class CheckRun(Callback):  # type: ignore[misc]
    """Hydra callback: before Hydra creates a single run's directory or writes its
    ``.hydra/`` record and log, run every check (:func:`preflight`); a refused run writes
    nothing. A resume keeps the ``.hydra/`` record of the run's first attempt."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        from experiments.runtime import configure_jax

        configure_jax(config)  # the checks import JAX: split the CPU into devices first
        out_dir = Path(str(config.hydra.run.dir))
        try:
            preflight(config, out_dir)
        except (ValueError, FileExistsError, FileNotFoundError) as exc:
            # Hydra turns a callback's exceptions into warnings and goes on: stop the process.
            raise SystemExit(f"error: {exc}") from exc
        if config.get("resume") and (out_dir / ".hydra").is_dir():
            from omegaconf import open_dict

            with open_dict(config):
                config.hydra.output_subdir = None


class CheckSweep(Callback):  # type: ignore[misc]
    """Hydra callback (``hydra.callbacks`` in ``conf/config.yaml``): before a multirun
    launches anything, compose and check the config of each of its jobs."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from experiments.runtime import configure_jax

        configure_jax(config)  # the checks import JAX: split the CPU into devices first
        overrides = list(OmegaConf.select(config, "hydra.overrides.task", default=[]) or [])
        try:
            check_jobs(sweep_jobs(overrides))
        except ValueError as exc:
            # Hydra turns a callback's exceptions into warnings and goes on: stop the process.
            raise SystemExit(f"error: {exc}") from exc
