"""Task kind ``robustness`` (``task=paper_robustness``): the paper's three claims re-tested
over the settings that plausibly flip them.

Each setting is the base task's grid (``task.base``, default ``paper``) with a few overrides
(``task.settings``: name -> list of ``key=value``); it runs as a whole motor run of its own
under ``settings/<name>/`` (resumable: a finished setting is read back, not rerun) and the
verdicts of all settings are gathered into one table (claim x setting), with the mean paired
difference and its 95 % CI behind each verdict.

``task.reuse`` (setting name -> run directory) takes a setting's numbers from a finished run
instead (e.g. the 10-seed ``task=paper`` run for the ``paper`` column), after checking that
the run's saved config is the setting's in everything but the seed count and run-time
options; the table says how many seeds each column has.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from experiments.report.html import Report
from experiments.settings import RunSettings

log = logging.getLogger("callosum")
CLAIMS = {"claim_1_specialised_hemispheres_win_preferred_task": "1: specialised hemispheres win their preferred task",
          "claim_2_bilateral_at_least_as_good_as_preferred": "2: bilateral beats non-preferred, as good as preferred",
          "claim_3_callosum_tends_to_help": "3: the callosum tends to help"}


IGNORED = ("task.name", "task.seeds", "seed", "resume", "runtime", "hydra")


def reused_metrics(run_dir: Path, expected: dict[str, Any]) -> dict[str, Any]:
    """The metrics of the finished run in ``run_dir``, refused (naming the differences) unless
    its config.json equals ``expected`` (a config as config.json holds it) outside :data:`IGNORED`."""
    import copy

    from experiments.validate import differences

    run_dir = Path(run_dir).expanduser()
    for name in ("config.json", "metrics.json"):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"task.reuse: {run_dir} has no {name} (not a finished run)")
    saved = json.loads((run_dir / "config.json").read_text())
    want = copy.deepcopy(expected)
    for cfg in (saved, want):
        for key in IGNORED:
            head, _, tail = key.partition(".")
            if tail:
                cfg.get(head, {}).pop(tail, None)
            else:
                cfg.pop(head, None)
    diff = differences(saved, want)
    if diff:
        raise ValueError(f"task.reuse: the run in {run_dir} is not this setting: " + "; ".join(diff))
    return json.loads((run_dir / "metrics.json").read_text())


def summary(claims: dict[str, Any]) -> dict[str, Any]:
    """Per claim: verdict and, where one comparison decides it, the difference and its CI."""
    out = {}
    for name, c in claims.items():
        row: dict[str, Any] = {"verdict": c.get("verdict")}
        if c.get("ci95") is not None:
            row.update(difference=c.get("difference"), ci95=c.get("ci95"))
        parts = c.get("parts") or {}
        if parts:
            row["parts"] = {k: {"verdict": p.get("verdict"), "difference": p.get("difference"),
                                "ci95": p.get("ci95")} for k, p in parts.items()}
        if c.get("variants"):
            row["variants"] = {k: v.get("verdict") for k, v in c["variants"].items()}
            row["variants_after_holm"] = {k: v.get("verdict_after_holm") for k, v in c["variants"].items()}
            row["margin"] = c.get("margin")
        for key in ("readings", "verdict_both_readings"):
            if c.get(key):
                row[key] = c[key]
        if c.get("qualifier"):
            q = c["qualifier"]
            row["qualifier"] = {"verdict": q.get("verdict"), "difference": q.get("difference"), "ci95": q.get("ci95")}
        if c.get("per_kind"):
            row["per_kind"] = {k: {"verdict": p.get("verdict"), "difference": p.get("difference"),
                                   "ci95": p.get("ci95")} for k, p in c["per_kind"].items()}
        out[name] = row
    return out


def check(run_settings: RunSettings) -> tuple[dict[str, list], dict[str, RunSettings], dict[str, str],
                                              dict[str, Any]]:
    """The runner's up-front check: every setting's config composed and checked like a run
    of its own (the motor task's checks included), and the finished runs ``task.reuse``
    names read and matched. Returns the settings' overrides, typed settings, reused run
    directories and their metrics."""
    from experiments.tasks import motor
    from experiments.validate import compose_settings

    t = run_settings.task
    settings = t.settings
    if not isinstance(settings, dict) or not settings:
        raise ValueError("task.settings must map setting names to lists of key=value overrides")
    missing = [n for n in t.only if n not in settings]
    if missing:
        raise ValueError(f"task.only names unknown setting(s) {missing}; settings: {', '.join(settings)}")
    settings = {n: settings[n] for n in t.only} if t.only else settings  # in the order given
    shared = [f"task.seeds={t.seeds}", f"seed={run_settings.seed}", f"resume={run_settings.resume}",
              *[str(x) for x in t.overrides]]
    composed = compose_settings(t.base, {n: list(o or []) for n, o in settings.items()}, shared)
    configs = {name: typed for name, (_, typed) in composed.items()}
    for typed in configs.values():  # check every setting before running any
        motor.check(typed)
    reuse = dict(t.reuse or {})
    unknown = sorted(set(reuse) - set(configs))
    if unknown:
        raise ValueError(f"task.reuse names unknown setting(s) {unknown}; settings: {', '.join(configs)}")
    reused = {name: reused_metrics(Path(d), composed[name][0]) for name, d in reuse.items()}
    return settings, configs, reuse, reused


def run(run_settings: RunSettings, out_dir: Path) -> dict[str, Any]:
    from experiments.tasks import motor

    t = run_settings.task
    settings, configs, reuse, reused = check(run_settings)
    results: dict[str, Any] = {"task": t.name, "base": t.base, "seeds": t.seeds, "settings": {}}
    for name, sub in configs.items():
        sub_dir = out_dir / "settings" / name
        done = sub_dir / "metrics.json"
        if name in reused:
            log.info("setting %s: taken from the finished run %s", name, reuse[name])
            metrics = reused[name]
        elif done.exists():
            log.info("setting %s: finished earlier, read back from %s", name, done)
            metrics = json.loads(done.read_text())
        else:
            log.info("setting %s: %s", name, " ".join(settings[name] or ["(the base task)"]))
            sub_dir.mkdir(parents=True, exist_ok=True)
            metrics = motor.run(sub, sub_dir)
            from experiments.io import write_json

            write_json(done, metrics)
        results["settings"][name] = {
            "overrides": list(settings[name] or []), "seeds": len(metrics["seeds"]),
            "run": str(reuse.get(name, sub_dir)),
            "claims": summary(metrics.get("claims", {})),
            "claims_final_phase": summary(metrics.get("claims_final_phase", {})),
            "errors_cm": {v: {task: None if r.get("position_error") is None else 100 * r["position_error"]
                              for task, r in per.items() if task in ("reach", "hold")}
                          for v, per in metrics["variants"].items()}}
    write_report(results, out_dir)
    return results


def _cell(row: dict[str, Any]) -> str:
    cell = _base_cell(row)
    q = row.get("qualifier")
    if q and q.get("ci95") and q["ci95"][0] is not None:
        cell += (f"; not always for the specialised: {q['verdict']} ({100 * q['difference']:+.2f} "
                 f"[{100 * q['ci95'][0]:+.2f}, {100 * q['ci95'][1]:+.2f}])")
    if row.get("verdict_both_readings"):
        cell += f"; both readings (unilateral, within the bilateral models): {row['verdict_both_readings']}"
    return cell


def _base_cell(row: dict[str, Any]) -> str:
    verdict = row.get("verdict") or "-"
    if row.get("ci95"):
        lo, hi = row["ci95"]
        return f"{verdict} ({100 * row['difference']:+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}])"
    parts = row.get("parts") or {}
    if parts:
        inner = "; ".join(f"{k}: {p['verdict']} ({100 * p['difference']:+.2f} cm)" for k, p in parts.items()
                          if p.get("difference") is not None)
        return f"{verdict} ({inner})"
    if row.get("variants"):
        after = row.get("variants_after_holm") or {}
        return f"{verdict} (" + "; ".join(f"{k.removeprefix('bilateral_specialised_')}: {v}"
                                          + (f", after Holm {after[k]}" if after.get(k) else "")
                                          for k, v in row["variants"].items()) + ")"
    return verdict


def format_table(results: dict[str, Any], key: str = "claims") -> list[list[str]]:
    rows = []
    for claim, label in CLAIMS.items():
        rows.append([label] + [_cell(s[key].get(claim, {})) for s in results["settings"].values()])
    return rows


def write_report(results: dict[str, Any], out_dir: Path) -> None:
    names = list(results["settings"])
    rep = Report(f"callosum: the paper's claims across settings (base task={results['base']}, "
                 f"{results['seeds']} seeds per setting)")
    rep.text("Each column is a whole run of the base grid with the overrides below; each cell the verdict "
             "(holds / does not hold / inconclusive) from paired per-seed differences, with the mean "
             "difference and its 95 % CI in cm where one comparison decides it (claim 1: per task, "
             "preferred minus other; claim 3: the relative difference (cc - nocc) / nocc pooled over "
             "the four comparisons, x 100, i.e. in %). Each cell is decided on its own: no correction across "
             "the settings (or the two metrics). Reading 'holds in every setting' needs none (every cell must "
             "hold: an intersection); a reading 'holds in some setting' would need one (e.g. Holm over the "
             "cells) and is not made here.")
    rep.table(["setting", "overrides", "seeds", "run"],
              [[n, " ".join(results["settings"][n]["overrides"]) or "(base)", str(results["settings"][n]["seeds"]),
                results["settings"][n]["run"]] for n in names])
    rep.heading("Verdicts on the episode-mean error")
    rep.table(["claim"] + names, format_table(results, "claims"))
    rep.heading("Verdicts on the error over the last 100 ms")
    rep.table(["claim"] + names, format_table(results, "claims_final_phase"))
    rep.heading("Errors behind them (cm, mean over seeds; each model on the task it was trained on)")
    variants = list(dict.fromkeys(v for s in results["settings"].values() for v in s["errors_cm"]))
    rows = []
    for v in variants:
        for task in ("reach", "hold"):
            rows.append([f"{v} / {task}"] + [results["settings"][n]["errors_cm"].get(v, {}).get(task) for n in names])
    rep.table(["variant / task"] + names, [[r[0]] + [float("nan") if x is None else x for x in r[1:]] for r in rows],
              fmt=".2f")
    rep.write(out_dir / "report.html")
