"""The trained controllers of a finished motor run (``task=reach``, ``task=hold``, ``task=paper``
...), for the tasks that evaluate them further (``task=perturbation``; a later force field).

``read_run(run_dir)`` reads and checks the run's ``config.json`` (a finished run of kind
``motor``: its ``metrics.json`` is there) into the typed settings it was started with, and
finds every checkpoint its families need; it imports no JAX and writes nothing, so a task's
up-front check can call it. ``load(run_dir)`` then restores each family's checkpoint into the
structure the motor task trains (:func:`experiments.tasks.motor.family_trainer`, the same code
path), checks that the checkpoint was saved with these settings, and returns per trained
model (variant x training task) its flax model, its parameters of every seed (leading seed
axis, the kept ones: best or last, as the run kept them) and its lesion mask. Every refusal
names the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments.settings import (
    AgentSettings,
    ArmSettings,
    MotorTask,
    RunSettings,
    RuntimeSettings,
    TrainSettings,
)


@dataclass(frozen=True)
class MotorRun:
    """A finished motor run on disk: its directory, its settings and its seeds."""

    run_dir: Path
    settings: RunSettings

    @property
    def seeds(self) -> list[int]:
        return [self.settings.seed + i for i in range(self.settings.task.seeds)]


@dataclass(frozen=True)
class Controller:
    """One trained model: ``variant`` trained on ``trained_on``; ``params`` with a leading
    seed axis (the run's seeds, in order); ``mask`` the lesion mask it was trained with."""

    variant: str
    trained_on: str
    model: Any
    params: Any
    mask: Any


@dataclass(frozen=True)
class Controllers:
    run: MotorRun
    arm: dict[str, Any]  # the run's envs.config.ArmConfig settings (all but the task)
    models: list[Controller]

    def judged_on(self, task: str) -> dict[str, Controller]:
        """variant -> the model the run judges that variant by on ``task`` (under
        ``train_task=per_task`` the one trained on it; otherwise its only model)."""
        from agents.plan import judged_on

        per_task = self.run.settings.task.train_task == "per_task"
        units = {}
        for c in self.models:
            if judged_on(_Unit(c.trained_on), task, per_task):
                units[c.variant] = c
        return units


@dataclass(frozen=True)
class _Unit:  # agents.plan.judged_on reads only ``trained_on``
    trained_on: str


def _schema(cls: type, values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        raise ValueError(f"{where} is not a settings mapping")  # noqa: TRY004 (a file's content)
    try:
        return cls(**values)
    except TypeError as exc:
        raise ValueError(f"{where} does not match this version's settings ({exc})") from None


def read_run(run_dir: str | Path, key: str = "task.controllers") -> MotorRun:
    """The finished motor run in ``run_dir``, or a ``FileNotFoundError`` / ``ValueError``
    naming ``key`` and the file: no such directory, no (or an unreadable) config.json, a run
    of another kind, an unfinished run (no metrics.json), a missing checkpoint."""
    run_dir = Path(run_dir).expanduser()
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{key}={str(run_dir)!r}: no such directory (give the directory of a finished "
                                f"task=reach / task=hold run)")
    config_file = run_dir / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"{key}: {config_file} is missing (not a run directory of experiments.run)")
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{key}: {config_file} is unreadable: {exc}") from None
    task = config.get("task") if isinstance(config, dict) else None
    kind = task.get("kind") if isinstance(task, dict) else None
    if kind != "motor":
        raise ValueError(f"{key}: {config_file} is a run of kind {kind!r} (task={task.get('name') if isinstance(task, dict) else None}), "
                         f"not a motor run with trained controllers (task=reach, task=hold, task=paper ...)")
    if not (run_dir / "metrics.json").is_file():
        raise FileNotFoundError(f"{key}: {run_dir / 'metrics.json'} is missing: the run did not finish (resume it "
                                f"first: resume=true hydra.run.dir={run_dir})")
    where = f"{key}: {config_file}"
    try:
        settings = RunSettings(
            seed=int(config.get("seed", 0)), resume=False,
            runtime=_schema(RuntimeSettings, config.get("runtime", {}), f"{where} runtime"),
            arm=_schema(ArmSettings, config.get("arm"), f"{where} arm"),
            agent=_schema(AgentSettings, config.get("agent"), f"{where} agent"),
            train=_schema(TrainSettings, config.get("train"), f"{where} train"),
            task=_schema(MotorTask, task, f"{where} task"))
    except ValueError as exc:
        if str(exc).startswith(key):
            raise
        raise ValueError(f"{where}: its settings are refused: {exc}") from None
    run = MotorRun(run_dir, settings)
    for family in _families(settings):
        path = _checkpoint(run_dir, family)
        if not path.is_file():
            raise FileNotFoundError(f"{key}: the checkpoint {path} of the run's {family} controllers is missing")
    return run


def _families(settings: RunSettings) -> dict[str, Any]:
    from agents.plan import families
    from experiments.tasks import motor

    units, _, _ = motor.check(settings)
    return families(units)


def _checkpoint(run_dir: Path, family: str) -> Path:
    from experiments.tasks.motor import checkpoint_path

    return checkpoint_path(run_dir, family)


def load(run_dir: str | Path, key: str = "task.controllers") -> Controllers:
    """Every trained model of the finished motor run in ``run_dir`` (see the module
    docstring); a checkpoint that does not hold this run's controllers (other settings,
    another model, a broken file) raises ``ValueError`` naming it."""
    import jax

    from agents.rollout import EpisodeSampler
    from experiments import checkpoints
    from experiments.tasks import motor
    from experiments.validate import differences

    run = read_run(run_dir, key)
    settings = run.settings
    units, record, train_cfg = motor.check(settings)
    sampler = EpisodeSampler(**record["arm"])
    seeds, n = run.seeds, len(run.seeds)
    models = []
    for name, members in _families(settings).items():
        model, trainer, spec, keys = motor.family_trainer(name, members, settings, sampler, train_cfg, seeds)
        path = _checkpoint(run.run_dir, name)
        target = trainer.init_seeds(keys, [m for m in spec for _ in seeds])
        try:
            state, meta = checkpoints.load(path, target)
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
        diff = differences(meta.get("settings") or {}, motor.family_record(record, name, members))
        if diff:
            raise ValueError(f"{key}: the checkpoint {path} was not saved with the run's config.json settings: "
                             + "; ".join(diff))
        kept = trainer.kept_params(state)
        for i, (unit, member) in enumerate(zip(members, spec)):
            params = jax.tree.map(lambda a, i=i: a[i * n:(i + 1) * n], kept)
            models.append(Controller(unit.variant.name, unit.trained_on, model, params, member.mask))
    return Controllers(run, record["arm"], models)
