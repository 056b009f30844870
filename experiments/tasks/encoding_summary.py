"""metrics.json of the encoding task from finished per-voxel scores: the library's ceiling
choice, voxel selection, variance partition and comparisons (``brain.selection``,
``brain.partition``, ``brain.comparison``) summarised per region and subject, with the
permutation-count limits and dead subjects logged.

Layers are always chosen by training cross-validation scores (``cv_score``), never by the
test r that is then reported.
"""

from __future__ import annotations

import logging
import math
from functools import partial
from typing import Any

import numpy as np

from brain.comparison import compare_spaces, instruction_analysis
from brain.dataset import EncodingData
from brain.layers import (
    best_layer_alignment,
    best_layer_depth,
    best_layer_significant,
    best_layer_values,
    region_curves,
    region_means,
)
from brain.noise_ceiling import normalised_alignment, signed_ceiling
from brain.ridge import check_alphas, grid_edges
from brain.selection import CeilingChoice
from brain.stacking import stack_summary
from brain.stats import fdr_bh, t_interval
from brain.stats import permutation_limits as stats_permutation_limits
from experiments.settings import RunSettings

log = logging.getLogger("callosum")
CROSS_SUBJECT_NOTE = ("the cross-subject ceiling (Brain-Score extrapolation) underestimates low ceilings: "
                      "about 0.83x the truth at a true ceiling of 0.45, within 10 % only above ~0.75, so "
                      "normalised alignment comes out high (it can exceed 1) where the SNR is low; it also "
                      "counts only the response shared across subjects (task.ceiling_fit=spearman_brown "
                      "gives the unbiased attenuation-corrected limit)")


def json_safe(obj: Any) -> Any:
    """``obj`` with NaN/inf floats as None (metrics.json is strict JSON) and numpy scalars as Python."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _subject_mean(values: np.ndarray, names: tuple[str, ...]) -> dict[str, float]:
    """Mean over subjects (finite ones) of (n_subjects, n_regions); NaN if none is finite."""
    out = {}
    for j, n in enumerate(names):
        v = values[:, j][np.isfinite(values[:, j])]
        out[n] = float(v.mean()) if v.size else float("nan")
    return out


def _subject_ci(values: np.ndarray, names: tuple[str, ...]) -> dict[str, list[float] | None]:
    """95 % t-interval over subjects (finite ones) of (n_subjects, n_regions); None below 2."""
    out = {}
    for j, n in enumerate(names):
        mean, half, k = t_interval(values[:, j][np.isfinite(values[:, j])])
        out[n] = [mean - half, mean + half] if k >= 2 else None
    return out


def _bootstrap_ci(boot: dict[str, Any] | None, space: str, names: tuple[str, ...]) -> dict[str, Any] | None:
    """The block bootstrap's 95 % interval of the subject-mean alignment per region (None when
    no bootstrap ran; a region's None where too few draws were finite)."""
    if not boot:
        return None
    ci = boot[space].ci95
    return {"block_trs": boot[space].block, "n_bootstraps": int(boot[space].draws.shape[0]),
            "what": "2.5-97.5 percentiles over circular block resamples of the test TRs (the same blocks for every "
                    "subject; r and ceiling recomputed; kept voxels and best layers fixed): the uncertainty from the "
                    "test data, for these subjects",
            "ci95": {n: (ci[j].tolist() if np.all(np.isfinite(ci[j])) else None) for j, n in enumerate(names)}}


