"""Figures and the self-contained HTML report of the encoding task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from brain.dataset import EncodingData
from brain.layers import best_layer
from experiments.io import save_figure
from experiments.report import Report

N_FSAVERAGE5 = 20484
VIEWS = (("left", "lateral"), ("left", "medial"), ("right", "lateral"), ("right", "medial"))


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_surface(values: np.ndarray, vertices: np.ndarray, path: Path, title: str,
                 vmax: float | None = None, cmap: str = "inferno") -> None:
    """Non-negative per-voxel ``values`` (n_vox,) at fsaverage5 ``vertices`` on the inflated
    surface, four views, sulcal depth underneath, colour scale [0, vmax]; NaN and 0 are
    left unpainted."""
    from nilearn import datasets, plotting
    from nilearn.surface import SurfaceImage

    full = np.zeros(N_FSAVERAGE5)
    full[vertices] = np.nan_to_num(values, nan=0.0)
    meshes = datasets.load_fsaverage("fsaverage5")
    sulc = datasets.load_fsaverage_data(mesh="fsaverage5", mesh_type="inflated", data_type="sulcal")
    img = SurfaceImage(mesh=meshes["inflated"], data={"left": full[:10242], "right": full[10242:]})
    plt = _plt()
    fig, axes = plt.subplots(1, 4, subplot_kw={"projection": "3d"}, figsize=(13, 3.4))
    vmax = float(np.nanmax(np.abs(values))) if vmax is None else vmax
    for ax, (hemi, view) in zip(axes, VIEWS):
        plotting.plot_surf_stat_map(stat_map=img, surf_mesh=meshes["inflated"], hemi=hemi, view=view,
                                    bg_map=sulc, axes=ax, colorbar=False, vmin=0.0, vmax=vmax or 1.0,
                                    symmetric_cbar=False, cmap=cmap, threshold=1e-9)
        ax.set_title(f"{hemi} {view}", fontsize=9)
    fig.suptitle(title)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0.0, vmax or 1.0))
    fig.colorbar(sm, ax=axes, shrink=0.6, location="right")
    save_figure(fig, path, dpi=90)
    plt.close(fig)


def plot_volume(values: np.ndarray, mask: str, path: Path, title: str, vmax: float | None = None,
                cmap: str = "inferno") -> None:
    """Per-voxel ``values`` (n_vox,) of volumetric data, put back into ``mask``'s space, as a
    glass brain (four views) above a stat map on the MNI152 template."""
    from nilearn import datasets, plotting
    from nilearn.maskers import NiftiMasker

    img = NiftiMasker(mask_img=mask).fit().inverse_transform(np.nan_to_num(values, nan=0.0)[None])
    img = img.slicer[..., 0] if len(img.shape) == 4 else img
    plt = _plt()
    fig = plt.figure(figsize=(11, 6))
    vmax = float(np.nanmax(np.abs(values))) if vmax is None else vmax
    plotting.plot_glass_brain(img, display_mode="lzry", colorbar=True, cmap=cmap, vmin=0, vmax=vmax or 1.0,
                              plot_abs=False, threshold=1e-9, figure=fig, axes=fig.add_axes((0, 0.5, 1, 0.45)),
                              title=title)
    plotting.plot_stat_map(img, bg_img=datasets.load_mni152_template(), display_mode="ortho", colorbar=True,
                           cmap=cmap, vmin=0, vmax=vmax or 1.0, threshold=1e-9, figure=fig,
                           axes=fig.add_axes((0, 0, 1, 0.45)))
    save_figure(fig, path, dpi=90)
    plt.close(fig)


def plot_layer_curves(curves: dict[str, dict[str, list[float]]], path: Path) -> None:
    """Mean test r per layer and region, one panel per feature space."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.6), squeeze=False)
    for ax, (space, per_region) in zip(axes[0], curves.items()):
        for region, ys in per_region.items():
            ax.plot(np.arange(len(ys)), ys, marker="o", label=region)
        ax.set_title(space)
        ax.set_xlabel("layer")
        ax.set_ylabel("mean test r")
    axes[0, -1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    plt.close(fig)


def plot_comparison(values: dict[str, np.ndarray], names: tuple[str, ...], pvalues: dict[str, float] | None,
                    path: Path) -> None:
    """Best-layer normalised alignment per region, bars per space (mean +- SEM over subjects);
    ``*`` marks regions where the spaces differ (Wilcoxon p < 0.05)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / len(values)
    x = np.arange(len(names))
    for k, (space, v) in enumerate(values.items()):  # v: (n_subjects, n_regions)
        mean = np.nanmean(v, axis=0)
        sem = np.nanstd(v, axis=0) / np.sqrt(max(v.shape[0], 1))
        ax.bar(x + k * width, mean, width, yerr=sem, label=space, capsize=2)
    for j, n in enumerate(names):
        if pvalues and pvalues.get(n, 1.0) < 0.05:
            ax.text(x[j] + 0.4 - width / 2, ax.get_ylim()[1] * 0.95, "*", ha="center")
    ax.set_xticks(x + 0.4 - width / 2, names)
    ax.set_ylabel("normalised alignment (r / ceiling)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    plt.close(fig)


def plot_variance_partition(parts: dict[str, dict[str, float]], names: tuple[str, ...], path: Path) -> None:
    """Stacked bars per region: test R^2 unique to each space and shared."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.4))
    bottom = np.zeros(len(names))
    for label, per_region in parts.items():
        vals = np.array([max(per_region[n], 0.0) if per_region[n] == per_region[n] else 0.0 for n in names])
        ax.bar(names, vals, bottom=bottom, label=label.replace("_", " "))
        bottom += vals
    ax.set_ylabel("test R^2 (mean over voxels)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    plt.close(fig)


def plot_ceiling_histogram(ceiling: np.ndarray, path: Path) -> None:
    """Histogram of per-voxel noise ceilings (all subjects)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(ceiling[np.isfinite(ceiling)].ravel(), bins=40, color="#557")
    ax.set_xlabel("noise ceiling (r)")
    ax.set_ylabel("voxels")
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    plt.close(fig)


def write_encoding_report(data: EncodingData, res: dict[str, Any], metrics: dict[str, Any],
                          out_dir: Path) -> None:
    """All figures as PNG files in ``out_dir`` plus ``report.html`` embedding them."""
    names = data.region_names
    rep = Report("callosum: brain-alignment report (encoding)")
    rep.text(f"{metrics['subjects']} subjects, {metrics['voxels']} voxels on fsaverage5, feature spaces: "
             f"{', '.join(data.spaces)}. Normalised alignment = test r / split-half noise ceiling "
             "(voxels with ceiling >= min_ceiling).")
    rep.heading("Layers: mean test r and significant voxels")
    rows = [[space, layer, m["mean_r"], m["significant_voxels"]]
            for space, s in metrics["spaces"].items() for layer, m in s["layers"].items()]
    rep.table(["space", "layer", "mean r", "significant voxels (FDR, mean over subjects)"], rows)
    rep.heading("Best layer per region (normalised depth, 0 = first layer)")
    rep.table(["region"] + list(data.spaces),
              [[n] + [metrics["spaces"][s]["best_layer_depth"][n] for s in data.spaces] for n in names])
    if data.vertices is None and data.mask is None:
        rep.text("Neither fsaverage5 vertex indices nor a volume mask were given: brain maps are skipped.")
    for i, space in enumerate(data.spaces if data.vertices is not None or data.mask else ()):
        r_mean = np.nanmean(res["r"][i], axis=0)  # (n_layers, n_vox)
        _, depth = best_layer(r_mean)
        best_r = np.nanmax(r_mean, axis=0)
        depth = np.where(best_r > 0.1, depth + 0.01, np.nan)  # +0.01: depth 0 stays visible
        for what, values, cmap, vmax in (("best_layer", depth, "viridis", 1.01),
                                         ("r", best_r, "inferno", None)):
            title = f"{space}: {what.replace('_', ' ')}"
            if data.vertices is not None:
                png = out_dir / f"surface_{what}_{space}.png"
                plot_surface(values, data.vertices, png, title, vmax, cmap)
            else:
                png = out_dir / f"volume_{what}_{space}.png"
                plot_volume(values, data.mask, png, title, vmax, cmap)
            rep.figure(png, f"{space}: {'best layer depth (r > 0.1)' if what == 'best_layer' else 'best-layer test r'}")
    rep.heading("Layer curves per region")
    curves = {s: metrics["spaces"][s]["layer_curves_r"] for s in data.spaces}
    plot_layer_curves(curves, out_dir / "layer_curves.png")
    rep.figure(out_dir / "layer_curves.png", "mean test r by layer and region")
    if "comparison" in metrics:
        rep.heading("Model comparison")
        from brain.layers import region_means
        from brain.noise_ceiling import normalised_alignment

        vals = {}
        for i, space in enumerate(data.spaces):
            norm = normalised_alignment(res["r"][i], np.broadcast_to(res["ceiling"][:, None, :], res["r"][i].shape))
            best = np.nanmax(norm, axis=1)
            vals[space] = np.array([[region_means(b, data.region, names)[n] for n in names] for b in best])
        pv = {n: v["pvalue"] for n, v in metrics["comparison"]["per_region"].items()}
        plot_comparison(vals, names, pv, out_dir / "comparison.png")
        rep.figure(out_dir / "comparison.png", "best-layer normalised alignment; * Wilcoxon p < 0.05 across subjects")
        rep.table(["region", "mean difference", "Wilcoxon p"],
                  [[n, v["mean_difference"], v["pvalue"]] for n, v in metrics["comparison"]["per_region"].items()])
    if "variance_partition" in metrics:
        rep.heading("Variance partitioning")
        vp = metrics["variance_partition"]
        plot_variance_partition(vp, names, out_dir / "variance_partition.png")
        rep.figure(out_dir / "variance_partition.png", "unique and shared test R^2 of the two feature "
                   "spaces (best layer of each; joint model: banded ridge); negative parts drawn as 0")
        rep.table(["region"] + list(vp), [[n] + [vp[k][n] for k in vp] for n in names])
    rep.heading("Noise ceiling")
    plot_ceiling_histogram(res["ceiling"], out_dir / "noise_ceiling.png")
    rep.figure(out_dir / "noise_ceiling.png", "split-half noise ceiling per voxel")
    cross = metrics.get("cross_subject_ceiling_mean")
    rep.table(["region", "split-half ceiling", "cross-subject ceiling (extrapolated)"],
              [[n, metrics["noise_ceiling_mean"][n], cross[n] if cross else float("nan")] for n in names])
    rep.write(out_dir / "report.html")
