"""The three claims of Rinaldo et al. (2024), decided from paired per-seed differences.

Input: ``variants[name][task]["per_seed"][metric]``, one value per seed of the variant
trained in the run and evaluated on ``task`` (as ``agents.evaluation.aggregate`` writes it).
Every variant is trained with the same seeds and evaluated on the same episodes, so seed i
of variant a pairs with seed i of variant b. ``metric`` defaults to ``position_error`` (mean
hand-target distance over an episode, m; lower is better). Preferred task: reaching for the
dominant (left) side, holding under load for the non-dominant (right) side.

A comparison of a with b takes d_i = a_i - b_i per seed (pairs with a NaN left out) and the
two-sided 95 % Student-t interval [lo, hi] of the mean of d (n - 1 degrees of freedom):

* ``better(a, b)``, a has the lower error: holds if hi < 0, does not hold if lo > 0,
  inconclusive otherwise (the interval covers 0) and with fewer than 2 seeds.
* ``not_worse(a, b, margin)``, a is as good as or better than b (non-inferiority, margin
  >= 0 m): holds if hi < margin, does not hold if lo > margin, else inconclusive. With
  margin 0 it is ``better``: it holds only if a is significantly better.
* Parts combine: all hold -> holds; any does not hold -> does not hold; else inconclusive.

1. Each specialised hemisphere beats the other on its preferred task: better(dominant,
   non-dominant) on reach and better(non-dominant, dominant) on hold, combined. Reported,
   not judged: the same inside each specialised bilateral controller by silencing one
   hemisphere (``lesions[name][lesion][task]``, same form).
2. For both tasks a bilateral model outperforms the non-preferred hand and is as good as or
   better than the preferred hand: per specialised bilateral variant (cc, nocc), on each
   task better(bilateral, non-preferred) and not_worse(bilateral, preferred, margin), its
   four parts combined. Holds if some variant holds (``carried_by``), does not hold if every
   variant does not hold, else inconclusive. The unspecialised bilateral variants are
   reported the same way, not judged.
3. The callosal link tends to help, though not always for the specialised network:
   better(cc, nocc) for (specialised, unspecialised) x (reach, hold), each reported. Per
   kind, better() on r_i = mean over the two tasks of (cc_i - nocc_i) / nocc_i (relative,
   so the reach errors, ~4x the hold ones, do not dominate); the claim's verdict is the same
   over all four comparisons. ``not_always_for_specialised`` says whether a specialised
   comparison is not ``holds``.

Claims 1 and 3 are inconclusive when a variant or task they need was not run (or has no
per-seed values), naming it under ``missing``; in claim 2 a missing specialised bilateral
variant counts as an inconclusive one. Nothing here is tuned to make a claim hold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from brain.stats import t_interval

HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
TASKS: tuple[str, ...] = ("reach", "hold")
PREFERRED = {"reach": "unilateral_dominant", "hold": "unilateral_nondominant"}
OTHER = {"reach": "unilateral_nondominant", "hold": "unilateral_dominant"}
SPECIALISED = ("bilateral_specialised_cc", "bilateral_specialised_nocc")
UNSPECIALISED = ("bilateral_unspecialised_cc", "bilateral_unspecialised_nocc")
_AS_BOOL = {HOLDS: True, FAILS: False, INCONCLUSIVE: None}


# -- verdict rules: pure functions of per-seed numbers ---------------------------------------
def _num(x: Any) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def verdict_from_interval(low: float, high: float, n: int, margin: float = 0.0) -> str:
    """Verdict on "mean difference < ``margin``" from its 95 % interval [low, high] over
    ``n`` seeds."""
    if n < 2 or not (np.isfinite(low) and np.isfinite(high)):
        return INCONCLUSIVE
    return HOLDS if high < margin else FAILS if low > margin else INCONCLUSIVE


def verdict_from_differences(d: Any, margin: float = 0.0) -> dict[str, Any]:
    """Per-seed differences ``d`` (seeds,) -> ``difference`` (mean), ``ci95`` [low, high],
    ``n_seeds`` and ``verdict`` on "mean < margin"; NaN differences left out."""
    d = np.asarray(d, float).ravel()
    mean, half, n = t_interval(d[np.isfinite(d)])
    low, high = mean - half, mean + half
    out = {"difference": _num(mean), "ci95": [_num(low), _num(high)], "n_seeds": n,
           "verdict": verdict_from_interval(low, high, n, margin)}
    if n < 2:
        out["reason"] = f"{n} paired seed(s): a 95 % interval needs at least 2"
    return out


def compare(a: Any, b: Any, margin: float = 0.0) -> dict[str, Any]:
    """Paired comparison of per-seed values ``a``, ``b`` (seeds,): d = a - b, and the
    verdict on "a lower than b by more than -margin" (margin 0: ``better``; margin > 0:
    ``not_worse``), with ``mean_a``, ``mean_b`` over the pairs used."""
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired per-seed values need the same seeds, got {a.size} and {b.size} values")
    ok = np.isfinite(a) & np.isfinite(b)
    means = {"mean_a": _num(a[ok].mean()) if ok.any() else None,
             "mean_b": _num(b[ok].mean()) if ok.any() else None}
    return {**means, **verdict_from_differences(a[ok] - b[ok], margin)}


def verdict_from_per_seed(a: Any, b: Any, margin: float = 0.0) -> str:
    """The verdict alone of :func:`compare` (``better`` with margin 0)."""
    return compare(a, b, margin)["verdict"]


def relative_differences(pairs: list[tuple[Any, Any]]) -> np.ndarray:
    """Per seed, the mean over ``pairs`` [(a, b), ...] of (a - b) / b; (seeds,)."""
    return np.mean([(np.asarray(a, float) - np.asarray(b, float)) / np.asarray(b, float)
                    for a, b in pairs], axis=0)


def combine(verdicts: list[str]) -> str:
    """All hold -> holds; any does not hold -> does not hold; else inconclusive."""
    if verdicts and all(v == HOLDS for v in verdicts):
        return HOLDS
    return FAILS if FAILS in verdicts else INCONCLUSIVE


def any_holds(verdicts: list[str]) -> str:
    """Some hold -> holds; all do not hold -> does not hold; else inconclusive."""
    if HOLDS in verdicts:
        return HOLDS
    return FAILS if verdicts and all(v == FAILS for v in verdicts) else INCONCLUSIVE


# -- the claims --------------------------------------------------------------------------------
def per_seed(results: dict[str, Any], name: str, task: str, metric: str) -> np.ndarray | None:
    """``results[name][task]["per_seed"][metric]`` as floats (None in JSON -> NaN), or None
    when not there."""
    try:
        values = results[name][task]["per_seed"][metric]
    except (KeyError, TypeError):
        return None
    return np.array([np.nan if v is None else v for v in values], float)


def _part(results: dict[str, Any], a: str, b: str, task: str, metric: str,
          margin: float | None = None) -> dict[str, Any]:
    """better(a, b) (``margin`` None) or not_worse(a, b, margin) on ``task``."""
    head: dict[str, Any] = {"test": "better" if margin is None else "not_worse", "a": a, "b": b,
                            "task": task, "metric": metric}
    if margin is not None:
        head["margin"] = margin
    va, vb = per_seed(results, a, task, metric), per_seed(results, b, task, metric)
    missing = [f"{n}/{task}" for n, v in ((a, va), (b, vb)) if v is None]
    if missing:
        return {**head, "verdict": INCONCLUSIVE, "missing": missing}
    return {**head, **compare(va, vb, margin or 0.0)}


def _combined(parts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    missing = sorted({m for p in parts.values() for m in p.get("missing", [])})
    verdict = INCONCLUSIVE if missing else combine([p["verdict"] for p in parts.values()])
    return {"verdict": verdict, **({"missing": missing} if missing else {}), "parts": parts}


def _with_bool(out: dict[str, Any]) -> dict[str, Any]:
    # ``holds`` True / False / None (inconclusive), for readers of the older output
    return {"verdict": out["verdict"], "holds": _AS_BOOL[out["verdict"]],
            **{k: v for k, v in out.items() if k != "verdict"}}


def evaluate_claims(variants: dict[str, Any], lesions: dict[str, Any] | None = None,
                    metric: str = "position_error", margin: float = 0.0) -> dict[str, Any]:
    """``{claim: {verdict, holds, ..., parts}}`` for the three claims (module docstring);
    ``margin`` (m, >= 0) is claim 2's non-inferiority margin."""
    if not margin >= 0:
        raise ValueError(f"the non-inferiority margin must be >= 0 m, got {margin}")
    return {"claim_1_specialised_hemispheres_win_preferred_task": _claim_1(variants, lesions or {}, metric),
            "claim_2_bilateral_at_least_as_good_as_preferred": _claim_2(variants, metric, float(margin)),
            "claim_3_callosum_tends_to_help": _claim_3(variants, metric)}


