"""Figures of motor results (matplotlib on the Agg backend, imported on first use): each
function takes the per-variant numbers or trajectories a motor run keeps and returns the
figure (or None where there is nothing to draw)."""

from __future__ import annotations

from typing import Any

import numpy as np

MUSCLES = ("pectoralis", "deltoid", "brachioradialis", "triceps lat.", "biceps", "triceps long")  # for legends


def scaled(x: Any, scale: float) -> float:
    """``scale * x`` as a float, NaN for a missing (None) number."""
    return float("nan") if x is None else scale * float(x)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _grid(n: int) -> tuple[int, int]:
    cols = min(n, 4)
    return (n + cols - 1) // cols, cols


def plot_bars(variants: dict[str, Any]) -> Any:
    plt = _pyplot()
    names = list(variants)
    tasks = list(dict.fromkeys(t for per in variants.values() for t in per))
    variants = {n: {t: per.get(t, {"position_error": None, "position_error_ci95": None}) for t in tasks}
                for n, per in variants.items()}
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 4.2), dpi=110, squeeze=False)
    for ax, task in zip(axes[0], tasks):
        mean = [scaled(variants[n][task]["position_error"], 100) for n in names]
        ci = [np.nan_to_num(scaled(variants[n][task]["position_error_ci95"], 100)) for n in names]
        ax.barh(range(len(names)), mean, xerr=ci, color=plt.cm.tab10(np.arange(len(names)) % 10), capsize=3)
        ax.set_yticks(range(len(names)), names if ax is axes[0][0] else [""] * len(names), fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("mean position error (cm)")
        ax.set_title(task)
    over = {r.get("ci_over") for per in variants.values() for r in per.values() if isinstance(r, dict)}
    fig.suptitle("Position error per variant (one seed: mean and 95 % CI over its episodes)" if over == {"episodes"}
                 else "Position error per variant (mean over seeds, 95 % CI over seeds)")
    fig.tight_layout()
    return fig


def plot_paths(paths: dict[str, Any], title: str) -> Any:
    plt = _pyplot()
    rows, cols = _grid(len(paths))
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.4 * rows), dpi=110, squeeze=False)
    for ax, (name, p) in zip(axes.flat, paths.items()):
        colors = plt.cm.hsv(np.linspace(0, 1, len(p["hand"]), endpoint=False))
        for hand, start, target, c in zip(p["hand"], p["start"], p["target"], colors):
            xy = np.vstack([start, hand])
            ax.plot(xy[:, 0], xy[:, 1], color=c, lw=1.2)
            ax.plot(*target, "x", color=c, ms=6, mew=1.5)
        ax.set_aspect("equal")
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
    for i, ax in enumerate(list(axes.flat)[:len(paths)]):
        if i % cols == 0:
            ax.set_ylabel("hand y (m)", fontsize=8)
        if i + cols >= len(paths):  # nothing drawn below it
            ax.set_xlabel("hand x (m)", fontsize=8)
    for ax in list(axes.flat)[len(paths):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_speed_profiles(paths: dict[str, Any], control_dt: float, title: str) -> Any:
    """Hand speed over time per variant, one line per episode in the colours of
    :func:`plot_paths` (a human reach: one bell-shaped peak)."""
    from agents.kinematics import speed_profile

    plt = _pyplot()
    rows, cols = _grid(len(paths))
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows), dpi=110, squeeze=False, sharey=True)
    for ax, (name, p) in zip(axes.flat, paths.items()):
        speed = speed_profile(p["hand"], p["start"], control_dt)
        t = np.arange(1, speed.shape[-1] + 1) * control_dt * 1000
        colors = plt.cm.hsv(np.linspace(0, 1, len(speed), endpoint=False))
        for s, c in zip(speed, colors):
            ax.plot(t, s, color=c, lw=1.0)
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(paths):]:
        ax.axis("off")
    fig.supxlabel("time (ms)", fontsize=8)
    fig.supylabel("hand speed (m/s)", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_learning(history: dict[str, Any]) -> Any:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    n_epochs = max((len(h["train_position_error"]) for h in history.values()), default=0)
    for name, h in history.items():
        train = np.asarray(h["train_position_error"], float)  # (epochs, seeds)
        val = np.asarray(h["val_position_error"], float)
        if train.size == 0:
            continue
        epochs = np.arange(1, len(train) + 1)
        marker = "o" if len(epochs) <= 3 else None  # one or two epochs: points, not an empty line
        axes[0].plot(epochs, 100 * train.reshape(len(train), -1).mean(axis=1), label=name, marker=marker)
        axes[1].plot(epochs, 100 * val.reshape(len(val), -1).mean(axis=1), label=name, marker=marker)
    from matplotlib.ticker import MaxNLocator, ScalarFormatter

    for ax, title in zip(axes, ("training batches", "validation set")):
        ax.set_xlabel("epoch")
        ax.set_ylabel("mean position error (cm)")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(ScalarFormatter())
        if 0 < n_epochs <= 10:
            ax.set_xticks(range(1, n_epochs + 1))
            ax.set_xlim(0.5, n_epochs + 0.5)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_weights(training: dict[str, Any]) -> Any:
    training = {f"{v} ({task})": r for v, per in training.items() for task, r in per.items()}
    names = [n for n, t in training.items() if "w_left" in t]
    if not names:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(names)), 3.8), dpi=110)
    for i, name in enumerate(names):
        for j, (side, color) in enumerate((("w_left", "tab:blue"), ("w_right", "tab:orange"))):
            w = np.asarray(training[name][side], float)
            x = i + (j - 0.5) * 0.3
            ax.bar(x, w.mean(), width=0.28, color=color, alpha=0.6, label=side if i == 0 else None)
            ax.plot(np.full_like(w, x), w, "k.", ms=4)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xticks(range(len(names)), names, fontsize=7, rotation=15)
    ax.set_ylabel("combination weight")
    # two lines: on one, a figure of one or two models cut the title at both sides
    ax.set_title("Learned hemisphere weights\n(bars: mean; dots: seeds; dotted: initial 0.5)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_excitations(paths: dict[str, Any], episode: int = 0, control_dt: float = 0.01) -> Any:
    plt = _pyplot()
    rows, cols = _grid(len(paths))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), dpi=110, squeeze=False,
                             sharey=True)
    for ax, (name, p) in zip(axes.flat, paths.items()):
        u = np.asarray(p["excitation"])[episode]
        t = np.arange(1, len(u) + 1) * control_dt * 1000  # ms
        for m in range(u.shape[-1]):
            ax.plot(t, u[:, m], lw=1.1, label=MUSCLES[m])
        ax.set_title(name, fontsize=8)
        ax.set_ylim(0, 1)
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=6)
    for ax in list(axes.flat)[len(paths):]:
        ax.axis("off")
    fig.supxlabel("time (ms)")
    fig.supylabel("excitation")
    fig.tight_layout()
    return fig


def plot_hand_paths(hands: np.ndarray, targets: np.ndarray, title: str = "") -> Any:
    """Hand paths (episodes, steps + 1, 2) m with their targets (episodes, 2) m."""
    plt = _pyplot()

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
    return fig
