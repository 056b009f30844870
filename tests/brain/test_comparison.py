"""Comparisons across subjects (``brain.comparison``): calibrated on data where nothing
differs, planted differences found, verdicts that say why, the per-voxel best instruction
against a brute-force reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import false_discovery_control

from brain.comparison import SPACES_FDR, best_instruction_map, compare_spaces, instruction_analysis, verdict


def _analysis(vals: dict[str, np.ndarray], alpha: float, seed: int) -> dict:
    """One voxel per region, every voxel kept; the per-subject alignments double as CV scores."""
    n_sub, n_reg = next(iter(vals.values())).shape
    best = best_instruction_map([v[:, None, :] for v in vals.values()], np.ones((n_sub, n_reg), bool))
    return instruction_analysis(tuple(vals), vals, tuple(f"r{j}" for j in range(n_reg)), np.arange(n_reg), best,
                                alpha, seed).to_dict()


def test_pairwise_tests_are_calibrated_on_null_and_find_planted_winners() -> None:
    """Three instructions, four regions, eight subjects, per-subject alignments with subject
    effects shared by the instructions. Under the complete null BH over all 12 (pair, region)
    tests keeps the chance of any significant result near alpha (it is FWER then); with two
    planted winners they are claimed and the null regions are not."""
    rng = np.random.default_rng(0)
    n_sub, n_reg, alpha = 8, 4, 0.05

    def draw(shift: dict[tuple[str, int], float]) -> dict:
        base = rng.uniform(0.2, 0.7, n_reg) + rng.normal(0, 0.1, (n_sub, 1))  # region level + subject effect
        vals = {i: base + rng.normal(0, 0.08, (n_sub, n_reg)) for i in ("a", "b", "c")}
        for (i, j), d in shift.items():
            vals[i][:, j] += d
        return _analysis(vals, alpha, seed=int(rng.integers(1 << 30)))

    null = [draw({}) for _ in range(300)]
    any_sig = np.mean([any(v and v["significant"] for t in m["pairwise"] for v in t["per_region"].values())
                       for m in null])
    assert any_sig <= 0.08, any_sig  # alpha 0.05, Monte Carlo SE 0.013
    claims = np.mean([any(r["claimed"] for r in m["per_region"].values()) for m in null])
    assert claims <= any_sig  # a claim needs significance against every other instruction
    mixed = [draw({("a", 0): 0.4, ("b", 1): 0.4}) for _ in range(40)]
    claimed = np.array([[m["per_region"][f"r{j}"]["claimed"] for j in range(n_reg)] for m in mixed])
    assert all(m["per_region"]["r0"]["best"] == "a" and m["per_region"]["r1"]["best"] == "b" for m in mixed)
    assert claimed[:, 0].mean() >= 0.9 and claimed[:, 1].mean() >= 0.9
    assert claimed[:, 2:].mean() <= 0.05


def test_space_comparison_holds_its_rate_on_null_and_finds_a_planted_difference() -> None:
    """Two spaces, 8 subjects, 3 regions: with no difference each region's p <= 0.05 about 5 %
    of the time (the exact test's floor 2/256 is far below); a shift of 2 SD in one region is found."""
    rng = np.random.default_rng(1)
    names = ("r0", "r1", "r2")
    ps = []
    for k in range(400):
        subject = rng.normal(0, 0.2, (8, 1))
        a, b = 0.3 + subject + rng.normal(0, 0.05, (8, 3)), 0.3 + subject + rng.normal(0, 0.05, (8, 3))
        ps.append([v["pvalue"] for v in compare_spaces(a, b, names, ("a", "b"), 0.05, k).per_region.values()])
    rate = np.mean(np.array(ps) <= 0.05)
    assert 0.025 <= rate <= 0.075, rate  # 1200 tests: SE 0.006
    a = 0.3 + rng.normal(0, 0.05, (8, 3))
    b = a - np.array([0.0, 0.1, 0.0]) + rng.normal(0, 0.01, (8, 3))
    res = compare_spaces(a, b, names, ("a", "b"), 0.05, 0)
    assert res.per_region["r1"]["pvalue"] <= 2 / 2**8 + 1e-12 and res.per_region["r1"]["mean_difference"] > 0.08
    assert res.min_attainable_pvalue == pytest.approx(2 / 2**8)
    a[:7, 2] = np.nan  # one subject left in r2: no test
    assert compare_spaces(a, b, names, ("a", "b"), 0.05, 0).per_region["r2"] is None
    with pytest.raises(ValueError, match=r"must be \(n_subjects, n_regions=3\)"):
        compare_spaces(a[:, :2], b, names, ("a", "b"), 0.05, 0)


def _spaces_draw(rng: np.random.Generator, n_sub: int, shift: np.ndarray | float = 0.0) -> tuple[np.ndarray, ...]:
    """Two spaces' best-layer alignment, six regions: subject effects shared by both spaces,
    region levels, independent noise; ``a`` shifted by ``shift`` (0: truth = nothing)."""
    subject = 0.4 + rng.normal(0, 0.1, (n_sub, 1))
    region = rng.uniform(-0.1, 0.1, 6)
    a = subject + region + rng.normal(0, 0.05, (n_sub, 6)) + shift
    return a, subject + region + rng.normal(0, 0.05, (n_sub, 6))


SIX = tuple(f"r{j}" for j in range(6))


def test_space_comparison_corrects_over_regions_on_null_data() -> None:
    """Truth = nothing, 8 subjects, 6 regions, 400 comparisons: a region is called different
    (q <= 0.05 after BH over the regions) in at most alpha + 3 binomial SE of them; starring
    the raw p < 0.05, as the two-model figure did, marks some region in about a quarter."""
    rng = np.random.default_rng(4)
    claimed, raw = [], []
    for k in range(400):
        res = compare_spaces(*_spaces_draw(rng, 8), SIX, ("a", "b"), 0.05, k)
        claimed.append(any(v["verdict"] != "inconclusive" for v in res.per_region.values()))
        assert claimed[-1] == any(v["significant"] for v in res.per_region.values())
        raw.append(any(v["pvalue"] < 0.05 for v in res.per_region.values()))
    assert np.mean(claimed) <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 400), np.mean(claimed)
    assert np.mean(raw) > 0.15, np.mean(raw)


