"""Report of a perturbation run: the responses per variant and task, the stability claim, and
one figure (the hand's displacement from its unperturbed path over time, per variant)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from experiments.io import save_figure
from experiments.report.html import Report
from experiments.report.plots import pyplot


def _scaled(x: Any, scale: float) -> float:
    return float("nan") if x is None else scale * float(x)


def response_rows(variants: dict[str, Any], label: str = "") -> list[list[Any]]:
    rows = []
    for name, per_task in variants.items():
        for task, r in per_task.items():
            rows.append([f"{label}{name}", task, _scaled(r["peak_displacement"], 100),
                         _scaled(r["peak_displacement_ci95"], 100), _scaled(r["time_to_return"], 1000),
                         _scaled(r["time_to_return_ci95"], 1000), _scaled(r["returned"], 100),
                         _scaled(r["corrective_excitation"], 1), _scaled(r["corrective_excitation_ci95"], 1)])
    return rows


def _ci(p: dict[str, Any], scale: float) -> str:
    ci = p.get("ci95") or [None, None]
    if ci[0] is None:
        return "-"
    return f"{scale * p['difference']:+.2f} [{scale * ci[0]:+.2f}, {scale * ci[1]:+.2f}]"


SCALES = {"peak_displacement": (100, "cm"), "time_to_return": (1000, "ms")}


def claim_rows(claim: dict[str, Any]) -> list[list[str]]:
    rows = [["overall", "", claim["task"], "", claim["verdict"]]]
    for metric, p in claim.get("parts", {}).items():
        scale, unit = SCALES.get(metric, (1, ""))
        rows.append(["non-dominant - dominant", metric, claim["task"], f"{_ci(p, scale)} {unit}", p["verdict"]])
    for key, c in claim.items():
        if key.startswith("within_"):
            for metric, p in c.get("parts", {}).items():
                scale, unit = SCALES.get(metric, (1, ""))
                rows.append([f"{key.removeprefix('within_')}: right only - left only (not judged)", metric,
                             claim["task"], f"{_ci(p, scale)} {unit}", p["verdict"]])
    for task, c in (claim.get("other_tasks") or {}).items():
        if task == "information":
            continue
        for metric, p in c.get("parts", {}).items():
            scale, unit = SCALES.get(metric, (1, ""))
            rows.append(["non-dominant - dominant (not judged)", metric, task, f"{_ci(p, scale)} {unit}", p["verdict"]])
    return rows


def displacement_figure(curves: dict[str, np.ndarray], metrics: dict[str, Any], path: Path) -> None:
    """Per task a panel: per variant the mean over seeds, episodes and directions of the
    distance between the perturbed and the unperturbed hand, against time."""
    plt = pyplot()
    p = metrics["perturbation"]
    tasks = list(dict.fromkeys(k.split("/")[0] for k in curves))
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 3.8), squeeze=False, sharey=True)
    dt = p["control_dt"]
    for ax, task in zip(axes[0], tasks):
        for key, curve in curves.items():
            if key.split("/")[0] != task:
                continue
            mean = np.asarray(curve).mean(axis=0)
            ax.plot(dt * np.arange(1, mean.size + 1), 100 * mean, label=key.split("/", 1)[1])
        end = p["onset"] + (p["steps"] * dt if p["kind"] == "pulse" else 0)
        ax.axvspan(p["onset"], end if p["kind"] == "pulse" else dt * p["episode_steps"], color="0.9")
        ax.axhline(1.0, color="0.5", lw=0.8, ls="--")
        ax.set(title=f"{task}", xlabel="time (s)")
    axes[0][0].set_ylabel("|perturbed - unperturbed hand| (cm)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, close=True)


def write_report(metrics: dict[str, Any], curves: dict[str, np.ndarray], out_dir: Path) -> None:
    p = metrics["perturbation"]
    what = (f"{p['force']:g} N {'pulse of ' + format(1000 * p['duration'], 'g') + ' ms' if p['kind'] == 'pulse' else 'step'}"
            f" from {1000 * p['onset']:g} ms, directions {', '.join(f'{a:g}' for a in p['angles'])} degrees")
    rep = Report(f"callosum: perturbations of the hand ({what})")
    rep.text(f"Controllers of {metrics['controllers']} (trained on {metrics['trained_task']}, seeds "
             f"{metrics['seeds']}); {metrics['episodes']} episodes per seed, task and direction, each run with and "
             f"without the force, with the same noise. Peak displacement: the largest distance from the unperturbed "
             f"hand after the onset; time to return: from the onset until the hand is back within 1 cm of its "
             f"unperturbed path for good (mean over the episodes that returned; 'returned' says how many did); "
             f"corrective excitation: the mean absolute change of the excitations from the onset on. Means over "
             f"seeds of per-seed means over every direction's episodes, with 95 % t half-widths over seeds.")
    header = ["variant", "task", "peak (cm)", "± 95 %", "return (ms)", "± 95 %", "returned (%)",
              "corrective exc.", "± 95 %"]
    rep.table(header, response_rows(metrics["variants"]), fmt=".2f")
    if metrics.get("lesions"):
        rep.heading("Specialised bilateral controllers with one hemisphere silenced")
        rows = [r for name, per in metrics["lesions"].items() for r in response_rows(per, f"{name} / ")]
        rep.table(header, rows, fmt=".2f")
    claim = metrics["claim"]
    rep.heading(f"Claim: {claim['statement']} (verdict: {claim['verdict']})")
    rep.text("Paired per-seed differences (same seeds, episodes, noise and pushes), 95 % t interval: holds if the "
             "interval lies below 0 for both measures during hold, does not hold if above 0 for one, else inconclusive"
             + (f"; missing: {', '.join(claim['missing'])}" if claim.get("missing") else "") + ".")
    rep.table(["comparison", "measure", "task", "difference [95 % CI]", "verdict"], claim_rows(claim))
    png = out_dir / "displacement.png"
    displacement_figure(curves, metrics, png)
    rep.figure(png, "Distance between the perturbed and the unperturbed hand (mean over seeds, episodes and "
                    "directions); grey: the force; dashed: the 1 cm return radius.")
    rep.write(out_dir / "report.html")
