"""Check a composed run config before anything is written: keys its schema does not know
(also ones added with ``+key=...``), values outside a setting's choices or range
(``experiments.settings``: Hydra itself refuses wrong types when it composes), and the
task's own checks (:data:`experiments.tasks.KINDS`) fail, naming the valid ones; a run
directory the run did not make (without ``resume=true`` of its own run), or a resume with
other settings than the saved run's, is refused. :class:`CheckRun` runs these checks before Hydra
creates the run directory or writes into it; in a sweep (``-m``), :class:`CheckSweep` checks
every job before the launcher starts any (locally or on SLURM)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from experiments.settings import RunSettings, typed_settings


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


def validate_config(cfg: DictConfig) -> RunSettings:
    """The run's typed settings (:class:`experiments.settings.RunSettings`), built once from
    the composed ``cfg``: a ``ValueError`` names every unknown key, every value that is not a
    finite number where a number is wanted, and every value its schema refuses
    (:func:`experiments.settings.typed_settings`; Hydra checked the types when composing)."""
    if OmegaConf.select(cfg, "task.name") is None:
        raise ValueError("the config has no task.name; choose a task with task=<name>")
    return typed_settings(cfg)


def compose_settings(base_task: str, named: dict[str, list[str]], shared: list[str]
                     ) -> dict[str, tuple[dict[str, Any], RunSettings]]:
    """Per name, ``task=<base_task>``'s shipped config with ``shared`` then ``named[name]``
    (dotted ``key=value``, values parsed as YAML) applied: its plain form (as config.json
    holds it) and its typed settings, checked like a run of its own. Every key must exist."""
    import copy

    import yaml

    base, out = reference_config(base_task), {}
    for name, overrides in named.items():
        cfg = copy.deepcopy(base)
        for item in [*shared, *overrides]:
            key, sep, value = str(item).partition("=")
            if not sep or OmegaConf.select(cfg, key, default="__missing__") == "__missing__":
                raise ValueError(f"robustness override {item!r}: not a key=value of an existing setting of "
                                 f"task={base_task}")
            OmegaConf.update(cfg, key, yaml.safe_load(value) if value else None, merge=False)
        out[name] = (OmegaConf.to_container(cfg, resolve=True), validate_config(cfg))
    return out


# Settings that may change when a run is resumed: where and how it runs, not what it computes.
RESUMABLE = ("resume", "runtime", "hydra")
# What Hydra itself writes into a run's directory before the run starts (its record and log).
HYDRA_MADE = (".hydra",)


def _foreign(out_dir: Path) -> list[str]:
    """Entries of ``out_dir`` that are not Hydra's own record or log."""
    return sorted(p.name for p in out_dir.iterdir()
                  if p.name not in HYDRA_MADE and not (p.suffix == ".log" and p.is_file()))


def check_run_dir(cfg: DictConfig, out_dir: Path) -> None:
    """A run writes only into a directory it made, or into its own run when resuming.

    Refused: a directory that holds a run, finished or not, without ``resume=true``; a
    directory that holds anything else (a failed start, a user's own files); ``resume=true``
    where there is no run to resume; a resume whose settings differ from the ones the run
    was started with (its ``config.json``). Hydra's own ``.hydra/`` record and job log are
    not counted. A finished run resumed with its own settings is a no-op
    (:func:`experiments.run.run_task` says so)."""
    out_dir = Path(out_dir)
    resume = bool(cfg.get("resume"))
    saved_path = out_dir / "config.json"
    if (out_dir / "metrics.json").exists() and not resume:
        raise FileExistsError(f"{out_dir} already holds a finished run (metrics.json): pass resume=true "
                              f"to continue it, or use a new run directory (nothing was changed)")
    if saved_path.exists() and not resume:
        raise FileExistsError(f"{out_dir} holds an unfinished run (config.json, no metrics.json): pass "
                              f"resume=true to continue it, or use a new run directory (nothing was changed)")
    if resume and not saved_path.exists():
        raise FileNotFoundError(f"resume=true, but {out_dir} holds no run to resume (no config.json): give "
                                f"hydra.run.dir=<the run's directory>, or leave resume out to start a new run")
    if not resume and out_dir.is_dir() and _foreign(out_dir):
        raise FileExistsError(f"{out_dir} is not empty ({', '.join(_foreign(out_dir)[:5])}) and holds no run of "
                              f"experiments.run: a run writes only into a new or empty directory (nothing was "
                              f"changed)")
    if not out_dir.exists() and out_dir.parent.exists() and not out_dir.parent.is_dir():
        raise NotADirectoryError(f"{out_dir.parent} is a file, not a directory")
    if resume:
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


def preflight(cfg: DictConfig, out_dir: Path | None = None) -> RunSettings:
    """All checks of a run before anything is written, each once: the settings
    (:func:`validate_config`, which returns them typed), the task's own check on them, the
    devices the seeds are sharded over, and (``out_dir`` given) :func:`check_run_dir`.
    Returns the typed settings."""
    from experiments.tasks import kind_of

    settings = validate_config(cfg)
    kind = kind_of(settings.task.kind)
    check = getattr(kind.load(), "check", None)
    if check is not None:
        check(settings)
    if kind.seeded and settings.runtime.devices not in ("auto", "1"):
        from experiments.runtime import seed_devices

        seed_devices(settings.task.seeds, settings.runtime.devices)
    if out_dir is not None:
        check_run_dir(cfg, out_dir)
    return settings


# The settings a single run's CheckRun callback built, by run directory: the run itself takes
# them from here instead of building and checking them a second time.
CHECKED: dict[str, RunSettings] = {}


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
            CHECKED[str(out_dir.resolve())] = preflight(config, out_dir)
        except (ValueError, OSError) as exc:  # OSError: missing, unreadable or misplaced files
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
