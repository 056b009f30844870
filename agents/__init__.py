"""Bilateral hemisphere controllers (flax) trained through the differentiable JAX arm.

Two hemisphere networks joined by a corpus callosum (Rinaldo et al. 2024), unilateral
baselines, the paper's loss terms and per-hemisphere gradient routing, BPTT training with
optax (several seeds at once), checkpoints, evaluation with lesions, and the paper's claims.

Importing the package imports JAX and flax but starts no JAX backend.
"""

from __future__ import annotations

from agents.claims import evaluate_claims
from agents.config import AgentConfig, TrainConfig
from agents.controllers import LESIONS, BilateralController, UnilateralController, lesion_mask, project_nonnegative
from agents.evaluation import aggregate, evaluate, mean_ci
from agents.hemisphere import Hemisphere
from agents.objectives import OBJECTIVES, WEIGHTS, loss_terms, route, weighted
from agents.plan import Unit, best_variant, families, training_units
from agents.rollout import EpisodeSampler, Trajectory, closed_loop
from agents.training import Trainer, TrainState
from agents.variants import VARIANTS, Variant, build_model, make_variant

__all__ = [
    "AgentConfig", "BilateralController", "EpisodeSampler", "Hemisphere", "LESIONS", "OBJECTIVES",
    "TrainConfig", "TrainState", "Trainer", "Trajectory", "UnilateralController", "Unit", "VARIANTS",
    "Variant", "WEIGHTS", "aggregate", "best_variant", "build_model", "closed_loop", "evaluate",
    "evaluate_claims", "families", "lesion_mask", "loss_terms", "make_variant", "mean_ci",
    "project_nonnegative", "route", "training_units", "weighted",
]