def _claim_1(variants: dict[str, Any], lesions: dict[str, Any], metric: str) -> dict[str, Any]:
    out = _combined({t: _part(variants, PREFERRED[t], OTHER[t], t, metric) for t in TASKS})
    for name in SPECIALISED:
        within = lesions.get(name, {})
        if "silence_left" in within and "silence_right" in within:
            # silencing the right leaves the left (dominant) hemisphere, and vice versa
            sides = {"left_only": within["silence_right"], "right_only": within["silence_left"]}
            parts = {"reach": _part(sides, "left_only", "right_only", "reach", metric),
                     "hold": _part(sides, "right_only", "left_only", "hold", metric)}
            out[f"within_{name}"] = {"information": "not part of the verdict", **_combined(parts)}
    return _with_bool({**out, "metric": metric})


def _versus_unilateral(variants: dict[str, Any], name: str, metric: str, margin: float) -> dict[str, Any]:
    parts = {}
    for t in TASKS:
        parts[f"{t}/better_than_non_preferred"] = _part(variants, name, OTHER[t], t, metric)
        parts[f"{t}/not_worse_than_preferred"] = _part(variants, name, PREFERRED[t], t, metric, margin)
    return _combined(parts)


def _claim_2(variants: dict[str, Any], metric: str, margin: float) -> dict[str, Any]:
    judged = {n: _versus_unilateral(variants, n, metric, margin) for n in SPECIALISED}
    info = {n: _versus_unilateral(variants, n, metric, margin) for n in UNSPECIALISED if n in variants}
    missing = sorted({m for v in judged.values() for m in v.get("missing", [])})
    unilateral_missing = [m for m in missing if m.startswith("unilateral_")]
    verdict = INCONCLUSIVE if unilateral_missing else any_holds([v["verdict"] for v in judged.values()])
    return _with_bool({"verdict": verdict, "metric": metric, "margin": margin,
                       "carried_by": [n for n, v in judged.items() if v["verdict"] == HOLDS],
                       **({"missing": missing} if missing else {}), "variants": judged,
                       "unspecialised_information": info})


