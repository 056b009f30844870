"""Model-family comparison: categories from features files; one exact sign-flip test per
row with BH-FDR over the rows of a contrast, calibrated on null data (the interval rule it
replaces was not), silent at 3-5 subjects, finding planted differences with their size."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.stats import false_discovery_control

from brain.comparison import FAMILY_UNIT, MIN_DENOMINATOR, contrast
from brain.stats import sign_flip_test
from experiments.compare.families import category, compare_families

REGIONS = ("V1", "A1", "STS")
SIX = tuple(f"r{j}" for j in range(6))


def _null(rng: np.random.Generator, n_sub: int, shift: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Two categories on the same subjects, six regions: subject effects shared by both (as
    real subjects are), region levels, independent noise; ``a`` shifted by ``shift``."""
    subject = 0.4 + 0.1 * rng.standard_normal((n_sub, 1))
    region = rng.uniform(-0.1, 0.1, 6)
    a = subject + region + 0.05 * rng.standard_normal((n_sub, 6))
    b = subject + region + 0.05 * rng.standard_normal((n_sub, 6))
    return (a if shift is None else a + shift), b


def test_categories_from_the_attributes_task_features_stores() -> None:
    assert category({"instruction_tuned": True, "modality": "video"}) == "instruction-tuned video"
    assert category({"instruction_tuned": np.bool_(False), "modality": "audio"}) == "unimodal audio"
    assert category({"instruction_tuned": "False", "modality": "video"}) == "unimodal video"
    assert category({"modality": "video"}) is None and category({}) is None


def test_a_planted_difference_is_found_with_the_right_size() -> None:
    """V1 up, A1 the same, STS down, 8 subjects: the p-values are the exact sign-flip test's,
    the q-values BH over the four rows, the percent and its CI the planted size."""
    rng = np.random.default_rng(0)
    b = 0.4 + 0.05 * rng.standard_normal((8, 3))
    a = b + np.array([0.1, 0.0, -0.1]) + 0.01 * rng.standard_normal((8, 3))
    c = contrast(a, b, REGIONS, ("tuned", "plain"))
    assert c.rows["V1"]["verdict"] == "tuned > plain" and c.rows["STS"]["verdict"] == "plain > tuned"
    assert c.rows["A1"]["verdict"] == "inconclusive" and "q = " in c.rows["A1"]["why"]
    assert c.n_tests == 4 and list(c.rows) == [*REGIONS, "all regions"]
    ps = [c.rows[r]["pvalue"] for r in c.rows]
    assert ps[0] == pytest.approx(sign_flip_test(a[:, :1], b[:, :1]).pvalue[0]) == pytest.approx(2 / 2**8)
    assert ps[3] == pytest.approx(sign_flip_test(a.mean(axis=1, keepdims=True), b.mean(axis=1, keepdims=True)).pvalue[0])
    np.testing.assert_allclose([c.rows[r]["qvalue"] for r in c.rows], false_discovery_control(ps, method="bh"))
    lo, hi = c.rows["V1"]["ci95"]
    assert lo < 100 * 0.1 / b[:, 0].mean() < hi and lo > 0
    expected = 100 * (a[:, 0].mean() - b[:, 0].mean()) / b[:, 0].mean()
    assert c.rows["V1"]["percent"] == pytest.approx(expected)
    assert c.rows["all regions"]["n_subjects"] == 8
    d = c.to_dict()
    assert d["unit_of_inference"] == FAMILY_UNIT and "subjects (random)" in FAMILY_UNIT and "fixed" in FAMILY_UNIT
    assert "each region and the mean over regions" in d["fdr"] and d["test"].startswith("sign_flip")


def test_null_contrasts_claim_a_difference_at_most_at_alpha() -> None:
    """Truth = nothing, 8 subjects, 6 regions, 400 contrasts: some row of a contrast is
    claimed in at most alpha + 3 binomial SE of them. The rule this replaced (a verdict
    where a row's t interval excludes 0, uncorrected) claims one in about 31 % of the same
    contrasts; the raw exact p-values (p <= 0.05 somewhere) in about 28 %."""
    rng = np.random.default_rng(1)
    claimed, old_rule, raw = [], [], []
    for k in range(400):
        c = contrast(*_null(rng, 8), SIX, ("a", "b"), seed=k)
        claimed.append(any(r["verdict"] != "inconclusive" for r in c.rows.values()))
        old_rule.append(any(r["difference_ci95"][0] > 0 or r["difference_ci95"][1] < 0 for r in c.rows.values()))
        raw.append(any(r["pvalue"] <= 0.05 for r in c.rows.values()))
    margin = 3 * np.sqrt(0.05 * 0.95 / 400)
    assert np.mean(claimed) <= 0.05 + margin, np.mean(claimed)
    assert np.mean(old_rule) > 0.18 and np.mean(raw) > 0.15, (np.mean(old_rule), np.mean(raw))


