"""Which noise ceiling normalises an encoding result and which voxels it keeps.

Pure NumPy. The ceiling is chosen from what the data allow (subjects, test presentations)
before anything is fitted; a voxel is kept when it is usable, its ceiling is significant
after BH-FDR over the subject's voxels and the ceiling is at least a minimum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from brain.stats import fdr_bh

CEILINGS = ("auto", "cross_subject", "split_half", "none")


@dataclass(frozen=True)
class CeilingChoice:
    """``kind``: the ceiling that normalises (cross_subject, split_half or none); ``why``: one
    sentence saying what the data allowed."""

    kind: str
    why: str


def choose_ceiling(requested: str, n_subjects: int, n_repeats: int) -> CeilingChoice:
    """The ceiling that normalises. ``auto``: cross_subject with >= 3 subjects, else split_half
    with >= 2 test repeats, else none. An explicit choice the data cannot give raises
    ``ValueError`` naming what the data have and what would work."""
    if requested not in CEILINGS:
        raise ValueError(f"task.ceiling={requested!r} is not one of: {', '.join(CEILINGS)}")
    have = f"{n_subjects} subject(s), {n_repeats} test presentation(s) per subject"
    if requested == "auto":
        if n_subjects >= 3:
            return CeilingChoice("cross_subject", f"auto: {have}; >= 3 subjects give the cross-subject ceiling")
        if n_repeats >= 2:
            return CeilingChoice("split_half", f"auto: {have}; < 3 subjects, so the split-half ceiling of the repeats")
        return CeilingChoice("none", f"auto: {have}; no noise ceiling is possible (needs >= 3 subjects or >= 2 "
                                     "repeats): scores are raw test r, not normalised")
    if requested == "cross_subject" and n_subjects < 3:
        raise ValueError(f"task.ceiling=cross_subject needs >= 3 subjects, the data have {have}; "
                         "use task.ceiling=auto, split_half (>= 2 repeats) or none")
    if requested == "split_half" and n_repeats < 2:
        raise ValueError(f"task.ceiling=split_half needs >= 2 test presentations per subject, the data have "
                         f"{have}; use task.ceiling=auto, cross_subject (>= 3 subjects) or none")
    why = "task.ceiling=none: scores are raw test r, not normalised" if requested == "none" else \
        f"task.ceiling={requested} ({have})"
    return CeilingChoice(requested, why)


def available_ceilings(split_half: dict[str, np.ndarray], test_means: np.ndarray, n_repeats: int, *,
                       n_bootstraps: int, n_permutations: int, extrapolation: str,
                       rng: np.random.Generator) -> dict[str, dict[str, np.ndarray]]:
    """Every ceiling the data allow, by the rules of :func:`choose_ceiling`: ``split_half``
    (the per-subject split-half result given, kept with >= 2 test presentations) and
    ``cross_subject`` (:func:`brain.noise_ceiling.cross_subject_ceiling` of ``test_means``,
    (n_subjects, n_test_trs, n_vox) cleaned, repeat-averaged test responses, with >= 3
    subjects), each {ceiling, pvalue, ...} of shape (n_subjects, n_vox)."""
    from brain.noise_ceiling import cross_subject_ceiling

    out = {}
    if n_repeats >= 2:
        out["split_half"] = split_half
    if test_means.shape[0] >= 3:
        cross = cross_subject_ceiling(test_means, n_bootstraps=n_bootstraps, rng=rng,
                                      n_permutations=n_permutations, extrapolation=extrapolation)
        out["cross_subject"] = {"ceiling": cross.ceiling, "pvalue": cross.pvalue}
    return out


@dataclass(frozen=True)
class VoxelSelection:
    """Per subject and voxel, (n_subjects, n_vox): ``keep`` and the disjoint reasons the others
    are left out (``bad``: constant or non-finite; ``not_significant``; ``below_min_ceiling``),
    which together cover every voxel; ``ceiling``: the float ceiling that normalises (1 for
    ``none``, NaN where bad)."""

    keep: np.ndarray
    bad: np.ndarray
    not_significant: np.ndarray
    below_min_ceiling: np.ndarray
    ceiling: np.ndarray

    def region_counts(self, labels: np.ndarray, names: tuple[str, ...]) -> dict[str, Any]:
        """Per region: total voxels and, per subject, how many are bad / not significant /
        below the minimum ceiling / kept."""
        out = {}
        for j, n in enumerate(names):
            in_r = np.asarray(labels) == j
            out[n] = {"total": int(in_r.sum())} | {
                k: [int(c) for c in getattr(self, k)[:, in_r].sum(axis=1)]
                for k in ("bad", "not_significant", "below_min_ceiling", "keep")}
        return out


def keep_voxels(kind: str, ceilings: dict[str, dict[str, np.ndarray]], bad: np.ndarray, fdr_alpha: float,
                min_ceiling: float) -> VoxelSelection:
    """Voxels normalised alignment is computed over, per subject, and why the others are not.

    ``ceilings[kind]``: {"ceiling", "pvalue"} each (n_subjects, n_vox); ``bad`` (n_subjects,
    n_vox). Kept = not bad, ceiling significant (BH-FDR over the subject's usable voxels at
    ``fdr_alpha``) and >= ``min_ceiling``; for ``none`` every usable voxel is kept (ceiling 1:
    raw r)."""
    bad = np.asarray(bad, bool)
    if kind == "none":
        none = np.zeros_like(bad)
        return VoxelSelection(~bad, bad, none, none, np.where(bad, np.nan, 1.0))
    if kind not in ceilings:
        raise ValueError(f"no {kind} ceiling was computed; have: {', '.join(ceilings) or 'none'}")
    ceiling, p = ceilings[kind]["ceiling"], ceilings[kind]["pvalue"]
    if np.shape(ceiling) != bad.shape or np.shape(p) != bad.shape:
        raise ValueError(f"the {kind} ceiling and p-values must be (n_subjects, n_vox) = {bad.shape}, got "
                         f"{np.shape(ceiling)} and {np.shape(p)}")
    sig = np.stack([fdr_bh(np.where(b, np.nan, ps), alpha=fdr_alpha).rejected for ps, b in zip(p, bad)])
    high = np.nan_to_num(ceiling, nan=-np.inf) >= min_ceiling
    return VoxelSelection(~bad & sig & high, bad, ~bad & ~sig, ~bad & sig & ~high, ceiling)
