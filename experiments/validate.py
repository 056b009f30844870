"""Check a composed run config before anything is written: keys its schema does not know
(also ones added with ``+key=...``), values outside a setting's choices or range
(``experiments.settings``: Hydra itself refuses wrong types when it composes), and the
task's own checks (:data:`experiments.run.TASKS`) fail, naming the valid ones; a run
directory that holds a finished run (without ``resume=true``), or a resume with other
settings than the saved run's, is refused. :class:`CheckRun` runs these checks before Hydra
creates the run directory or writes into it; in a sweep (``-m``), :class:`CheckSweep` checks
every job before the launcher starts any (locally or on SLURM)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf


def whole_number(cfg: DictConfig, key: str, minimum: int = 0) -> int:
    """The setting ``key`` as an int, or a ``ValueError`` naming it (not a raw traceback)."""
    value = OmegaConf.select(cfg, key)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{key}={value!r} must be a whole number >= {minimum}")
    return value


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


def validate_config(cfg: DictConfig) -> None:
    """Raise ``ValueError`` naming every unknown key and every value its schema refuses
    (:func:`experiments.settings.check_settings`; Hydra checked the types when composing)."""
    from experiments.settings import check_settings

    if OmegaConf.select(cfg, "task.name") is None:
        raise ValueError("the config has no task.name; choose a task with task=<name>")
    check_settings(cfg)


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
