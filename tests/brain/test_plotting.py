"""Surface maps show each vertex's own value: a face takes the mean of its painted vertices
(a category map the most frequent painted category), never an average with unpainted
vertices. Checked on the rendered PNG by counting the pixels of each category's colour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import ListedColormap

from brain.plotting import painted_category, painted_mean, plot_surface
from experiments.io import save_figure
from experiments.report.plots import pyplot

COLOURS = [(0.12, 0.47, 0.71), (1.0, 0.50, 0.05)]  # tab10's first two


def test_faces_take_their_painted_vertices_values() -> None:
    assert painted_mean(np.array([0.6, 0.0, 0.0])) == pytest.approx(0.6)
    assert painted_mean(np.array([0.6, 0.2, 0.0])) == pytest.approx(0.4)
    assert painted_mean(np.zeros(3)) == 0.0
    assert painted_category(np.array([2.0, 0.0, 0.0])) == 2.0
    assert painted_category(np.array([1.0, 3.0, 3.0])) == 3.0
    assert painted_category(np.array([3.0, 1.0, 0.0])) == 1.0  # a tie: the smaller, never their mean 2
    assert painted_category(np.zeros(3)) == 0.0


def _pixels(png: Path) -> list[int]:
    """Pixels of each category colour in the brain views (the colour bar, right, cut off)."""
    image = pyplot().imread(png)[..., :3]
    image = image[:, : int(image.shape[1] * 0.76)]
    return [int((np.abs(image - np.array(c)).max(-1) < 0.08).sum()) for c in COLOURS]


@pytest.mark.parametrize("category", [1, 2])
def test_scattered_vertices_of_one_category_show_only_its_colour(category: int, tmp_path: Path) -> None:
    """60 scattered vertices (isolated, as kept voxels often are) all of one category: with
    nilearn's default face mean a lone category-2 vertex drew its faces at 2/3 (category 1's
    colour) and a category-1 vertex at 1/3 (below the scale: not drawn at all)."""
    vertices = np.sort(np.random.default_rng(0).choice(20484, 60, replace=False))
    png = tmp_path / "map.png"
    fig = plot_surface(np.full(60, float(category)), vertices, "one category", vmax=2.5, vmin=0.5,
                       cmap=ListedColormap(COLOURS), ticks={1.0: "a", 2.0: "b"})
    save_figure(fig, png, dpi=90, close=True)
    counts = _pixels(png)
    assert counts[category - 1] > 100, counts
    assert counts[2 - category] == 0, counts