def test_space_comparison_claims_nothing_at_three_subjects_and_finds_a_planted_difference() -> None:
    rng = np.random.default_rng(5)
    for k in range(50):  # 3 subjects, half the draws with every subject's difference large and positive
        res = compare_spaces(*_spaces_draw(rng, 3, 0.5 * (k % 2)), SIX, ("a", "b"), 0.05, k)
        assert all(v["verdict"] == "inconclusive" and "3 subjects cannot give p <= 0.05" in v["why"]
                   for v in res.per_region.values())
        assert res.min_attainable_pvalue == 0.25 and "0.25" in res.warning
    shift = np.array([0.15, 0.15, 0, 0, 0, 0])  # about 2 SD of the subject differences
    found, false = [], []
    for k in range(100):
        res = compare_spaces(*_spaces_draw(rng, 8, shift), SIX, ("a", "b"), 0.05, k)
        found.append([res.per_region[r]["verdict"] == "a > b" for r in SIX[:2]])
        false.append([res.per_region[r]["verdict"] != "inconclusive" for r in SIX[2:]])
    assert np.mean(found) >= 0.85 and np.mean(false) <= 0.05, (np.mean(found), np.mean(false))


def test_space_comparison_q_values_are_bh_over_the_tested_regions() -> None:
    rng = np.random.default_rng(6)
    a, b = _spaces_draw(rng, 8, np.array([0.3, 0, 0, 0, 0, 0]))
    a[1:, 5] = np.nan  # one subject left in r5: not tested, not counted by BH
    res = compare_spaces(a, b, SIX, ("a", "b"), 0.05, 0)
    tested = [v for v in res.per_region.values() if v is not None]
    assert res.per_region["r5"] is None and res.n_tests == len(tested) == 5
    np.testing.assert_allclose([v["qvalue"] for v in tested],
                               false_discovery_control([v["pvalue"] for v in tested], method="bh"))
    assert res.per_region["r0"]["significant"] and res.per_region["r0"]["verdict"] == "a > b"
    lo, hi = res.per_region["r0"]["ci95"]
    assert lo < res.per_region["r0"]["mean_difference"] < hi
    d = res.to_dict()
    assert d["test"].startswith("sign_flip") and d["fdr"] == SPACES_FDR and d["n_tests"] == 5
    assert "BH-FDR runs over the regions tested" in d["note"]


