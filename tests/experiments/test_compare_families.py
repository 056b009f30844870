"""Model-family comparison: categories from features files, percent differences with CIs
that find a planted difference and, on null data, claim one at about the nominal rate."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from brain.comparison import MIN_DENOMINATOR, contrast
from experiments.compare.families import category, compare_families

REGIONS = ("V1", "A1", "STS")


def test_categories_from_the_attributes_task_features_stores() -> None:
    assert category({"instruction_tuned": True, "modality": "video"}) == "instruction-tuned video"
    assert category({"instruction_tuned": np.bool_(False), "modality": "audio"}) == "unimodal audio"
    assert category({"instruction_tuned": "False", "modality": "video"}) == "unimodal video"
    assert category({"modality": "video"}) is None and category({}) is None


def test_a_planted_difference_is_found_with_the_right_size() -> None:
    rng = np.random.default_rng(0)
    b = 0.4 + 0.05 * rng.standard_normal((8, 3))
    a = b + np.array([0.1, 0.0, -0.1]) + 0.01 * rng.standard_normal((8, 3))  # V1 up, A1 same, STS down
    c = contrast(a, b, REGIONS, ("tuned", "plain"))
    assert c.rows["V1"]["verdict"] == "tuned higher" and c.rows["STS"]["verdict"] == "plain higher"
    assert c.rows["A1"]["verdict"] == "inconclusive"
    lo, hi = c.rows["V1"]["ci95"]
    assert lo < 100 * 0.1 / b[:, 0].mean() < hi and lo > 0
    expected = 100 * (a[:, 0].mean() - b[:, 0].mean()) / b[:, 0].mean()
    assert c.rows["V1"]["percent"] == pytest.approx(expected)
    assert c.rows["all regions"]["n_subjects"] == 8


def test_null_differences_are_claimed_at_about_the_nominal_rate() -> None:
    """Same distribution for both categories, subjects correlated across categories (as
    real subjects are): the 95 % CI excludes zero in about 5 % of experiments, not more."""
    rng = np.random.default_rng(1)
    claims = []
    for _ in range(600):
        subject = 0.3 + 0.1 * rng.standard_normal((5, 1))
        a, b = (subject + 0.05 * rng.standard_normal((5, 1)) for _ in range(2))
        claims.append(contrast(a, b, ("V1",), ("a", "b")).rows["V1"]["verdict"] != "inconclusive")
    rate = np.mean(claims)
    assert 0.02 < rate < 0.085, rate  # binomial 600 x 0.05: 0.05 +- 0.018 (2 sd)


def test_small_denominators_and_single_subjects_give_no_claim() -> None:
    c = contrast(np.array([[0.3]]), np.array([[0.1]]), ("V1",), ("a", "b"))
    assert c.rows["V1"]["verdict"] == "inconclusive" and c.rows["V1"]["ci95"] is None
    assert c.rows["V1"]["percent"] == pytest.approx(200.0)
    near_zero = contrast(np.full((4, 1), 0.2) + [[0.0], [0.01], [0.02], [0.03]], np.full((4, 1), MIN_DENOMINATOR / 2),
                         ("V1",), ("a", "b"))
    assert near_zero.rows["V1"]["percent"] is None and near_zero.rows["V1"]["verdict"] == "a higher"


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
    assert row["verdict"] == "instruction-tuned video higher"
    assert row["percent"] == pytest.approx(100 * 0.1 / base.mean(axis=1).mean())
