"""The claim verdicts follow their stated rules on hand-made per-seed numbers, with intervals
checked against scipy, and can be recomputed from the JSON they are written to."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from agents.claims import (
    DEFAULT_MARGIN,
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    any_holds,
    combine,
    compare,
    evaluate_claims,
    holm_any,
    per_seed,
    relative_differences,
    verdict_from_per_seed,
)

C1 = "claim_1_specialised_hemispheres_win_preferred_task"
C2 = "claim_2_bilateral_at_least_as_good_as_preferred"
C3 = "claim_3_callosum_tends_to_help"
# per-seed jitter (mean 0, m): differences of two variants vary across seeds
JITTER = {name: np.array(j) * 1e-3 for name, j in {
    "unilateral_dominant": [0.3, -0.2, 0.1, -0.4, 0.2],
    "unilateral_nondominant": [-0.1, 0.4, -0.3, 0.0, 0.0],
    "bilateral_specialised_cc": [0.2, 0.1, -0.2, 0.3, -0.4],
    "bilateral_specialised_nocc": [-0.3, 0.0, 0.4, -0.1, 0.0],
    "bilateral_unspecialised_cc": [0.1, -0.3, 0.0, 0.2, 0.0],
    "bilateral_unspecialised_nocc": [0.0, 0.2, -0.1, -0.2, 0.1]}.items()}


def _variants(means: dict[str, tuple[float, float]], metric: str = "position_error") -> dict:
    """``{variant: (reach mean, hold mean)}`` -> the runner's layout with 5 jittered seeds."""
    return {name: {task: {"per_seed": {metric: list(m + JITTER[name])}}
                   for task, m in zip(("reach", "hold"), pair)}
            for name, pair in means.items()}


PAPER_LIKE = {
    "unilateral_dominant": (0.10, 0.040),
    "unilateral_nondominant": (0.12, 0.030),
    "bilateral_specialised_cc": (0.090, 0.025),
    "bilateral_specialised_nocc": (0.100, 0.030),
    "bilateral_unspecialised_cc": (0.10, 0.030),
    "bilateral_unspecialised_nocc": (0.11, 0.035),
}


# -- the rules on per-seed differences -----------------------------------------------------
def test_interval_is_scipys_paired_t_interval() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.1, 0.01, 6), rng.normal(0.11, 0.01, 6)
    out = compare(a, b)
    ci = stats.ttest_rel(a, b).confidence_interval(0.95)
    np.testing.assert_allclose(out["ci95"], [ci.low, ci.high], rtol=1e-10)
    # and the t quantile written out: 2.5706 for 5 degrees of freedom
    d = a - b
    np.testing.assert_allclose(out["ci95"][1] - out["difference"], 2.570582 * d.std(ddof=1) / np.sqrt(6), rtol=1e-6)
    assert out["n_seeds"] == 6 and out["mean_a"] == pytest.approx(a.mean()) and out["mean_b"] == pytest.approx(b.mean())


@pytest.mark.parametrize(("d", "verdict"), [
    ([-0.010, -0.012, -0.008, -0.011], HOLDS),  # clearly lower
    ([0.010, 0.012, 0.008, 0.011], FAILS),  # clearly higher
    ([-0.010, 0.012, -0.008, 0.011], INCONCLUSIVE),  # the interval covers 0
])
def test_better(d: list[float], verdict: str) -> None:
    b = np.array([0.10, 0.11, 0.09, 0.12])
    out = compare(b + np.array(d), b)
    assert out["verdict"] == verdict and verdict_from_per_seed(b + np.array(d), b) == verdict
    low, high = out["ci95"]
    assert low < out["difference"] < high
    assert (high < 0) == (verdict == HOLDS) and (low > 0) == (verdict == FAILS)


