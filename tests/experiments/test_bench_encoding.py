"""The encoding benchmark's own logic on a tiny workload (no timings are asserted)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from experiments.bench_encoding import format_table, make_planted, run_benchmark

TINY = {"n_train": 400, "n_test": 200, "n_features": 8, "n_voxels": 60, "n_alphas": 8, "cv": 4,
        "repeats": 1, "seed": 3, "progress": False}
HAVE_HIMALAYA = importlib.util.find_spec("himalaya") is not None


def test_planted_data_has_the_stated_signal_to_noise() -> None:
    data = make_planted(n_train=20000, n_test=10, n_features=8, n_voxels=5, seed=0)
    assert data["X_train"].dtype == data["Y_train"].dtype == np.float32
    signal = data["X_train"] @ data["W"]
    np.testing.assert_allclose(signal.std(axis=0), data["signal_sd"], rtol=0.03)
    np.testing.assert_allclose((data["Y_train"] - signal).std(axis=0), 2.0, rtol=0.03)


def test_tiny_benchmark_recovers_the_planted_model() -> None:
    result = run_benchmark(**TINY, peers=False)
    assert json.loads(json.dumps(result)) == result
    assert {"meta", "theoretical_r", "oracle_test_r", "ols_expected_r", "ours", "peers", "agreement", "targets",
            "banded_ridge"} <= result.keys()
    assert result["peers"] == {} and result["agreement"] is None
    assert result["banded_ridge"]["available"] is False
    ours, theory = result["ours"], result["theoretical_r"]
    assert ours["first_call_s"] > 0 and ours["fit_s"] > 0
    assert ours["test_r"]["n_nan"] == 0
    # 8 features and 400 TRs: estimation error is small, so the test r nears the planted ceiling
    # (200 test TRs: sampling error of a mean over 60 voxels is about 0.01).
    assert abs(ours["test_r"]["mean"] - theory["mean"]) < 0.03
    assert abs(ours["test_r"]["mean"] - result["oracle_test_r"]["mean"]) < 0.02
    assert abs(ours["test_r"]["mean"] - result["ols_expected_r"]["mean"]) < 0.03
    assert sum(ours["alpha_counts"]) == TINY["n_voxels"]
    assert "callosum RidgeEncoder" in format_table(result)


@pytest.mark.skipif(not HAVE_HIMALAYA, reason="himalaya is not installed")
def test_tiny_benchmark_agrees_with_himalaya() -> None:
    result = run_benchmark(**TINY, peers=True)
    peer = result["peers"]["himalaya_ridge_cv"]
    assert peer["available"], peer.get("reason")
    assert peer["settings"]["folds_identical_to_ours"] is True
    agree = result["agreement"]
    assert agree["mean_test_r_abs_diff"] < 0.005
    assert agree["per_voxel_r_correlation"] > 0.99
    assert agree["best_cv_score_max_abs_diff"] < 1e-4
    assert agree["alpha_disagreements"] == agree["alpha_disagreements_that_are_cv_ties"]
    assert set(result["targets"]) == {"mean_test_r_abs_diff", "per_voxel_r_correlation",
                                      "speed_ratio_himalaya_over_ours_warm"}
    assert "Agreement" in format_table(result)
