"""Voxel-wise encoding models of fMRI responses to per-layer model features.

Ridge encoders with FIR delays (JAX), noise ceilings, permutation statistics, layer and
region analyses, parcel-level and stacked encoders, ceiling choice and voxel selection,
variance partitioning, comparisons across subjects (instructions included), loaders for user data and for BIDS
studies with fMRIPrep derivatives, and a synthetic experiment with planted truth (also as a
generated BIDS study: ``brain.bids_example``).
"""

from brain.banded import BandedRidgeEncoder, band_candidates
from brain.bids import BidsSpec, load_bids
from brain.cleaning import clean_runs, trim_mask
from brain.comparison import best_instruction_map, compare_spaces, instruction_analysis
from brain.delays import delays_from_seconds, make_delays
from brain.encoding import LayerScores, encode_layers, zscore_runs
from brain.layers import (
    best_layer,
    best_layer_alignment,
    best_layer_depth,
    group_best_layer,
    region_curves,
    region_means,
    variance_partition,
)
from brain.loaders import load_bold, load_features, load_repeats
from brain.noise_ceiling import cross_subject_ceiling, normalised_alignment, split_half_ceiling, split_half_reliability
from brain.parcels import Parcels, parcellate, read_atlas
from brain.partition import VariancePartition, partition_variance
from brain.prepare import SubjectData
from brain.ridge import RidgeEncoder
from brain.scoring import pearson_r, r2_score, r2_score_split
from brain.selection import CeilingChoice, VoxelSelection, available_ceilings, choose_ceiling, keep_voxels
from brain.stacking import StackedEncoder, simplex_weights
from brain.stats import (
    block_permutation_test,
    fdr_bh,
    phase_randomisation_test,
    sign_flip_test,
    t_interval,
    wilcoxon_across_subjects,
)
from brain.synthetic import SyntheticConfig, make_synthetic

__all__ = [
    "BidsSpec", "load_bids", "available_ceilings", "Parcels", "parcellate", "read_atlas", "StackedEncoder",
    "simplex_weights",
    "CeilingChoice", "VariancePartition", "VoxelSelection", "best_instruction_map", "choose_ceiling",
    "compare_spaces", "instruction_analysis", "keep_voxels", "partition_variance", "SubjectData", "t_interval",
    "BandedRidgeEncoder", "LayerScores", "band_candidates", "RidgeEncoder", "SyntheticConfig", "best_layer",
    "best_layer_alignment", "best_layer_depth", "block_permutation_test", "clean_runs",
    "cross_subject_ceiling", "delays_from_seconds", "encode_layers", "fdr_bh", "group_best_layer", "load_bold",
    "load_features",
    "load_repeats", "make_delays", "make_synthetic", "normalised_alignment", "pearson_r",
    "phase_randomisation_test", "r2_score", "r2_score_split", "region_curves", "region_means", "sign_flip_test",
    "split_half_ceiling", "split_half_reliability", "trim_mask", "variance_partition",
    "wilcoxon_across_subjects", "zscore_runs",
]
