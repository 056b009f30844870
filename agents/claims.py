"""The three claims of Rinaldo et al. (2024), decided from paired per-seed differences.

Input: ``variants[name][task]["per_seed"][metric]``, one value per seed of the variant
trained in the run and evaluated on ``task`` (as ``agents.evaluation.aggregate`` writes it),
and, where the run kept them, ``episodes[name][task][metric]``: the per-episode values
(seeds, episodes) those per-seed means come from (``lesion_episodes[name][lesion][task]
[metric]`` likewise). Every variant is trained with the same seeds and evaluated on the same
episodes, so seed i of variant a pairs with seed i of variant b, and episode j of a with
episode j of b. ``metric`` defaults to ``position_error`` (mean hand-target distance over
an episode, m; lower is better). Preferred task: reaching for the dominant (left) side,
holding under load for the non-dominant (right) side.

**Interval.** A comparison of a with b takes d_i = a_i - b_i per seed (pairs with a NaN left
out); its estimate is the mean of d, its 95 % interval mean +- t_{n-1, 0.975} SE, and its
one-sided p-value (of "mean < margin") p = T_{n-1}((mean - margin) / SE). The SE is

* ``"interval": "two-level bootstrap"`` where per-episode values are given: the evaluation
  episodes are one set shared by every seed (seeds x episodes are crossed, not nested), so
  a t-interval over the seeds' means is conditional on that set and leaves out the
  episode-sampling variance (the error the next set of episodes would bring). The bootstrap
  (:func:`bootstrap_se`) draws seeds with replacement and, independently, episodes with
  replacement (one draw per task, used by every seed and every variant: the pairing is
  kept), recomputes the per-seed means and the statistic, and takes the SD over
  :data:`N_BOOT` draws (fixed seed :data:`BOOT_SEED`, so the numbers recompute), times
  sqrt(n / (n - 1)) so that with no episode variation it is the t-interval's s / sqrt(n).
  For d_ij = s_i + e_j + eps_ij it estimates sqrt(var s / n + var e / m + var eps / (n m))
  (slightly over on the last term), tested on planted variances;
* ``"interval": "t over seeds"`` otherwise: s / sqrt(n) of the per-seed d, i.e. conditional
  on the evaluation episodes (the form ``metrics.json`` alone allows).

With fewer than 2 seeds every verdict is inconclusive.

**Rules.**

* ``better(a, b)``, a has the lower error: holds if hi < 0, does not hold if lo > 0,
  inconclusive otherwise (the interval covers 0); equivalently holds iff p < 0.025.
* ``not_worse(a, b, margin)``, non-inferiority: a is worse than b by less than the margin.
  In the claims the margin is a fraction ``margin`` of b's (the preferred hand's) mean
  error on that task and metric, ``margin_m = margin * mean_b`` (m); holds if hi <
  margin_m, does not hold if lo > margin_m, else inconclusive. Both are in every such part.
* Parts combine (an intersection: every part must hold, no correction needed): all hold ->
  holds; any does not hold -> does not hold; else inconclusive. Its p-value is the largest
  of its parts' (intersection-union test).
* A union ("holds if one of several variants holds"): :func:`holm_any`, Holm's correction
  over the family of those variants (its size fixed in advance, a variant not run counting
  with p = 1): holds iff some variant's Holm-adjusted p is below 0.025; does not hold iff
  every variant does not hold (an intersection again); else inconclusive. Reported: each
  variant's p, its Holm-adjusted p (``p_holm``) and ``verdict_after_holm``.

**Claims.**

1. Each specialised hemisphere beats the other on its preferred task, on two readings, each
   judged (``readings``): ``unilateral``, better(dominant, non-dominant) on reach and
   better(non-dominant, dominant) on hold, combined; and ``within_<variant>`` for each
   specialised bilateral controller, the same with one hemisphere silenced
   (``lesions[name][lesion][task]``). ``verdict`` is the unilateral reading (the paper's
   models); ``verdict_both_readings`` combines all readings, a reading whose lesions were
   not run counting as inconclusive (named under ``missing_both_readings``).
2. For both tasks a bilateral model outperforms the non-preferred hand and is as good as the
   preferred hand: per specialised bilateral variant (cc, nocc), on each task
   better(bilateral, non-preferred) and not_worse(bilateral, preferred, margin), its four
   parts combined; the union over the two variants by :func:`holm_any` (``carried_by``: the
   variants that hold after Holm). ``margin`` defaults to :data:`DEFAULT_MARGIN`. The
   unspecialised bilateral variants are reported the same way, not judged.
3. The callosal link tends to help, though not always for the specialised network:
   better(cc, nocc) for (specialised, unspecialised) x (reach, hold), each reported. Per
   kind, better() on r_i = mean over the two tasks of (cc_i - nocc_i) / nocc_i (relative,
   so the reach errors, ~4x the hold ones, do not dominate); the claim's verdict is the same
   over all four comparisons. The qualifier (``qualifier``) is a test of its own, paired per
   seed: q_i = r_i(specialised) - r_i(unspecialised), "holds" if q is significantly above 0
   (the callosum helps the specialised network less), "does not hold" if significantly below
   (it helps it more), else inconclusive; ``not_always_for_specialised`` is its verdict as
   True / False / None. Which specialised comparisons do not hold is reported
   (``specialised_not_holding``), not used for the qualifier.

Claims 1 and 3 are inconclusive when a variant or task they need was not run (or has no
per-seed values), naming it under ``missing``; in claim 2 a missing specialised bilateral
variant counts as an inconclusive one (p = 1). Not corrected here: the two metrics
(``claims``, ``claims_final_phase``) and the settings of the robustness grid, each reported
on its own (see :mod:`experiments.tasks.robustness`). Nothing here is tuned to make a claim
hold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import stats as _stats

HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
TASKS: tuple[str, ...] = ("reach", "hold")
PREFERRED = {"reach": "unilateral_dominant", "hold": "unilateral_nondominant"}
OTHER = {"reach": "unilateral_nondominant", "hold": "unilateral_dominant"}
SPECIALISED = ("bilateral_specialised_cc", "bilateral_specialised_nocc")
UNSPECIALISED = ("bilateral_unspecialised_cc", "bilateral_unspecialised_nocc")
_AS_BOOL = {HOLDS: True, FAILS: False, INCONCLUSIVE: None}
ONE_SIDED = 0.025  # a verdict on one side of the two-sided 95 % interval
N_BOOT = 2000  # bootstrap draws
BOOT_SEED = 20240  # fixed: the bootstrap's numbers recompute
# claim 2's non-inferiority margin, a fraction of the preferred hand's mean error on the
# task and metric (``task.claims_margin``). 5 %: on task=paper's errors (16-17 cm on reach,
# 5-7 cm on hold, 7-8 cm over the last 100 ms) about 0.8, 0.3 and 0.4 cm, below the
# differences between the hands the claims rest on (0.6-1.6 cm) and far above the run-to-run
# reproducibility (< 0.005 cm); a fraction, not a distance, because the tasks' and metrics'
# errors differ several-fold and one distance would be loose on one and strict on another.
DEFAULT_MARGIN = 0.05


# -- verdict rules: pure functions of per-seed (and per-episode) numbers ------------------------
def _num(x: Any) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def verdict_from_interval(low: float, high: float, n: int, margin: float = 0.0) -> str:
    """Verdict on "mean difference < ``margin``" from its 95 % interval [low, high] over
    ``n`` seeds."""
    if n < 2 or not (np.isfinite(low) and np.isfinite(high)):
        return INCONCLUSIVE
    return HOLDS if high < margin else FAILS if low > margin else INCONCLUSIVE


def _summary(estimate: float, se: float, n: int, margin: float, interval: str) -> dict[str, Any]:
    """Estimate, SE, 95 % t interval (n - 1 degrees of freedom), one-sided p of "< margin"
    and the verdict."""
    if n >= 2 and np.isfinite(se):
        half = float(_stats.t.ppf(1 - ONE_SIDED, n - 1) * se)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (estimate - margin) / se if se > 0 else np.sign(estimate - margin) * np.inf
        p = float(_stats.t.cdf(z, n - 1)) if np.isfinite(z) or np.isinf(z) else float("nan")
    else:
        half, p = float("nan"), float("nan")
    low, high = estimate - half, estimate + half
    out = {"difference": _num(estimate), "ci95": [_num(low), _num(high)], "n_seeds": int(n),
           "se": _num(se), "p_value": _num(p), "interval": interval,
           "verdict": verdict_from_interval(low, high, n, margin)}
    if n < 2:
        out["reason"] = f"{n} paired seed(s): a 95 % interval needs at least 2"
    return out


def verdict_from_differences(d: Any, margin: float = 0.0) -> dict[str, Any]:
    """Per-seed differences ``d`` (seeds,) -> ``difference`` (mean), ``ci95`` [low, high]
    (t over seeds), ``se``, ``p_value`` (one-sided, of "mean < margin"), ``n_seeds`` and
    ``verdict`` on "mean < margin"; NaN differences left out."""
    d = np.asarray(d, float).ravel()
    d = d[np.isfinite(d)]
    n = d.size
    mean = float(d.mean()) if n else float("nan")
    se = float(d.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return _summary(mean, se, n, margin, "t over seeds")


def _row_means(values: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """(seeds, episodes) -> per-seed means over finite episodes, or, with ``counts`` (draws,
    episodes) of a bootstrap, (draws, seeds) means over the drawn episodes."""
    fin = np.isfinite(values)
    filled = np.where(fin, values, 0.0)
    if counts is None:
        with np.errstate(invalid="ignore", divide="ignore"):
            return filled.sum(-1) / fin.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (counts @ filled.T) / (counts @ fin.T.astype(float))


def _draw_counts(rng: np.random.Generator, n_boot: int, m: int) -> np.ndarray:
    flat = np.repeat(np.arange(n_boot) * m, m) + rng.integers(0, m, n_boot * m)
    return np.bincount(flat, minlength=n_boot * m).reshape(n_boot, m).astype(float)


def bootstrap_se(statistic: Callable[[list[np.ndarray]], np.ndarray], episodes: Sequence[np.ndarray],
                 groups: Sequence[Any], n_boot: int = N_BOOT, seed: int = BOOT_SEED) -> tuple[float, float, int]:
    """Two-level (seeds x episodes) bootstrap of the mean over seeds of a per-seed statistic.

    ``episodes``: arrays (seeds, episodes), one per input of ``statistic``, which maps the
    inputs' per-seed means (each (..., seeds)) to the per-seed statistic (..., seeds).
    Inputs with the same ``groups`` entry (the task) share their episodes (the same draw).
    Seeds whose statistic is NaN are left out. Each draw takes seeds with replacement and,
    per group, episodes with replacement (shared by all drawn seeds: they are crossed).
    Returns (estimate, SE, n seeds): the estimate on the data, the SD of the drawn estimates
    times sqrt(n / (n - 1)).
    """
    arrays = [np.asarray(e, float) for e in episodes]
    if len({a.shape[0] for a in arrays}) != 1:
        raise ValueError("per-episode values need the same seeds for every input")
    per_seed = statistic([_row_means(a) for a in arrays])
    valid = np.isfinite(per_seed)
    n = int(valid.sum())
    estimate = float(per_seed[valid].mean()) if n else float("nan")
    if n < 2:
        return estimate, float("nan"), n
    arrays = [a[valid] for a in arrays]
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, n, (n_boot, n))
    counts: dict[Any, np.ndarray] = {}
    for g, a in zip(groups, arrays):
        if g not in counts:
            counts[g] = _draw_counts(rng, n_boot, a.shape[1])
        elif counts[g].shape[1] != a.shape[1]:
            raise ValueError(f"inputs of group {g!r} need the same episodes")
    drawn = [np.take_along_axis(_row_means(a, counts[g]), seeds, axis=1) for g, a in zip(groups, arrays)]
    with np.errstate(invalid="ignore", divide="ignore"):
        estimates = np.nanmean(statistic(drawn), axis=1)
    se = float(np.nanstd(estimates, ddof=1) * np.sqrt(n / (n - 1)))
    return estimate, se, n


def paired_estimate(statistic: Callable[[list[np.ndarray]], np.ndarray], per_seed: Sequence[Any],
                    episodes: Sequence[Any] | None = None, groups: Sequence[Any] | None = None,
                    margin: float = 0.0) -> dict[str, Any]:
    """Verdict on "mean over seeds of ``statistic`` < ``margin``" (see :func:`_summary`):
    from the two-level bootstrap when every input's per-episode values are given, else
    from the t interval over the per-seed values."""
    if episodes is not None and all(e is not None for e in episodes):
        est, se, n = bootstrap_se(statistic, episodes, groups or [0] * len(episodes))
        return _summary(est, se, n, margin, "two-level bootstrap")
    return verdict_from_differences(statistic([np.asarray(v, float) for v in per_seed]), margin)


def compare(a: Any, b: Any, margin: float = 0.0, episodes: tuple[Any, Any] | None = None) -> dict[str, Any]:
    """Paired comparison of per-seed values ``a``, ``b`` (seeds,): d = a - b, and the
    verdict on "a lower than b by more than -margin" (margin 0: ``better``; margin > 0, m:
    ``not_worse``), with ``mean_a``, ``mean_b`` over the pairs used. ``episodes`` (A, B),
    each (seeds, episodes) on the same episodes: the interval from the two-level bootstrap."""
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired per-seed values need the same seeds, got {a.size} and {b.size} values")
    if episodes is not None and all(e is not None for e in episodes):
        ea, eb = (np.asarray(e, float) for e in episodes)
        if ea.shape != eb.shape or ea.shape[0] != a.size:
            raise ValueError(f"paired per-episode values need the same seeds and episodes, got {ea.shape} and {eb.shape}")
    else:
        episodes = None
    ok = np.isfinite(a) & np.isfinite(b)
    means = {"mean_a": _num(a[ok].mean()) if ok.any() else None,
             "mean_b": _num(b[ok].mean()) if ok.any() else None}
    return {**means, **paired_estimate(lambda x: x[0] - x[1], [a, b], episodes, [0, 0], margin)}


def verdict_from_per_seed(a: Any, b: Any, margin: float = 0.0, episodes: tuple[Any, Any] | None = None) -> str:
    """The verdict alone of :func:`compare` (``better`` with margin 0)."""
    return compare(a, b, margin, episodes)["verdict"]


def relative_differences(pairs: list[tuple[Any, Any]]) -> np.ndarray:
    """Per seed, the mean over ``pairs`` [(a, b), ...] of (a - b) / b; (seeds,) (or
    (..., seeds) for stacked inputs)."""
    return np.mean([(np.asarray(a, float) - np.asarray(b, float)) / np.asarray(b, float)
                    for a, b in pairs], axis=0)


def combine(verdicts: list[str]) -> str:
    """All hold -> holds; any does not hold -> does not hold; else inconclusive."""
    if verdicts and all(v == HOLDS for v in verdicts):
        return HOLDS
    return FAILS if FAILS in verdicts else INCONCLUSIVE


def any_holds(verdicts: list[str]) -> str:
    """Some hold -> holds; all do not hold -> does not hold; else inconclusive. Uncorrected:
    the claims use :func:`holm_any`."""
    if HOLDS in verdicts:
        return HOLDS
    return FAILS if verdicts and all(v == FAILS for v in verdicts) else INCONCLUSIVE


def holm(p_values: Sequence[float | None]) -> list[float]:
    """Holm-adjusted p-values (step-down; None / NaN counted as 1)."""
    p = np.array([1.0 if v is None or not np.isfinite(v) else float(v) for v in p_values])
    order = np.argsort(p, kind="stable")
    m = p.size
    adjusted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out.tolist()


def holm_any(verdicts: Sequence[str], p_values: Sequence[float | None],
             alpha: float = ONE_SIDED) -> tuple[str, list[float], list[str]]:
    """The union "some variant holds" over a family (one verdict and one-sided p-value per
    variant; a variant not run: inconclusive, p None). Holds iff some Holm-adjusted p <
    ``alpha``; does not hold iff every variant does not hold; else inconclusive. Returns
    (verdict, adjusted p-values, per-variant verdicts after Holm)."""
    adjusted = holm(p_values)
    after = [HOLDS if q < alpha and v == HOLDS else FAILS if v == FAILS else INCONCLUSIVE
             for v, q in zip(verdicts, adjusted)]
    if HOLDS in after:
        return HOLDS, adjusted, after
    return (FAILS if verdicts and all(v == FAILS for v in verdicts) else INCONCLUSIVE), adjusted, after


def intersection_p(p_values: Sequence[float | None]) -> float | None:
    """p-value of "every part holds" (intersection-union test): the largest; None if any is."""
    if not p_values or any(p is None for p in p_values):
        return None
    return float(max(p_values))


# -- the claims --------------------------------------------------------------------------------
def per_seed(results: dict[str, Any], name: str, task: str, metric: str) -> np.ndarray | None:
    """``results[name][task]["per_seed"][metric]`` as floats (None in JSON -> NaN), or None
    when not there."""
    try:
        values = results[name][task]["per_seed"][metric]
    except (KeyError, TypeError):
        return None
    return np.array([np.nan if v is None else v for v in values], float)


def per_episode(episodes: dict[str, Any] | None, name: str, task: str, metric: str) -> np.ndarray | None:
    """``episodes[name][task][metric]`` (seeds, episodes) as floats, or None when not there."""
    try:
        values = (episodes or {})[name][task][metric]
    except (KeyError, TypeError):
        return None
    return np.asarray(values, float)


def _part(results: dict[str, Any], a: str, b: str, task: str, metric: str, margin: float | None = None,
          episodes: dict[str, Any] | None = None) -> dict[str, Any]:
    """better(a, b) (``margin`` None) or not_worse(a, b, margin) on ``task``, ``margin`` a
    fraction of b's mean error (``margin_m`` = margin x mean_b, m)."""
    head: dict[str, Any] = {"test": "better" if margin is None else "not_worse", "a": a, "b": b,
                            "task": task, "metric": metric}
    if margin is not None:
        head["margin"] = margin
    va, vb = per_seed(results, a, task, metric), per_seed(results, b, task, metric)
    missing = [f"{n}/{task}" for n, v in ((a, va), (b, vb)) if v is None]
    if missing:
        return {**head, "verdict": INCONCLUSIVE, "missing": missing}
    ep = (per_episode(episodes, a, task, metric), per_episode(episodes, b, task, metric))
    margin_m = 0.0
    if margin is not None:
        ok = np.isfinite(va) & np.isfinite(vb)
        margin_m = float(margin * vb[ok].mean()) if ok.any() else float("nan")
        head["margin_m"] = _num(margin_m)
    return {**head, **compare(va, vb, margin_m, ep)}