def test_the_comparison_figure_stars_only_fdr_significant_regions() -> None:
    """A region with q <= alpha gets a star, one with a small raw p but q > alpha does not,
    and the title says what a star means."""
    from brain.figures import plot_comparison

    vals = {"a": np.full((4, 3), 0.5), "b": np.full((4, 3), 0.4)}
    fig = plot_comparison(vals, ("r0", "r1", "r2"), {"r0": 0.01, "r1": 0.08, "r2": None}, "alignment", 0.05)
    ax = fig.axes[0]
    stars = [t for t in ax.texts if t.get_text() == "*"]
    assert len(stars) == 1 and stars[0].get_position()[0] == pytest.approx(0.0 + 0.4 - 0.4 / 2)
    assert "BH-FDR over regions, q <= 0.05" in ax.get_title()


def test_best_instruction_map_against_a_loop() -> None:
    rng = np.random.default_rng(2)
    cv = [rng.normal(size=(3, 4, 25)) for _ in range(3)]  # 3 instructions, 3 subjects, 4 layers, 25 voxels
    keep = rng.random((3, 25)) < 0.6
    keep[:, 0] = False  # nobody keeps voxel 0
    got = best_instruction_map(cv, keep)
    for v in range(25):
        subjects = np.flatnonzero(keep[:, v])
        if not subjects.size:
            assert got[v] == -1
            continue
        best = [max(np.mean([c[s, layer, v] for s in subjects]) for layer in range(4)) for c in cv]
        assert got[v] == int(np.argmax(best))
    with pytest.raises(ValueError, match="cv_scores must be"):
        best_instruction_map([cv[0][:, :, :5]], keep)


@pytest.mark.parametrize(("v", "expect", "why"), [
    ({"significant": True, "mean_difference": -0.2, "qvalue": 0.01}, "b > a", "q = 0.01"),
    ({"significant": False, "min_pvalue": 0.25, "n_subjects": 3, "ci95": [-1, 2]}, "inconclusive",
     "3 subjects cannot give p <= 0.05"),
    ({"significant": False, "min_pvalue": 0.01, "ci95": [0.1, 0.3], "pvalue": 0.03, "qvalue": 0.09},
     "inconclusive", "excludes 0 but the exact test is not significant"),
    ({"significant": False, "min_pvalue": 0.01, "ci95": [-0.1, 0.3], "pvalue": 0.4, "qvalue": 0.6},
     "inconclusive", "includes 0, so a difference of that size is not ruled out"),
])
def test_verdicts_say_why(v: dict, expect: str, why: str) -> None:
    got, reason = verdict("a", "b", v, 0.05)
    assert got == expect and why in reason


def test_instruction_analysis_refuses_bad_input() -> None:
    vals = {"a": np.zeros((4, 2)), "b": np.zeros((4, 2))}
    with pytest.raises(ValueError, match="at least 2 different instructions"):
        instruction_analysis(("a", "a"), vals, ("r0", "r1"), np.arange(2), np.zeros(2, int), 0.05, 0)
    with pytest.raises(ValueError, match=r"per_subject\['b'\] must be"):
        instruction_analysis(("a", "b"), vals | {"b": np.zeros((4, 3))}, ("r0", "r1"), np.arange(2),
                             np.zeros(2, int), 0.05, 0)


def test_paired_runs_holds_its_rate_on_null_data() -> None:
    """Two runs of the same null (8 subjects, 4 regions, a subject effect shared by both): each
    test's p <= 0.05 at most about 5 % of the time; BH over the table keeps any rejection rare."""
    from brain.comparison import paired_runs

    rng = np.random.default_rng(3)
    ps, any_rejected = [], []
    for _ in range(300):
        subject = rng.normal(0, 0.2, (8, 1))
        a, b = subject + rng.normal(0, 0.05, (8, 4)), subject + rng.normal(0, 0.05, (8, 4))
        (cells,) = paired_runs([a, b], [(0, 1)], [("a", "b")], alpha=0.05)
        assert all(c["n_subjects"] == 8 for c in cells)
        ps.append([c["pvalue"] for c in cells])
        any_rejected.append(any(c["significant"] for c in cells))
    rate = np.mean(np.concatenate(ps) <= 0.05)
    assert 0.02 <= rate <= 0.07, rate  # 1200 tests: SE 0.006
    assert np.mean(any_rejected) <= 0.08