def _claim_3(variants: dict[str, Any], metric: str) -> dict[str, Any]:
    comparisons, per_kind, pooled = {}, {}, []
    for kind in ("specialised", "unspecialised"):
        cc, nocc = f"bilateral_{kind}_cc", f"bilateral_{kind}_nocc"
        pairs = []
        for t in TASKS:
            comparisons[f"{kind}/{t}"] = _part(variants, cc, nocc, t, metric)
            pairs.append((per_seed(variants, cc, t, metric), per_seed(variants, nocc, t, metric)))
        if all(a is not None and b is not None for a, b in pairs):
            per_kind[kind] = verdict_from_differences(relative_differences(pairs))
            pooled += pairs
    missing = sorted({m for p in comparisons.values() for m in p.get("missing", [])})
    out: dict[str, Any] = {"verdict": INCONCLUSIVE, "metric": metric,
                           "measure": "per-seed mean over comparisons of (cc - nocc) / nocc"}
    if missing:
        out["missing"] = missing
    else:
        out.update(verdict_from_differences(relative_differences(pooled)))
    not_holding = [k for k in ("specialised/reach", "specialised/hold") if comparisons[k]["verdict"] != HOLDS]
    out.update({"per_kind": per_kind, "comparisons": comparisons,
                "not_always_for_specialised": bool(not_holding), "specialised_not_holding": not_holding,
                "reading": _reading(out, not_holding)})
    return _with_bool(out)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f} %"


