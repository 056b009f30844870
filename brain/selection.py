"""Which noise ceiling normalises an encoding result and which voxels it keeps.

Pure NumPy. The ceiling is chosen from what the data allow (subjects, test presentations)
before anything is fitted. Which voxels are kept is decided on data independent of the
ceiling that divides (``SELECTIONS``):

- ``training_isc`` (the default wherever there are >= 2 subjects): a voxel is kept when its
  inter-subject correlation on the *training* data (:func:`training_isc`: each subject
  against the mean of the others, phase-randomisation p-value) is significant after BH-FDR
  over the subject's usable voxels. The training runs share no noise with the test
  presentations the ceiling and the test r come from, so keeping a voxel says nothing about
  its noise there and the kept voxels' ceilings are unbiased (selecting on the ceiling's own
  significance and size kept the voxels whose noise had pushed it up: 1.18-1.42x the truth
  in the kept voxels of the default run). No minimum is applied to the dividing ceiling per
  voxel for the same reason; the minimum applies to a region's mean ceiling instead
  (:func:`brain.layers.best_layer_alignment`).
- ``ceiling`` (the paper's rule, the only one with a single subject): kept when the ceiling
  itself is significant after BH-FDR and at least ``min_ceiling``; circular (the same noisy
  value selects and divides), so the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from brain.noise_ceiling import cross_subject_ceiling, signed_ceiling
from brain.stats import fdr_bh, phase_randomisation_test, zscore_columns

CEILINGS = ("auto", "cross_subject", "split_half", "none")
SELECTIONS = ("auto", "training_isc", "ceiling")  # auto: training_isc with >= 2 subjects, else ceiling


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
                       rng: np.random.Generator, segments: np.ndarray | None = None
                       ) -> dict[str, dict[str, np.ndarray]]:
    """Every ceiling the data allow, by the rules of :func:`choose_ceiling`: ``split_half``
    (the per-subject split-half result given, kept with >= 2 test presentations) and
    ``cross_subject`` (:func:`brain.noise_ceiling.cross_subject_ceiling` of ``test_means``,
    (n_subjects, n_test_trs, n_vox) cleaned, repeat-averaged test responses, with >= 3
    subjects), each {ceiling, pvalue, ...} of shape (n_subjects, n_vox); ``segments``: the
    test TRs' stimulus labels, for the phase-randomised p-values (None: one stimulus)."""
    out = {}
    if n_repeats >= 2:
        out["split_half"] = split_half
    if test_means.shape[0] >= 3:
        cross = cross_subject_ceiling(test_means, n_bootstraps=n_bootstraps, rng=rng,
                                      n_permutations=n_permutations, extrapolation=extrapolation,
                                      segments=segments)
        out["cross_subject"] = {"ceiling": cross.ceiling, "pvalue": cross.pvalue}
    return out


def choose_selection(requested: str, n_subjects: int) -> str:
    """The rule that keeps voxels: ``training_isc`` needs >= 2 subjects (``auto`` takes it
    there, else ``ceiling``); an explicit choice the data cannot give raises ``ValueError``."""
    if requested not in SELECTIONS:
        raise ValueError(f"task.selection={requested!r} is not one of: {', '.join(SELECTIONS)}")
    if requested == "auto":
        return "training_isc" if n_subjects >= 2 else "ceiling"
    if requested == "training_isc" and n_subjects < 2:
        raise ValueError(f"task.selection=training_isc needs >= 2 subjects (an inter-subject correlation), the "
                         f"data have {n_subjects}; use task.selection=auto or ceiling")
    return requested


def training_isc(y_train: np.ndarray, bad: np.ndarray, n_permutations: int, rng: np.random.Generator
                 ) -> dict[str, np.ndarray]:
    """Leave-one-out inter-subject correlation of the training responses: per subject and
    voxel, Pearson r between the subject and the mean of the other subjects' z-scored
    responses, and its one-sided phase-randomisation p-value
    (:func:`brain.stats.phase_randomisation_test`). ``y_train`` (n_subjects, n_trs, n_vox),
    cleaned training responses of subjects who saw the same training stimuli in the same
    order; ``bad`` (n_subjects, n_vox), unusable voxels (NaN there, and left out of the
    others' means). Returns {"isc", "pvalue"}, each (n_subjects, n_vox)."""
    y = np.asarray(y_train, float)
    bad = np.asarray(bad, bool)
    if y.ndim != 3 or y.shape[0] < 2:
        raise ValueError(f"y_train must be (n_subjects >= 2, n_trs, n_vox), got {y.shape}")
    if bad.shape != (y.shape[0], y.shape[2]):
        raise ValueError(f"bad must be (n_subjects, n_vox) = {(y.shape[0], y.shape[2])}, got {bad.shape}")
    z = np.stack([np.where(b, 0.0, zscore_columns(np.where(b, 0.0, ys))) for ys, b in zip(y, bad)])
    isc, p = np.full(bad.shape, np.nan), np.full(bad.shape, np.nan)
    for s in range(y.shape[0]):
        others = [o for o in range(y.shape[0]) if o != s]
        n_good = (~bad[others]).sum(axis=0)
        ok = ~bad[s] & (n_good > 0)
        if not ok.any():
            continue
        pool = z[others][:, :, ok].sum(axis=0) / n_good[ok]
        res = phase_randomisation_test(y[s][:, ok], pool, n_permutations, rng)
        isc[s, ok], p[s, ok] = res.r, res.pvalue
    return {"isc": isc, "pvalue": p}


