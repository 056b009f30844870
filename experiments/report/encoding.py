"""Figures and the self-contained HTML report of the encoding task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from brain import figures
from brain.dataset import EncodingData
from brain.layers import group_best_layer
from brain.plotting import plot_surface, plot_volume
from experiments.io import save_figure
from experiments.report.html import Report
from experiments.report.plots import pyplot


def _save(fig: Any, path: Path) -> None:
    save_figure(fig, path, dpi=100, close=True)


def _with_ci(value: float | None, ci: list[float] | None) -> str:
    """A value with its 95 % interval, e.g. ``0.81 [0.74, 0.88]``."""
    if value is None:
        return "-"
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _fmt(v: Any) -> Any:
    """Table cell: None (NaN in metrics) as a dash."""
    return "-" if v is None else v


def _ceiling_section(rep: Report, metrics: dict[str, Any], res: dict[str, Any], names: tuple[str, ...],
                     out_dir: Path) -> None:
    c = metrics["ceiling"]
    rep.heading("Noise ceiling and the voxels kept")
    if c["normalised"]:
        rep.text(f"Normalised by the {c['normalises'].replace('_', '-')} ceiling ({c['why']}). Kept voxels: "
                 f"not bad (NaN or constant in the data), ceiling significant (BH-FDR at {c['fdr_alpha']} over each "
                 f"subject's voxels, phase-randomisation p-values) and >= min_ceiling = {c['min_ceiling']}. "
                 "Alignment = test r of the layer chosen by training CV / ceiling, averaged over kept voxels; "
                 "regions without a kept voxel are reported as such (no value).")
    else:
        rep.text(f"No normalisation: {c['why']}. Alignment below is the raw test r of the layer chosen by training "
                 "CV, over every usable voxel.")
    if "cross_subject" in c:
        rep.text("Note: " + c["cross_subject"]["note"] + ".")
    rep.table(["region", "voxels", "bad", "ceiling not significant", "below min_ceiling", "kept"],
              [[n, v["total"], *("/".join(map(str, v[k])) for k in ("bad", "not_significant", "below_min_ceiling",
                                                                       "keep"))]
               for n, v in c["voxels"].items()])
    rep.text("Counts per subject (subject 0/1/...). No voxel kept in: " + (", ".join(c["no_voxels_kept"]) or "none") + ".")
    for dead in metrics.get("excluded_subjects") or []:
        rep.text(f"Subject {dead['subject']}" + (f" ({dead['file']})" if dead.get("file") else "")
                 + f": {dead['why']}; left out of every mean over subjects.")
    floor = metrics.get("permutation_floor") or {}
    for s in (floor.get("ceiling") or {}).get("limited_subjects", []):
        rep.text(f"Subject {s}: no voxel kept because of the permutation count, not the data: "
                 f"{floor['ceiling']['at_floor'][s]} voxels reach the smallest p-value "
                 f"{floor['n_permutations']} permutations allow, and BH over its voxels needs "
                 f"{floor['ceiling']['needed_at_floor'][s]} there. With task.n_permutations >= "
                 f"{floor['enough_for_one_voxel']} a single voxel could pass.")
    if floor.get("test_r_limited"):
        rep.text(f"{len(floor['test_r_limited'])} (space, layer, subject) test-r maps count 0 significant voxels "
                 "because of the permutation count (some voxels reach its smallest p-value, too few for BH); "
                 f"task.n_permutations >= {floor['enough_for_one_voxel']} would lift that limit.")
    kinds = [k for k in ("split_half", "cross_subject") if k in c]
    if kinds:
        if "split_half" in kinds:
            rep.text("The split-half ceiling is sqrt(split-half reliability) and exists only where that reliability "
                     "is > 0; its region mean here is of sign(rel) sqrt(|rel|) over every usable voxel, so pure noise "
                     "averages about 0.")
        rep.table(["region"] + [f"{k.replace('_', '-')} ceiling (mean{', signed' if k == 'split_half' else ''})"
                                for k in kinds]
                  + [f"{k.replace('_', '-')} significant voxels" for k in kinds],
                  [[n] + [_fmt(c[k]["mean"][n]) for k in kinds] + [c[k]["significant_voxels"][n] for k in kinds]
                   for n in names])
        _save(figures.plot_ceiling_histogram({k: res["ceilings"][k]["ceiling"] for k in kinds}), out_dir / "noise_ceiling.png")
        rep.figure(out_dir / "noise_ceiling.png", "noise ceilings per voxel (all subjects)")


def _alpha_edges_section(rep: Report, metrics: dict[str, Any]) -> None:
    rep.heading("Penalties at the edges of the alpha grid")
    rows = []
    for space, m in metrics["spaces"].items():
        for subject, e in m["alpha_edges"].items():
            rows.append([space, subject, sum(e["n_at_min"]), sum(e["n_at_max"]), sum(e["n_voxels"])])
    vp = metrics.get("variance_partition")
    for s, e in enumerate(vp["alpha_edges"] if vp else []):
        rows.append(["joint (banded)", f"subject_{s:02d}", e["n_at_min"], e["n_at_max"], e["n_voxels"]])
    rep.text(f"Penalties chosen by training CV {metrics['settings']['score_cv']}; counts summed over layers. "
             "Many voxels at the largest alpha are expected where there is no signal (R^2 shrinks them to 0); "
             "many at the smallest call for a wider grid.")
    rep.table(["model", "subject", "voxels at smallest alpha", "at largest alpha", "voxels fitted"], rows)


def write_encoding_report(data: EncodingData, res: dict[str, Any], metrics: dict[str, Any],
                          out_dir: Path) -> None:
    """All figures as PNG files in ``out_dir`` plus ``report.html`` embedding them."""
    names = data.region_names
    st = metrics["settings"]
    rep = Report("callosum: brain-alignment report (encoding)")
    rep.text(f"{metrics['subjects']} subjects, {metrics['voxels']} voxels, {metrics['n_repeats']} test presentation(s) "
             f"per subject, feature spaces: {', '.join(data.spaces)}. FIR delays {st['delays_trs']} TRs "
             f"({st['delays_s'][0]}-{st['delays_s'][-1]} s at TR {st['tr']} s); penalties by CV "
             f"{st['score_cv']}; test-r p-values from the {st['r_null']} null ({st['n_permutations']} draws), "
             "BH-FDR over voxels. Best layers are chosen by training CV scores, never by test r.")
    for note in metrics["notes"]:
        rep.text("Data: " + note)
    if "study" in metrics:
        _study_section(rep, metrics["study"])
    _ceiling_section(rep, metrics, res, names, out_dir)
    rep.heading("Layers: mean test r, training CV score and significant voxels")
    rows = [[space, layer, m["mean_r"], m["mean_cv_score"], m["significant_voxels"]]
            for space, s in metrics["spaces"].items() for layer, m in s["layers"].items()]
    rep.table(["space", "layer", "mean test r", f"mean CV {st['score_cv']}",
               "significant voxels (FDR, mean over subjects)"], rows)
    label = "normalised alignment" if metrics["ceiling"]["normalised"] else "raw test r (no ceiling)"
    rep.heading(f"Best layer per region (by training CV, kept voxels): {label} and depth")
    c = metrics["ceiling"]
    rep.text(f"Kept voxels: {c['rule']}. {label.capitalize()} per subject and region: the mean best-layer test r "
             "over the kept voxels divided by the region's ceiling (the root of their mean reliability; "
             f"Brain-Score's aggregate ratio), where >= {st['min_region_voxels']} voxels are kept (task.min_region_voxels); "
             "the 95 % t interval is over subjects. Depth only over kept voxels whose best layer's test r is "
             "FDR-significant, in regions with that many of them.")
    if not c.get("independent_of_ceiling", True):
        rep.text("Warning: the kept voxels were chosen on the ceiling that divides (circular), so the kept ceilings "
                 "are biased high and the ratio low.")
    rep.table(["region"] + [f"{s}: {label} [95 % CI]" for s in data.spaces]
              + [f"{s}: per-voxel mean (secondary)" for s in data.spaces]
              + [f"{s}: depth (0 = first layer)" for s in data.spaces],
              [[n] + [_with_ci(metrics["spaces"][s]["best_layer_alignment"][n],
                               metrics["spaces"][s]["best_layer_alignment_ci95"][n]) for s in data.spaces]
               + [_fmt(metrics["spaces"][s]["best_layer_alignment_per_voxel"][n]) for s in data.spaces]
               + [_fmt(metrics["spaces"][s]["best_layer_depth"][n]) for s in data.spaces] for n in names])
    above = {s: metrics["spaces"][s]["above_one"] for s in data.spaces}
    flagged = [f"{s}: regions {', '.join(a['regions']) or 'none'}; {sum(a['voxels'].values())} of "
               f"{a['voxels_with_a_ratio']} voxel ratios (max {_with_ci(a['max_voxel_ratio'], None)})" for s, a in above.items()]
    rep.text("Values above 1 (the ceiling's estimation error, never a model beating the data): " + "; ".join(flagged) + ".")
    if "parcels" in metrics:
        _parcels_section(rep, metrics["parcels"], data.spaces)
    if any("stacked" in metrics["spaces"][s] for s in data.spaces):
        _stacked_section(rep, metrics, data, res, out_dir)
    _maps(rep, data, res, out_dir)
    rep.heading("Layer curves per region")
    curves = {s: metrics["spaces"][s]["layer_curves_r"] for s in data.spaces}
    _save(figures.plot_layer_curves(curves), out_dir / "layer_curves.png")
    rep.figure(out_dir / "layer_curves.png", "mean test r by layer and region")
    if "comparison" in metrics:
        cmp_ = metrics["comparison"]
        rep.heading("Model comparison across subjects")
        vals = {s: np.array([[np.nan if v is None else v for v in metrics["spaces"][s]
                              ["best_layer_alignment_per_subject"][n]] for n in names]).T for s in data.spaces}
        qv = {n: (v or {}).get("qvalue") for n, v in cmp_["per_region"].items()}
        _save(figures.plot_comparison(vals, names, qv, label, cmp_["alpha"]), out_dir / "comparison.png")
        rep.figure(out_dir / "comparison.png", f"best-layer {label}; * where the difference is significant after FDR "
                   f"(exact sign-flip test across subjects, BH over the regions, q <= {cmp_['alpha']})")
        rep.text(f"{cmp_['test']}, {cmp_['spaces'][0]} - {cmp_['spaces'][1]}; {cmp_['fdr']} ({cmp_['n_tests']} "
                 f"regions), a verdict only where q <= {cmp_['alpha']}; the smallest attainable p-value with these "
                 f"subjects is {_fmt(cmp_['min_attainable_pvalue'])}."
                 + (f" Warning: {cmp_['warning']}." if cmp_["warning"] else ""))
        rep.table(["region", "mean difference", "95 % CI", "p", "q (BH)", "min attainable p", "subjects", "verdict",
                   "why"],
                  [[n, *([v["mean_difference"], f"[{v['ci95'][0]:.3g}, {v['ci95'][1]:.3g}]", v["pvalue"], v["qvalue"],
                          v["min_pvalue"], v["n_subjects"], v["verdict"], v["why"]] if v else
                         ["-"] * 7 + ["fewer than 2 subjects with kept voxels in both spaces"])]
                   for n, v in cmp_["per_region"].items()])
    if "variance_partition" in metrics:
        rep.heading("Variance partitioning (test R^2)")
        vp = metrics["variance_partition"]
        parts = {k: v for k, v in vp.items() if k.startswith(("unique_", "shared"))}
        _save(figures.plot_variance_partition(parts, names), out_dir / "variance_partition.png")
        rep.figure(out_dir / "variance_partition.png", "unique and shared test R^2 (negative parts drawn as 0; "
                   "the table gives them as they are)")
        rep.text("Per subject and region, each space's layer is the one with the best mean training CV score over "
                 "the region's voxels; the joint model is a banded ridge on both. r2_*: test R^2 of each space "
                 "alone and of the joint model; split_r2_*: the joint model's split R^2 (himalaya); unique = joint "
                 "- other space, shared = a + b - joint. Nothing is clipped.")
        if vp.get("pair"):
            rep.text(f"Instructions partitioned: {vp['pair'][0]} and {vp['pair'][1]} (task.instructions.pair).")
        keys = [k for k in vp if k not in ("layers", "alpha_edges", "pair")]
        rep.table(["region"] + keys, [[n] + [_fmt(vp[k][n]) for k in keys] for n in names])
    if "instructions" in metrics:
        _instructions_section(rep, data, res, metrics, out_dir, label)
    _alpha_edges_section(rep, metrics)
    rep.write(out_dir / "report.html")


def _study_section(rep: Report, study: dict[str, Any]) -> None:
    """Where the data came from (a BIDS study): split, confounds, runs and their stimuli."""
    sp, conf = study["split"], study["confounds"]
    rep.heading("Study")
    shown = sp.get("train_presentations", {})
    train = ", ".join(f"{s} ({shown[s]} runs)" if shown.get(s, 1) > 1 else s for s in sp["train_stimuli"])
    rep.text(f"BIDS dataset {study['root']}, task {study['task']}, space {study['space']}, TR {study['tr']} s "
             f"(from the {study['tr_from']}); {study['voxels']} voxels ({study['mask']}). Split by stimulus: "
             f"test {', '.join(sp['test_stimuli'])} ({sp['test_presentations']} presentations), training "
             f"{train}; inner CV {sp['inner_cv']}. Stimuli of the runs from {study['stimuli_from']}.")
    if "folds" in sp:
        rep.text(f"Inner CV folds ({sp['cv']}), the training stimuli each holds out: "
                 + "; ".join(f"{k + 1}: {', '.join(f)}" for k, f in enumerate(sp["folds"])) + ".")
    rep.text("Confounds regressed out run by run: "
             + (f"load_confounds strategy {conf['strategy']} {conf['options'] or ''}, columns "
                f"{', '.join(conf['columns'])}" if conf["strategy"] else "none (task.bids.confounds is empty)"))
    cens = conf.get("censored")
    if cens:
        rep.text(f"Censored volumes (load_confounds sample mask, e.g. scrubbing): {cens['censored']} of "
                 f"{cens['volumes']} ({100 * cens['fraction']:.1f}%), {cens['train_censored']} training and "
                 f"{cens['test_censored']} test; the FIR delays are built on whole runs and the censored rows left "
                 f"out of the cleaning, the fits and the CV folds; the test scores, ceilings and bootstrap use the "
                 f"{cens['test_trs_kept_everywhere']} of {cens['test_trs']} test TRs kept in every repeat of every "
                 "subject.")
    per_run = {(sub, r["bold"]): r["censored"] for sub, rs in (cens or {}).get("runs", {}).items() for r in rs}
    rep.table(["subject", "run", "BOLD", "stimulus", "volumes", *(["censored"] if cens else [])],
              [[sub, r["run"], r["bold"] + (f" + {r['bold_right']}" if "bold_right" in r else ""), r["stimulus"],
                r["volumes"],
                *([per_run.get((sub, r["bold"]), 0)] if cens else [])]
               for sub, rs in study["runs"].items() for r in rs])


def _parcels_section(rep: Report, parcels: dict[str, Any], spaces: tuple[str, ...], top: int = 25) -> None:
    """The parcel table, the parcels with the highest test r first (the first ``top``)."""
    table = parcels["table"]
    best = {n: max((row[s]["test_r"] for s in spaces if row[s]["test_r"] is not None), default=float("-inf"))
            for n, row in table.items()}
    order = sorted(table, key=lambda n: -best[n])
    rep.heading(f"Parcels ({parcels['n']}, {parcels['atlas']})")
    rep.text(f"Fit on {parcels['fit']}; ceilings, p-values and BH-FDR are per parcel, over parcels. Best layer by the "
             "subjects' mean training CV score; 'significant' counts the subjects whose test r of that layer is "
             f"FDR-significant. Highest test r first{f' (the first {top} of {len(order)})' if len(order) > top else ''}; "
             "every parcel is in metrics.json (parcels.table).")
    rep.table(["parcel", "region", "voxels", "kept in subjects", "ceiling"]
              + [f"{s}: {c}" for s in spaces for c in ("best layer", "test r", "significant")],
              [[n, table[n]["region"], table[n]["voxels"], table[n]["kept_subjects"], _fmt(table[n]["ceiling"])]
               + [x for s in spaces for x in (_fmt(table[n][s]["best_layer"]), _fmt(table[n][s]["test_r"]),
                                              table[n][s]["significant_subjects"])] for n in order[:top]])


def _stacked_section(rep: Report, metrics: dict[str, Any], data: EncodingData, res: dict[str, Any],
                     out_dir: Path) -> None:
    """The stacked encoder beside the best single layer, its weights per region and layer, and a
    map of its weighted depth."""
    names = data.region_names
    spaces = [s for s in data.spaces if "stacked" in metrics["spaces"][s]]
    rep.heading("Stacked encoder (convex weights over each space's layers)")
    rep.text(metrics["spaces"][spaces[0]]["stacked"]["rule"] + ". Test r over usable voxels, mean over subjects.")
    rep.table(["region"] + [f"{s}: {c}" for s in spaces for c in ("stacked r", "best layer r", "weighted depth")],
              [[n] + [_fmt(metrics["spaces"][s]["stacked"]["per_region"][n][k]) for s in spaces
                      for k in ("stacked_r", "best_layer_r", "depth")] for n in names]
              + [["all voxels"] + [x for s in spaces for x in (_fmt(metrics["spaces"][s]["stacked"]["mean_r"]),
                                                                 _fmt(metrics["spaces"][s]["stacked"]["best_layer_mean_r"]),
                                                                 "")]])
    _save(figures.plot_stack_weights(metrics, tuple(spaces), names), out_dir / "stack_weights.png")
    rep.figure(out_dir / "stack_weights.png", "mean stacking weight of each layer per region (each voxel's weights "
               "sum to 1)")
    vertices, mask, _ = _place(data)
    if vertices is None and mask is None:
        return
    for i, space in enumerate(data.spaces):
        if space not in spaces:
            continue
        w = res["stacked"]["weights"][i]  # (n_subjects, K, n_vox)
        depth = np.einsum("skv,k->sv", w, np.linspace(0, 1, w.shape[1]) if w.shape[1] > 1 else np.zeros(1))
        values = np.nanmean(np.where(data.bad_voxels, np.nan, depth), axis=0) + 0.01  # depth 0 stays visible
        png = _brain_map(data, values, out_dir, f"stacked_depth_{space}", f"{space}: stacked depth", 1.01, "viridis",
                         "weighted layer depth (0 first, 1 last)")
        rep.figure(png, f"{space}: the stacking weights' mean layer depth per voxel (subject mean)")


def _brain_map(data: EncodingData, values: np.ndarray, out_dir: Path, stem: str, title: str, vmax: float | None,
               cmap: Any, label: str) -> Path:
    """One map of per-unit ``values`` on the data's surface or volume (parcels painted onto
    their voxels), saved as ``surface_<stem>.png`` or ``volume_<stem>.png``."""
    vertices, mask, paint = _place(data)
    if vertices is not None:
        png, fig = out_dir / f"surface_{stem}.png", plot_surface(paint(values), vertices, title, vmax, cmap, label)
    else:
        png, fig = out_dir / f"volume_{stem}.png", plot_volume(paint(values), mask, title, vmax, cmap, label)
    save_figure(fig, png, dpi=90, close=True)
    return png


def _place(data: EncodingData) -> tuple[Any, Any, Any]:
    """(vertices, mask, paint): where the values of the data's units go on a map; for parcel
    means, the source voxels, each painted with its parcel's value."""
    if data.parcels is not None:
        return data.parcels.vertices, data.parcels.mask, data.parcels.expand
    return data.vertices, data.mask, lambda v: v


