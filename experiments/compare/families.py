"""Model families compared as the paper compares them: instruction-tuned vs plain
(non-instruction) models of each modality, as a percent difference in normalised alignment,
decided by one exact test across subjects with FDR over regions.

A feature space's *category* comes from the features file it was read from (the attributes
``task=features`` stores: ``instruction_tuned``, ``modality``): ``instruction-tuned video``,
``instruction-tuned audio``, ``unimodal video``, ``unimodal audio``. Synthetic spaces and
files without those attributes are left out, and listed. No installed transformers family is
a non-instruction *multimodal* model (TVLT is not in transformers 5.x), so that category of
the paper stays empty unless a file says otherwise.

Per category and subject, the alignment (``experiments.compare.encoding.subject_alignment``:
best-layer normalised alignment per region) is averaged over the category's spaces (models).
For two categories A and B measured on the same subjects (``brain.comparison.contrast``), per
region and over all regions (each subject's mean over regions): an exact sign-flip test of
the paired subject differences, Benjamini-Hochberg FDR over the rows of the contrast (the
regions and the mean over regions; each pair of categories is its own family), and a verdict
``A > B`` or ``B > A`` only when q <= alpha, else ``inconclusive`` with the reason (always with
3-5 subjects: the smallest attainable p, 2 / 2^n, is above 0.05). The effect size is the
percent difference ``100 (mean_s a - mean_s b) / |mean_s b|`` with a 95 % t-interval of the
paired differences scaled by the same denominator (treated as fixed, so the interval
understates the uncertainty when B's mean is near zero: then the percent is not reported).

Unit of inference: subjects are random, models are fixed. The models of a category are
averaged per subject before the test, so a verdict says that these models differ on this
stimulus in a way that would recur in other subjects; it says nothing about other models of
the same kind (with one to three models per category, a test over models could not reach
significance anyway). The rule this replaces (a verdict wherever the t interval of a row
excluded zero, uncorrected) claimed a difference in 31 % of 400 null contrasts over six regions
with 8 subjects (this test: 0.75 %), and in 30-33 % at 3-5 subjects, where the exact test can
give nothing (``tests/experiments/test_compare_families.py``).
"""

from __future__ import annotations

import warnings
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from brain.comparison import FAMILY_FDR, FAMILY_UNIT, MIN_DENOMINATOR, Contrast, contrast


def category(attrs: dict[str, Any]) -> str | None:
    """The family category of a features file's root attributes, or None if unlabelled."""
    if "instruction_tuned" not in attrs or "modality" not in attrs:
        return None
    tuned = attrs["instruction_tuned"]
    tuned = bool(tuned) if not isinstance(tuned, str) else tuned.lower() == "true"
    multimodal = str(attrs["modality"]) in ("audio-visual", "audiovisual", "multimodal")
    kind = "instruction-tuned" if tuned else ("non-instruction" if multimodal else "unimodal")
    return f"{kind} {attrs['modality']}"


