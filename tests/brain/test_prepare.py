"""One subject's data as fit (``brain.prepare.SubjectData``) against a hand-written
reference: the TRs trimmed per run from BOLD, features and run labels alike, each run
z-scored on its own, the test response the mean of the z-scored presentations, a voxel range,
confounds regressed out of the training BOLD only."""

from __future__ import annotations

import numpy as np
import pytest

from brain.prepare import Cleaning, SubjectData
from brain.synthetic import SyntheticConfig, make_synthetic


def _z(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)


@pytest.fixture(scope="module")
def data():
    return make_synthetic(SyntheticConfig(n_subjects=2, n_runs=3, trs_per_run=40, n_test_trs=30, n_layers=2,
                                          n_features=4, vertices_per_region=3), seed=0)


def test_trimmed_and_zscored_per_run_against_a_reference(data) -> None:
    prep = SubjectData(data, Cleaning(detrend=False, trim=(2, 3)), voxels=(4, 10))
    y_train, y_test, x_train, x_test, runs = prep(1)
    keep = np.concatenate([np.r_[np.zeros(2), np.ones(35), np.zeros(3)] for _ in range(3)]).astype(bool)
    expect = np.concatenate([_z(data.bold_train[1][data.runs == r][2:-3, 4:10]) for r in range(3)])
    np.testing.assert_allclose(y_train, expect, atol=1e-5)
    reps = [_z(rep[2:-3, 4:10]) for rep in data.bold_test[1]]
    np.testing.assert_allclose(y_test, np.mean(reps, axis=0), atol=1e-5)
    np.testing.assert_array_equal(runs, data.runs[keep])
    for sp in data.spaces:
        np.testing.assert_array_equal(x_train[sp][1], data.features_train[sp][1][keep])
        np.testing.assert_array_equal(x_test[sp][0], data.features_test[sp][0][2:-3])


def test_confounds_are_regressed_out_of_the_training_bold_only(data) -> None:
    n_train = data.bold_train.shape[1]
    conf = np.random.default_rng(0).normal(size=(n_train, 2))
    plain = SubjectData(data, Cleaning(detrend=False, standardize=None))(0)
    cleaned = SubjectData(data, Cleaning(detrend=False, standardize=None), confounds=lambda s: conf)(0)
    for r in range(3):  # per run, the cleaned BOLD is orthogonal to the (centred) confounds
        rows = data.runs == r
        c = conf[rows] - conf[rows].mean(axis=0)
        assert np.abs(c.T @ cleaned[0][rows]).max() < 1e-6 * np.abs(c.T @ plain[0][rows]).max()
    np.testing.assert_array_equal(cleaned[1], plain[1])  # the test response is untouched
    with pytest.raises(ValueError, match="subject 0's confounds have 5 rows, the training BOLD has 120 TRs"):
        SubjectData(data, Cleaning(), confounds=lambda s: conf[:5])(0)
