"""brain.stats: correlation, block permutation test, BH-FDR, Wilcoxon across subjects."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from scipy.signal import lfilter

from brain.scoring import pearson_r
from brain.stats import (
    block_orders,
    block_permutation_test,
    fdr_bh,
    permutation_floor,
    phase_randomisation_test,
    random_phases,
    sign_flip_test,
    wilcoxon_across_subjects,
)


def _ar1(rng: np.random.Generator, shape: tuple[int, int], phi: float) -> np.ndarray:
    """Independent AR(1) columns, (n_trs, n_voxels), lag-k autocorrelation phi**k."""
    return lfilter([1.0], [1.0, -phi], rng.normal(size=shape), axis=0)


def _naive_pvalues(
    y_true: np.ndarray, y_pred: np.ndarray, block: int, orders: np.ndarray, two_sided: bool
) -> np.ndarray:
    """Reference: rebuild every permuted time series and correlate with np.corrcoef."""
    n_trs, n_voxels = y_true.shape
    whole = orders.shape[1] * block
    observed = np.array([np.corrcoef(y_true[:, v], y_pred[:, v])[0, 1] for v in range(n_voxels)])
    count = np.zeros(n_voxels)
    for order in orders:
        idx = np.concatenate([np.arange(i * block, (i + 1) * block) for i in order])
        idx = np.concatenate([idx, np.arange(whole, n_trs)])
        null = np.array([np.corrcoef(y_true[:, v], y_pred[idx, v])[0, 1] for v in range(n_voxels)])
        if two_sided:
            count += np.abs(null) >= np.abs(observed) - 1e-12
        else:
            count += null >= observed - 1e-12
    return (1 + count) / (1 + len(orders))


@pytest.mark.parametrize("alternative", ["greater", "two-sided"])
def test_block_permutation_matches_naive_reference(alternative: str) -> None:
    rng = np.random.default_rng(1)
    n_trs, block, n_perm = 47, 5, 60  # 9 whole blocks plus a fixed tail of 2 TRs
    y_true = rng.normal(size=(n_trs, 8))
    y_pred = 0.3 * y_true + rng.normal(size=(n_trs, 8))
    y_pred[:, :4] *= -1
    result = block_permutation_test(
        y_true, y_pred, block, n_perm, np.random.default_rng(7), alternative
    )
    orders = block_orders(n_trs // block, n_perm, np.random.default_rng(7))
    expected = _naive_pvalues(y_true, y_pred, block, orders, alternative == "two-sided")
    np.testing.assert_allclose(result.pvalue, expected)
    np.testing.assert_allclose(result.r, pearson_r(y_true, y_pred), atol=1e-12)


def test_block_permutation_chunking_does_not_change_result() -> None:
    rng = np.random.default_rng(2)
    y_true, y_pred = rng.normal(size=(100, 30)), rng.normal(size=(100, 30))
    full = block_permutation_test(y_true, y_pred, 10, 200, np.random.default_rng(3))
    tiny = block_permutation_test(
        y_true, y_pred, 10, 200, np.random.default_rng(3), max_elements=50
    )
    np.testing.assert_array_equal(full.pvalue, tiny.pvalue)
    np.testing.assert_allclose(full.r, tiny.r, atol=1e-14)


def test_block_permutation_identity_order_ties_with_observed() -> None:
    """With 2 blocks, about half the orders are the identity: each must count as a tie."""
    rng = np.random.default_rng(9)
    y_true = rng.normal(size=(20, 3))
    y_pred = y_true + 0.1 * rng.normal(size=(20, 3))
    result = block_permutation_test(y_true, y_pred, 10, 100, np.random.default_rng(10))
    orders = block_orders(2, 100, np.random.default_rng(10))
    n_identity = np.sum(orders[:, 0] == 0)
    assert 0 < n_identity < 100
    np.testing.assert_array_equal(result.pvalue, (1 + n_identity) / 101)


def test_block_permutation_null_is_uniform_for_autocorrelated_data() -> None:
    """Independent AR(1) data and prediction (phi 0.6): blocks of 10 TRs give uniform p.

    Shuffling single TRs destroys the prediction's autocorrelation, so the null r is too
    narrow (its variance misses the factor sum_k phi_true**k phi_pred**k) and the test is
    anti-conservative: that is why the permutation shuffles blocks.
    """
    rng = np.random.default_rng(4)
    y_true, y_pred = _ar1(rng, (400, 600), 0.6), _ar1(rng, (400, 600), 0.6)
    blocks = block_permutation_test(y_true, y_pred, 10, 300, rng)
    assert sps.kstest(blocks.pvalue, "uniform").pvalue > 0.01
    assert abs(np.mean(blocks.pvalue < 0.05) - 0.05) < 0.03
    single_trs = block_permutation_test(y_true, y_pred, 1, 300, rng)
    assert sps.kstest(single_trs.pvalue, "uniform").pvalue < 1e-4
    assert np.mean(single_trs.pvalue < 0.05) > 0.09


def test_block_permutation_detects_planted_signal() -> None:
    rng = np.random.default_rng(5)
    signal = _ar1(rng, (400, 20), 0.6)
    y_true = signal + rng.normal(size=(400, 20))
    y_pred = signal + rng.normal(size=(400, 20))
    y_pred[:, -1] = 1.0  # constant prediction
    result = block_permutation_test(y_true, y_pred, 10, 199, rng)
    assert np.all(result.pvalue[:-1] == 1 / 200)
    assert np.isnan(result.pvalue[-1]) and np.isnan(result.r[-1])


@pytest.mark.parametrize(
    ("shape_true", "shape_pred", "kwargs", "match"),
    [
        ((50, 4), (50, 5), {}, r"same shape.*\(50, 4\).*\(50, 5\)"),
        ((50,), (50,), {}, r"2 axes.*\(50,\)"),
        ((50, 4), (50, 4), {"block": 60}, r"block \(60 TRs\).*n_trs \(50\)"),
        ((50, 4), (50, 4), {"block": 30}, r"block \(30 TRs\).*n_trs \(50\)"),
        ((50, 4), (50, 4), {"block": 0}, r"block \(0 TRs\)"),
        ((50, 4), (50, 4), {"n_permutations": 0}, "n_permutations"),
        ((50, 4), (50, 4), {"alternative": "less"}, "alternative"),
    ],
)
def test_block_permutation_bad_input(
    shape_true: tuple[int, ...], shape_pred: tuple[int, ...], kwargs: dict, match: str
) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=match):
        block_permutation_test(
            rng.normal(size=shape_true), rng.normal(size=shape_pred), rng=rng, **kwargs
        )


def test_block_permutation_rejects_nan() -> None:
    y = np.random.default_rng(0).normal(size=(50, 4))
    bad = y.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"y_pred holds 1 NaN.*\(50, 4\)"):
        block_permutation_test(y, bad)


def test_phase_randomisation_matches_explicit_surrogates() -> None:
    """Reference: build each surrogate by irfft with the drawn phases, re-correlate."""
    rng = np.random.default_rng(21)
    for n_trs in (40, 41):
        y_true = rng.normal(size=(n_trs, 6))
        y_pred = 0.4 * y_true + rng.normal(size=(n_trs, 6))
        result = phase_randomisation_test(y_true, y_pred, 50, np.random.default_rng(2), "two-sided")
        phases = random_phases(n_trs, 50, np.random.default_rng(2))
        spectrum = np.fft.rfft(y_pred - y_pred.mean(axis=0), axis=0)
        observed = pearson_r(y_true, y_pred)
        count = np.zeros(6)
        for phi in phases:
            surrogate = np.fft.irfft(spectrum * np.exp(1j * phi)[:, None], n=n_trs, axis=0)
            count += np.abs(pearson_r(y_true, surrogate)) >= np.abs(observed) - 1e-12
        np.testing.assert_allclose(result.pvalue, (1 + count) / 51)
        np.testing.assert_allclose(result.r, observed, atol=1e-12)


def test_phase_randomisation_calibrated_where_blocks_are_not() -> None:
    """Independent AR(0.9) data and prediction, 2,000 voxels x 300 TRs: the phase null
    rejects ~5 % at alpha 0.05 (measured 5.0 % mean over 20 seeds, 4.2-6.4 %); blocks of
    10 TRs reject 10-13 %, since a block keeps too little of the autocorrelation."""
    rng = np.random.default_rng(0)
    y_true, y_pred = _ar1(rng, (300, 2000), 0.9), _ar1(rng, (300, 2000), 0.9)
    phase = phase_randomisation_test(y_true, y_pred, 500, rng)
    assert 0.03 <= np.mean(phase.pvalue < 0.05) <= 0.07
    blocks = block_permutation_test(y_true, y_pred, 10, 500, rng)
    assert np.mean(blocks.pvalue < 0.05) > 0.08


def test_phase_randomisation_by_segment_matches_explicit_surrogates() -> None:
    """Reference with ``segments``: each segment's prediction (z-scored over all TRs) rotated
    by its own phases through irfft, the segments joined again and re-correlated over all
    TRs; one segment gives the test without segments, draw for draw."""
    rng = np.random.default_rng(3)
    sizes = (23, 30, 17)
    n_trs = sum(sizes)
    seg = np.repeat([4, 1, 9], sizes)  # any integer labels; a new segment where the label changes
    y_true = rng.normal(size=(n_trs, 5))
    y_pred = 0.3 * y_true + rng.normal(size=(n_trs, 5))
    result = phase_randomisation_test(y_true, y_pred, 40, np.random.default_rng(8), "two-sided", segments=seg)
    draw = np.random.default_rng(8)
    phases = [random_phases(n, 40, draw) for n in sizes]
    zp = (y_pred - y_pred.mean(axis=0)) / y_pred.std(axis=0)
    edges = np.cumsum((0, *sizes))
    observed = pearson_r(y_true, y_pred)
    count = np.zeros(5)
    for k in range(40):
        surrogate = np.concatenate([
            np.fft.irfft(np.fft.rfft(zp[a:b], axis=0) * np.exp(1j * phases[j][k])[:, None], n=b - a, axis=0)
            for j, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True))])
        count += np.abs(pearson_r(y_true, surrogate)) >= np.abs(observed) - 1e-12
    np.testing.assert_allclose(result.pvalue, (1 + count) / 41)
    np.testing.assert_allclose(result.r, observed, atol=1e-12)
    whole = phase_randomisation_test(y_true, y_pred, 40, np.random.default_rng(8), "two-sided")
    one = phase_randomisation_test(y_true, y_pred, 40, np.random.default_rng(8), "two-sided",
                                   segments=np.zeros(n_trs, int))
    np.testing.assert_array_equal(one.pvalue, whole.pvalue)
    with pytest.raises(ValueError, match=r"at least 4 TRs; segments of \[3\] TRs"):
        phase_randomisation_test(y_true, y_pred, 5, rng, segments=np.repeat([0, 1], (n_trs - 3, 3)))


def test_phase_randomisation_by_segment_is_calibrated_across_unlike_stimuli() -> None:
    """Two test stimuli of 150 TRs, the first with 5x the variance in data and prediction
    (independent AR(0.9)): phases per segment keep each stimulus's variance where it is and
    reject ~5 % at alpha 0.05 (measured 4.9-5.7 % over 3 seeds); one circular surrogate of
    the joined series spreads it over both and rejects 12 %."""
    rng = np.random.default_rng(0)
    y_true, y_pred = _ar1(rng, (300, 2000), 0.9), _ar1(rng, (300, 2000), 0.9)
    y_true[:150] *= 5
    y_pred[:150] *= 5
    by_segment = phase_randomisation_test(y_true, y_pred, 500, rng, segments=np.repeat([0, 1], 150))
    assert 0.03 <= np.mean(by_segment.pvalue < 0.05) <= 0.07
    joined = phase_randomisation_test(y_true, y_pred, 500, rng)
    assert np.mean(joined.pvalue < 0.05) > 0.09


def test_phase_randomisation_detects_planted_signal() -> None:
    rng = np.random.default_rng(5)
    signal = _ar1(rng, (300, 50), 0.9)
    y_true = signal + _ar1(rng, (300, 50), 0.9)
    y_pred = signal + _ar1(rng, (300, 50), 0.9)
    y_pred[:, -1] = 1.0  # constant prediction
    result = phase_randomisation_test(y_true, y_pred, 500, rng)
    assert np.mean(result.pvalue[:-1] < 0.05) > 0.9
    assert np.isnan(result.pvalue[-1]) and np.isnan(result.r[-1])


def _reference_bh(p: np.ndarray) -> np.ndarray:
    """Independent BH q-values: q_(i) = min_{j >= i} m p_(j) / j, by explicit loops."""
    order = np.argsort(p)
    m = len(p)
    q_sorted = np.empty(m)
    running = 1.0
    for rank in range(m, 0, -1):
        running = min(running, p[order[rank - 1]] * m / rank)
        q_sorted[rank - 1] = running
    q = np.empty(m)
    q[order] = q_sorted
    return q


def _step_up_rejections(p: np.ndarray, alpha: float) -> np.ndarray:
    """Reference BH rule: reject the k smallest p, k the largest with p_(k) <= k alpha / m."""
    sorted_p = np.sort(p)
    below = np.nonzero(sorted_p <= alpha * np.arange(1, len(p) + 1) / len(p))[0]
    return p <= sorted_p[below[-1]] if len(below) else np.zeros(len(p), dtype=bool)


def test_fdr_bh_matches_reference_and_skips_nan() -> None:
    rng = np.random.default_rng(6)
    p = np.concatenate([rng.uniform(size=150), rng.uniform(0, 1e-3, size=50)])
    p[[3, 70, 160]] = np.nan
    result = fdr_bh(p.reshape(20, 10), alpha=0.1)
    assert result.rejected.shape == result.qvalue.shape == (20, 10)
    rejected, q = result.rejected.ravel(), result.qvalue.ravel()
    tested = ~np.isnan(p)
    np.testing.assert_allclose(q[tested], _reference_bh(p[tested]), rtol=1e-12)
    np.testing.assert_array_equal(rejected[tested], _step_up_rejections(p[tested], 0.1))
    assert np.all(np.isnan(q[~tested])) and not rejected[~tested].any()


def test_fdr_bh_controls_false_discovery_proportion() -> None:
    alpha, n_null, n_signal = 0.05, 900, 100
    fdp, power = [], []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        z = np.concatenate([rng.normal(size=n_null), rng.normal(3.0, 1.0, size=n_signal)])
        rejected = fdr_bh(sps.norm.sf(z), alpha).rejected
        fdp.append(rejected[:n_null].sum() / max(rejected.sum(), 1))
        power.append(rejected[n_null:].mean())
    # Expected FDP is alpha * n_null / n = 0.045.
    assert np.mean(fdp) < alpha + 0.015
    assert np.mean(power) > 0.2


def test_fdr_bh_edge_cases() -> None:
    all_nan = fdr_bh(np.full(4, np.nan))
    assert not all_nan.rejected.any() and np.all(np.isnan(all_nan.qvalue))
    with pytest.raises(ValueError, match=r"2 values outside \[0, 1\].*\(4,\)"):
        fdr_bh(np.array([0.1, 1.2, -0.1, 0.5]))
    with pytest.raises(ValueError, match="alpha"):
        fdr_bh(np.array([0.1]), alpha=1.0)


def test_wilcoxon_matches_scipy_unit_by_unit() -> None:
    rng = np.random.default_rng(8)
    a = rng.normal(size=(6, 12))
    b = a + rng.normal(0.5, 1.0, size=(6, 12))
    b[:, 0] = a[:, 0]  # all differences zero
    b[0, 1] = a[0, 1]  # one zero difference
    b[:2, 2] = a[:2, 2] + 1.0  # tied differences
    result = wilcoxon_across_subjects(a, b)
    for unit in range(12):
        with np.errstate(divide="ignore", invalid="ignore"):
            expected = sps.wilcoxon(a[:, unit], b[:, unit])
        assert result.pvalue[unit] == pytest.approx(expected.pvalue, rel=1e-12)
        assert result.statistic[unit] == pytest.approx(expected.statistic, rel=1e-12)
    np.testing.assert_allclose(result.mean_difference, np.mean(a - b, axis=0))
    assert result.pvalue[0] == 1.0


def test_wilcoxon_bad_input() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"same shape.*\(4, 3\).*\(4, 2\)"):
        wilcoxon_across_subjects(rng.normal(size=(4, 3)), rng.normal(size=(4, 2)))
    with pytest.raises(ValueError, match=r"at least 2 subjects.*\(1, 3\)"):
        wilcoxon_across_subjects(rng.normal(size=(1, 3)), rng.normal(size=(1, 3)))
    a = rng.normal(size=(4, 3))
    a[0, 0] = np.nan
    with pytest.raises(ValueError, match="a holds 1 NaN"):
        wilcoxon_across_subjects(a, rng.normal(size=(4, 3)))


def _brute_sign_flip(d: np.ndarray, alternative: str) -> float:
    """Reference: loop over every sign pattern of a 1-D vector of differences."""
    observed = d.mean()
    count = 0
    for k in range(2 ** len(d)):
        signs = np.array([-1.0 if (k >> i) & 1 else 1.0 for i in range(len(d))])
        null = np.mean(signs * d)
        if alternative == "two-sided":
            count += abs(null) >= abs(observed) - 1e-12
        elif alternative == "greater":
            count += null >= observed - 1e-12
        else:
            count += null <= observed + 1e-12
    return count / 2 ** len(d)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_sign_flip_exact_matches_enumeration(alternative: str) -> None:
    rng = np.random.default_rng(30)
    a = rng.normal(size=(7, 5))
    b = a + rng.normal(0.3, 1.0, size=(7, 5))
    b[:, 0] = a[:, 0]  # all differences zero: p = 1
    result = sign_flip_test(a, b, alternative)
    expected = [_brute_sign_flip(a[:, u] - b[:, u], alternative) for u in range(5)]
    np.testing.assert_allclose(result.pvalue, expected)
    np.testing.assert_allclose(result.mean_difference, np.mean(a - b, axis=0))
    assert result.pvalue[0] == 1.0 and result.n_subjects == 7
    assert result.min_pvalue == (2 if alternative == "two-sided" else 1) / 2**7


def test_sign_flip_warns_about_its_floor_with_few_subjects() -> None:
    a = np.array([[1.0, 2.0], [1.5, 2.5], [2.0, 3.0]])
    b = a - 1.0  # every subject better by 1: the most extreme outcome
    with pytest.warns(UserWarning, match=r"3 subjects.*smallest attainable p-value is 0\.25"):
        result = sign_flip_test(a, b)
    np.testing.assert_allclose(result.pvalue, 0.25)
    assert result.min_pvalue == 0.25
    with pytest.warns(UserWarning, match=r"4 subjects.*0\.125"):
        wilcoxon_across_subjects(np.ones((4, 2)), np.zeros((4, 2)))


def test_sign_flip_null_is_calibrated_and_has_power() -> None:
    """10 subjects, 2,000 units of symmetric null differences: p <= 0.05 at most ~5 % (the
    exact test is conservative only through ties); a shift of 1 sd is found mostly."""
    rng = np.random.default_rng(31)
    d = rng.standard_t(3, size=(10, 2000))
    null = sign_flip_test(d, np.zeros_like(d)).pvalue
    assert 0.03 <= np.mean(null <= 0.05) <= 0.065
    shifted = sign_flip_test(d + 1.5, np.zeros_like(d)).pvalue
    assert np.mean(shifted <= 0.05) > 0.7


def test_sign_flip_sampled_when_many_subjects() -> None:
    rng = np.random.default_rng(32)
    d = rng.normal(0.8, 1.0, size=(30, 3))
    result = sign_flip_test(d, np.zeros_like(d), n_permutations=999, rng=rng)
    assert result.min_pvalue == pytest.approx(1 / 1000)
    ref = sps.ttest_1samp(d, 0.0).pvalue
    np.testing.assert_allclose(result.pvalue, ref, atol=0.01)


def _with_floor(n_floor: int, m: int, n_permutations: int) -> np.ndarray:
    """m Monte-Carlo p-values: ``n_floor`` at 1/(n+1), the rest well above any BH threshold."""
    p = np.full(m, 0.5)
    p[:n_floor] = 1.0 / (n_permutations + 1)
    return p


def test_permutation_floor_needs_ceil_f_m_over_alpha_tests_at_the_floor() -> None:
    """600 voxels, 1000 permutations, alpha 0.05: BH needs ceil(600 / 1001 / 0.05) = 12 voxels
    at p = 1/1001. With 11 it rejects nothing (the count decided: limited); with 12 it rejects
    them (not limited); against fdr_bh itself."""
    lim = permutation_floor(_with_floor(11, 600, 1000), 1000, 0.05)
    assert (lim.needed, lim.at_floor, lim.limited) == (12, 11, True)
    assert lim.smallest_p == pytest.approx(1 / 1001)
    assert not fdr_bh(_with_floor(11, 600, 1000), 0.05).rejected.any()
    lim = permutation_floor(_with_floor(12, 600, 1000), 1000, 0.05)
    assert (lim.needed, lim.at_floor, lim.limited) == (12, 12, False)
    assert fdr_bh(_with_floor(12, 600, 1000), 0.05).rejected.sum() == 12


def test_permutation_floor_with_enough_permutations_or_no_signal_is_never_limited() -> None:
    """n >= m / alpha - 1: one voxel at the floor passes BH, so nothing is limited; no voxel at
    the floor (no evidence at all): not limited either; NaN (bad voxels) are not tests."""
    m = 600
    n = int(np.ceil(m / 0.05)) - 1
    lim = permutation_floor(_with_floor(1, m, n), n, 0.05)
    assert (lim.needed, lim.limited) == (1, False)
    assert not permutation_floor(_with_floor(0, m, 1000), 1000, 0.05).limited
    p = _with_floor(11, m, 1000)
    p[300:] = np.nan  # 300 tests: 1/1001 <= 0.05 * 6 / 300 needs 6 at the floor
    lim = permutation_floor(p, 1000, 0.05)
    assert (lim.needed, lim.at_floor, lim.limited) == (6, 11, False)


def test_permutation_floor_on_pure_noise_is_not_limited(rng: np.random.Generator) -> None:
    """White-noise responses and predictions: the phase-randomisation p-values are uniform;
    with 99 permutations, 200 voxels need 40 at p = 0.01 for BH, and noise puts about 2 there
    (Binomial(200, 0.01)): the few that land there are no reason to ask for more permutations.
    With enough permutations for one voxel (3999) BH rejects nothing and nothing is limited."""
    y, pred = rng.normal(size=(150, 200)), rng.normal(size=(150, 200))
    lim = permutation_floor(phase_randomisation_test(y, pred, 99, rng).pvalue, 99, 0.05)
    assert lim.needed == 40 and lim.at_floor < 10 and lim.excess_p > 0.05 and not lim.limited
    lim = permutation_floor(phase_randomisation_test(y, pred, 3999, rng).pvalue, 3999, 0.05)
    assert lim.needed == 1 and not lim.limited


def test_permutation_floor_flags_signal_the_count_cannot_resolve(rng: np.random.Generator) -> None:
    """30 of 600 voxels carry a strong signal: with 99 permutations (p >= 0.01) BH over 600
    needs 120 voxels at the floor and rejects nothing, although the 30 are far more than the
    6 noise would put there: limited. With 11999 permutations the same data pass BH."""
    y = rng.normal(size=(200, 600))
    pred = rng.normal(size=(200, 600))
    pred[:, :30] = y[:, :30] + 0.5 * rng.normal(size=(200, 30))
    lim = permutation_floor(phase_randomisation_test(y, pred, 99, rng).pvalue, 99, 0.05)
    assert lim.needed == 120 and lim.at_floor >= 30 and lim.excess_p < 1e-6 and lim.limited
    res = phase_randomisation_test(y, pred, 11999, rng)
    assert fdr_bh(res.pvalue, 0.05).rejected[:30].all()
    assert not permutation_floor(res.pvalue, 11999, 0.05).limited


def test_permutation_limits_flag_the_count_not_the_null() -> None:
    """Null p-values (uniform on the permutation grid) are never blamed on the permutation
    count; a map whose signal sits at the floor, too thin for BH with 99 permutations, is."""
    from brain.stats import permutation_limits

    rng = np.random.default_rng(0)
    n, n_vox = 99, 400
    grid = lambda size: (1 + rng.integers(0, n + 1, size)) / (n + 1)  # noqa: E731
    null = {"a": grid((3, 2, n_vox))}
    out = permutation_limits(grid((3, n_vox)), null, np.zeros((3, n_vox), bool), n, 0.05)
    assert out["ceiling"]["limited_subjects"] == [] and out["test_r_limited"] == []
    assert out["smallest_p"] == 0.01 and out["enough_for_one_voxel"] == 7999
    signal = grid((1, n_vox))
    signal[0, :15] = 1 / (n + 1)  # 15 more at the floor: BH needs 80 there, nulls put about 4
    out = permutation_limits(signal, {"a": signal[:, None]}, np.zeros((1, n_vox), bool), n, 0.05)
    assert out["ceiling"] == {"needed_at_floor": [80], "at_floor": [out["ceiling"]["at_floor"][0]],
                              "limited_subjects": [0]}
    assert out["test_r_limited"] == [{"space": "a", "layer": 0, "subject": 0}]
    assert permutation_limits(None, {}, np.zeros((1, 5), bool), n, 0.05).get("ceiling") is None


def test_permutation_limits_hold_their_rate_over_many_maps() -> None:
    """Pure noise in 36 test-r maps (2 spaces x 6 layers x 3 subjects, 99 permutations): each
    map alone is flagged at up to alpha, so some map of a run is flagged in most runs without
    a correction; with Holm over the maps, in at most about alpha of the runs."""
    from brain.stats import holm, permutation_floor, permutation_limits

    rng = np.random.default_rng(5)
    n, n_vox, runs = 99, 400, 300
    any_raw = any_holm = 0
    for _ in range(runs):
        maps = {sp: (1 + rng.integers(0, n + 1, (3, 6, n_vox))) / (n + 1) for sp in ("a", "b")}
        out = permutation_limits(None, maps, np.zeros((3, n_vox), bool), n, 0.05)
        any_holm += bool(out["test_r_limited"])
        any_raw += any(permutation_floor(p, n, 0.05).limited for m in maps.values() for subj in m for p in subj)
    assert out["test_r_maps"] == 36
    assert any_raw / runs > 0.3 and any_holm / runs <= 0.08, (any_raw / runs, any_holm / runs)
    np.testing.assert_allclose(holm(np.array([0.01, 0.04, 0.03])), [0.03, 0.06, 0.06])