def _combined(parts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    missing = sorted({m for p in parts.values() for m in p.get("missing", [])})
    verdict = INCONCLUSIVE if missing else combine([p["verdict"] for p in parts.values()])
    p = None if missing else intersection_p([p.get("p_value") for p in parts.values()])
    return {"verdict": verdict, "p_value": p, **({"missing": missing} if missing else {}), "parts": parts}


def _with_bool(out: dict[str, Any]) -> dict[str, Any]:
    # ``holds`` True / False / None (inconclusive), for readers of the older output
    return {"verdict": out["verdict"], "holds": _AS_BOOL[out["verdict"]],
            **{k: v for k, v in out.items() if k != "verdict"}}


def evaluate_claims(variants: dict[str, Any], lesions: dict[str, Any] | None = None,
                    metric: str = "position_error", margin: float = DEFAULT_MARGIN,
                    episodes: dict[str, Any] | None = None,
                    lesion_episodes: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{claim: {verdict, holds, ..., parts}}`` for the three claims (module docstring).
    ``margin`` (>= 0): claim 2's non-inferiority margin, a fraction of the preferred hand's
    mean error. ``episodes[name][task][metric]`` and ``lesion_episodes[name][lesion][task]
    [metric]`` (seeds, episodes): per-episode values; where given, the intervals come from
    the two-level bootstrap."""
    if not margin >= 0:
        raise ValueError(f"the non-inferiority margin must be >= 0 (a fraction of the preferred error), got {margin}")
    return {"claim_1_specialised_hemispheres_win_preferred_task":
            _claim_1(variants, lesions or {}, metric, episodes, lesion_episodes or {}),
            "claim_2_bilateral_at_least_as_good_as_preferred": _claim_2(variants, metric, float(margin), episodes),
            "claim_3_callosum_tends_to_help": _claim_3(variants, metric, episodes)}


def _claim_1(variants: dict[str, Any], lesions: dict[str, Any], metric: str, episodes: dict[str, Any] | None,
             lesion_episodes: dict[str, Any]) -> dict[str, Any]:
    out = _combined({t: _part(variants, PREFERRED[t], OTHER[t], t, metric, None, episodes) for t in TASKS})
    readings, missing = {"unilateral": out["verdict"]}, list(out.get("missing", []))
    for name in SPECIALISED:
        within, within_ep = lesions.get(name, {}), lesion_episodes.get(name, {})
        if "silence_left" in within and "silence_right" in within:
            # silencing the right leaves the left (dominant) hemisphere, and vice versa
            sides = {"left_only": within["silence_right"], "right_only": within["silence_left"]}
            sides_ep = {"left_only": within_ep.get("silence_right"), "right_only": within_ep.get("silence_left")}
            parts = {"reach": _part(sides, "left_only", "right_only", "reach", metric, None, sides_ep),
                     "hold": _part(sides, "right_only", "left_only", "hold", metric, None, sides_ep)}
            out[f"within_{name}"] = {"reading": "hemispheres inside the bilateral model", **_combined(parts)}
            readings[f"within_{name}"] = out[f"within_{name}"]["verdict"]
            missing += [f"{name} {m}" for m in out[f"within_{name}"].get("missing", [])]
        else:
            readings[f"within_{name}"] = INCONCLUSIVE
            missing.append(f"{name}/silence_left+silence_right lesions")
    both = combine(list(readings.values()))  # a reading not run is inconclusive
    return _with_bool({**out, "metric": metric, "readings": readings, "verdict_both_readings": both,
                       **({"missing_both_readings": missing} if missing else {})})


def _versus_unilateral(variants: dict[str, Any], name: str, metric: str, margin: float,
                       episodes: dict[str, Any] | None) -> dict[str, Any]:
    parts = {}
    for t in TASKS:
        parts[f"{t}/better_than_non_preferred"] = _part(variants, name, OTHER[t], t, metric, None, episodes)
        parts[f"{t}/not_worse_than_preferred"] = _part(variants, name, PREFERRED[t], t, metric, margin, episodes)
    return _combined(parts)


def _claim_2(variants: dict[str, Any], metric: str, margin: float, episodes: dict[str, Any] | None) -> dict[str, Any]:
    judged = {n: _versus_unilateral(variants, n, metric, margin, episodes) for n in SPECIALISED}
    info = {n: _versus_unilateral(variants, n, metric, margin, episodes) for n in UNSPECIALISED if n in variants}
    missing = sorted({m for v in judged.values() for m in v.get("missing", [])})
    unilateral_missing = [m for m in missing if m.startswith("unilateral_")]
    verdict, adjusted, after = holm_any([v["verdict"] for v in judged.values()],
                                        [v["p_value"] for v in judged.values()])
    for v, q, a in zip(judged.values(), adjusted, after):
        v.update(p_holm=q, verdict_after_holm=a)
    if unilateral_missing:
        verdict = INCONCLUSIVE
    return _with_bool({"verdict": verdict, "metric": metric, "margin": margin,
                       "margin_m": {t: judged[SPECIALISED[0]]["parts"][f"{t}/not_worse_than_preferred"].get("margin_m")
                                    for t in TASKS},
                       "correction": f"Holm over the {len(SPECIALISED)} specialised bilateral variants "
                                     "(a variant holds if every part holds: its p is the largest part's)",
                       "carried_by": [n for n, v in judged.items() if v["verdict_after_holm"] == HOLDS],
                       **({"missing": missing} if missing else {}), "variants": judged,
                       "unspecialised_information": info})


def _relative(pairs: int) -> Callable[[list[np.ndarray]], np.ndarray]:
    """Statistic of inputs [a0, b0, a1, b1, ...]: per seed the mean of (a_k - b_k) / b_k."""
    return lambda x: relative_differences([(x[2 * k], x[2 * k + 1]) for k in range(pairs)])


def _claim_3(variants: dict[str, Any], metric: str, episodes: dict[str, Any] | None) -> dict[str, Any]:
    comparisons, per_kind, inputs = {}, {}, {}
    for kind in ("specialised", "unspecialised"):
        cc, nocc = f"bilateral_{kind}_cc", f"bilateral_{kind}_nocc"
        seeds, eps, groups = [], [], []
        for t in TASKS:
            comparisons[f"{kind}/{t}"] = _part(variants, cc, nocc, t, metric, None, episodes)
            for name in (cc, nocc):
                seeds.append(per_seed(variants, name, t, metric))
                eps.append(per_episode(episodes, name, t, metric))
                groups.append(t)
        if all(s is not None for s in seeds):
            inputs[kind] = (seeds, eps, groups)
            per_kind[kind] = paired_estimate(_relative(len(TASKS)), seeds, eps, groups)
    missing = sorted({m for p in comparisons.values() for m in p.get("missing", [])})
    out: dict[str, Any] = {"verdict": INCONCLUSIVE, "metric": metric,
                           "measure": "per-seed mean over comparisons of (cc - nocc) / nocc"}
    qualifier: dict[str, Any] = {
        "test": "r(specialised) - r(unspecialised) > 0, r the per-seed relative difference (cc - nocc) / nocc "
                "over the two tasks: the callosum helps the specialised network less",
        "verdict": INCONCLUSIVE}
    if missing:
        out["missing"] = missing
        qualifier["missing"] = missing
    else:
        seeds, eps, groups = (sum((list(inputs[k][i]) for k in ("specialised", "unspecialised")), [])
                              for i in range(3))
        out.update(paired_estimate(_relative(2 * len(TASKS)), seeds, eps, groups))
        rel = _relative(len(TASKS))
        # q = r(specialised) - r(unspecialised) > 0 is tested as -q < 0, then reported as q
        q = paired_estimate(lambda x: rel(x[4:]) - rel(x[:4]), seeds, eps, groups)
        lo, hi = q["ci95"]
        qualifier.update(q, difference=None if q["difference"] is None else -q["difference"],
                         ci95=[None if hi is None else -hi, None if lo is None else -lo])
    not_holding = [k for k in ("specialised/reach", "specialised/hold") if comparisons[k]["verdict"] != HOLDS]
    out.update({"per_kind": per_kind, "comparisons": comparisons, "qualifier": qualifier,
                "not_always_for_specialised": _AS_BOOL[qualifier["verdict"]],
                "specialised_not_holding": not_holding,
                "reading": _reading(out, qualifier, not_holding)})
    return _with_bool(out)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f} %"


def _reading(out: dict[str, Any], qualifier: dict[str, Any], not_holding: list[str]) -> str:
    """One line: "tends to help, though not always for the specialised network" against the numbers."""
    if "missing" in out:
        return "not tested: " + ", ".join(out["missing"]) + " not run"
    lo, hi = out["ci95"]
    overall = {HOLDS: "the callosum lowers the error overall", FAILS: "the callosum raises the error overall",
               INCONCLUSIVE: "no clear overall effect of the callosum"}[out["verdict"]]
    qlo, qhi = qualifier["ci95"]
    spec = {HOLDS: "it helps the specialised network less than the unspecialised one",
            FAILS: "it helps the specialised network more than the unspecialised one",
            INCONCLUSIVE: "no clear difference between its effects on the specialised and unspecialised networks"}[
        qualifier["verdict"]]
    spec += f" (specialised minus unspecialised {_pct(qualifier['difference'])}, 95 % CI [{_pct(qlo)}, {_pct(qhi)}])"
    if not_holding:
        spec += f"; no clear help to the specialised network on {' or '.join(k.split('/')[1] for k in not_holding)}"
    match = ("as the paper says" if out["verdict"] == HOLDS and qualifier["verdict"] == HOLDS
             else "the paper's 'tends to help' without its exception" if out["verdict"] == HOLDS
             and qualifier["verdict"] == FAILS
             else "the paper's 'tends to help', its exception not decided" if out["verdict"] == HOLDS
             else "not the paper's pattern")
    return (f"{overall} (relative difference {_pct(out['difference'])}, 95 % CI [{_pct(lo)}, {_pct(hi)}], "
            f"{out['n_seeds']} seeds, {out['interval']}); {spec}: {match}")


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