@dataclass(frozen=True)
class VoxelSelection:
    """Per subject and voxel, (n_subjects, n_vox): ``keep`` and the disjoint reasons the others
    are left out (``bad``: constant or non-finite; ``not_significant``; ``below_min_ceiling``),
    which together cover every voxel; ``ceiling``: the float ceiling that normalises (1 for
    ``none``, NaN where bad; the split-half ceiling signed, ``sign(rel) sqrt(|rel|)``, so that
    means over voxels are not taken over its positive values only); ``rule``: what kept them;
    ``independent``: whether the kept voxels were chosen on data independent of ``ceiling``."""

    keep: np.ndarray
    bad: np.ndarray
    not_significant: np.ndarray
    below_min_ceiling: np.ndarray
    ceiling: np.ndarray
    rule: str = ""
    independent: bool = True

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


def _significant(p: np.ndarray, bad: np.ndarray, fdr_alpha: float) -> np.ndarray:
    """BH-FDR over each subject's usable voxels, (n_subjects, n_vox) bool."""
    return np.stack([fdr_bh(np.where(b, np.nan, ps), alpha=fdr_alpha).rejected for ps, b in zip(p, bad)])


def keep_voxels(kind: str, ceilings: dict[str, dict[str, np.ndarray]], bad: np.ndarray, fdr_alpha: float,
                min_ceiling: float, isc: dict[str, np.ndarray] | None = None) -> VoxelSelection:
    """Voxels normalised alignment is computed over, per subject, and why the others are not.

    ``ceilings[kind]``: {"ceiling", "pvalue"} each (n_subjects, n_vox) (and "reliability" for
    the split-half ceiling); ``bad`` (n_subjects, n_vox). With ``isc`` ({"isc", "pvalue"} of
    :func:`training_isc`): kept = not bad and training ISC significant (BH-FDR over the
    subject's usable voxels at ``fdr_alpha``), independent of the ceiling. Without: kept = not
    bad, ceiling significant and >= ``min_ceiling`` (circular). For ``none`` every usable voxel
    is kept (ceiling 1: raw r)."""
    bad = np.asarray(bad, bool)
    none = np.zeros_like(bad)
    if kind == "none":
        return VoxelSelection(~bad, bad, none, none, np.where(bad, np.nan, 1.0),
                              "no ceiling: every usable (not bad) voxel kept, alignment is raw test r")
    if kind not in ceilings:
        raise ValueError(f"no {kind} ceiling was computed; have: {', '.join(ceilings) or 'none'}")
    c = ceilings[kind]
    ceiling, p = (signed_ceiling(c["reliability"]) if "reliability" in c else c["ceiling"]), c["pvalue"]
    if np.shape(ceiling) != bad.shape or np.shape(p) != bad.shape:
        raise ValueError(f"the {kind} ceiling and p-values must be (n_subjects, n_vox) = {bad.shape}, got "
                         f"{np.shape(ceiling)} and {np.shape(p)}")
    ceiling = np.where(bad, np.nan, ceiling)
    if isc is not None:
        if np.shape(isc["pvalue"]) != bad.shape:
            raise ValueError(f"the training ISC p-values must be (n_subjects, n_vox) = {bad.shape}, got "
                             f"{np.shape(isc['pvalue'])}")
        sig = _significant(isc["pvalue"], bad, fdr_alpha)
        return VoxelSelection(~bad & sig, bad, ~bad & ~sig, none, ceiling,
                              f"kept = not bad and training-set inter-subject correlation FDR-significant "
                              f"(q <= {fdr_alpha}), independent of the {kind} ceiling that divides")
    sig = _significant(p, bad, fdr_alpha)
    high = np.nan_to_num(ceiling, nan=-np.inf) >= min_ceiling
    return VoxelSelection(~bad & sig & high, bad, ~bad & ~sig, ~bad & sig & ~high, ceiling,
                          f"kept = not bad, {kind} ceiling FDR-significant and >= min_ceiling {min_ceiling} "
                          "(circular: the same noisy ceiling selects and divides, so kept ceilings are biased "
                          "high)", independent=False)