def above_one(align: np.ndarray, r_best: np.ndarray, ceiling: np.ndarray, labels: np.ndarray,
              names: tuple[str, ...], min_ceiling: float) -> dict[str, Any]:
    """Normalised values above 1 (a model cannot beat the noise ceiling: above 1 is the
    ceiling's estimation error), flagged and counted: per region the subjects whose
    aggregate ratio ``align`` (n_subjects, n_regions) exceeds 1, and the kept voxels whose
    own ratio ``r_best / ceiling`` (each (n_subjects, n_vox), NaN where not kept) does, with
    the largest such ratio."""
    per_voxel = normalised_alignment(r_best, ceiling, min_ceiling=min_ceiling, significant=np.isfinite(r_best))
    finite = np.isfinite(per_voxel)
    out = {"regions": [n for j, n in enumerate(names) if np.any(align[:, j] > 1)],
           "subjects": {n: int(np.sum(align[:, j] > 1)) for j, n in enumerate(names)},
           "voxels": {n: int(np.sum(per_voxel[:, labels == j] > 1)) for j, n in enumerate(names)},
           "voxels_with_a_ratio": int(finite.sum()),
           "max_voxel_ratio": float(np.max(per_voxel[finite])) if finite.any() else float("nan")}
    if out["regions"]:
        log.warning("normalised alignment above 1 in %s (ceiling estimation error; see above_one in metrics.json)",
                    ", ".join(out["regions"]))
    return out


def _alpha_edges(best_alphas: np.ndarray, bad: np.ndarray, alphas: np.ndarray) -> dict[str, Any]:
    """Per subject: voxels at the alpha grid's smallest / largest value, per layer."""
    out = {}
    for s, (per_layer, b) in enumerate(zip(best_alphas, bad)):
        e = [grid_edges(a[~b], alphas) for a in per_layer]
        out[f"subject_{s:02d}"] = {k: [x[k] for x in e] for k in ("n_at_min", "n_at_max", "n_voxels")}
    return out


def dead_subjects(bad_voxels: np.ndarray, cfg: RunSettings) -> list[dict[str, Any]]:
    """Subjects with no usable voxel (all constant or non-finite: a dead recording), which
    every mean over subjects leaves out; named (their BOLD file, for task.data=files) and
    logged as a warning."""
    files = list(cfg.task.files.bold) if cfg.task.data == "files" else []
    out = []
    for s in np.flatnonzero(np.all(bad_voxels, axis=1)):
        entry = {"subject": int(s), "why": "every voxel is constant or non-finite"}
        if s < len(files):
            entry["file"] = str(files[s])
        out.append(entry)
        log.warning("subject %d%s: every voxel is constant or non-finite; left out of every mean over subjects",
                    s, f" ({files[s]})" if s < len(files) else "")
    return out


def permutation_limits(data: EncodingData, res: dict[str, Any], cfg: RunSettings, kind: str) -> dict[str, Any]:
    """:func:`brain.stats.permutation_limits` of the p-values that select the kept voxels (the
    training ISC's, or the ceiling's) and of
    every test-r map, each limited case logged as a warning with the permutation count that
    would let a single voxel pass."""
    t = cfg.task
    n = t.n_permutations
    isc = res.get("isc")
    selects = None if kind == "none" else (isc["pvalue"] if isc is not None else res["ceilings"][kind]["pvalue"])
    what = "training-set inter-subject correlation" if isc is not None else f"{kind} ceiling"
    out = stats_permutation_limits(selects, dict(zip(data.spaces, res["pvalues"])), data.bad_voxels, n, t.fdr_alpha)
    if "ceiling" in out:
        out["ceiling"]["selected_on"] = what  # the p-values that keep voxels
    advice = f"raise task.n_permutations (>= {out['enough_for_one_voxel']} lets a single voxel pass)"
    for s in (out.get("ceiling") or {}).get("limited_subjects", []):
        log.warning("subject %d: no voxel's %s is FDR-significant, but %d voxels reach the smallest "
                    "p-value %d permutations allow (1/%d) and BH over its voxels needs %d there: the "
                    "permutation count, not the data, kept every voxel out; %s", s, what,
                    out["ceiling"]["at_floor"][s], n, n + 1, out["ceiling"]["needed_at_floor"][s], advice)
    if out["test_r_limited"]:
        log.warning("%d (space, layer, subject) test-r maps have no FDR-significant voxel although some reach "
                    "the smallest p-value %d permutations allow: their significant_voxels counts are 0 because "
                    "of the permutation count; %s", len(out["test_r_limited"]), n, advice)
    return out