@pytest.mark.parametrize("n_sub", [3, 4, 5])
def test_no_verdict_when_the_subjects_cannot_reach_alpha(n_sub: int) -> None:
    """3-5 subjects: the smallest attainable p (2 / 2^n) is above 0.05, so nothing is ever
    claimed, even where every subject's difference is large and of the same sign, and the
    reason says why."""
    rng = np.random.default_rng(2)
    shift = np.array([0.5, 0.5, 0, 0, 0, 0])
    old_rule = []
    for k in range(50):
        c = contrast(*_null(rng, n_sub, shift if k % 2 else None), SIX, ("a", "b"), seed=k)
        assert all(r["verdict"] == "inconclusive" for r in c.rows.values())
        assert all(f"{n_sub} subjects cannot give p <= 0.05" in r["why"] for r in c.rows.values())
        assert c.warning is not None and f"smallest attainable p-value is {2 / 2**n_sub:.4g}" in c.warning
        if k % 2 == 0:  # null draws: the replaced interval rule claimed a difference in some of them
            old_rule.append(any(r["difference_ci95"][0] > 0 or r["difference_ci95"][1] < 0 for r in c.rows.values()))
    assert np.mean(old_rule) > 0.1, np.mean(old_rule)


def test_a_planted_difference_is_found_at_eight_subjects() -> None:
    """Two of six regions shifted by about 2 SD of the subject differences: claimed in the
    right direction in >= 85 % of 100 draws; the four null regions in <= 5 %."""
    rng = np.random.default_rng(3)
    shift = np.array([0.15, 0.15, 0, 0, 0, 0])
    found, false = [], []
    for k in range(100):
        c = contrast(*_null(rng, 8, shift), SIX, ("a", "b"), seed=k)
        found.append([c.rows[r]["verdict"] == "a > b" for r in SIX[:2]])
        false.append([c.rows[r]["verdict"] != "inconclusive" for r in SIX[2:]])
    assert np.mean(found) >= 0.85 and np.mean(false) <= 0.05, (np.mean(found), np.mean(false))


def test_small_denominators_and_single_subjects_give_no_claim() -> None:
    c = contrast(np.array([[0.3]]), np.array([[0.1]]), ("V1",), ("a", "b"))
    row = c.rows["V1"]
    assert row["verdict"] == "inconclusive" and row["ci95"] is None and row["pvalue"] is None
    assert "no test" in row["why"] and c.n_tests == 0
    assert row["percent"] == pytest.approx(200.0)
    ramp = np.arange(8)[:, None] * 0.01
    near_zero = contrast(0.2 + ramp, np.full((8, 1), MIN_DENOMINATOR / 2) - ramp / 10, ("V1",), ("a", "b"))
    row = near_zero.rows["V1"]  # no percent of a near-zero denominator, but the test still decides
    assert row["percent"] is None and row["ci95"] is None and row["verdict"] == "a > b"
    with pytest.raises(ValueError, match=r"a and b must both be \(n_subjects, n_regions=2\)"):
        contrast(np.zeros((4, 2)), np.zeros((4, 3)), ("V1", "A1"), ("a", "b"))


def test_compare_families_reads_categories_from_the_runs_features_files(tmp_path: Path) -> None:
    pytest.importorskip("h5py")
    from brain.features.layout import ROOT, write_features

    def features_file(name: str, tuned: bool, modality: str) -> str:
        path = tmp_path / f"{name}.h5"
        write_features(path, {ROOT: None}, {ROOT: np.zeros((4, 1, 2), np.float32)}, np.zeros((4, 2)),
                       {"model": name, "instruction_tuned": tuned, "modality": modality})
        return str(path)

    def run(label: str, files: dict[str, str], values: dict[str, np.ndarray]):
        config = {"task": {"data": "files", "files": {"features": {s: {"train": f, "test": f}
                                                                     for s, f in files.items()}}}}
        result = SimpleNamespace(label=label, spaces=tuple(values), region_names=REGIONS, alignment=values)
        return result, SimpleNamespace(config=config)

    rng = np.random.default_rng(2)
    base = 0.3 + 0.05 * rng.standard_normal((6, 3))
    tuned_a = run("llava", {"video": features_file("llava", True, "video")}, {"video": base + 0.1})
    tuned_b = run("qwen", {"video": features_file("qwen", True, "video")}, {"video": base + 0.1})
    plain = run("videomae", {"video": features_file("videomae", False, "video")}, {"video": base})
    synthetic = (SimpleNamespace(label="synth", spaces=("audio",), region_names=REGIONS,
                                 alignment={"audio": base}), SimpleNamespace(config={"task": {"data": "synthetic"}}))
    pairs = [tuned_a, tuned_b, plain, synthetic]
    contrasts, names, notes = compare_families([p[0] for p in pairs], [p[1] for p in pairs])
    assert names == {"instruction-tuned video": ["llava / video", "qwen / video"], "unimodal video": ["videomae / video"]}
    assert any("synth / audio" in n for n in notes)
    (c,) = contrasts
    assert (c.a, c.b) == ("instruction-tuned video", "unimodal video")
    row = c.rows["all regions"]
    assert row["verdict"] == "instruction-tuned video > unimodal video"  # every subject +0.1: p = 2 / 2^6 in each row
    assert row["qvalue"] == pytest.approx(2 / 2**6) and c.n_tests == 4
    assert row["percent"] == pytest.approx(100 * 0.1 / base.mean(axis=1).mean())