def file_attrs(path: str | Path) -> dict[str, Any]:
    """Root attributes of an HDF5 features file ({} for other formats or unreadable files)."""
    p = Path(path)
    if p.suffix not in (".h5", ".hdf5") or not p.is_file():
        return {}
    try:
        import h5py

        with h5py.File(p, "r") as f:
            return {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
    except (OSError, ValueError):
        return {}


def space_files(config: dict[str, Any]) -> dict[str, str]:
    """The features file (training) each real feature space of an encoding run read."""
    task = config.get("task", {})
    out: dict[str, str] = {}
    if task.get("data") == "files":
        for space, paths in (task.get("files", {}).get("features") or {}).items():
            if isinstance(paths, dict) and paths.get("train"):
                out[str(space)] = str(paths["train"])
    stim = task.get("stimulus_features") or {}
    if task.get("data", "synthetic") == "synthetic" and stim.get("file"):
        out[str(stim.get("space", "audio"))] = str(stim["file"])
    return out


def compare_families(results: list[Any], runs: list[Any], alpha: float = 0.05
                     ) -> tuple[list[Contrast], dict[str, list[str]], list[str]]:
    """Category contrasts of encoding runs (``results``: ``EncodingResult`` per run, same
    order as ``runs``), each tested at ``alpha`` (:func:`brain.comparison.contrast`). Returns
    the contrasts, {category: [run label / space]} and notes."""
    regions = tuple(n for n in results[0].region_names if all(n in r.region_names for r in results))
    members: dict[str, list[np.ndarray]] = {}
    names: dict[str, list[str]] = {}
    notes, unlabelled = [], []
    for res, run in zip(results, runs):
        files = space_files(run.config)
        for space in res.spaces:
            cat = category(file_attrs(files[space])) if space in files else None
            if cat is None:
                unlabelled.append(f"{res.label} / {space}")
                continue
            cols = [res.region_names.index(n) for n in regions]
            members.setdefault(cat, []).append(res.alignment[space][:, cols])
            names.setdefault(cat, []).append(f"{res.label} / {space}")
    if unlabelled:
        notes.append("left out (synthetic, or a features file without task=features' model attributes): "
                     + ", ".join(unlabelled))
    means = {}
    for cat, arrays in members.items():
        counts = {x.shape[0] for x in arrays}
        if len(counts) > 1:
            notes.append(f"{cat}: runs with different subject counts {sorted(counts)}; not compared")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            means[cat] = np.nanmean(np.stack(arrays), axis=0)
    contrasts = []
    for k, (ca, cb) in enumerate(combinations(sorted(means), 2)):
        if means[ca].shape[0] != means[cb].shape[0]:
            notes.append(f"{ca} vs {cb}: different subject counts; not compared")
            continue
        contrasts.append(contrast(means[ca], means[cb], regions, (ca, cb), alpha, seed=k))
    return contrasts, names, notes


def add_family_section(rep: Any, results: list[Any], runs: list[Any], alpha: float = 0.05) -> dict[str, Any]:
    """Append the family comparison to the report ``rep``; returns it as JSON-ready data
    (the members of each category, the notes and every contrast's :meth:`Contrast.to_dict`)."""
    contrasts, names, notes = compare_families(results, runs, alpha)
    rep.heading("Encoding: model families (instruction-tuned vs plain)")
    rep.text("Category of each feature space from its features file (task=features' attributes); per "
             "category and subject the alignment is averaged over its models. Test: exact sign-flip test across "
             f"subjects of the paired differences, per region and over all regions; {FAMILY_FDR}; a verdict only "
             f"where q <= {alpha}, else inconclusive with the reason (always with fewer than 6 subjects: the "
             "smallest attainable p, 2 / 2^n, is above 0.05). Unit of inference: " + FAMILY_UNIT + ". Effect size: "
             "percent difference = 100 (A - B) / |B| of the subject means, 95 % CI from the paired subject "
             f"differences (t), scaled by the same denominator (not given when |B| < {MIN_DENOMINATOR}). No installed "
             "family is a non-instruction multimodal model (TVLT is not in transformers 5.x).")
    for cat, members in names.items():
        rep.text(f"{cat}: {', '.join(members)}")
    for note in notes:
        rep.text(note)
    out = {"members": names, "notes": notes, "contrasts": [c.to_dict() for c in contrasts]}
    if not contrasts:
        rep.text("No two categories to compare (needs encoding runs on features of at least two categories).")
        return out
    for c in contrasts:
        if c.warning:
            rep.text(f"{c.a} vs {c.b}: {c.warning}.")

    def fmt(x: Any, ci: Any) -> str:
        if x is None:
            return "n/a"
        return f"{x:+.1f} %" + ("" if ci is None else f" [{ci[0]:+.1f}, {ci[1]:+.1f}]")

    rows = [[f"{c.a} vs {c.b}", region, r["n_subjects"], r["mean_a"], r["mean_b"], fmt(r["percent"], r["ci95"]),
             "-" if r["pvalue"] is None else r["pvalue"], "-" if r["qvalue"] is None else r["qvalue"], r["verdict"],
             r["why"]] for c in contrasts for region, r in c.rows.items()]
    rep.table(["A vs B", "region", "subjects", "mean A", "mean B", "A vs B (95 % CI)", "p", "q (BH)", "verdict",
               "why"], rows, fmt=".3f")
    return out
