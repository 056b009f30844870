"""Statistics of the encoding task on finished per-voxel scores: which ceiling normalises and
which voxels it keeps, variance partitioning without circular layer choice, and metrics.json.

Layers are always chosen by training cross-validation scores (``cv_score``), never by the
test r that is then reported.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from brain.banded import BandedRidgeEncoder
from brain.dataset import EncodingData
from brain.layers import best_layer_alignment, best_layer_depth, region_curves, region_means, variance_partition
from brain.noise_ceiling import normalised_alignment
from brain.ridge import check_alphas, grid_edges
from brain.stats import fdr_bh, sign_flip_test

log = logging.getLogger("callosum")
CEILINGS = ("auto", "cross_subject", "split_half", "none")
CROSS_SUBJECT_NOTE = ("the cross-subject ceiling (Brain-Score extrapolation) underestimates low ceilings: "
                      "about 0.83x the truth at a true ceiling of 0.45, within 10 % only above ~0.75, so "
                      "normalised alignment comes out high (it can exceed 1) where the SNR is low; it also "
                      "counts only the response shared across subjects (task.ceiling_fit=spearman_brown "
                      "gives the unbiased attenuation-corrected limit)")


def choose_ceiling(requested: str, n_subjects: int, n_repeats: int) -> tuple[str, str]:
    """(ceiling that normalises, why). ``auto``: cross_subject with >= 3 subjects, else
    split_half with >= 2 test repeats, else none. An explicit choice the data cannot give
    raises ``ValueError`` (before any fitting)."""
    if requested not in CEILINGS:
        raise ValueError(f"task.ceiling={requested!r} is not one of: {', '.join(CEILINGS)}")
    have = f"{n_subjects} subject(s), {n_repeats} test presentation(s) per subject"
    if requested == "auto":
        if n_subjects >= 3:
            return "cross_subject", f"auto: {have}; >= 3 subjects give the cross-subject ceiling"
        if n_repeats >= 2:
            return "split_half", f"auto: {have}; < 3 subjects, so the split-half ceiling of the repeats"
        return "none", (f"auto: {have}; no noise ceiling is possible (needs >= 3 subjects or >= 2 repeats): "
                        "scores are raw test r, not normalised")
    if requested == "cross_subject" and n_subjects < 3:
        raise ValueError(f"task.ceiling=cross_subject needs >= 3 subjects, the data have {have}; "
                         "use task.ceiling=auto, split_half (>= 2 repeats) or none")
    if requested == "split_half" and n_repeats < 2:
        raise ValueError(f"task.ceiling=split_half needs >= 2 test presentations per subject, the data have "
                         f"{have}; use task.ceiling=auto, cross_subject (>= 3 subjects) or none")
    why = "task.ceiling=none: scores are raw test r, not normalised" if requested == "none" else \
        f"task.ceiling={requested} ({have})"
    return requested, why


def keep_voxels(kind: str, ceilings: dict[str, dict[str, np.ndarray]], bad: np.ndarray, fdr_alpha: float,
                min_ceiling: float) -> dict[str, np.ndarray]:
    """Voxels normalised alignment is computed over, per subject, and why the others are not.

    ``ceilings[kind]``: {"ceiling", "pvalue"} each (n_subjects, n_vox); ``bad`` (n_subjects,
    n_vox). Kept = not bad, ceiling significant (BH-FDR over the subject's voxels at
    ``fdr_alpha``) and >= ``min_ceiling``; for ``none`` every usable voxel is kept (ceiling
    1: raw r). Returns bool arrays (n_subjects, n_vox): keep, bad, not_significant,
    below_min_ceiling (disjoint; they add up to all voxels), and the float ceiling."""
    bad = np.asarray(bad, bool)
    if kind == "none":
        none = np.zeros_like(bad)
        return {"keep": ~bad, "bad": bad, "not_significant": none, "below_min_ceiling": none,
                "ceiling": np.where(bad, np.nan, 1.0)}
    ceiling, p = ceilings[kind]["ceiling"], ceilings[kind]["pvalue"]
    sig = np.stack([fdr_bh(np.where(b, np.nan, ps), alpha=fdr_alpha).rejected for ps, b in zip(p, bad)])
    high = np.nan_to_num(ceiling, nan=-np.inf) >= min_ceiling
    return {"keep": ~bad & sig & high, "bad": bad, "not_significant": ~bad & ~sig,
            "below_min_ceiling": ~bad & sig & ~high, "ceiling": ceiling}


def _region_counts(masks: dict[str, np.ndarray], labels: np.ndarray, names: tuple[str, ...]) -> dict[str, Any]:
    """Per region: total voxels and, per subject, how many are bad / not significant / below
    the minimum ceiling / kept."""
    out = {}
    for j, n in enumerate(names):
        in_r = labels == j
        out[n] = {"total": int(in_r.sum())} | {
            k: [int(c) for c in masks[k][:, in_r].sum(axis=1)]
            for k in ("bad", "not_significant", "below_min_ceiling", "keep")}
    return out


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


def partition_variance(data: EncodingData, res: dict[str, Any], cfg: DictConfig, prepared: Any
                       ) -> dict[str, Any]:
    """Variance partitioning of the two feature spaces, per subject and region.

    For each region, each space's layer is the one with the best mean training CV score over
    the region's usable voxels (never the test score); a banded ridge on both layers is fit
    on those voxels (once per distinct layer pair). Returns per-voxel (n_subjects, n_vox)
    arrays: r2_a, r2_b (test R^2 of each space alone, from its own ridge), r2_joint (banded),
    split_a, split_b (himalaya's split R^2 of the joint model), unique_a = joint - r2_b,
    unique_b = joint - r2_a, shared = r2_a + r2_b - joint; plus the chosen layers and the
    joint models' alpha-grid edge counts. Nothing is clipped."""
    t = cfg.task
    n_sub, n_vox = data.bold_train.shape[0], data.bold_train.shape[-1]
    keys = ("r2_a", "r2_b", "r2_joint", "split_a", "split_b", "unique_a", "unique_b", "shared")
    out = {k: np.full((n_sub, n_vox), np.nan) for k in keys}
    layers, edges = [], []
    from tqdm.auto import tqdm

    for s in tqdm(range(n_sub), desc="variance partition", unit="subject"):
        y_train, y_test, x_train, x_test, runs = prepared(s)
        usable = ~data.bad_voxels[s]
        pairs: dict[tuple[int, int], np.ndarray] = {}
        chosen = {}
        for j, name in enumerate(data.region_names):
            vox = usable & (data.region == j)
            if not vox.any():
                continue
            pair = tuple(int(np.nanargmax(np.nanmean(res["cv_score"][i][s][:, vox], axis=1))) for i in (0, 1))
            chosen[name] = list(pair)
            pairs[pair] = pairs.get(pair, np.zeros(n_vox, bool)) | vox
        sub_edges = {"n_at_min": 0, "n_at_max": 0, "n_voxels": 0}
        for (la, lb), vox in pairs.items():
            sp = data.spaces
            joint = BandedRidgeEncoder(delays=prepared.delays, cv=int(t.cv), score_cv=str(t.score_cv),
                                       alphas=None if t.alphas is None else list(t.alphas))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserWarning)
                joint.fit([x_train[sp[0]][la], x_train[sp[1]][lb]], y_train[:, vox], runs=runs)
            for w in caught:  # alpha-grid edges: counted in alpha_edges and the report, logged at debug level
                log.debug("variance partition, subject %d, layers (%d, %d): %s", s, la, lb, w.message)
            for k in sub_edges:
                sub_edges[k] += int(joint.alpha_edges_[k])
            test = [x_test[sp[0]][la], x_test[sp[1]][lb]]
            a, b = res["r2"][0][s][la, vox], res["r2"][1][s][lb, vox]
            ab = np.asarray(joint.score_r2(test, y_test[:, vox]))
            split = np.asarray(joint.score_split(test, y_test[:, vox]))
            p = variance_partition(a, b, ab)
            for k, v in zip(keys, (a, b, ab, split[0], split[1], p["unique_a"], p["unique_b"], p["shared"])):
                out[k][s, vox] = v
        layers.append(chosen)
        edges.append(sub_edges)
    return out | {"layers": layers, "alpha_edges": edges}