def _maps(rep: Report, data: EncodingData, res: dict[str, Any], out_dir: Path) -> None:
    """Surface or volume maps of the best layer (by mean training CV over subjects) and its
    mean test r, over voxels kept in at least one subject."""
    vertices, mask, _ = _place(data)
    if vertices is None and mask is None:
        rep.text("Neither fsaverage5 vertex indices nor a volume mask were given: brain maps are skipped.")
        return
    from tqdm.auto import tqdm

    kind = "surface" if vertices is not None else "volume"
    bar = tqdm(total=2 * len(data.spaces), desc=f"{kind} maps", unit="map", leave=False)  # seconds each
    for i, space in enumerate(data.spaces):
        idx, depth = group_best_layer(res["cv_score"][i], res["masks"].keep)
        r_mean = np.nanmean(res["r"][i], axis=0)
        best_r = np.where(idx >= 0, r_mean[np.maximum(idx, 0), np.arange(idx.size)], np.nan)
        depth = depth + 0.01  # depth 0 stays visible
        for what, values, cmap, vmax, label in (
                ("best_layer", depth, "viridis", 1.01, "layer depth (0 first, 1 last)"),
                ("r", best_r, "inferno", None, "test r, best layer (subject mean)")):
            png = _brain_map(data, values, out_dir, f"{what}_{space}", f"{space}: {what.replace('_', ' ')}", vmax,
                             cmap, label)
            rep.figure(png, f"{space}: {'best layer depth (training CV)' if what == 'best_layer' else 'test r of that layer'}"
                       f" over kept {'parcels' if data.parcels is not None else 'voxels'}")
            bar.update()
    bar.close()


