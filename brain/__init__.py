"""Voxel-wise encoding models of fMRI responses to per-layer model features.

Ridge encoders with FIR delays (JAX), noise ceilings, permutation statistics, layer and
region analyses, loaders for user data and a synthetic experiment with planted truth.
"""

from brain.banded import BandedRidgeEncoder, band_candidates
from brain.cleaning import clean_runs, trim_mask
from brain.delays import delays_from_seconds, make_delays
from brain.encoding import LayerScores, encode_layers, zscore_runs
from brain.layers import (
    best_layer,
    best_layer_alignment,
    best_layer_depth,
    region_curves,
    region_means,
    variance_partition,
)
from brain.loaders import load_bold, load_features, load_repeats
from brain.noise_ceiling import cross_subject_ceiling, normalised_alignment, split_half_ceiling, split_half_reliability
from brain.ridge import RidgeEncoder
from brain.scoring import pearson_r, r2_score, r2_score_split
from brain.stats import (
    block_permutation_test,
    fdr_bh,
    phase_randomisation_test,
    sign_flip_test,
    wilcoxon_across_subjects,
)
from brain.synthetic import SyntheticConfig, make_synthetic

__all__ = [
    "BandedRidgeEncoder", "LayerScores", "band_candidates", "RidgeEncoder", "SyntheticConfig", "best_layer",
    "best_layer_alignment", "best_layer_depth", "block_permutation_test", "clean_runs",
    "cross_subject_ceiling", "delays_from_seconds", "encode_layers", "fdr_bh", "load_bold", "load_features",
    "load_repeats", "make_delays", "make_synthetic", "normalised_alignment", "pearson_r",
    "phase_randomisation_test", "r2_score", "r2_score_split", "region_curves", "region_means", "sign_flip_test",
    "split_half_ceiling", "split_half_reliability", "trim_mask", "variance_partition",
    "wilcoxon_across_subjects", "zscore_runs",
]
