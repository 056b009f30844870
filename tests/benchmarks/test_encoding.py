"""The encoding benchmark's own logic on a tiny workload (no timings are asserted)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from benchmarks.encoding import (
    BANDED_GROUPS,
    banded_grid,
    format_table,
    himalaya_banded_solver_params,
    make_planted,
    make_planted_banded,
    penalty_choice,
    run_benchmark,
)

TINY = {"n_train": 400, "n_test": 200, "n_features": 8, "n_voxels": 60, "n_alphas": 8, "cv": 4,
        "repeats": 1, "seed": 3, "progress": False, "n_banded_train": 400, "n_banded_test": 200,
        "n_banded_features": 8, "n_banded_voxels": 60, "n_banded_ratios": 5, "n_banded_alphas": 8}
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
            "banded"} <= result.keys()
    assert result["peers"] == {} and result["agreement"] is None
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


def test_planted_banded_data_splits_the_signal_between_spaces() -> None:
    data = make_planted_banded(n_train=20000, n_test=10, n_features=8, n_voxels=6, seed=0)
    assert all(X.dtype == np.float32 for X in data["Xs_train"]) and data["Y_train"].dtype == np.float32
    assert [X.shape for X in data["Xs_test"]] == [(10, 8), (10, 8)] and data["Y_test"].shape == (10, 6)
    for k in range(2):
        signal = data["Xs_train"][k] @ data["Ws"][k]
        np.testing.assert_allclose(signal.std(axis=0), data["signal_sd"][:, k], rtol=0.03, atol=0.01)
    noise = data["Y_train"] - sum(X @ W for X, W in zip(data["Xs_train"], data["Ws"]))
    np.testing.assert_allclose(noise.std(axis=0), 2.0, rtol=0.03)
    assert np.bincount(data["group"]).tolist() == [2, 2, 2]  # groups balanced
    for g, (low, high) in enumerate(BANDED_GROUPS.values()):
        share = data["share"][data["group"] == g]
        assert np.all((share >= low) & (share <= high))


def test_tiny_banded_benchmark_without_peers() -> None:
    result = run_benchmark(**TINY, peers=False)
    banded = result["banded"]
    assert banded["available"] is True
    assert {"settings", "data", "theoretical_r", "oracle_test_r", "ours", "peers", "agreement", "targets"} <= banded.keys()
    assert banded["peers"] == {} and banded["agreement"] is None and banded["targets"] == {}
    ours = banded["ours"]
    assert ours["first_call_s"] > 0 and ours["fit_s"] > 0 and ours["test_r"]["n_nan"] == 0
    assert sum(ours["candidate_counts"]) == TINY["n_banded_voxels"]
    assert len(banded["settings"]["candidates_relative_penalties"]) == TINY["n_banded_ratios"]
    # planted model recovered about as well as the oracle (60 voxels, 200 test TRs: loose bounds)
    assert abs(ours["test_r"]["mean"] - banded["oracle_test_r"]["mean"]) < 0.05
    # voxels driven by space 1 prefer a heavier penalty on space 2, and the reverse
    by_group = ours["chosen_log10_ratio"]["median_by_group"]
    assert by_group["space 1"] > 0 > by_group["space 2"]
    assert "Banded ridge" in format_table(result)
    skipped = run_benchmark(**{**TINY, "n_voxels": 10}, peers=False, banded=False)["banded"]
    assert skipped["available"] is False and "banded=False" in skipped["reason"]


def test_penalty_choice_reads_the_grid_back() -> None:
    _, candidates, alphas = banded_grid(5, 6)
    cand, aidx = np.array([0, 4, 2, 1]), np.array([5, 0, 3, 2])
    penalties = alphas[aidx, None] * candidates[cand]
    got_c, got_a, off = penalty_choice(penalties, candidates, alphas)
    assert got_c.tolist() == cand.tolist() and got_a.tolist() == aidx.tolist() and off < 1e-12
    np.testing.assert_allclose(np.exp(np.log(candidates).mean(axis=1)), 1.0)  # geometric mean 1


@pytest.mark.skipif(not HAVE_HIMALAYA, reason="himalaya is not installed")
@pytest.mark.filterwarnings("ignore:.*of the grid")
def test_himalaya_gammas_search_our_penalties_exactly() -> None:
    """float64: himalaya with gammas 1 / c and our alpha grid picks the same per-space
    penalties as BandedRidgeEncoder for every voxel, with the same per-candidate CV scores
    and weights."""
    from himalaya.backend import get_backend, set_backend
    from himalaya.ridge import BandedRidgeCV
    from sklearn.model_selection import KFold

    from brain import BandedRidgeEncoder

    data = make_planted_banded(n_train=300, n_test=10, n_features=6, n_voxels=45, seed=1)
    Xs = [X.astype(np.float64) for X in data["Xs_train"]]
    Y = data["Y_train"].astype(np.float64)
    ratios, candidates, alphas = banded_grid(7, 9)
    enc = BandedRidgeEncoder(delays=[0], alphas=alphas, ratios=ratios, cv=4, dtype="float64",
                             score_cv="r").fit(Xs, Y)
    previous = get_backend().name
    set_backend("numpy")
    try:
        model = BandedRidgeCV(groups="input", solver="random_search", fit_intercept=False, cv=KFold(4),
                              solver_params=himalaya_banded_solver_params(candidates, alphas))
        model.fit([(X - X.mean(0)) / X.std(0) for X in Xs], Y - Y.mean(0))
    finally:
        set_backend(previous)
    theirs = np.exp(-np.asarray(model.deltas_)).T
    np.testing.assert_allclose(theirs, enc.best_alphas_, rtol=1e-9)
    c_ours, a_ours, _ = penalty_choice(enc.best_alphas_, candidates, alphas)
    c_theirs, a_theirs, off = penalty_choice(theirs, candidates, alphas)
    assert off < 1e-9 and np.array_equal(c_ours, c_theirs) and np.array_equal(a_ours, a_theirs)
    assert len(set(c_ours.tolist())) > 2  # the problem exercises several candidates
    # himalaya's per-candidate CV score carries a 1e-10 * log(alpha) tie-break slope
    np.testing.assert_allclose(model.cv_scores_, enc.cv_score_grid_.max(axis=1), atol=1e-8)
    np.testing.assert_allclose(model.coef_, enc.coef_, rtol=1e-7, atol=1e-10)


@pytest.mark.skipif(not HAVE_HIMALAYA, reason="himalaya is not installed")
def test_tiny_banded_benchmark_agrees_with_himalaya() -> None:
    result = run_benchmark(**{**TINY, "n_voxels": 10}, peers=True)
    banded = result["banded"]
    peer = banded["peers"]["himalaya_banded_ridge_cv"]
    assert peer["available"], peer.get("reason")
    assert peer["settings"]["folds_identical_to_ours"] is True
    assert sum(peer["candidate_counts"]) == TINY["n_banded_voxels"]
    agree = banded["agreement"]
    assert agree["mean_test_r_abs_diff"] < 0.005
    assert agree["per_voxel_r_correlation"] > 0.99
    assert agree["per_candidate_best_cv_score_max_abs_diff"] < 1e-4
    assert agree["penalties_max_abs_log_off_grid_himalaya"] < 1e-4
    assert agree["choice_disagreements"] == agree["choice_disagreements_that_are_cv_ties"]
    assert agree["fraction_identical_or_cv_tie"] == 1.0
    assert set(banded["targets"]) == {"mean_test_r_abs_diff", "per_voxel_r_correlation"}
    assert all(t["meets_target"] for t in banded["targets"].values())
    assert "Banded agreement" in format_table(result)


def test_scale_benchmark_runs_in_its_own_process() -> None:
    """The paper-sized benchmark's machinery at a toy size: a child process fits, predicts,
    and reports its own peak memory; the planted signal is found."""
    from benchmarks.encoding_scale import format_table, run_benchmark

    out = run_benchmark(n_train=300, n_test=100, n_features=16, n_delays=2, n_voxels=50, n_alphas=5, cv=3,
                        voxel_batch=16)
    assert out["columns"] == 32 and out["settings"]["n_voxels"] == 50
    assert 0.05 < out["peak_rss_gb"] < 4 and out["fit_s"] > 0
    assert out["mean_test_r"] > 0.3  # planted read-outs with signal sd 0.2-1 against unit noise
    assert set(out["targets"]) == {"total_minutes_below_30", "peak_rss_gb_below_16"}
    assert "peak RSS" in format_table(out)
