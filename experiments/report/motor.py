"""Report of a motor run: results and lesion tables, claims, and figures (PNG beside an
embedded, self-contained ``report.html``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents import figures
from experiments.io import save_figure
from experiments.report.html import Report


def _save(fig: Any, path: Path) -> None:
    save_figure(fig, path, close=True)


def _cm(x: Any) -> str:
    return "-" if x is None else f"{100 * float(x):+.2f}"


def _part_row(claim: str, part: str, p: dict[str, Any]) -> list[Any]:
    ci = p.get("ci95") or [None, None]
    if p.get("margin") is not None:  # non-inferiority: the margin it was tested against
        part += f" (margin {100 * p['margin']:.0f} % = {_cm(p.get('margin_m'))} cm)"
    pv = p.get("p_value")
    return [claim, part, p.get("metric", ""), _cm(p.get("difference")),
            f"[{_cm(ci[0])}, {_cm(ci[1])}]", "" if pv is None else f"{pv:.3g}", p.get("verdict", "")]


def claim_rows(claims: dict[str, Any]) -> list[list[Any]]:
    """One row per claim (its verdict) and per part (difference, CI, verdict)."""
    rows = []
    for name, c in claims.items():
        short = name.split("_")[0] + " " + name.split("_")[1]
        relative = " (relative difference x 100, i.e. %)" if c.get("per_kind") else ""
        rows.append([short, "overall" + relative + (f" (missing: {', '.join(c['missing'])})" if c.get("missing") else ""),
                     c.get("metric", ""), _cm(c.get("difference")),
                     f"[{_cm(c['ci95'][0])}, {_cm(c['ci95'][1])}]" if c.get("ci95") else "", "", c.get("verdict", "")])
        for reading, verdict in (c.get("readings") or {}).items():
            rows.append([short, f"reading: {reading}", c.get("metric", ""), "", "", "", verdict])
        if c.get("verdict_both_readings"):
            rows.append([short, "both readings", c.get("metric", ""), "", "", "", c["verdict_both_readings"]])
        for part, p in (c.get("parts") or {}).items():
            rows.append(_part_row(short, part, p))
        for variant, v in (c.get("variants") or {}).items():
            ph = v.get("p_holm")
            rows.append([short, f"{variant}: overall (alone; after Holm: {v.get('verdict_after_holm', '-')})",
                         c.get("metric", ""), "", "", "" if ph is None else f"Holm {ph:.3g}", v.get("verdict", "")])
            for part, p in (v.get("parts") or {}).items():
                rows.append(_part_row(short, f"{variant}: {part}", p))
        for kind, p in (c.get("per_kind") or {}).items():
            rows.append(_part_row(short, f"{kind} (relative x 100, i.e. %, pooled over tasks)",
                                  {**p, "metric": c.get("metric")}))
        for comp, p in (c.get("comparisons") or {}).items():
            rows.append(_part_row(short, comp, p))
        if c.get("qualifier"):
            rows.append(_part_row(short, "qualifier: r(specialised) - r(unspecialised) > 0 (relative x 100, i.e. %)",
                                  {**c["qualifier"], "metric": c.get("metric")}))
    return rows


def _results_rows(results: dict[str, Any], label: str = "") -> list[list[Any]]:
    rows = []
    for name, per_task in results.items():
        for task, r in per_task.items():
            # the hold task starts at its target: time to and share reaching 1 cm say nothing there
            hold = task == "hold"
            ms = figures.scaled(r.get("time_to_target_median"), 1000)
            rows.append([f"{label}{name}", task, figures.scaled(r["position_error"], 100),
                         figures.scaled(r["position_error_ci95"], 100), figures.scaled(r.get("final_phase_error"), 100),
                         figures.scaled(r.get("final_phase_error_ci95"), 100),
                         "-" if hold else ("NaN" if ms != ms else f"{ms:.0f}"),
                         "-" if hold else figures.scaled(r.get("reached"), 100), figures.scaled(r.get("load_drift"), 100), r["effort"]])
    return rows


def _shape_rows(results: dict[str, Any], label: str = "") -> list[list[Any]]:
    """Movement shape (agents.kinematics) of the reaching tasks: the hold starts at its target."""
    rows = []
    for name, per_task in results.items():
        for task, r in per_task.items():
            if task == "hold" or "straightness" not in r:
                continue
            scales = (("straightness_median", 1), ("single_peak_fraction", 100),
                      ("speed_peaks", 1), ("peak_speed", 1), ("time_to_peak_speed", 1000), ("overshoot", 100),
                      ("lateral_deviation", 100))
            rows.append([f"{label}{name}", task] + [figures.scaled(r.get(k), c) for k, c in scales])
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
        c2 = metrics["claims"].get("claim_2_bilateral_at_least_as_good_as_preferred", {})
        kinds = sorted({p.get("interval") for c in metrics["claims"].values()
                        for p in (c.get("parts") or {}).values() if p.get("interval")})
        rep.text("Each verdict comes from paired differences (same seeds, same evaluation episodes): holds / "
                 "does not hold when the 95 % interval of the mean difference (mean +- t(n-1) SE) lies on one "
                 "side of zero (of the margin, for 'as good as'), inconclusive when it covers it; p: one-sided. "
                 f"SE: {', '.join(kinds) or '-'} (two-level bootstrap: seeds and evaluation episodes resampled, "
                 "so the interval includes the episodes' sampling; t over seeds: conditional on the episodes). "
                 f"Margin for 'as good as': {100 * float(c2.get('margin') or 0.0):.0f} % of the preferred hand's "
                 "mean error (" + ", ".join(f"{t} {_cm(m)} cm" for t, m in (c2.get("margin_m") or {}).items())
                 + "). Claim 2 holds if one specialised bilateral variant holds after Holm's correction over the "
                 "two; claim 1 is judged on the unilateral models (its verdict) and on the hemispheres inside "
                 "each specialised bilateral model (readings); claim 3's qualifier is a paired test of the "
                 "specialised against the unspecialised callosum effect. The two metrics and the settings of "
                 "a robustness grid are not corrected for each other.")
        rep.table(["claim", "part", "metric", "difference (cm)", "95 % CI (cm)", "p", "verdict"],
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
    shape = _shape_rows(metrics["variants"])
    if shape:
        rep.heading("Movement shape")
        rep.text("Human reaches are near-straight with one bell-shaped speed peak. Straightness: hand path length "
                 "over the start-target distance (1 = straight; per seed the median over episodes, then the mean over seeds); single peak: the "
                 "share of episodes whose speed profile has exactly one peak above 10 % of its maximum; overshoot: "
                 "the farthest the hand goes past the target along the start-target line; lateral deviation: the "
                 "farthest from that line (means over episodes and seeds; per-seed values and CIs in metrics.json).")
        rep.table(["variant", "task", "straightness (median)", "single peak (%)",
                   "speed peaks", "peak speed (m/s)", "time to peak (ms)", "overshoot (cm)", "lateral deviation (cm)"],
                  shape, fmt=".2f")
    _save(figures.plot_bars(metrics["variants"]), out_dir / "position_error.png")
    rep.figure(out_dir / "position_error.png", "Mean position error per variant and evaluation task")
    if data.get("centre_out"):
        _save(figures.plot_paths(data["centre_out"], "Centre-out reaches (seed 0; x: targets)"),
              out_dir / "centre_out_paths.png")
        rep.figure(out_dir / "centre_out_paths.png", "Hand paths to the centre-out targets, per variant")
        dt = float(metrics.get("arm", {}).get("control_dt", 0.01))
        _save(figures.plot_speed_profiles(data["centre_out"], dt, "Centre-out hand speed (seed 0)"),
              out_dir / "centre_out_speed.png")
        rep.figure(out_dir / "centre_out_speed.png", "Hand speed over time to each centre-out target, per variant "
                   "(colours as in the paths)")
        _save(figures.plot_excitations(data["centre_out"], control_dt=dt), out_dir / "excitations.png")
        rep.figure(out_dir / "excitations.png", "Muscle excitations, centre-out target 1 (seed 0)")
    if data.get("history"):
        _save(figures.plot_learning(data["history"]), out_dir / "learning_curves.png")
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
    weights = figures.plot_weights(metrics["training"])
    if weights is not None:
        _save(weights, out_dir / "hemisphere_weights.png")
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
