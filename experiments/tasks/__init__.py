"""The runner's task kinds, each named once: its settings schema, its module and its properties.

Every module has ``run(settings, out_dir) -> metrics`` and ``check(settings)`` (every check that
needs no data and writes nothing; the runner calls it once, before anything is written), where
``settings`` is the typed :class:`experiments.settings.RunSettings` of the run. A task's YAML
file in ``conf/task/`` extends its kind's schema (``/schema/task/<kind>``). A module is imported
only when a run of its kind is checked or started.

Plain Python: importing this module must not import JAX.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from experiments import settings as s


@dataclass(frozen=True)
class TaskKind:
    """One kind of run.

    ``runs_arm``: its programs are the arm's many tiny per-step operations, so on a CPU the
    runner splits it into host devices and turns YNNPACK fusion off (``runtime.*``);
    ``seeded``: it trains ``task.seeds`` seeds, ``seed .. seed + task.seeds - 1``;
    ``comparable``: ``python -m experiments.compare`` pools its runs.
    """

    name: str
    schema: type
    module: str
    runs_arm: bool = False
    seeded: bool = False
    comparable: bool = False

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


KINDS: dict[str, TaskKind] = {k.name: k for k in (
    TaskKind("motor", s.MotorTask, "experiments.tasks.motor", runs_arm=True, seeded=True, comparable=True),
    TaskKind("robustness", s.RobustnessTask, "experiments.tasks.robustness", runs_arm=True, seeded=True),
    TaskKind("rollout", s.RolloutTask, "experiments.tasks.rollout", runs_arm=True),
    TaskKind("perturbation", s.PerturbationTask, "experiments.tasks.perturbation", runs_arm=True),
    TaskKind("encoding", s.EncodingTask, "experiments.tasks.encoding", comparable=True),
    TaskKind("features", s.FeaturesTask, "experiments.tasks.features"),
)}
COMPARABLE_KINDS: tuple[str, ...] = tuple(sorted(k for k, v in KINDS.items() if v.comparable))


def kind_of(name: str) -> TaskKind:
    """The task kind ``name``; an unknown one fails naming the valid ones."""
    if name not in KINDS:
        raise ValueError(f"unknown task kind {name!r}; valid kinds: {', '.join(KINDS)}")
    return KINDS[name]


def register() -> None:
    """Store the schemas in Hydra's ConfigStore: ``run_schema`` (the root), ``arm/default``
    and ``agent/default`` (the defaults themselves), and ``schema/train``,
    ``schema/task/<kind>``, which the YAML files in ``conf/`` extend."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="run_schema", node=s.RunSettings)
    cs.store(group="arm", name="default", node=s.ArmSettings)
    cs.store(group="agent", name="default", node=s.AgentSettings)
    cs.store(group="schema", name="train", node=s.TrainSettings)
    for kind in KINDS.values():
        cs.store(group="schema/task", name=kind.name, node=kind.schema)