def test_fewer_than_two_seeds_is_inconclusive_and_says_why() -> None:
    out = compare([0.05], [0.10])
    assert out["verdict"] == INCONCLUSIVE and out["n_seeds"] == 1 and "at least 2" in out["reason"]
    assert out["ci95"] == [None, None] and out["difference"] == pytest.approx(-0.05)
    # a NaN seed is left out of the pairs: two of three seeds left, no reason needed
    out = compare([0.05, np.nan, 0.06], [0.10, 0.10, 0.111])
    assert out["n_seeds"] == 2 and out["verdict"] == HOLDS and "reason" not in out
    assert compare([np.nan, 0.1], [0.1, np.nan])["verdict"] == INCONCLUSIVE


def test_unpaired_seed_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="same seeds"):
        compare([0.1, 0.2, 0.3], [0.1, 0.2])


def test_non_inferiority_margin() -> None:
    b = np.array([0.10, 0.11, 0.09, 0.12, 0.10])
    slightly_worse = b + np.array([0.002, 0.003, 0.0025, 0.0015, 0.002])  # CI about [0.0015, 0.003]
    assert verdict_from_per_seed(slightly_worse, b, margin=0.0) == FAILS
    assert verdict_from_per_seed(slightly_worse, b, margin=0.005) == HOLDS  # upper end < margin
    assert verdict_from_per_seed(slightly_worse, b, margin=0.0022) == INCONCLUSIVE  # covers the margin
    assert verdict_from_per_seed(slightly_worse, b, margin=0.001) == FAILS  # lower end > margin
    # margin 0 is ``better``: equal-on-average is not enough
    noisy_equal = b + np.array([0.001, -0.001, 0.0005, -0.0005, 0.0])
    assert verdict_from_per_seed(noisy_equal, b) == INCONCLUSIVE
    assert verdict_from_per_seed(noisy_equal, b, margin=0.002) == HOLDS


def test_combining_parts() -> None:
    assert combine([HOLDS, HOLDS]) == HOLDS
    assert combine([HOLDS, FAILS]) == FAILS and combine([INCONCLUSIVE, FAILS]) == FAILS
    assert combine([HOLDS, INCONCLUSIVE]) == INCONCLUSIVE and combine([]) == INCONCLUSIVE
    assert any_holds([FAILS, HOLDS]) == HOLDS and any_holds([FAILS, FAILS]) == FAILS
    assert any_holds([FAILS, INCONCLUSIVE]) == INCONCLUSIVE and any_holds([]) == INCONCLUSIVE


# -- the claims ------------------------------------------------------------------------------
def test_all_three_claims_hold_on_paper_like_numbers() -> None:
    claims = evaluate_claims(_variants(PAPER_LIKE), margin=0.0)
    c1 = claims[C1]
    assert c1["verdict"] == HOLDS and c1["holds"] is True
    reach = c1["parts"]["reach"]
    assert (reach["a"], reach["b"], reach["task"]) == ("unilateral_dominant", "unilateral_nondominant", "reach")
    assert reach["mean_a"] == pytest.approx(0.10) and reach["difference"] == pytest.approx(-0.02)
    c2 = claims[C2]
    # cc: better than both unilaterals on both tasks; nocc equals the preferred on both (margin 0)
    assert c2["verdict"] == HOLDS and c2["carried_by"] == ["bilateral_specialised_cc"]
    assert c2["variants"]["bilateral_specialised_nocc"]["verdict"] == INCONCLUSIVE
    # with the default margin (5 % of the preferred error) equal-on-average is as good as
    default = evaluate_claims(_variants(PAPER_LIKE))[C2]
    assert default["margin"] == DEFAULT_MARGIN == 0.05 and default["carried_by"] == list(default["variants"])
    assert default["margin_m"] == {"reach": pytest.approx(0.005), "hold": pytest.approx(0.0015)}
    assert set(c2["unspecialised_information"]) == {"bilateral_unspecialised_cc", "bilateral_unspecialised_nocc"}
    c3 = claims[C3]
    assert c3["verdict"] == HOLDS and c3["specialised_not_holding"] == []
    assert all(p["verdict"] == HOLDS for p in c3["comparisons"].values())
    # specialised -13.3 %, unspecialised -11.7 %: the qualifier is a test of that difference
    assert c3["qualifier"]["difference"] == pytest.approx((-0.1 - 1 / 6) / 2 - (-1 / 11 - 1 / 7) / 2, abs=0.002)
    assert c3["not_always_for_specialised"] == {HOLDS: True, FAILS: False, INCONCLUSIVE: None}[
        c3["qualifier"]["verdict"]]


