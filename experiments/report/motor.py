"""Report of a motor run: results and lesion tables, claims, and figures (PNG beside an
embedded, self-contained ``report.html``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from experiments.io import save_figure
from experiments.report.html import Report
from experiments.report.plots import pyplot

MUSCLES = ("pectoralis", "deltoid", "brachioradialis", "triceps lat.", "biceps", "triceps long")


def _grid(n: int) -> tuple[int, int]:
    cols = min(n, 4)
    return (n + cols - 1) // cols, cols


def plot_bars(variants: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    names = list(variants)
    tasks = list(dict.fromkeys(t for per in variants.values() for t in per))
    variants = {n: {t: per.get(t, {"position_error": None, "position_error_ci95": None}) for t in tasks}
                for n, per in variants.items()}
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 4.2), dpi=110, squeeze=False)
    for ax, task in zip(axes[0], tasks):
        mean = [_num(variants[n][task]["position_error"], 100) for n in names]
        ci = [np.nan_to_num(_num(variants[n][task]["position_error_ci95"], 100)) for n in names]
        ax.barh(range(len(names)), mean, xerr=ci, color=plt.cm.tab10(np.arange(len(names)) % 10), capsize=3)
        ax.set_yticks(range(len(names)), names if ax is axes[0][0] else [""] * len(names), fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("mean position error (cm)")
        ax.set_title(task)
    over = {r.get("ci_over") for per in variants.values() for r in per.values() if isinstance(r, dict)}
    fig.suptitle("Position error per variant (one seed: mean and 95 % CI over its episodes)" if over == {"episodes"}
                 else "Position error per variant (mean over seeds, 95 % CI over seeds)")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_paths(paths: dict[str, Any], path: Path, title: str) -> None:
    plt = pyplot()
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
    save_figure(fig, path)
    plt.close(fig)


def plot_learning(history: dict[str, Any], path: Path) -> None:
    plt = pyplot()
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
    save_figure(fig, path)
    plt.close(fig)


def plot_weights(training: dict[str, Any], path: Path) -> bool:
    training = {f"{v} ({task})": r for v, per in training.items() for task, r in per.items()}
    names = [n for n, t in training.items() if "w_left" in t]
    if not names:
        return False
    plt = pyplot()
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
    save_figure(fig, path)
    plt.close(fig)
    return True


def plot_excitations(paths: dict[str, Any], path: Path, episode: int = 0) -> None:
    plt = pyplot()
    rows, cols = _grid(len(paths))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), dpi=110, squeeze=False,
                             sharey=True)
    for ax, (name, p) in zip(axes.flat, paths.items()):
        u = np.asarray(p["excitation"])[episode]
        t = np.arange(1, len(u) + 1) * 10  # ms, control step 10 ms
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
    save_figure(fig, path)
    plt.close(fig)


def _cm(x: Any) -> str:
    return "-" if x is None else f"{100 * float(x):+.2f}"


def _part_row(claim: str, part: str, p: dict[str, Any]) -> list[Any]:
    ci = p.get("ci95") or [None, None]
    return [claim, part, p.get("metric", ""), _cm(p.get("difference")),
            f"[{_cm(ci[0])}, {_cm(ci[1])}]", p.get("verdict", "")]


def claim_rows(claims: dict[str, Any]) -> list[list[Any]]:
    """One row per claim (its verdict) and per part (difference, CI, verdict)."""
    rows = []
    for name, c in claims.items():
        short = name.split("_")[0] + " " + name.split("_")[1]
        relative = " (relative difference x 100, i.e. %)" if c.get("per_kind") else ""
        rows.append([short, "overall" + relative + (f" (missing: {', '.join(c['missing'])})" if c.get("missing") else ""),
                     c.get("metric", ""), _cm(c.get("difference")),
                     f"[{_cm(c['ci95'][0])}, {_cm(c['ci95'][1])}]" if c.get("ci95") else "", c.get("verdict", "")])
        for part, p in (c.get("parts") or {}).items():
            rows.append(_part_row(short, part, p))
        for variant, v in (c.get("variants") or {}).items():
            rows.append([short, f"{variant}: overall", c.get("metric", ""), "", "", v.get("verdict", "")])
            for part, p in (v.get("parts") or {}).items():
                rows.append(_part_row(short, f"{variant}: {part}", p))
        for kind, p in (c.get("per_kind") or {}).items():
            rows.append(_part_row(short, f"{kind} (relative x 100, i.e. %, pooled over tasks)",
                                  {**p, "metric": c.get("metric")}))
        for comp, p in (c.get("comparisons") or {}).items():
            rows.append(_part_row(short, comp, p))
    return rows


def _num(x: Any, scale: float) -> float:
    return float("nan") if x is None else scale * float(x)


def _results_rows(results: dict[str, Any], label: str = "") -> list[list[Any]]:
    rows = []
    for name, per_task in results.items():
        for task, r in per_task.items():
            # the hold task starts at its target: time to and share reaching 1 cm say nothing there
            hold = task == "hold"
            ms = _num(r.get("time_to_target_median"), 1000)
            rows.append([f"{label}{name}", task, _num(r["position_error"], 100),
                         _num(r["position_error_ci95"], 100), _num(r.get("final_phase_error"), 100),
                         _num(r.get("final_phase_error_ci95"), 100),
                         "-" if hold else ("NaN" if ms != ms else f"{ms:.0f}"),
                         "-" if hold else _num(r.get("reached"), 100), _num(r.get("load_drift"), 100), r["effort"]])
    return rows


def write_report(metrics: dict[str, Any], data: dict[str, Any], out_dir: Path) -> None:
    out_dir = Path(out_dir)
    header = ["variant", "task", "error (cm)", "± 95 % CI", "final 100 ms (cm)", "± 95 % CI",
              "time to 1 cm (ms, median)", "reached 1 cm (%)", "drift along load (cm)", "effort"]
    rep = Report(f"callosum motor run: task={metrics['task']} (trained on {metrics['train_task']})")
    one_seed = len(metrics["seeds"]) == 1
    judged = ("each model is trained on reach or on hold and judged on the task it was trained on"
              if metrics["train_task"] == "per_task" else
              f"every model is trained on {metrics['train_task']} and judged on every evaluation task")
    rep.text(f"Seeds {metrics['seeds']}; controller {metrics['agent']}; training {metrics.get('train', {})}. "
             f"Errors: hand-target distance, mean over the episode (error) or over its last 100 ms "
             f"(final), averaged over evaluation episodes and seeds; "
             + ("one seed, so the CIs are 95 % t-intervals over evaluation episodes (they leave out "
                "seed-to-seed variation). " if one_seed else "CIs are 95 % t-intervals over seeds. ")
             + "Time to 1 cm: when the hand first comes within 1 cm of the target (median, ms; not for "
             f"hold, which starts at its target); drift: the hand's final displacement along the load (hold). "
             f"Training: {judged}.")
    if "claims" in metrics:
        rep.heading("The paper's claims")
        rep.text("Each verdict comes from paired per-seed differences (same seeds, same evaluation "
                 "episodes): holds / does not hold when the 95 % t-interval of the mean difference lies "
                 "on one side of zero (of the margin, for 'as good as'), inconclusive when it covers it. "
                 f"Margin for 'as good as': {100 * float(metrics['claims'].get('claim_2_bilateral_at_least_as_good_as_preferred', {}).get('margin') or 0.0):.2f} cm.")
        rep.table(["claim", "part", "metric", "difference (cm)", "95 % CI (cm)", "verdict"],
                  claim_rows(metrics["claims"]) + claim_rows(metrics.get("claims_final_phase", {})))
        rep.text("Numbers behind each verdict: metrics.json, keys 'claims' (episode-mean error) and "
                 "'claims_final_phase' (error over the last 100 ms). Reported as they came out.")
    best, timing = metrics.get("accuracy"), metrics.get("timing")
    if best:
        ci = best.get("final_phase_error_ci95")
        rep.text(f"Most accurate on {best['task']}: {best['variant']}, final-phase error "
                 f"{100 * best['final_phase_error']:.2f} cm"
                 + (f" ± {100 * ci:.2f} cm (95 % CI over {best.get('ci_over', 'seeds')}"
                    + (", one seed" if best.get("ci_over") == "episodes" else "") + ")" if ci is not None else "")
                 + f"; {'within' if best['within_1cm'] else 'not within'} 1 cm of the target.")
    if timing:
        rep.text(f"Run time {timing['seconds']:.0f} s: training {timing['train_seconds']:.0f} s, "
                 f"compiling {timing['compile_seconds']:.1f} s ({timing['compilations']} trace, lowering and XLA events, "
                 f"{timing['persistent_cache_hits']} from the persistent cache).")
    rep.heading("Results")
    rep.table(header, _results_rows(metrics["variants"]))
    plot_bars(metrics["variants"], out_dir / "position_error.png")
    rep.figure(out_dir / "position_error.png", "Mean position error per variant and evaluation task")
    if data.get("centre_out"):
        plot_paths(data["centre_out"], out_dir / "centre_out_paths.png",
                   "Centre-out reaches (seed 0; x: targets)")
        rep.figure(out_dir / "centre_out_paths.png", "Hand paths to the centre-out targets, per variant")
        plot_excitations(data["centre_out"], out_dir / "excitations.png")
        rep.figure(out_dir / "excitations.png", "Muscle excitations, centre-out target 1 (seed 0)")
    if data.get("history"):
        plot_learning(data["history"], out_dir / "learning_curves.png")
        rep.figure(out_dir / "learning_curves.png", "Learning curves (mean over seeds)")
    if metrics.get("train_task") == "per_task":
        rep.heading("Every model on every task (cross-task evaluation, extra)")
        rows = []
        for name, per_trained in metrics["cross_task"].items():
            rows += _results_rows({f"{name} (trained on {tr})": r for tr, r in per_trained.items()})
        rep.table(header, rows)
    rep.heading("Training")
    rep.table(["variant", "trained on", "epochs (per seed)", "family train seconds", "w_left", "w_right"],
              [[n, task, str(t["epochs"]), t["family_seconds"],
                " ".join(f"{w:.2f}" for w in t.get("w_left", [])) or "-",
                " ".join(f"{w:.2f}" for w in t.get("w_right", [])) or "-"]
               for n, per in metrics["training"].items() for task, t in per.items()], fmt=".1f")
    if plot_weights(metrics["training"], out_dir / "hemisphere_weights.png"):
        rep.figure(out_dir / "hemisphere_weights.png", "Learned combination weights w_left, w_right")
    if any(metrics["lesions"].values()):
        rep.heading("Lesions (evaluation without retraining)")
        rows = []
        for name, per_lesion in metrics["lesions"].items():
            rows += _results_rows({f"{name} / {lesion}": r for lesion, r in per_lesion.items()})
        rep.table(["variant / lesion"] + header[1:], rows)
        rep.text("silence_left / silence_right: every activity of that hemisphere set to zero; "
                 "cut_callosum: no callosal input to either side; input_left / input_right (the "
                 "original code's highleft / highright): that hemisphere's observation set to zero; "
                 "output_left / output_right (lowleft / lowright): its last layer's output set to zero.")
    rep.write(out_dir / "report.html")
