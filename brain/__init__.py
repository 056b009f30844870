"""Voxel-wise encoding models of fMRI responses to per-layer model features.

Ridge encoders with FIR delays (JAX), noise ceilings, permutation statistics, layer and
region analyses, loaders for user data and a synthetic experiment with planted truth.
"""

from brain.banded import BandedRidgeEncoder, band_candidates
from brain.delays import make_delays
from brain.encoding import LayerScores, encode_layers, zscore_runs
from brain.layers import best_layer, region_curves, region_means, variance_partition
from brain.loaders import load_bold, load_features, load_repeats
from brain.noise_ceiling import cross_subject_ceiling, normalised_alignment, split_half_ceiling
from brain.ridge import RidgeEncoder
from brain.scoring import pearson_r, r2_score
from brain.stats import block_permutation_test, fdr_bh, wilcoxon_across_subjects
from brain.synthetic import SyntheticConfig, make_synthetic

__all__ = [
    "BandedRidgeEncoder", "LayerScores", "band_candidates", "RidgeEncoder", "SyntheticConfig", "best_layer", "block_permutation_test",
    "cross_subject_ceiling", "encode_layers", "fdr_bh", "load_bold", "load_features",
    "load_repeats", "make_delays", "make_synthetic", "normalised_alignment", "pearson_r",
    "r2_score", "region_curves", "region_means", "split_half_ceiling", "variance_partition",
    "wilcoxon_across_subjects", "zscore_runs",
]