def test_claim_1_fails_when_the_dominant_side_reaches_worse() -> None:
    swapped = dict(PAPER_LIKE, unilateral_dominant=(0.13, 0.040))
    c1 = evaluate_claims(_variants(swapped))[C1]
    assert c1["parts"]["reach"]["verdict"] == FAILS and c1["parts"]["hold"]["verdict"] == HOLDS
    assert c1["verdict"] == FAILS and c1["holds"] is False


def test_claim_2_fails_on_the_non_preferred_part_while_the_preferred_part_holds() -> None:
    # here the dominant (non-preferred) side holds best: on hold the bilateral models are as
    # good as the preferred side and still worse than the non-preferred one
    means = dict(PAPER_LIKE, unilateral_dominant=(0.10, 0.020), unilateral_nondominant=(0.12, 0.030),
                 bilateral_specialised_cc=(0.090, 0.025), bilateral_specialised_nocc=(0.090, 0.025))
    c2 = evaluate_claims(_variants(means), margin=0.01)[C2]
    for name in ("bilateral_specialised_cc", "bilateral_specialised_nocc"):
        parts = c2["variants"][name]["parts"]
        assert parts["hold/not_worse_than_preferred"]["verdict"] == HOLDS  # 0.025 vs 0.030
        assert parts["hold/better_than_non_preferred"]["verdict"] == FAILS  # 0.025 vs 0.020
        assert parts["reach/better_than_non_preferred"]["verdict"] == HOLDS
        assert c2["variants"][name]["verdict"] == FAILS
    assert c2["verdict"] == FAILS and c2["carried_by"] == [] and c2["margin"] == 0.01


def test_claim_2_margin_decides_near_equal_bilateral() -> None:
    means = dict(PAPER_LIKE, bilateral_specialised_cc=(0.1003, 0.0302), bilateral_specialised_nocc=(0.2, 0.2))
    strict = evaluate_claims(_variants(means), margin=0.0)[C2]
    loose = evaluate_claims(_variants(means), margin=0.05)[C2]
    assert strict["variants"]["bilateral_specialised_cc"]["verdict"] != HOLDS
    assert loose["verdict"] == HOLDS and loose["carried_by"] == ["bilateral_specialised_cc"]
    part = loose["variants"]["bilateral_specialised_cc"]["parts"]["reach/not_worse_than_preferred"]
    # 5 % of the preferred (dominant) hand's mean reach error, 0.10 m
    assert part["margin"] == 0.05 and part["margin_m"] == pytest.approx(0.005) and part["ci95"][1] < 0.005
    with pytest.raises(ValueError, match="margin"):
        evaluate_claims(_variants(means), margin=-0.001)


