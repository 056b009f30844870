"""The three claims of Rinaldo et al. (2024), tested on evaluation results.

Input: ``variants[name][task]`` with ``position_error`` (mean hand-target distance over an
episode, m; lower is better) and its 95 % CI half-width ``position_error_ci95``, as written
by the runner; ``lesions[name][lesion][task]`` likewise. Preferred task: reaching for the
dominant (left) side, holding under load for the non-dominant (right) side.

1. Each specialised hemisphere beats the other on its preferred task: the unilateral
   dominant controller has the lower error on ``reach``, the unilateral non-dominant one on
   ``hold``. (Also reported, not judged: the same comparison inside the specialised
   bilateral controller, by silencing one hemisphere.)
2. The bilateral controller is at least as good as the preferred hemisphere on both tasks:
   for a specialised bilateral variant, on ``reach`` its error is not above the dominant
   unilateral's and on ``hold`` not above the non-dominant's, allowing the half-width of the
   95 % CI of the difference (sqrt of the sum of squared half-widths). Holds if true for at
   least one specialised bilateral variant (with or without callosum), as the paper says
   "a bilateral model".
3. The callosal link tends to help: ``_cc`` has the lower error than ``_nocc`` in more than
   half of the four comparisons (specialised, unspecialised) x (reach, hold).

Every claim comes with the numbers behind it; nothing here is tuned to make it hold.
"""

from __future__ import annotations

import math
from typing import Any

PREFERRED = {"reach": "unilateral_dominant", "hold": "unilateral_nondominant"}
OTHER = {"reach": "unilateral_nondominant", "hold": "unilateral_dominant"}


def _err(results: dict[str, Any], name: str, task: str) -> tuple[float, float]:
    r = results[name][task]
    return float(r["position_error"]), float(r["position_error_ci95"])


def _missing(variants: dict[str, Any], names: list[str]) -> list[str]:
    return [f"{n}/{t}" for n in names for t in ("reach", "hold")
            if n not in variants or t not in variants[n]]


def evaluate_claims(variants: dict[str, Any], lesions: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{claim_1: {holds, ...numbers}, claim_2: ..., claim_3: ...}``; a claim whose
    variants or tasks were not run gets ``holds: None`` and names what is missing."""
    return {"claim_1_specialised_hemispheres_win_preferred_task": _claim_1(variants, lesions or {}),
            "claim_2_bilateral_at_least_as_good_as_preferred": _claim_2(variants),
            "claim_3_callosum_tends_to_help": _claim_3(variants)}


def _claim_1(variants: dict[str, Any], lesions: dict[str, Any]) -> dict[str, Any]:
    missing = _missing(variants, list(PREFERRED.values()))
    if missing:
        return {"holds": None, "missing": missing}
    out: dict[str, Any] = {}
    for task in ("reach", "hold"):
        pref, _ = _err(variants, PREFERRED[task], task)
        other, _ = _err(variants, OTHER[task], task)
        out[task] = {"preferred": PREFERRED[task], "preferred_error": pref,
                     "other": OTHER[task], "other_error": other, "preferred_wins": pref < other}
    within = lesions.get("bilateral_specialised_cc", {})
    if "silence_left" in within and "silence_right" in within:
        # silencing the right leaves the left (dominant) hemisphere, and vice versa
        out["within_bilateral_specialised_cc"] = {
            task: {"left_only_error": within["silence_right"][task]["position_error"],
                   "right_only_error": within["silence_left"][task]["position_error"]}
            for task in ("reach", "hold") if task in within["silence_left"]}
    out["holds"] = out["reach"]["preferred_wins"] and out["hold"]["preferred_wins"]
    return out


def _claim_2(variants: dict[str, Any]) -> dict[str, Any]:
    missing = _missing(variants, list(PREFERRED.values()))
    candidates = [n for n in ("bilateral_specialised_cc", "bilateral_specialised_nocc") if n in variants]
    if missing or not candidates:
        return {"holds": None, "missing": missing or ["bilateral_specialised_cc/nocc"]}
    out: dict[str, Any] = {"criterion": "bilateral error <= preferred error + CI half-width of the difference"}
    verdicts = []
    for name in candidates:
        per_task = {}
        for task in ("reach", "hold"):
            b, b_ci = _err(variants, name, task)
            p, p_ci = _err(variants, PREFERRED[task], task)
            o, _ = _err(variants, OTHER[task], task)
            tol = math.sqrt(b_ci**2 + p_ci**2) if math.isfinite(b_ci) and math.isfinite(p_ci) else 0.0
            per_task[task] = {"bilateral_error": b, "preferred_error": p, "non_preferred_error": o,
                              "tolerance": tol, "as_good_as_preferred": b <= p + tol,
                              "strictly_better_than_preferred": b < p,
                              "better_than_non_preferred": b < o}
        per_task["holds"] = all(per_task[t]["as_good_as_preferred"] for t in ("reach", "hold"))
        out[name] = per_task
        verdicts.append(per_task["holds"])
    out["holds"] = any(verdicts)
    return out


def _claim_3(variants: dict[str, Any]) -> dict[str, Any]:
    pairs = [(f"bilateral_{kind}_cc", f"bilateral_{kind}_nocc") for kind in ("specialised", "unspecialised")]
    missing = _missing(variants, [n for pair in pairs for n in pair])
    if missing:
        return {"holds": None, "missing": missing}
    comparisons, wins = {}, 0
    for cc, nocc in pairs:
        for task in ("reach", "hold"):
            a, _ = _err(variants, cc, task)
            b, _ = _err(variants, nocc, task)
            comparisons[f"{cc}_vs_nocc/{task}"] = {"cc_error": a, "nocc_error": b, "cc_better": a < b}
            wins += a < b
    return {"comparisons": comparisons, "cc_better_count": wins, "of": len(comparisons),
            "holds": wins > len(comparisons) / 2}
