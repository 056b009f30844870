"""Figures of encoding results (matplotlib on the Agg backend, imported on first use): each
function takes arrays or the summaries of ``metrics.json`` and returns the figure; the brain
maps are in :mod:`brain.plotting`."""

from __future__ import annotations

from typing import Any

import numpy as np


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_layer_curves(curves: dict[str, dict[str, list[float]]]) -> Any:
    """Mean test r per layer and region, one panel per feature space."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.6), squeeze=False)
    for ax, (space, per_region) in zip(axes[0], curves.items()):
        for region, ys in per_region.items():
            ax.plot(np.arange(len(ys)), ys, marker="o", label=region)
        ax.set_title(space)
        ax.set_xlabel("layer")
        ax.set_ylabel("mean test r")
    axes[0, -1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    return fig


def plot_comparison(values: dict[str, np.ndarray], names: tuple[str, ...], qvalues: dict[str, float | None] | None,
                    ylabel: str, alpha: float = 0.05) -> Any:
    """Best-layer alignment per region, bars per space (mean +- SEM over subjects, NaN
    subjects left out); ``*`` marks regions whose difference is significant after FDR: the
    exact sign-flip test across subjects with Benjamini-Hochberg over the regions
    (``qvalues[region]``, from :func:`brain.comparison.compare_spaces`; None: not tested) at
    q <= ``alpha``. Raw p-values are not starred: over six null regions some p < 0.05 in about
    a quarter of the draws. The title says what a star means."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / len(values)
    x = np.arange(len(names))
    for k, (space, v) in enumerate(values.items()):  # v: (n_subjects, n_regions)
        n = np.maximum(np.isfinite(v).sum(axis=0), 1)
        mean = np.nanmean(v, axis=0)
        sem = np.nanstd(v, axis=0) / np.sqrt(n)
        ax.bar(x + k * width, np.nan_to_num(mean), width, yerr=np.nan_to_num(sem), label=space, capsize=2)
    for j, n in enumerate(names):
        q = (qvalues or {}).get(n)
        if q is not None and q <= alpha:
            ax.text(x[j] + 0.4 - width / 2, ax.get_ylim()[1] * 0.95, "*", ha="center")
    ax.set_xticks(x + 0.4 - width / 2, names)
    ax.set_ylabel(ylabel)
    ax.set_title(f"* difference significant: exact sign-flip test across subjects, BH-FDR over regions, q <= {alpha:g}",
                 fontsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_variance_partition(parts: dict[str, dict[str, float]], names: tuple[str, ...]) -> Any:
    """Stacked bars per region: test R^2 unique to each space and shared."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.4))
    bottom = np.zeros(len(names))
    for label, per_region in parts.items():
        vals = np.array([0.0 if per_region[n] is None or per_region[n] != per_region[n] else max(per_region[n], 0.0)
                     for n in names])
        ax.bar(names, vals, bottom=bottom, label=label.replace("_", " "))
        bottom += vals
    ax.set_ylabel("test R^2 (mean over voxels)")
    ax.set_ylim(0, 1.08 * max(float(bottom.max()), 1e-6))  # headroom: the tallest bar is not cut
    ax.set_title("negative parts (noise in the partition) drawn as 0", fontsize=8)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # beside, not over, the bars
    fig.tight_layout()
    return fig


def plot_ceiling_histogram(ceilings: dict[str, np.ndarray]) -> Any:
    """Histograms of per-voxel noise ceilings (all subjects), one per kind of ceiling."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for name, c in ceilings.items():
        ax.hist(c[np.isfinite(c)].ravel(), bins=40, alpha=0.6, label=name.replace("_", " "))
    ax.set_xlabel("noise ceiling (r)")
    ax.set_ylabel("voxels")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_stack_weights(metrics: dict[str, Any], spaces: tuple[str, ...], names: tuple[str, ...]) -> Any:
    """Per space, the mean stacking weight of each layer in each region (a heat map)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(spaces), figsize=(4.5 * len(spaces), 0.45 * len(names) + 1.6), squeeze=False)
    for ax, space in zip(axes[0], spaces):
        per = metrics["spaces"][space]["stacked"]["per_region"]
        w = np.array([[np.nan if x is None else x for x in per[n]["weights"]] for n in names])
        im = ax.imshow(w, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_xticks(range(w.shape[1]), [str(k) for k in range(w.shape[1])])
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("layer")
        ax.set_title(f"{space}: stacking weights")
    fig.colorbar(im, ax=axes[0].tolist(), label="mean weight over voxels and subjects")
    return fig


def plot_instruction_alignment(values: dict[str, np.ndarray], names: tuple[str, ...],
                               ylabel: str) -> Any:
    """Per region one bar per instruction (mean over subjects) with every subject as a point;
    ``values[instruction]``: (n_subjects, n_regions)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(7.0, 1.2 * len(names) * max(1, len(values)) ** 0.5 + 2), 3.8))
    width = 0.8 / max(len(values), 1)
    x = np.arange(len(names))
    rng = np.random.default_rng(0)  # jitter of the points only
    for k, (name, v) in enumerate(values.items()):
        pos = x - 0.4 + width * (k + 0.5)
        finite = np.isfinite(v)
        mean = np.where(finite.any(axis=0), np.nansum(v, axis=0) / np.maximum(finite.sum(axis=0), 1), 0.0)
        ax.bar(pos, mean, width, label=name, color=plt.cm.tab10(k % 10), alpha=0.75)
        for j in range(len(names)):
            ys = v[finite[:, j], j]
            ax.scatter(pos[j] + rng.uniform(-width / 5, width / 5, ys.size), ys, s=10, color="k", zorder=3)
    ax.axhline(0, color="#888", lw=0.8)
    ax.set_xticks(x, names)
    ax.set_xlabel("region")
    ax.set_ylabel(ylabel)
    ax.set_title("best-layer alignment per instruction (bars: mean, points: subjects)", fontsize=10)
    ax.legend(fontsize=8, title="instruction", loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    return fig


def plot_instruction_differences(pairwise: list[dict[str, Any]], names: tuple[str, ...],
                                 xlabel: str) -> Any:
    """Mean difference (A - B) across subjects with its 95 % CI, per pair and region; filled
    markers where the comparison is significant after FDR."""
    plt = _pyplot()
    rows = [(t["a"], t["b"], n, t["per_region"][n]) for t in pairwise for n in names if t["per_region"][n]]
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.32 * len(rows) + 1.2)))
    for y, (*_, v) in enumerate(rows):
        lo, hi = v["ci95"]
        colour = "C3" if v["significant"] else "C0"
        ax.plot([lo, hi], [y, y], color=colour, lw=1.5)
        ax.plot(v["mean_difference"], y, "o", color=colour, mfc=colour if v["significant"] else "white")
    ax.axvline(0, color="#888", lw=0.8)
    ax.set_yticks(range(len(rows)), [f"{region}: {a} - {b}" for a, b, region, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title("pairwise differences across subjects, 95 % t CI (filled red: significant after BH-FDR)",
                 fontsize=9)
    fig.tight_layout()
    return fig
