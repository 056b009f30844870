"""Statistics of the encoding task on finished per-voxel scores: which ceiling normalises and
which voxels it keeps, variance partitioning without circular layer choice, and metrics.json.

Layers are always chosen by training cross-validation scores (``cv_score``), never by the
test r that is then reported.
"""

from __future__ import annotations

import logging
import math
import warnings
from itertools import combinations
from typing import Any

import numpy as np

from brain.banded import BandedRidgeEncoder
from brain.dataset import EncodingData
from brain.layers import best_layer_alignment, best_layer_depth, region_curves, region_means, variance_partition
from brain.noise_ceiling import normalised_alignment
from brain.ridge import check_alphas, grid_edges
from brain.stats import fdr_bh, permutation_floor, sign_flip_test, t_interval
from experiments.settings import RunSettings

INSTRUCTION_TEST = "sign_flip (two-sided, exact over subjects' signs)"
INSTRUCTION_NOTE = (
    "Each comparison is an exact sign-flip test across subjects of the difference in best-layer "
    "alignment; BH-FDR runs over every (pair, region) test. With n subjects no p-value can fall below "
    "2 / 2^n (0.25 for 3 subjects, 0.125 for 4, 0.0625 for 5, 0.031 for 6, 0.016 for 7), so with few "
    "subjects nothing can be significant and a non-significant comparison is inconclusive, not evidence "
    "of no difference. The 95 % CI is the t interval of the mean difference over subjects (it assumes "
    "roughly normal differences and is wide with few subjects). Subjects are the sample: the stimulus and "
    "the model's features are fixed, so a significant difference holds for these features of this stimulus.")

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


def partition_variance(data: EncodingData, res: dict[str, Any], cfg: RunSettings, prepared: Any,
                       pair: tuple[int, int] = (0, 1)) -> dict[str, Any]:
    """Variance partitioning of two feature spaces (indices ``pair``, a first and b second: the
    only two spaces, or two instructions), per subject and region.

    For each region, each space's layer is the one with the best mean training CV score over
    the region's usable voxels (never the test score); a banded ridge on both layers is fit
    on those voxels (once per distinct layer pair). Returns per-voxel (n_subjects, n_vox)
    arrays: r2_a, r2_b (test R^2 of each space alone, from its own ridge), r2_joint (banded),
    split_a, split_b (himalaya's split R^2 of the joint model), unique_a = joint - r2_b,
    unique_b = joint - r2_a, shared = r2_a + r2_b - joint; plus the chosen layers and the
    joint models' alpha-grid edge counts and the pair. Nothing is clipped."""
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
            layer_pair = tuple(int(np.nanargmax(np.nanmean(res["cv_score"][i][s][:, vox], axis=1))) for i in pair)
            chosen[name] = list(layer_pair)
            pairs[layer_pair] = pairs.get(layer_pair, np.zeros(n_vox, bool)) | vox
        sub_edges = {"n_at_min": 0, "n_at_max": 0, "n_voxels": 0}
        for (la, lb), vox in pairs.items():
            sp = [data.spaces[i] for i in pair]
            joint = BandedRidgeEncoder(delays=prepared.delays, cv=t.cv, score_cv=t.score_cv,
                                       alphas=None if t.alphas is None else list(t.alphas))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserWarning)
                joint.fit([x_train[sp[0]][la], x_train[sp[1]][lb]], y_train[:, vox], runs=runs)
            for w in caught:  # alpha-grid edges: counted in alpha_edges and the report, logged at debug level
                log.debug("variance partition, subject %d, layers (%d, %d): %s", s, la, lb, w.message)
            for k in sub_edges:
                sub_edges[k] += int(joint.alpha_edges_[k])
            test = [x_test[sp[0]][la], x_test[sp[1]][lb]]
            a, b = res["r2"][pair[0]][s][la, vox], res["r2"][pair[1]][s][lb, vox]
            ab = np.asarray(joint.score_r2(test, y_test[:, vox]))
            split = np.asarray(joint.score_split(test, y_test[:, vox]))
            p = variance_partition(a, b, ab)
            for k, v in zip(keys, (a, b, ab, split[0], split[1], p["unique_a"], p["unique_b"], p["shared"])):
                out[k][s, vox] = v
        layers.append(chosen)
        edges.append(sub_edges)
    return out | {"layers": layers, "alpha_edges": edges, "pair": tuple(pair)}


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
    """Where the permutation count, not the data, left BH with nothing significant
    (:func:`brain.stats.permutation_floor`): per subject for the ceiling that selects the
    kept voxels, and per (space, layer, subject) for the test r. Each case is logged as a
    warning with the permutation count that would let a single voxel pass."""
    t = cfg.task
    n, alpha = t.n_permutations, t.fdr_alpha
    n_usable = int((~data.bad_voxels).sum(axis=1).max()) if data.bad_voxels.size else 0
    out: dict[str, Any] = {"n_permutations": n, "smallest_p": 1.0 / (n + 1), "fdr_alpha": alpha,
                           "enough_for_one_voxel": int(np.ceil(n_usable / alpha)) - 1}
    advice = f"raise task.n_permutations (>= {out['enough_for_one_voxel']} lets a single voxel pass)"
    if kind != "none":
        limits = [permutation_floor(np.where(b, np.nan, p), n, alpha)
                  for p, b in zip(res["ceilings"][kind]["pvalue"], data.bad_voxels)]
        out["ceiling"] = {"needed_at_floor": [lim.needed for lim in limits],
                          "at_floor": [lim.at_floor for lim in limits],
                          "limited_subjects": [s for s, lim in enumerate(limits) if lim.limited]}
        for s in out["ceiling"]["limited_subjects"]:
            log.warning("subject %d: no voxel's %s ceiling is FDR-significant, but %d voxels reach the smallest "
                        "p-value %d permutations allow (1/%d) and BH over its voxels needs %d there: the "
                        "permutation count, not the data, kept every voxel out; %s", s, kind,
                        limits[s].at_floor, n, n + 1, limits[s].needed, advice)
    limited_r = []
    for i, space in enumerate(data.spaces):
        for s, (subj, b) in enumerate(zip(res["pvalues"][i], data.bad_voxels)):
            for k, p in enumerate(subj):
                if permutation_floor(np.where(b, np.nan, p), n, alpha).limited:
                    limited_r.append({"space": space, "layer": k, "subject": s})
    out["test_r_limited"] = limited_r
    if limited_r:
        log.warning("%d (space, layer, subject) test-r maps have no FDR-significant voxel although some reach "
                    "the smallest p-value %d permutations allow: their significant_voxels counts are 0 because "
                    "of the permutation count; %s", len(limited_r), n, advice)
    return out


