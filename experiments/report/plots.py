"""Figures for run reports (matplotlib, imported lazily, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from experiments.io import save_figure


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (files only, no display), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_hand_paths(hands: np.ndarray, targets: np.ndarray, path: Path, title: str = "") -> None:
    """Hand paths (episodes, steps + 1, 2) m with their targets (episodes, 2) m, to PNG."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5, 5), dpi=120)
    colors = plt.cm.viridis(np.linspace(0, 1, len(hands)))
    for hand, target, c in zip(hands, targets, colors):
        ax.plot(hand[:, 0], hand[:, 1], color=c, lw=1.5)
        ax.plot(*hand[0], "o", color=c, ms=4)
        ax.plot(*target, "x", color=c, ms=8, mew=2)
    ax.plot(0, 0, "ks", ms=6, label="shoulder")
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(title + "\n(o start, x target)")
    # outside the axes: inside, the legend covered targets
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, borderaxespad=0)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