def _alpha_edges(best_alphas: np.ndarray, bad: np.ndarray, alphas: np.ndarray) -> dict[str, Any]:
    """Per subject: voxels at the alpha grid's smallest / largest value, per layer."""
    out = {}
    for s, (per_layer, b) in enumerate(zip(best_alphas, bad)):
        e = [grid_edges(a[~b], alphas) for a in per_layer]
        out[f"subject_{s:02d}"] = {k: [x[k] for x in e] for k in ("n_at_min", "n_at_max", "n_voxels")}
    return out


def _comparison(a: np.ndarray, b: np.ndarray, names: tuple[str, ...], alpha: float,
                spaces: tuple[str, ...], seed: int) -> dict[str, Any]:
    """Sign-flip test across subjects of best-layer alignment, space a - space b, per region
    (subjects where both are finite; null with < 2)."""
    per_region, floors, messages = {}, [], []
    for j, n in enumerate(names):
        ok = np.isfinite(a[:, j]) & np.isfinite(b[:, j])
        if ok.sum() < 2:
            per_region[n] = None
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            res = sign_flip_test(a[ok, j:j + 1], b[ok, j:j + 1], alpha=alpha,
                                 rng=np.random.default_rng([seed, 30_000, j]))
        messages += [str(w.message) for w in caught]
        floors.append(res.min_pvalue)
        per_region[n] = {"mean_difference": float(res.mean_difference[0]), "pvalue": float(res.pvalue[0]),
                         "min_pvalue": res.min_pvalue, "n_subjects": res.n_subjects}
    min_p = min(floors) if floors else float("nan")
    warning = messages[0] if messages else None
    return {"spaces": list(spaces), "test": "sign_flip (two-sided, exact over subjects' signs)",
            "alpha": alpha, "min_attainable_pvalue": min_p, "warning": warning, "per_region": per_region}


