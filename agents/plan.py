"""The training plan of a motor experiment: which models train (units), which train together
(families), what each is judged on, and which variant reaches best.

A *unit* is one model: a variant trained on one task (``reach``, ``hold`` or ``mixed``).
The training regime (``train_task``) decides the units: ``reach``, ``hold`` or ``mixed``
train one model per variant; ``per_task`` (the original code's regime) one per variant and
task, each judged on the task it was trained on. Units that differ only in data form a
*family* that trains in one compiled program: the bilateral variants by objective
(specialised, unspecialised; a ``_nocc`` variant is the callosal model with its callosum
cut), the unilateral variants together (their objectives are weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agents.rollout import REGIMES
from agents.variants import Variant
from envs.config import TASKS

TRAINED = ("reach", "hold")  # the tasks a model is trained on, and judged on under per_task


@dataclass(frozen=True)
class Unit:
    """One trained model: ``variant`` trained on ``trained_on`` (reach, hold or mixed)."""

    variant: Variant
    trained_on: str


def check_regime(regime: str) -> str:
    """``regime`` if it is a training regime (``agents.rollout.REGIMES``), else ``ValueError``."""
    if regime not in REGIMES:
        raise ValueError(f"unknown training regime task.train_task={regime!r}; valid: {', '.join(REGIMES)}")
    return regime


def training_units(variants: Sequence[Variant], regime: str) -> list[Unit]:
    """The models a regime trains: per variant one, or (``per_task``) one per task."""
    check_regime(regime)
    tasks = TRAINED if regime == "per_task" else (regime,)
    return [Unit(v, t) for v in variants for t in tasks]


def check_eval_tasks(eval_tasks: Sequence[str], regime: str) -> list[str]:
    """``eval_tasks`` as a list, refused when empty or unknown, or when ``per_task`` cannot
    judge each model on its training task."""
    eval_tasks = list(eval_tasks)
    unknown = [x for x in eval_tasks if x not in TASKS]
    if unknown:
        raise ValueError(f"task.eval_tasks={unknown} is not one of: {', '.join(TASKS)}")
    if not eval_tasks:
        raise ValueError(f"task.eval_tasks is empty; choose from: {', '.join(TASKS)}")
    missing = [x for x in TRAINED if x not in eval_tasks]
    if regime == "per_task" and missing:
        raise ValueError(f"task.train_task=per_task judges each model on its training task: "
                         f"task.eval_tasks must include {missing}")
    return eval_tasks


def training_task(regime: str) -> str:
    """The episodes a regime's trainer samples: ``per_task`` and ``mixed`` sample mixed
    episodes (a per-task member then fixes its hold fraction, :func:`hold_fraction`)."""
    return "mixed" if regime in ("per_task", "mixed") else regime


def hold_fraction(trained_on: str, mixed: float) -> float:
    """The share of hold episodes a unit trains on: 0 for reach, 1 for hold, else ``mixed``."""
    return {"reach": 0.0, "hold": 1.0}.get(trained_on, mixed)


def family_of(variant: Variant) -> str:
    """Variants of one family share a model structure and a compiled training step."""
    return "unilateral" if variant.architecture == "unilateral" else f"bilateral_{variant.objective}"


def families(units: Sequence[Unit]) -> dict[str, list[Unit]]:
    """Units grouped by family, in the order they first appear."""
    out: dict[str, list[Unit]] = {}
    for u in units:
        out.setdefault(family_of(u.variant), []).append(u)
    return out


def family_variant(name: str, units: Sequence[Unit]) -> Variant:
    """The variant whose model a family builds: the members' architecture and objective, with
    the callosum of its linked members (a ``_nocc`` member trains that model, callosum cut)."""
    first = units[0].variant
    linked = [u.variant.callosum for u in units if u.variant.callosum != "none"]
    return Variant(name, first.architecture, linked[0] if linked else "none", first.objective)


def judged_on(unit: Unit, task: str, per_task: bool) -> bool:
    """Whether ``unit``'s result on ``task`` is the one its variant is judged by: every task,
    except under ``per_task``, where reach and hold are judged by the model trained on them
    and the other tasks (reaching paradigms) by the model trained on reach."""
    if not per_task:
        return True
    return task == unit.trained_on or (task not in TRAINED and unit.trained_on == "reach")


def best_variant(variants: dict[str, Any], regime: str) -> dict[str, Any] | None:
    """The variant with the lowest final-phase error (mean over seeds) on the task it was
    trained on (``reach`` for ``per_task`` and ``mixed`` runs), with its 95 % CI (over seeds;
    over episodes with one seed: ``ci_over``) and whether that interval lies below 1 cm;
    ``None`` without such a task. ``variants[name][task]``: aggregated evaluation numbers
    (:func:`agents.evaluation.aggregate`)."""
    task = regime if regime in TRAINED else "reach"
    scored = [(r[task]["final_phase_error"], name) for name, r in variants.items()
              if task in r and r[task].get("final_phase_error") is not None]
    if not scored:
        return None
    err, name = min(scored)
    ci = variants[name][task].get("final_phase_error_ci95")
    return {"task": task, "variant": name, "final_phase_error": err, "final_phase_error_ci95": ci,
            "ci_over": variants[name][task].get("ci_over", "seeds"),
            "within_1cm": bool(err < 0.01), "ci_below_1cm": None if ci is None else bool(err + ci < 0.01)}
