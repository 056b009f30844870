"""Encoding runs compared: normalised brain alignment per region across runs and subjects,
paired exact sign-flip tests between runs with Benjamini-Hochberg FDR over the table and a verdict per
test (``brain.comparison.paired_runs``, the test of every other comparison), and best-layer maps.

Per subject and region, the normalised alignment is recomputed from each run's
``encoding.npz`` exactly as ``experiments.tasks.encoding_summary.summarise`` computes it
(:func:`brain.layers.best_layer_alignment`, Brain-Score's aggregate ratio): over the run's kept
voxels (``keep``, chosen by the run's ``task.selection``), the mean test r of the layer with the
best training CV score over the region's ceiling, in regions with the run's
``task.min_region_voxels`` kept voxels. The best-layer maps are the run report's: per voxel kept in at least one
subject, the layer with the best subject-mean training CV score (``brain.layers.group_best_layer``).
The test r never chooses a layer. Every caption names the ceiling the run normalised by
(``ceiling_kind`` in its ``encoding.npz``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from brain.comparison import FLOOR_NOTE, paired_runs
from brain.layers import best_layer_alignment, group_best_layer
from experiments.compare.runs import CompareError, Run
from experiments.io import save_figure
from experiments.report.html import Report
from experiments.report.plots import pyplot

CEILING_NAMES = {"cross_subject": "cross-subject ceiling", "split_half": "split-half ceiling",
                 "none": "no ceiling: raw test r"}


@dataclass(frozen=True)
class EncodingResult:
    """What the comparison needs from one encoding run. ``alignment[space]``: (n_subjects,
    n_regions) best-layer normalised alignment; ``depth[space]``: (n_vox,) normalised depth
    of the layer with the best subject-mean training CV score, NaN where no subject keeps the
    voxel; ``vertices``: fsaverage5 vertex per voxel, or None; ``ceiling_kind``: the ceiling
    that normalised (cross_subject, split_half or none), read from the run."""

    label: str
    spaces: tuple[str, ...]
    region_names: tuple[str, ...]
    alignment: dict[str, np.ndarray]
    depth: dict[str, np.ndarray]
    vertices: np.ndarray | None
    ceiling_kind: str


@dataclass(frozen=True)
class PairTests:
    """Paired tests, one row per pair of runs (same space), one column per region: ``cells``
    [row][region] the comparison dict of :func:`brain.comparison.paired_runs` (mean_difference
    a - b, ci95, pvalue, qvalue: BH over every test in the table, significant, verdict, why,
    n_subjects), None where fewer than 2 subjects have both values."""

    pairs: list[tuple[str, int, int]]  # (space, run index a, run index b)
    regions: tuple[str, ...]
    cells: list[list[dict | None]]

    def values(self, key: str) -> np.ndarray:
        """(n_pairs, n_regions) of one field of the comparisons, NaN where untested."""
        return np.array([[np.nan if c is None else float(c[key]) for c in row] for row in self.cells],
                        float).reshape(len(self.pairs), len(self.regions))

    def to_dict(self, labels: list[str]) -> list[dict]:
        return [{"space": space, "a": labels[ia], "b": labels[ib],
                 "per_region": dict(zip(self.regions, self.cells[row]))}
                for row, (space, ia, ib) in enumerate(self.pairs)]


def subject_alignment(r: np.ndarray, select: np.ndarray, ceiling: np.ndarray, keep: np.ndarray,
                      region: np.ndarray, region_names: tuple[str, ...], n_layers: int, min_ceiling: float,
                      min_voxels: int = 1) -> np.ndarray:
    """Best-layer normalised alignment per subject and region, (n_subjects, n_regions), of
    one feature space whose ``r`` and selection scores ``select`` (training CV) (n_subjects,
    layers, n_vox) are NaN-padded beyond ``n_layers``; ``keep`` (n_subjects, n_vox) the
    voxels the run kept (see ``brain.selection.keep_voxels``)."""
    r, select = np.asarray(r)[:, :n_layers], np.asarray(select)[:, :n_layers]
    return best_layer_alignment(r, select, ceiling, keep, region, region_names, min_ceiling, min_voxels)


def best_layer_depth_map(select: np.ndarray, keep: np.ndarray, n_layers: int) -> np.ndarray:
    """Normalised depth (0 = first layer) of the layer with the best subject-mean training CV
    score per voxel, NaN where no subject keeps it (as the run's report maps it);
    ``select``: (n_subjects, layers, n_vox) NaN-padded beyond ``n_layers``; ``keep``
    (n_subjects, n_vox)."""
    return group_best_layer(np.asarray(select, float)[:, :n_layers], keep)[1]


def load_encoding(run: Run, label: str) -> EncodingResult:
    """Read ``encoding.npz`` of ``run`` (see ``experiments.tasks.encoding.run``)."""
    path = run.path / "encoding.npz"
    if not path.is_file():
        raise CompareError(f"{run.path}: encoding run with metrics.json but no encoding.npz, "
                           f"so it holds no per-subject scores to compare")
    min_ceiling = float(run.config["task"]["min_ceiling"])
    min_voxels = int(run.config["task"].get("min_region_voxels", 1))  # runs from before the gate: 1
    with np.load(path) as z:
        spaces = tuple(str(s) for s in z["spaces"])
        names = tuple(str(n) for n in z["region_names"])
        r, ceiling, region, n_layers = z["r"], z["ceiling"], z["region"], z["n_layers"]
        vertices = z["vertices"] if "vertices" in z.files and z["vertices"].size else None
        if "cv_score" not in z.files or "keep" not in z.files:
            raise CompareError(f"{run.path}: encoding.npz from before layers were chosen by training CV "
                               f"(no cv_score/keep); rerun it to compare")
        select, keep = z["cv_score"], z["keep"]
        ceiling_kind = str(z["ceiling_kind"])
        if ceiling_kind == "none":  # raw r: ceiling 1 everywhere it is kept
            min_ceiling = 1e-12
    alignment = {s: subject_alignment(r[i], select[i], ceiling, keep, region, names, int(n_layers[i]), min_ceiling,
                                      min_voxels) for i, s in enumerate(spaces)}
    depth = {s: best_layer_depth_map(select[i], keep, int(n_layers[i])) for i, s in enumerate(spaces)}
    return EncodingResult(label, spaces, names, alignment, depth, vertices, ceiling_kind)


def compare_runs(results: list[EncodingResult], alpha: float = 0.05) -> tuple[PairTests, list[str]]:
    """Every pair of runs, per feature space they share, when their subject counts agree
    (pairing is by subject index); notes for the pairs left out."""
    regions = tuple(n for n in results[0].region_names if all(n in r.region_names for r in results))
    values, index, pairs, notes = [], {}, [], []
    for ia, ib in combinations(range(len(results)), 2):
        a, b = results[ia], results[ib]
        for space in (s for s in a.spaces if s in b.spaces):
            na, nb = a.alignment[space].shape[0], b.alignment[space].shape[0]
            if na != nb:
                notes.append(f"{space}: {a.label} ({na} subjects) and {b.label} ({nb} subjects) not "
                             f"tested: pairing by subject index needs equal subject counts")
                continue
            for key in ((ia, space), (ib, space)):
                if key not in index:
                    res = results[key[0]]
                    cols = [res.region_names.index(n) for n in regions]
                    index[key] = len(values)
                    values.append(res.alignment[space][:, cols])
            pairs.append((space, ia, ib))
    cells = paired_runs(values, [(index[(i, s)], index[(j, s)]) for s, i, j in pairs],
                        [(results[i].label, results[j].label) for _, i, j in pairs], alpha) if pairs else []
    return PairTests(pairs, regions, cells), notes


def plot_alignment(values: dict[str, np.ndarray], regions: tuple[str, ...], space: str, path: Path) -> None:
    """Bars: mean normalised alignment over subjects per region, one bar per run; points:
    the subjects. ``values[label]``: (n_subjects, n_regions)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(regions) * max(1, len(values)) ** 0.5 + 2), 3.8), dpi=100)
    width = 0.8 / max(len(values), 1)
    x = np.arange(len(regions))
    rng = np.random.default_rng(0)  # jitter of the subject points only
    for k, (label, v) in enumerate(values.items()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(v, axis=0)
        pos = x - 0.4 + width * (k + 0.5)
        ax.bar(pos, np.nan_to_num(mean), width, label=label, color=plt.cm.tab10(k % 10), alpha=0.75)
        for j in range(len(regions)):
            ys = v[:, j][np.isfinite(v[:, j])]
            ax.scatter(pos[j] + rng.uniform(-width / 5, width / 5, ys.size), ys, s=10, color="k", zorder=3)
    ax.axhline(0, color="#888", lw=0.8)
    ax.set_xticks(x, regions)
    ax.set_ylabel("normalised alignment (r / ceiling)")
    ax.set_title(f"{space}: best-layer normalised alignment (bars: mean, points: subjects)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def _mean_sem(v: np.ndarray) -> str:
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "NaN"
    if v.size == 1:
        return f"{v[0]:.3f} (n=1, no interval)"
    sem = v.std(ddof=1) / np.sqrt(v.size)
    return f"{v.mean():.3f} ± {sem:.3f} s.e.m. (n={v.size})"


def add_encoding_section(rep: Report, runs: list[Run], labels: list[str], fig_dir: Path,
                         alpha: float = 0.05) -> tuple[int, dict]:
    """Append the encoding comparison to ``rep``; returns the number of figures added and the
    tests (between runs and between model families) as JSON-ready data."""
    from brain.plotting import plot_surface

    results = [load_encoding(run, label) for run, label in zip(runs, labels)]
    tests, notes = compare_runs(results, alpha)
    regions = tests.regions
    spaces = [s for r in results for s in r.spaces]
    spaces = list(dict.fromkeys(spaces))
    n_fig = 0
    rep.heading("Encoding: normalised brain alignment per region")
    kinds = {r.label: CEILING_NAMES.get(r.ceiling_kind, r.ceiling_kind) for r in results}
    used = ", ".join(sorted(set(kinds.values()))) if len(set(kinds.values())) == 1 else \
        "; ".join(f"{label}: {k}" for label, k in kinds.items())
    rep.text(f"{len(results)} encoding run(s). Normalised alignment = mean test r of each kept voxel's best layer "
             f"(training CV) over the region's noise ceiling ({used}; Brain-Score's aggregate ratio, regions with the "
             "run's task.min_region_voxels kept voxels), per subject; cells: mean ± its standard error over subjects.")
    for si, space in enumerate(spaces):
        having = [r for r in results if space in r.spaces]
        vals = {r.label: r.alignment[space][:, [r.region_names.index(n) for n in regions]] for r in having}
        png = fig_dir / f"encoding_alignment_{si}.png"
        plot_alignment(vals, regions, space, png)
        rep.figure(png, f"{space}: best-layer normalised alignment per region and run; points are subjects")
        n_fig += 1
        rep.table(["region"] + list(vals), [[n] + [_mean_sem(v[:, j]) for v in vals.values()]
                                            for j, n in enumerate(regions)])
    rep.heading("Encoding: paired tests between runs")
    for note in notes:
        rep.text(note)
    if not tests.pairs:
        rep.text("No pair of runs to test (needs two encoding runs sharing a feature space and subject count).")
    else:
        n_tests = int(np.isfinite(tests.values("pvalue")).sum())
        rep.text(f"Two-sided exact sign-flip test across subjects (paired by subject index) of the difference in "
                 f"normalised alignment per region; Benjamini-Hochberg FDR over all {n_tests} tests; a verdict names "
                 f"a direction only where q <= {alpha}. " + FLOOR_NOTE)
        rows = []
        for row, (space, ia, ib) in enumerate(tests.pairs):
            for region, c in zip(regions, tests.cells[row]):
                head = [space, region, results[ia].label, results[ib].label]
                if c is None:
                    rows.append(head + ["< 2", "-", "-", "-", "-", "inconclusive: fewer than 2 subjects"])
                else:
                    rows.append(head + [c["n_subjects"], c["mean_difference"],
                                        f"[{c['ci95'][0]:.3g}, {c['ci95'][1]:.3g}]", c["pvalue"], c["qvalue"],
                                        f"{c['verdict']}: {c['why']}"])
        rep.table(["space", "region", "run A", "run B", "subjects", "mean A - B", "95 % CI", "p", "q (BH)",
                   "verdict"], rows, fmt=".4g")
    rep.heading("Encoding: best-layer maps")
    mapped = [r for r in results if r.vertices is not None]
    if len(mapped) < len(results):
        rep.text("Runs without fsaverage5 vertex indices (volumetric or unlabelled data) have no maps: "
                 + ", ".join(r.label for r in results if r.vertices is None))
    for ri, r in enumerate(mapped):
        for si, space in enumerate(r.spaces):
            png = fig_dir / f"encoding_depth_{ri}_{si}.png"
            # +0.01 keeps depth 0 (first layer) visible: 0 is left unpainted
            save_figure(plot_surface(r.depth[space] + 0.01, r.vertices, f"{r.label} / {space}: best layer",
                                     vmax=1.01, cmap="viridis"), png, dpi=90, close=True)
            rep.figure(png, f"{r.label} / {space}: normalised depth (0 = first, 1 = last) of the layer with the "
                       f"best subject-mean training CV score, over the voxels kept in at least one subject "
                       f"({CEILING_NAMES.get(r.ceiling_kind, r.ceiling_kind)})")
            n_fig += 1
    from experiments.compare.families import add_family_section

    families = add_family_section(rep, results, runs, alpha)
    return n_fig, {"alpha": alpha, "between_runs": tests.to_dict(labels), "notes": notes, "families": families}