def dead_subjects(bad_voxels: np.ndarray, cfg: DictConfig) -> list[dict[str, Any]]:
    """Subjects with no usable voxel (all constant or non-finite: a dead recording), which
    every mean over subjects leaves out; named (their BOLD file, for task.data=files) and
    logged as a warning."""
    files = list(OmegaConf.select(cfg, "task.files.bold", default=None) or []) if cfg.task.get("data") == "files" else []
    out = []
    for s in np.flatnonzero(np.all(bad_voxels, axis=1)):
        entry = {"subject": int(s), "why": "every voxel is constant or non-finite"}
        if s < len(files):
            entry["file"] = str(files[s])
        out.append(entry)
        log.warning("subject %d%s: every voxel is constant or non-finite; left out of every mean over subjects",
                    s, f" ({files[s]})" if s < len(files) else "")
    return out


def summarise(data: EncodingData, res: dict[str, Any], cfg: DictConfig, ceiling_info: dict[str, str]
              ) -> dict[str, Any]:
    """metrics.json content (NaN as null): see the README's encoding section for the keys."""
    t, names, labels = cfg.task, data.region_names, data.region
    masks = res["masks"]
    keep, ceiling = masks["keep"], masks["ceiling"]
    kind = ceiling_info["kind"]
    out: dict[str, Any] = {"subjects": int(keep.shape[0]), "voxels": int(keep.shape[1]), "regions": list(names),
                           "n_repeats": data.n_repeats, "notes": list(data.notes), "settings": res["settings"]}
    out["excluded_subjects"] = dead_subjects(data.bad_voxels, cfg)
    counts = _region_counts(masks, labels, names)
    out["ceiling"] = {
        "normalises": kind, "why": ceiling_info["why"], "normalised": kind != "none",
        "min_ceiling": float(t.min_ceiling), "fdr_alpha": float(t.fdr_alpha),
        "rule": "kept = not bad, ceiling FDR-significant and >= min_ceiling" if kind != "none"
        else "no ceiling: every usable (not bad) voxel kept, alignment is raw test r",
        "voxels": counts, "no_voxels_kept": [n for n in names if not any(counts[n]["keep"])]}
    for name, c in res["ceilings"].items():
        sig = np.stack([fdr_bh(p, alpha=float(t.fdr_alpha)).rejected for p in c["pvalue"]])
        out["ceiling"][name] = {"mean": region_means(np.nanmean(np.where(data.bad_voxels, np.nan, c["ceiling"]),
                                                                axis=0), labels, names),
                                "significant_voxels": {n: float(sig[:, labels == j].sum(axis=1).mean())
                                                       for j, n in enumerate(names)}}
        if name == "cross_subject":
            fit = str(t.get("ceiling_fit", "exponential"))
            out["ceiling"][name]["fit"] = fit
            if fit == "exponential":
                out["ceiling"][name]["note"] = CROSS_SUBJECT_NOTE
    alphas = check_alphas(None if t.alphas is None else list(t.alphas))
    out["spaces"], per_subject = {}, {}
    for i, space in enumerate(data.spaces):
        r, cv = res["r"][i], res["cv_score"][i]  # (n_subjects, n_layers, n_vox)
        norm = normalised_alignment(r, np.broadcast_to(ceiling[:, None, :], r.shape), min_ceiling=1e-12,
                                    significant=keep[:, None, :])
        sig = np.stack([[fdr_bh(np.where(b, np.nan, p), alpha=float(t.fdr_alpha)).rejected for p in subj]
                        for subj, b in zip(res["pvalues"][i], data.bad_voxels)])
        layers = {f"layer_{k:02d}": {
            "mean_r": float(np.nanmean(np.where(data.bad_voxels, np.nan, r[:, k]))),
            "mean_cv_score": float(np.nanmean(np.where(data.bad_voxels, np.nan, cv[:, k]))),
            "normalised_alignment": region_means(norm[:, k], labels, names),
            "significant_voxels": float(sig[:, k].sum(axis=1).mean())} for k in range(r.shape[1])}
        align = best_layer_alignment(r, cv, np.where(np.isfinite(ceiling), ceiling, 0.0), keep, labels, names,
                                     min_ceiling=float(t.min_ceiling) if kind != "none" else 1e-12)
        depth = best_layer_depth(cv, keep, labels, names)
        per_subject[space] = align
        out["spaces"][space] = {
            "layers": layers,
            "best_layer_alignment": _subject_mean(align, names),
            "best_layer_alignment_per_subject": {n: align[:, j].tolist() for j, n in enumerate(names)},
            "best_layer_depth": _subject_mean(depth, names),
            "no_voxels_kept": [n for j, n in enumerate(names) if not np.isfinite(align[:, j]).any()],
            "alpha_edges": _alpha_edges(res["best_alphas"][i], data.bad_voxels, alphas),
            "layer_curves_r": region_curves(np.nanmean(np.where(data.bad_voxels[:, None], np.nan, r), axis=0),
                                            labels, names),
            "layer_curves_cv": region_curves(np.nanmean(np.where(data.bad_voxels[:, None], np.nan, cv), axis=0),
                                             labels, names),
        }
    if len(data.spaces) == 2 and keep.shape[0] >= 2:
        out["comparison"] = _comparison(*(per_subject[sp] for sp in data.spaces), names, float(t.fdr_alpha),
                                        data.spaces, int(cfg.seed))
    vp = res.get("variance_partition")
    if vp is not None:
        a, b = data.spaces
        rename = {"r2_a": f"r2_{a}", "r2_b": f"r2_{b}", "r2_joint": "r2_joint", "split_a": f"split_r2_{a}",
                  "split_b": f"split_r2_{b}", "unique_a": f"unique_{a}", "unique_b": f"unique_{b}",
                  "shared": "shared"}
        out["variance_partition"] = {new: _subject_mean(np.stack([
            [region_means(vp[old][s], labels, names)[n] for n in names] for s in range(keep.shape[0])]), names)
            for old, new in rename.items()}
        out["variance_partition"]["layers"] = vp["layers"]
        out["variance_partition"]["alpha_edges"] = vp["alpha_edges"]
    return json_safe(out)