def summarise(data: EncodingData, res: dict[str, Any], cfg: RunSettings, choice: CeilingChoice
              ) -> dict[str, Any]:
    """metrics.json content (NaN as null): see the README's encoding section for the keys."""
    t, names, labels = cfg.task, data.region_names, data.region
    masks = res["masks"]
    keep, ceiling = masks.keep, masks.ceiling
    kind = choice.kind
    out: dict[str, Any] = {"subjects": int(keep.shape[0]), "voxels": int(keep.shape[1]), "regions": list(names),
                           "n_repeats": data.n_repeats, "notes": list(data.notes), "settings": res["settings"]}
    if data.study:
        out["study"] = data.study  # where the data came from: runs, stimuli, split, confounds, features
    out["excluded_subjects"] = dead_subjects(data.bad_voxels, cfg)
    counts = masks.region_counts(labels, names)
    out["ceiling"] = {
        "normalises": kind, "why": choice.why, "normalised": kind != "none",
        "min_ceiling": t.min_ceiling, "fdr_alpha": t.fdr_alpha, "rule": masks.rule,
        "selection": res["settings"]["selection"], "independent_of_ceiling": masks.independent,
        "min_region_voxels": t.min_region_voxels,
        "voxels": counts, "no_voxels_kept": [n for n in names if not any(counts[n]["keep"])]}
    if res.get("isc") is not None:
        isc = res["isc"]
        out["ceiling"]["training_isc"] = {
            "mean": region_means(np.nanmean(isc["isc"], axis=0), labels, names),
            "significant_voxels": {n: float(masks.keep[:, labels == j].sum(axis=1).mean()) for j, n in enumerate(names)}}
    for name, c in res["ceilings"].items():
        sig = np.stack([fdr_bh(p, alpha=t.fdr_alpha).rejected for p in c["pvalue"]])
        # the split-half ceiling exists only where the reliability is > 0: its region mean is over
        # sign(rel) sqrt(|rel|), so that noise voxels count (and average ~0) instead of being dropped
        value = signed_ceiling(c["reliability"]) if "reliability" in c else c["ceiling"]
        out["ceiling"][name] = {"mean": region_means(np.nanmean(np.where(data.bad_voxels, np.nan, value),
                                                                axis=0), labels, names),
                                "significant_voxels": {n: float(sig[:, labels == j].sum(axis=1).mean())
                                                       for j, n in enumerate(names)}}
        if name == "cross_subject":
            fit = t.ceiling_fit
            out["ceiling"][name]["fit"] = fit
            if fit == "exponential":
                out["ceiling"][name]["note"] = CROSS_SUBJECT_NOTE
    out["permutation_floor"] = permutation_limits(data, res, cfg, kind)
    alphas = check_alphas(None if t.alphas is None else list(t.alphas))
    out["spaces"], per_subject = {}, {}
    min_c = t.min_ceiling if kind != "none" else 1e-12
    for i, space in enumerate(data.spaces):
        r, cv = res["r"][i], res["cv_score"][i]  # (n_subjects, n_layers, n_vox)
        sig = np.stack([[fdr_bh(np.where(b, np.nan, p), alpha=t.fdr_alpha).rejected for p in subj]
                        for subj, b in zip(res["pvalues"][i], data.bad_voxels)])
        ratio = partial(best_layer_alignment, ceiling=ceiling, keep_mask=keep, labels=labels, names=names,
                        min_ceiling=min_c, min_voxels=t.min_region_voxels)
        layers = {f"layer_{k:02d}": {
            "mean_r": float(np.nanmean(np.where(data.bad_voxels, np.nan, r[:, k]))),
            "mean_cv_score": float(np.nanmean(np.where(data.bad_voxels, np.nan, cv[:, k]))),
            "normalised_alignment": _subject_mean(ratio(r[:, k:k + 1], np.zeros_like(r[:, k:k + 1])), names),
            "significant_voxels": float(sig[:, k].sum(axis=1).mean())} for k in range(r.shape[1])}
        align = ratio(r, cv)
        sig_best = best_layer_significant(res["pvalues"][i], cv, keep, t.fdr_alpha)
        depth = best_layer_depth(cv, sig_best, labels, names, min_voxels=t.min_region_voxels)
        per_subject[space] = align
        out["spaces"][space] = {
            "layers": layers,
            "best_layer_alignment": _subject_mean(align, names),
            "best_layer_alignment_ci95": _subject_ci(align, names),
            "best_layer_alignment_per_subject": {n: align[:, j].tolist() for j, n in enumerate(names)},
            "best_layer_alignment_per_voxel": _subject_mean(ratio(r, cv, per_voxel=True), names),
            "best_layer_alignment_bootstrap_ci95": _bootstrap_ci(res.get("bootstrap"), space, names),
            "above_one": above_one(align, best_layer_values(r, cv, keep), ceiling, labels, names, min_c),
            "best_layer_depth": _subject_mean(depth, names),
            "best_layer_depth_voxels": {n: float(sig_best[:, labels == j].sum(axis=1).mean())
                                        for j, n in enumerate(names)},
            "no_voxels_kept": [n for j, n in enumerate(names) if not np.isfinite(align[:, j]).any()],
            "alpha_edges": _alpha_edges(res["best_alphas"][i], data.bad_voxels, alphas),
            "layer_curves_r": region_curves(np.nanmean(np.where(data.bad_voxels[:, None], np.nan, r), axis=0),
                                            labels, names),
            "layer_curves_cv": region_curves(np.nanmean(np.where(data.bad_voxels[:, None], np.nan, cv), axis=0),
                                             labels, names),
        }
        if "stacked" in res:
            st = res["stacked"]
            out["spaces"][space]["stacked"] = stack_summary(st["r"][i], st["weights"][i], r, cv, st["pvalues"][i],
                                                            data.bad_voxels, labels, names, t.fdr_alpha)
    if data.parcels is not None:
        from brain.parcels import parcel_table

        out["parcels"] = {"atlas": data.parcels.source, "n": len(data.parcels.names),
                          "fit": "each parcel's mean time series (voxels in no parcel left out)",
                          "table": parcel_table(data.parcels, data.region, names, data.spaces, res["r"],
                                                res["cv_score"], res["pvalues"], keep, ceiling, data.bad_voxels,
                                                t.fdr_alpha)}
    if len(data.spaces) == 2 and keep.shape[0] >= 2:
        out["comparison"] = compare_spaces(*(per_subject[sp] for sp in data.spaces), names, data.spaces,
                                           t.fdr_alpha, cfg.seed).to_dict()
    vp = res.get("variance_partition")
    if vp is not None:
        a, b = (data.spaces[i] for i in vp.pair)
        rename = {"r2_a": f"r2_{a}", "r2_b": f"r2_{b}", "r2_joint": "r2_joint", "split_a": f"split_r2_{a}",
                  "split_b": f"split_r2_{b}", "unique_a": f"unique_{a}", "unique_b": f"unique_{b}",
                  "shared": "shared"}
        out["variance_partition"] = {new: _subject_mean(np.stack([
            [region_means(vp.parts[old][s], labels, names)[n] for n in names] for s in range(keep.shape[0])]), names)
            for old, new in rename.items()}
        out["variance_partition"]["layers"] = vp.layers
        out["variance_partition"]["alpha_edges"] = vp.alpha_edges
        if len(data.instructions) >= 2:
            out["variance_partition"]["pair"] = [a, b]
    if len(data.instructions) >= 2:
        out["instructions"] = instruction_analysis(data.instructions, per_subject, names, labels,
                                                   res["instruction_map"], t.fdr_alpha, cfg.seed,
                                                   min_voxels=t.min_region_voxels).to_dict()
    return json_safe(out)
