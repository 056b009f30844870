"""Bilateral hemisphere controllers (flax) trained through the differentiable JAX arm.

Two hemisphere networks joined by a corpus callosum (Rinaldo et al. 2024), unilateral
baselines, the paper's loss terms and per-hemisphere gradient routing, BPTT training with
optax (several seeds at once), checkpoints, evaluation with lesions, and the paper's claims.

The names below are imported on first use, so that ``agents.config`` (the settings, plain
Python) can be read before JAX starts.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES: dict[str, str] = {
    "evaluate_claims": "agents.claims",
    "LESIONS": "agents.controllers", "BilateralController": "agents.controllers",
    "UnilateralController": "agents.controllers", "lesion_mask": "agents.controllers",
    "project_nonnegative": "agents.controllers",
    "AgentConfig": "agents.config", "TrainConfig": "agents.config",
    "aggregate": "agents.evaluation", "evaluate": "agents.evaluation", "mean_ci": "agents.evaluation",
    "Hemisphere": "agents.hemisphere",
    "OBJECTIVES": "agents.objectives", "WEIGHTS": "agents.objectives", "loss_terms": "agents.objectives",
    "route": "agents.objectives", "weighted": "agents.objectives",
    "Unit": "agents.plan", "best_variant": "agents.plan", "families": "agents.plan",
    "training_units": "agents.plan",
    "EpisodeSampler": "agents.rollout", "Trajectory": "agents.rollout", "closed_loop": "agents.rollout",
    "Trainer": "agents.training", "TrainState": "agents.training",
    "VARIANTS": "agents.variants", "Variant": "agents.variants", "build_model": "agents.variants",
    "make_variant": "agents.variants",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'agents' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
