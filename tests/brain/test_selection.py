"""Ceiling choice and voxel selection (``brain.selection``): the rules, the refusals, and
the selection against a brute-force BH reference, on null and on planted ceilings."""

from __future__ import annotations

import numpy as np
import pytest

from brain.selection import choose_ceiling, keep_voxels


@pytest.mark.parametrize(("requested", "n_sub", "n_rep", "kind"), [
    ("auto", 3, 1, "cross_subject"), ("auto", 2, 2, "split_half"), ("auto", 1, 1, "none"),
    ("split_half", 5, 2, "split_half"), ("none", 5, 2, "none"), ("cross_subject", 3, 1, "cross_subject")])
def test_ceiling_choice(requested: str, n_sub: int, n_rep: int, kind: str) -> None:
    choice = choose_ceiling(requested, n_sub, n_rep)
    assert choice.kind == kind and f"{n_sub} subject(s)" in choice.why or requested == "none"


@pytest.mark.parametrize(("requested", "n_sub", "n_rep", "message"), [
    ("cross_subject", 2, 2, "needs >= 3 subjects, the data have 2 subject"),
    ("split_half", 4, 1, "needs >= 2 test presentations"), ("best", 4, 2, "is not one of: auto, cross_subject")])
def test_ceiling_choice_refusals(requested: str, n_sub: int, n_rep: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        choose_ceiling(requested, n_sub, n_rep)


def _bh_reference(p: np.ndarray, alpha: float) -> np.ndarray:
    """Benjamini-Hochberg by its definition: reject the k smallest, k the largest with p_(k) <= k alpha / m."""
    ok = np.isfinite(p)
    m, order = ok.sum(), np.argsort(np.where(ok, p, np.inf))
    k = max((i + 1 for i in range(m) if p[order[i]] <= (i + 1) * alpha / m), default=0)
    out = np.zeros(p.shape, bool)
    out[order[:k]] = True
    return out


def test_selection_against_reference_and_reasons_cover_every_voxel() -> None:
    rng = np.random.default_rng(0)
    n_sub, n_vox = 3, 200
    signal = np.arange(n_vox) < 60  # planted: 60 voxels with a real ceiling, tiny p-values
    p = np.where(signal, rng.uniform(0, 1e-4, (n_sub, n_vox)), rng.uniform(0, 1, (n_sub, n_vox)))
    ceiling = np.where(signal, rng.uniform(0.1, 0.8, (n_sub, n_vox)), rng.normal(0, 0.05, (n_sub, n_vox)))
    bad = rng.random((n_sub, n_vox)) < 0.05
    sel = keep_voxels("split_half", {"split_half": {"ceiling": ceiling, "pvalue": p}}, bad, 0.05, 0.3)
    for s in range(n_sub):
        sig = _bh_reference(np.where(bad[s], np.nan, p[s]), 0.05)
        np.testing.assert_array_equal(sel.keep[s], ~bad[s] & sig & (ceiling[s] >= 0.3))
    parts = np.stack([sel.keep, sel.bad, sel.not_significant, sel.below_min_ceiling]).astype(int)
    np.testing.assert_array_equal(parts.sum(axis=0), 1)  # disjoint and complete
    assert sel.keep[:, ~signal].sum() <= 3  # FDR false positives among 140 null voxels
    counts = sel.region_counts(signal.astype(int), ("null", "signal"))
    assert counts["signal"]["total"] == 60 and counts["null"]["keep"] == sel.keep[:, ~signal].sum(axis=1).tolist()


def test_selection_on_null_keeps_nothing_and_none_keeps_every_usable_voxel() -> None:
    rng = np.random.default_rng(1)
    kept = []
    for _ in range(1000):
        p = rng.uniform(0, 1, (1, 300))
        sel = keep_voxels("cross_subject", {"cross_subject": {"ceiling": np.ones((1, 300)), "pvalue": p}},
                          np.zeros((1, 300), bool), 0.05, 0.0)
        kept.append(sel.keep.any())
    assert np.mean(kept) <= 0.065  # BH under the complete null: any rejection with probability alpha (SE 0.007)
    bad = np.zeros((2, 5), bool)
    bad[0, 1] = True
    sel = keep_voxels("none", {}, bad, 0.05, 0.3)
    np.testing.assert_array_equal(sel.keep, ~bad)
    assert np.isnan(sel.ceiling[0, 1]) and sel.ceiling[1, 1] == 1.0


def test_selection_refuses_a_missing_or_misshapen_ceiling() -> None:
    bad = np.zeros((2, 5), bool)
    with pytest.raises(ValueError, match="no split_half ceiling was computed; have: none"):
        keep_voxels("split_half", {}, bad, 0.05, 0.1)
    with pytest.raises(ValueError, match=r"must be \(n_subjects, n_vox\) = \(2, 5\)"):
        keep_voxels("split_half", {"split_half": {"ceiling": np.ones((2, 4)), "pvalue": np.ones((2, 4))}},
                    bad, 0.05, 0.1)


def test_available_ceilings_follow_what_the_data_allow() -> None:
    """split_half only with >= 2 presentations, cross_subject only with >= 3 subjects; the
    cross-subject ceiling of a planted shared signal is high where it is planted and ~0 in
    pure-noise voxels (truth: corr(signal, signal + noise) = 1/sqrt(1.25) = 0.89)."""
    from brain.selection import available_ceilings

    rng = np.random.default_rng(0)
    signal = rng.standard_normal((200, 1))
    y = np.concatenate([signal + 0.5 * rng.standard_normal((4, 200, 10)), rng.standard_normal((4, 200, 10))], axis=2)
    half = {"ceiling": np.ones((4, 20)), "pvalue": np.zeros((4, 20))}
    kw = dict(n_bootstraps=20, n_permutations=50, extrapolation="spearman_brown")
    both = available_ceilings(half, y, 2, rng=np.random.default_rng(1), **kw)
    assert set(both) == {"split_half", "cross_subject"} and both["split_half"] is half
    c = both["cross_subject"]["ceiling"]
    assert c.shape == (4, 20) and abs(np.median(c[:, :10]) - 1 / np.sqrt(1.25)) < 0.05
    assert abs(np.median(c[:, 10:])) < 0.15
    assert set(available_ceilings(half, y, 1, rng=np.random.default_rng(1), **kw)) == {"cross_subject"}
    assert set(available_ceilings(half, y[:2], 2, rng=np.random.default_rng(1), **kw)) == {"split_half"}
    assert available_ceilings(half, y[:2], 1, rng=np.random.default_rng(1), **kw) == {}