def test_claim_3_pools_relative_differences() -> None:
    # specialised: cc 4 % worse on reach (+0.004 m) and 16 % better on hold (-0.004 m): the
    # absolute differences cancel, the relative ones give -6 %
    means = dict(PAPER_LIKE, bilateral_specialised_cc=(0.104, 0.021), bilateral_specialised_nocc=(0.100, 0.025))
    variants = _variants(means)
    c3 = evaluate_claims(variants)[C3]
    cc = [np.asarray(variants["bilateral_specialised_cc"][t]["per_seed"]["position_error"]) for t in ("reach", "hold")]
    nocc = [np.asarray(variants["bilateral_specialised_nocc"][t]["per_seed"]["position_error"]) for t in ("reach", "hold")]
    r = ((cc[0] - nocc[0]) / nocc[0] + (cc[1] - nocc[1]) / nocc[1]) / 2
    spec = c3["per_kind"]["specialised"]
    ci = stats.ttest_1samp(r, 0.0).confidence_interval(0.95)
    assert spec["difference"] == pytest.approx(r.mean()) and spec["difference"] == pytest.approx(-0.06, abs=0.005)
    np.testing.assert_allclose(spec["ci95"], [ci.low, ci.high], rtol=1e-9)
    assert spec["verdict"] == HOLDS
    assert compare(cc[0] + cc[1], nocc[0] + nocc[1])["verdict"] == INCONCLUSIVE  # absolute pooling: no verdict
    # reach is a comparison that does not hold for the specialised network
    assert c3["comparisons"]["specialised/reach"]["verdict"] == FAILS
    assert c3["specialised_not_holding"] == ["specialised/reach"]
    # overall: the mean over all four relative differences
    unspec = [(variants["bilateral_unspecialised_cc"][t]["per_seed"]["position_error"],
               variants["bilateral_unspecialised_nocc"][t]["per_seed"]["position_error"]) for t in ("reach", "hold")]
    overall = relative_differences(list(zip(cc, nocc)) + unspec)
    assert c3["difference"] == pytest.approx(overall.mean()) and c3["verdict"] == HOLDS
    assert "reach" in c3["reading"]


def test_claim_3_does_not_hold_when_the_callosum_hurts() -> None:
    means = dict(PAPER_LIKE, bilateral_specialised_cc=(0.11, 0.035), bilateral_unspecialised_cc=(0.12, 0.040))
    c3 = evaluate_claims(_variants(means))[C3]
    assert c3["verdict"] == FAILS and c3["ci95"][0] > 0
    assert c3["per_kind"]["specialised"]["verdict"] == FAILS and "not the paper's pattern" in c3["reading"]


def test_missing_variants_are_named_not_guessed() -> None:
    partial = {k: v for k, v in PAPER_LIKE.items() if k != "unilateral_nondominant"}
    claims = evaluate_claims(_variants(partial))
    for name in (C1, C2):
        assert claims[name]["verdict"] == INCONCLUSIVE and claims[name]["holds"] is None
        assert "unilateral_nondominant/reach" in claims[name]["missing"]
    assert claims[C3]["verdict"] == HOLDS and "missing" not in claims[C3]
    # one specialised bilateral variant missing: "a bilateral model" can still hold on the other
    no_nocc = {k: v for k, v in PAPER_LIKE.items() if k != "bilateral_specialised_nocc"}
    claims = evaluate_claims(_variants(no_nocc))
    assert claims[C2]["verdict"] == HOLDS and "bilateral_specialised_nocc/hold" in claims[C2]["missing"]
    assert claims[C3]["verdict"] == INCONCLUSIVE and claims[C3]["per_kind"].keys() == {"unspecialised"}
    assert "bilateral_specialised_nocc/reach" in claims[C3]["missing"] and "not tested" in claims[C3]["reading"]
    # a task not evaluated, or results without per-seed values
    no_hold = {n: {"reach": r["reach"]} for n, r in _variants(PAPER_LIKE).items()}
    assert evaluate_claims(no_hold)[C1]["missing"] == ["unilateral_dominant/hold", "unilateral_nondominant/hold"]
    assert evaluate_claims({"unilateral_dominant": {"reach": {"position_error": 0.1}}})[C1]["verdict"] == INCONCLUSIVE