def summarise(data: EncodingData, res: dict[str, Any], cfg: RunSettings, ceiling_info: dict[str, str]
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
        "min_ceiling": t.min_ceiling, "fdr_alpha": t.fdr_alpha,
        "rule": "kept = not bad, ceiling FDR-significant and >= min_ceiling" if kind != "none"
        else "no ceiling: every usable (not bad) voxel kept, alignment is raw test r",
        "voxels": counts, "no_voxels_kept": [n for n in names if not any(counts[n]["keep"])]}
    for name, c in res["ceilings"].items():
        sig = np.stack([fdr_bh(p, alpha=t.fdr_alpha).rejected for p in c["pvalue"]])
        out["ceiling"][name] = {"mean": region_means(np.nanmean(np.where(data.bad_voxels, np.nan, c["ceiling"]),
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
    for i, space in enumerate(data.spaces):
        r, cv = res["r"][i], res["cv_score"][i]  # (n_subjects, n_layers, n_vox)
        norm = normalised_alignment(r, np.broadcast_to(ceiling[:, None, :], r.shape), min_ceiling=1e-12,
                                    significant=keep[:, None, :])
        sig = np.stack([[fdr_bh(np.where(b, np.nan, p), alpha=t.fdr_alpha).rejected for p in subj]
                        for subj, b in zip(res["pvalues"][i], data.bad_voxels)])
        layers = {f"layer_{k:02d}": {
            "mean_r": float(np.nanmean(np.where(data.bad_voxels, np.nan, r[:, k]))),
            "mean_cv_score": float(np.nanmean(np.where(data.bad_voxels, np.nan, cv[:, k]))),
            "normalised_alignment": region_means(norm[:, k], labels, names),
            "significant_voxels": float(sig[:, k].sum(axis=1).mean())} for k in range(r.shape[1])}
        align = best_layer_alignment(r, cv, np.where(np.isfinite(ceiling), ceiling, 0.0), keep, labels, names,
                                     min_ceiling=t.min_ceiling if kind != "none" else 1e-12)
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
        out["comparison"] = _comparison(*(per_subject[sp] for sp in data.spaces), names, t.fdr_alpha,
                                        data.spaces, cfg.seed)
    vp = res.get("variance_partition")
    if vp is not None:
        a, b = (data.spaces[i] for i in vp.get("pair", (0, 1)))
        rename = {"r2_a": f"r2_{a}", "r2_b": f"r2_{b}", "r2_joint": "r2_joint", "split_a": f"split_r2_{a}",
                  "split_b": f"split_r2_{b}", "unique_a": f"unique_{a}", "unique_b": f"unique_{b}",
                  "shared": "shared"}
        out["variance_partition"] = {new: _subject_mean(np.stack([
            [region_means(vp[old][s], labels, names)[n] for n in names] for s in range(keep.shape[0])]), names)
            for old, new in rename.items()}
        out["variance_partition"]["layers"] = vp["layers"]
        out["variance_partition"]["alpha_edges"] = vp["alpha_edges"]
        if len(data.instructions) >= 2:
            out["variance_partition"]["pair"] = [a, b]
    if len(data.instructions) >= 2:
        out["instructions"] = instruction_analysis(data, res, per_subject, t.fdr_alpha, cfg.seed)
    return json_safe(out)


def best_instruction_map(data: EncodingData, res: dict[str, Any], keep: np.ndarray) -> np.ndarray:
    """Best instruction per voxel, (n_vox,) index into ``data.instructions`` (-1 where no subject
    keeps the voxel): the instruction whose best layer has the highest training CV score, both
    averaged over the subjects that keep the voxel (never the test r)."""
    keep = np.asarray(keep, bool)
    scores = []
    for name in data.instructions:
        cv = res["cv_score"][data.spaces.index(name)]  # (n_subjects, n_layers, n_vox)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(np.where(keep[:, None, :], cv, np.nan), axis=0)  # (n_layers, n_vox)
            scores.append(np.nanmax(mean, axis=0))
    scores = np.stack(scores)
    shown = keep.any(axis=0) & np.isfinite(scores).any(axis=0)
    out = np.full(scores.shape[1], -1)
    out[shown] = np.nanargmax(scores[:, shown], axis=0)
    return out


def _ci95(d: np.ndarray) -> list[float]:
    mean, half, _ = t_interval(d)
    return [mean - half, mean + half]


def instruction_analysis(data: EncodingData, res: dict[str, Any], per_subject: dict[str, np.ndarray],
                         alpha: float, seed: int) -> dict[str, Any]:
    """metrics.json ``instructions``: per region every instruction's best-layer alignment (mean
    and per subject), the pairwise comparisons across subjects (exact sign-flip test, BH-FDR over
    all pair x region tests, effect with its 95 % t interval, a verdict), the best instruction per
    region (claimed only when it beats every other significantly) and the share of each region's
    voxels whose best instruction (training CV) is each instruction. ``per_subject[name]``:
    (n_subjects, n_regions) best-layer alignment."""
    names, inst = data.region_names, list(data.instructions)
    tests, pvals, messages = [], [], []
    for a, b in combinations(inst, 2):
        per_region = {}
        for j, region in enumerate(names):
            x, y = per_subject[a][:, j], per_subject[b][:, j]
            ok = np.isfinite(x) & np.isfinite(y)
            if ok.sum() < 2:
                per_region[region] = None
                pvals.append(np.nan)
                continue
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserWarning)
                test = sign_flip_test(x[ok, None], y[ok, None], alpha=alpha,
                                      rng=np.random.default_rng([seed, 40_000, inst.index(a), inst.index(b), j]))
            messages += [str(w.message) for w in caught]
            d = x[ok] - y[ok]
            per_region[region] = {"mean_difference": float(d.mean()), "ci95": _ci95(d),
                                  "pvalue": float(test.pvalue[0]), "min_pvalue": test.min_pvalue,
                                  "n_subjects": int(ok.sum())}
            pvals.append(float(test.pvalue[0]))
        tests.append({"a": a, "b": b, "per_region": per_region})
    fdr = fdr_bh(np.array(pvals, float), alpha=alpha)
    k = 0
    for test in tests:
        for region in names:
            v = test["per_region"][region]
            if v is not None:
                v["qvalue"] = float(fdr.qvalue[k])
                v["significant"] = bool(fdr.rejected[k])
                v["verdict"], v["why"] = _verdict(test["a"], test["b"], v, alpha)
            k += 1
    best_map = best_instruction_map(data, res, res["masks"]["keep"])
    per_region = {}
    for j, region in enumerate(names):
        means = {i: float(np.nanmean(per_subject[i][:, j])) if np.isfinite(per_subject[i][:, j]).any()
                 else float("nan") for i in inst}
        vox = (data.region == j) & (best_map >= 0)
        entry: dict[str, Any] = {
            "alignment": means,
            "alignment_per_subject": {i: per_subject[i][:, j].tolist() for i in inst},
            "voxels_shown": int(vox.sum()),
            "best_voxel_share": {i: float(np.mean(best_map[vox] == n)) if vox.any() else None
                                 for n, i in enumerate(inst)}}
        finite = {i: m for i, m in means.items() if np.isfinite(m)}
        if not finite:
            entry |= {"best": None, "claimed": False, "why": "no kept voxel in this region"}
        else:
            best = max(finite, key=finite.get)
            won = []
            for other in (i for i in inst if i != best):
                pair = next(t for t in tests if {t["a"], t["b"]} == {best, other})
                v = pair["per_region"][region]
                sign = 1.0 if pair["a"] == best else -1.0
                won.append(v is not None and v["significant"] and sign * v["mean_difference"] > 0)
            entry |= {"best": best, "claimed": all(won),
                      "why": f"{best} beats every other instruction here (q <= {alpha})" if all(won) else
                      f"{best} has the highest mean, but not significantly above every other instruction "
                      f"({sum(won)} of {len(won)} comparisons significant): not a finding"}
        per_region[region] = entry
    n_sub = max((v["n_subjects"] for t in tests for v in t["per_region"].values() if v), default=0)
    return {"names": inst, "test": INSTRUCTION_TEST, "fdr": "Benjamini-Hochberg over every (pair, region) test",
            "alpha": alpha, "n_tests": int(np.isfinite(fdr.qvalue).sum()), "n_subjects": n_sub,
            "min_attainable_pvalue": 2.0 / 2 ** n_sub if n_sub else None,
            "warning": messages[0] if messages else None, "note": INSTRUCTION_NOTE,
            "pairwise": tests, "per_region": per_region,
            "best_instruction_rule": "per voxel, the instruction whose best layer has the highest training CV "
                                     "score (mean over the subjects keeping it); per region, the highest mean "
                                     "alignment, claimed only when it beats every other instruction significantly"}


def _verdict(a: str, b: str, v: dict[str, Any], alpha: float) -> tuple[str, str]:
    """(verdict, why) of one comparison: ``a > b`` / ``b > a`` when significant after FDR, else
    ``inconclusive`` with the reason."""
    if v["significant"]:
        return (f"{a} > {b}" if v["mean_difference"] > 0 else f"{b} > {a}"), f"q = {v['qvalue']:.3g} <= {alpha}"
    lo, hi = v["ci95"]
    if v["min_pvalue"] > alpha:
        return "inconclusive", (f"{v['n_subjects']} subjects cannot give p <= {alpha} (smallest attainable p "
                                f"{v['min_pvalue']:.3g}); 95 % CI [{lo:.3g}, {hi:.3g}]")
    if lo > 0 or hi < 0:
        return "inconclusive", (f"95 % CI [{lo:.3g}, {hi:.3g}] excludes 0 but the exact test is not significant "
                                f"after FDR (p = {v['pvalue']:.3g}, q = {v['qvalue']:.3g})")
    return "inconclusive", (f"no difference shown (p = {v['pvalue']:.3g}, q = {v['qvalue']:.3g}); 95 % CI "
                            f"[{lo:.3g}, {hi:.3g}] includes 0, so a difference of that size is not ruled out")
