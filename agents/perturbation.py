"""The response to a mechanical perturbation: the same episodes run with and without a force
on the hand (``envs.config.TaskConfig.perturbation_*``), compared step by step after its
onset.

``response`` measures, per episode: ``peak_displacement`` (the largest distance between the
perturbed and the unperturbed hand after the onset, m), ``time_to_return`` (from the onset
until the hand is back within :data:`RETURN_RADIUS` of the unperturbed path, after the
peak, for good: it does not leave that radius again before the episode ends; NaN if it is
not back by then) and ``corrective_excitation`` (the mean absolute difference of the
excitations from the onset on, over steps and muscles). On hold the unperturbed path is the
hold itself, so the return is to the held point as the controller holds it. Pure NumPy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

RESPONSE: tuple[str, ...] = ("peak_displacement", "time_to_return", "corrective_excitation")
RETURN_RADIUS = 0.01  # m


def response(hand: Any, hand_free: Any, excitation: Any, excitation_free: Any, onset: int,
             control_dt: float) -> dict[str, np.ndarray]:
    """Per-episode response, each (...): ``hand`` / ``hand_free`` (..., T, 2) m after each
    step with and without the perturbation, ``excitation`` / ``excitation_free`` (..., T, 6),
    ``onset`` the perturbation's first control step (the hand after step ``onset`` is the
    first it moved)."""
    hand, hand_free = np.asarray(hand, np.float64), np.asarray(hand_free, np.float64)
    u, u_free = np.asarray(excitation, np.float64), np.asarray(excitation_free, np.float64)
    if hand.shape != hand_free.shape or u.shape != u_free.shape or hand.shape[:-1] != u.shape[:-1]:
        raise ValueError(f"perturbed and free trajectories must match: hand {hand.shape} vs {hand_free.shape}, "
                         f"excitation {u.shape} vs {u_free.shape}")
    n_steps = hand.shape[-2]
    if not 0 <= onset < n_steps:
        raise ValueError(f"onset must be a step of the episode (0 .. {n_steps - 1}), got {onset}")
    gap = np.linalg.norm(hand - hand_free, axis=-1)[..., onset:]  # (..., T - onset)
    peak = np.argmax(gap, axis=-1)
    after = np.arange(gap.shape[-1]) >= peak[..., None]
    outside = (gap > RETURN_RADIUS) & after
    # the last step outside the radius after the peak; back for good from the next one
    last_out = np.where(outside.any(axis=-1), gap.shape[-1] - 1 - np.argmax(outside[..., ::-1], axis=-1), -1)
    back = last_out + 1  # index into gap of the first step back for good
    returned = back < gap.shape[-1]
    time = np.where(returned, (back + 1) * control_dt, np.nan)  # the hand after step onset + back
    return {"peak_displacement": gap.max(axis=-1),
            "time_to_return": np.where(gap.max(axis=-1) <= RETURN_RADIUS, 0.0, time),
            "corrective_excitation": np.abs(u - u_free)[..., onset:, :].mean(axis=(-1, -2))}


def displacement(hand: Any, hand_free: Any) -> np.ndarray:
    """The distance between the perturbed and the unperturbed hand after each step (..., T), m."""
    return np.linalg.norm(np.asarray(hand, np.float64) - np.asarray(hand_free, np.float64), axis=-1)


def summary(numbers: dict[str, Any]) -> dict[str, Any]:
    """The reported numbers of one controller on one task from per-episode :func:`response`
    values, each (seeds, episodes) (the episodes of every direction together), JSON-ready
    (None where NaN)::

        {metric: mean over seeds, metric_ci95: 95 % t half-width over the seed means,
         returned: share of episodes back within the radius for good, n_seeds,
         per_seed: {metric: [per-seed mean over episodes, ...], returned: [...]}}

    ``time_to_return`` per seed is the mean over the episodes that returned (NaN for a seed
    none of whose episodes did); ``returned`` says how many that was."""
    from brain.stats import t_interval

    def num(x: float) -> float | None:
        return float(x) if np.isfinite(x) else None

    out: dict[str, Any] = {}
    per_seed: dict[str, list[float | None]] = {}
    returned = np.isfinite(np.asarray(numbers["time_to_return"], float))
    columns = {**{k: np.asarray(numbers[k], float) for k in RESPONSE}, "returned": returned.astype(float)}
    for name, values in columns.items():
        if values.ndim != 2:
            raise ValueError(f"{name}: expected (seeds, episodes), got shape {values.shape}")
        finite = np.isfinite(values)
        seeds = np.array([row[ok].mean() if ok.any() else np.nan for row, ok in zip(values, finite)])
        mean, half, _ = t_interval(seeds[np.isfinite(seeds)])
        out[name], out[f"{name}_ci95"] = num(mean), num(half)
        per_seed[name] = [num(v) for v in seeds]
    out["n_seeds"] = int(returned.shape[0])
    out["per_seed"] = per_seed
    return out