def test_other_metric_and_lesions_are_information() -> None:
    variants = _variants(PAPER_LIKE, metric="final_phase_error")
    claims = evaluate_claims(variants, metric="final_phase_error")
    assert claims[C1]["verdict"] == HOLDS and claims[C1]["metric"] == "final_phase_error"
    assert evaluate_claims(variants)[C1]["verdict"] == INCONCLUSIVE  # no position_error there
    # inside the bilateral controller the right hemisphere alone reaches better: reported only
    lesions = {"bilateral_specialised_cc": {
        "silence_right": _variants({"unilateral_dominant": (0.14, 0.05)})["unilateral_dominant"],
        "silence_left": _variants({"unilateral_nondominant": (0.12, 0.06)})["unilateral_nondominant"]}}
    c1 = evaluate_claims(_variants(PAPER_LIKE), lesions)[C1]
    within = c1["within_bilateral_specialised_cc"]
    assert within["parts"]["reach"]["a"] == "left_only" and within["parts"]["reach"]["verdict"] == FAILS
    assert within["parts"]["hold"]["verdict"] == FAILS and within["verdict"] == FAILS
    # each reading judged: the unilateral one holds, the one inside the bilateral model does not
    assert c1["verdict"] == HOLDS and c1["readings"]["unilateral"] == HOLDS
    assert c1["readings"]["within_bilateral_specialised_cc"] == FAILS
    assert c1["verdict_both_readings"] == FAILS  # a reading that does not hold decides it
    # the nocc model's lesions were not run: with the within reading of cc holding, both readings are undecided
    lesions["bilateral_specialised_cc"] = {"silence_right": _variants({"unilateral_dominant": (0.10, 0.05)})["unilateral_dominant"],
                                           "silence_left": _variants({"unilateral_nondominant": (0.12, 0.03)})["unilateral_nondominant"]}
    c1 = evaluate_claims(_variants(PAPER_LIKE), lesions)[C1]
    assert c1["readings"] == {"unilateral": HOLDS, "within_bilateral_specialised_cc": HOLDS,
                              "within_bilateral_specialised_nocc": INCONCLUSIVE}
    assert c1["verdict_both_readings"] == INCONCLUSIVE
    assert c1["missing_both_readings"] == ["bilateral_specialised_nocc/silence_left+silence_right lesions"]


def test_every_verdict_recomputes_from_the_written_json() -> None:
    """What the runner's check does: re-derive each part from metrics.json's per-seed numbers."""
    means = dict(PAPER_LIKE, bilateral_specialised_cc=(0.104, 0.021))
    variants = json.loads(json.dumps(_variants(means)))
    claims = json.loads(json.dumps(evaluate_claims(variants, margin=0.01), allow_nan=False))
    parts = list(claims[C1]["parts"].values()) + list(claims[C3]["comparisons"].values())
    for v in claims[C2]["variants"].values():
        parts += v["parts"].values()
        assert v["verdict"] == combine([p["verdict"] for p in v["parts"].values()])
    assert len(parts) == 2 + 4 + 8
    for p in parts:
        a, b = per_seed(variants, p["a"], p["task"], p["metric"]), per_seed(variants, p["b"], p["task"], p["metric"])
        assert p["verdict"] == verdict_from_per_seed(a, b, p.get("margin_m", 0.0))
        if p["test"] == "not_worse":
            assert p["margin_m"] == pytest.approx(0.01 * np.mean(b))
    assert claims[C1]["verdict"] == combine([p["verdict"] for p in claims[C1]["parts"].values()])
    judged = claims[C2]["variants"].values()
    assert claims[C2]["verdict"] == holm_any([v["verdict"] for v in judged], [v["p_value"] for v in judged])[0]


def test_verdicts_on_variants_that_do_not_differ_are_mostly_inconclusive() -> None:
    """The truth is 'no difference': paired seeds share a seed effect (like variants trained
    from the same seeds), so a decided verdict either way is a false positive; each side of
    the two-sided 95 % interval should err about 2.5 % of the time."""
    rng = np.random.default_rng(11)
    verdicts = []
    for _ in range(2000):
        seed_effect = rng.normal(0.15, 0.02, 10)  # m, shared by both variants of a seed
        a, b = seed_effect + rng.normal(0, 0.005, 10), seed_effect + rng.normal(0, 0.005, 10)
        verdicts.append(verdict_from_per_seed(a, b))
    holds, fails = verdicts.count("holds") / 2000, verdicts.count("does not hold") / 2000
    assert 0.01 <= holds <= 0.045 and 0.01 <= fails <= 0.045, (holds, fails)