def _reading(out: dict[str, Any], not_holding: list[str]) -> str:
    """One line: "tends to help, though not always for the specialised network" against the numbers."""
    if "missing" in out:
        return "not tested: " + ", ".join(out["missing"]) + " not run"
    lo, hi = out["ci95"]
    overall = {HOLDS: "the callosum lowers the error overall", FAILS: "the callosum raises the error overall",
               INCONCLUSIVE: "no clear overall effect of the callosum"}[out["verdict"]]
    spec = (f"no clear help to the specialised network on {' or '.join(k.split('/')[1] for k in not_holding)}"
            if not_holding else "clear help to the specialised network on both tasks")
    match = ("as the paper says" if out["verdict"] == HOLDS and not_holding
             else "the paper's 'tends to help' without its exception" if out["verdict"] == HOLDS
             else "not the paper's pattern")
    return (f"{overall} (relative difference {_pct(out['difference'])}, 95 % CI [{_pct(lo)}, {_pct(hi)}], "
            f"{out['n_seeds']} seeds); {spec}: {match}")


# -- the dynamic specialisation claim (perturbations, ``agents.perturbation``) -------------------
STABILITY_METRICS: tuple[str, ...] = ("peak_displacement", "time_to_return")


def stability_claim(results: dict[str, Any], lesions: dict[str, Any] | None = None, task: str = "hold",
                    metrics: tuple[str, ...] = STABILITY_METRICS) -> dict[str, Any]:
    """"The non-dominant system is better at positional stability", tested dynamically: on
    ``task`` (hold) the non-dominant controller is pushed less far (``peak_displacement``)
    and is back sooner (``time_to_return``) than the dominant one, each ``better()`` on
    paired per-seed values (``results[name][task]["per_seed"][metric]``, the same episodes,
    noise and pushes for both), combined (all hold -> holds; any does not hold -> does not
    hold; else inconclusive). Reported, not judged: the same inside each specialised bilateral
    controller with one hemisphere silenced (``lesions[name][lesion][task]``), and the same
    comparison on the other perturbed tasks."""
    parts = {m: _part(results, PREFERRED["hold"], OTHER["hold"], task, m) for m in metrics}
    out: dict[str, Any] = {"statement": "the non-dominant system is better at positional stability",
                           "task": task, **_combined(parts)}
    for name in SPECIALISED:
        within = (lesions or {}).get(name, {})
        if "silence_left" in within and "silence_right" in within:
            sides = {"right_only": within["silence_left"], "left_only": within["silence_right"]}
            out[f"within_{name}"] = {"information": "not part of the verdict", **_combined(
                {m: _part(sides, "right_only", "left_only", task, m) for m in metrics})}
    others = sorted({t for r in results.values() for t in r if t != task})
    if others:
        out["other_tasks"] = {"information": "not part of the verdict", **{t: _combined(
            {m: _part(results, PREFERRED["hold"], OTHER["hold"], t, m) for m in metrics}) for t in others}}
    return _with_bool(out)