def _instructions_section(rep: Report, data: EncodingData, res: dict[str, Any], metrics: dict[str, Any],
                          out_dir: Path, label: str) -> None:
    """Per region every instruction's alignment, the pairwise tests, the best instruction per
    voxel (all of it, and only where a region's winner is claimed)."""
    ins, names = metrics["instructions"], data.region_names
    inst = ins["names"]
    rep.heading("Instructions: which instruction aligns with which region")
    rep.text(f"{len(inst)} instructions ({', '.join(inst)}), each encoded as its own feature space. " + ins["note"]
             + (f" Warning: {ins['warning']}." if ins["warning"] else ""))
    vals = {i: np.array([[np.nan if v is None else v for v in ins["per_region"][n]["alignment_per_subject"][i]]
                         for n in names]).T for i in inst}
    _save(figures.plot_instruction_alignment(vals, names, f"best-layer {label}"), out_dir / "instructions_alignment.png")
    rep.figure(out_dir / "instructions_alignment.png", f"best-layer {label} per region and instruction; "
               "points are subjects")
    rep.table(["region"] + inst + ["best (highest mean)", "claimed", "why"],
              [[n] + [_fmt(ins["per_region"][n]["alignment"][i]) for i in inst]
               + [_fmt(ins["per_region"][n]["best"]), "yes" if ins["per_region"][n]["claimed"] else "no",
                  ins["per_region"][n]["why"]] for n in names])
    rep.text(f"Pairwise comparisons: {ins['test']}; {ins['fdr']} ({ins['n_tests']} tests, alpha {ins['alpha']}); "
             f"{ins['n_subjects']} subjects, smallest attainable p {_fmt(ins['min_attainable_pvalue'])}.")
    _save(figures.plot_instruction_differences(ins["pairwise"], names,
                                 f"difference in best-layer {label} (A - B)"), out_dir / "instructions_differences.png")
    rep.figure(out_dir / "instructions_differences.png", "mean difference per region and pair with its 95 % CI")
    rows = []
    for t in ins["pairwise"]:
        for n in names:
            v = t["per_region"][n]
            rows.append([t["a"], t["b"], n] + ([v["n_subjects"], v["mean_difference"],
                                                f"[{v['ci95'][0]:.3g}, {v['ci95'][1]:.3g}]", v["pvalue"],
                                                v["qvalue"], v["verdict"], v["why"]] if v else
                                               ["-"] * 6 + ["no kept voxels in two subjects"]))
    rep.table(["A", "B", "region", "subjects", "mean A - B", "95 % CI", "p", "q (BH)", "verdict", "why"], rows)
    rep.table(["region", "voxels shown"] + [f"share best: {i}" for i in inst],
              [[n, ins["per_region"][n]["voxels_shown"]] + [_fmt(ins["per_region"][n]["best_voxel_share"][i])
                                                            for i in inst] for n in names])
    rep.text("Best instruction per voxel: " + ins["best_instruction_rule"] + ".")
    vertices, mask, paint = _place(data)
    if vertices is None and mask is None:
        rep.text("Neither fsaverage5 vertex indices nor a volume mask were given: the best-instruction maps are skipped.")
        return
    from matplotlib.colors import ListedColormap

    best = res["instruction_map"]
    claimed_regions = [j for j, n in enumerate(names) if ins["per_region"][n]["claimed"]]
    winners = np.array([inst.index(ins["per_region"][n]["best"]) if j in claimed_regions else -2
                        for j, n in enumerate(names)])
    claimed = np.where((best >= 0) & (best == winners[data.region]), best, -1)
    cmap = ListedColormap([pyplot().cm.tab10(k % 10) for k in range(len(inst))])
    ticks = {k + 1.0: name for k, name in enumerate(inst)}
    for what, values, caption in (
            ("best_instruction", best, "best instruction per kept voxel (training CV; descriptive, not tested)"),
            ("best_instruction_claimed", claimed,
             "best instruction only where claimed: voxels whose best instruction is their region's winner "
             f"and that winner beats every other instruction across subjects (q <= {ins['alpha']})")):
        vals_ = paint((values + 1).astype(float))  # 0 (not shown) stays unpainted
        title = caption.split(" (")[0].split(":")[0]
        if vertices is not None:
            png = out_dir / f"surface_{what}.png"
            save_figure(plot_surface(vals_, vertices, title, vmax=len(inst) + 0.5, cmap=cmap,
                                     label="instruction", vmin=0.5, ticks=ticks), png, dpi=90, close=True)
        else:
            png = out_dir / f"volume_{what}.png"
            save_figure(plot_volume(vals_, mask, title, vmax=len(inst) + 0.5, cmap=cmap,
                                    label=", ".join(f"{k + 1} = {n}" for k, n in enumerate(inst))),
                        png, dpi=90, close=True)
        rep.figure(png, caption + ("" if what == "best_instruction" else
                                   f"; {int((claimed >= 0).sum())} voxels in "
                                   f"{len(claimed_regions)} region(s)"))
