"""Brain maps of per-voxel results with nilearn: fsaverage5 surfaces (four views over the
sulcal depth) and volumes (glass brain over a stat map on MNI152). Each function returns
the matplotlib figure; the caller saves and closes it."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

N_FSAVERAGE5 = 20484
VIEWS = (("left", "lateral"), ("left", "medial"), ("right", "lateral"), ("right", "medial"))


@lru_cache(maxsize=1)
def _fsaverage5() -> tuple[Any, Any]:
    """nilearn's inflated fsaverage5 mesh and sulcal depth, read from its files once (its file
    meshes are read again on every access: hundreds of reads per figure)."""
    from nilearn import datasets
    from nilearn.surface import InMemoryMesh, PolyMesh, SurfaceImage

    inflated = datasets.load_fsaverage("fsaverage5")["inflated"]
    mesh = PolyMesh(**{h: InMemoryMesh(part.coordinates, part.faces) for h, part in inflated.parts.items()})
    sulc = datasets.load_fsaverage_data(mesh="fsaverage5", mesh_type="inflated", data_type="sulcal")
    return mesh, SurfaceImage(mesh=mesh, data={h: np.asarray(d) for h, d in sulc.data.parts.items()})


def painted_mean(face: np.ndarray) -> float:
    """A face's colour value from its three vertices' values: the mean of its painted (non-zero)
    vertices, 0 when none is painted. nilearn's default mean counts unpainted vertices as 0, so
    a lone painted vertex showed a third of its value (and a category map the wrong category)."""
    painted = face[face != 0]
    return float(painted.mean()) if painted.size else 0.0


def painted_category(face: np.ndarray) -> float:
    """A face's category from its three vertices' categories (1, 2, ...; 0 unpainted): the most
    frequent painted one, the smaller on a tie; never an average of two categories."""
    painted = face[face != 0]
    if not painted.size:
        return 0.0
    names, counts = np.unique(painted, return_counts=True)
    return float(names[np.argmax(counts)])


def plot_surface(values: np.ndarray, vertices: np.ndarray, title: str,
                 vmax: float | None = None, cmap: Any = "inferno", label: str = "", vmin: float = 0.0,
                 ticks: dict[float, str] | None = None) -> Any:
    """Non-negative per-voxel ``values`` (n_vox,) at fsaverage5 ``vertices`` on the inflated
    surface, four views, sulcal depth underneath, colour scale [vmin, vmax]; NaN and 0 are
    left unpainted. ``ticks``: {value: name} for a colour bar of categories (whole values 1,
    2, ...). Each face is coloured from its painted vertices (:func:`painted_mean`, categories
    :func:`painted_category`). Returns the matplotlib figure."""
    from nilearn import plotting
    from nilearn.surface import SurfaceImage

    full = np.zeros(N_FSAVERAGE5)
    full[vertices] = np.nan_to_num(values, nan=0.0)
    mesh, sulc = _fsaverage5()
    img = SurfaceImage(mesh=mesh, data={"left": full[:10242], "right": full[10242:]})
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, subplot_kw={"projection": "3d"}, figsize=(13, 3.4))
    if vmax is None:
        vmax = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    for ax, (hemi, view) in zip(axes, VIEWS):
        plotting.plot_surf_stat_map(stat_map=img, surf_mesh=mesh, hemi=hemi, view=view,
                                    bg_map=sulc, axes=ax, colorbar=False, vmin=vmin, vmax=vmax or 1.0,
                                    symmetric_cbar=False, cmap=cmap, threshold=1e-9,
                                    avg_method=painted_category if ticks else painted_mean)
        ax.set_title(f"{hemi} {view}", fontsize=9)
    fig.suptitle(title)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(vmin, vmax or 1.0))
    bar = fig.colorbar(sm, ax=axes, shrink=0.6, location="right")
    bar.set_label(label, fontsize=8)
    if ticks:
        bar.set_ticks(list(ticks), labels=list(ticks.values()))
    return fig


def plot_volume(values: np.ndarray, mask: str, title: str, vmax: float | None = None,
                cmap: str = "inferno", label: str = "") -> Any:
    """Per-voxel ``values`` (n_vox,) of volumetric data, put back into ``mask``'s space, as a
    glass brain (four views) above a stat map on the MNI152 template. Returns the figure."""
    from nilearn import datasets, plotting
    from nilearn.maskers import NiftiMasker

    img = NiftiMasker(mask_img=mask).fit().inverse_transform(np.nan_to_num(values, nan=0.0)[None])
    img = img.slicer[..., 0] if len(img.shape) == 4 else img
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(11, 6))
    if vmax is None:
        vmax = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    plotting.plot_glass_brain(img, display_mode="lzry", colorbar=True, cmap=cmap, vmin=0, vmax=vmax or 1.0,
                              plot_abs=False, threshold=1e-9, figure=fig, axes=fig.add_axes((0, 0.5, 1, 0.45)),
                              title=f"{title} (colour: {label})" if label else title)
    plotting.plot_stat_map(img, bg_img=datasets.load_mni152_template(), display_mode="ortho", colorbar=True,
                           cmap=cmap, vmin=0, vmax=vmax or 1.0, threshold=1e-9, figure=fig,
                           axes=fig.add_axes((0, 0, 1, 0.45)))
    return fig
