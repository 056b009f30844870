"""Bilateral hemisphere controllers (flax) trained through the differentiable JAX arm.

Two hemisphere networks joined by a corpus callosum (Rinaldo et al. 2024), unilateral
baselines, the paper's loss terms and per-hemisphere gradient routing, BPTT training with
optax (several seeds at once), checkpoints, evaluation with lesions, and the paper's claims.
"""

from agents.claims import evaluate_claims
from agents.controllers import (
    LESIONS,
    BilateralController,
    UnilateralController,
    lesion_mask,
    project_nonnegative,
)
from agents.evaluation import aggregate, evaluate, mean_ci
from agents.hemisphere import Hemisphere
from agents.objectives import OBJECTIVES, WEIGHTS, loss_terms, route, weighted
from agents.rollout import EpisodeSampler, Trajectory, closed_loop
from agents.training import TrainConfig, Trainer, TrainState
from agents.variants import VARIANTS, Variant, build_model, make_variant

__all__ = [
    "LESIONS", "OBJECTIVES", "VARIANTS", "WEIGHTS", "BilateralController", "EpisodeSampler",
    "Hemisphere", "TrainConfig", "TrainState", "Trainer", "Trajectory", "UnilateralController",
    "Variant", "aggregate", "build_model", "closed_loop", "evaluate", "evaluate_claims",
    "lesion_mask", "loss_terms", "make_variant", "mean_ci", "project_nonnegative", "route",
    "weighted",
]
