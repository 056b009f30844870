"""The shape of a movement, from hand trajectories: how straight the path, how many peaks
the speed profile has, how far the hand overshoots and strays from the start-target line.

Human point-to-point reaches are near-straight with one bell-shaped speed peak (Morasso
1981; Flash & Hogan 1985), which is what these numbers check. Pure NumPy over leading axes
(e.g. seeds, episodes); :func:`agents.evaluation.evaluate` reports them for every task.

Conventions. The path is the start followed by the hand after each step, so the speed of
step ``t`` is ``|hand[t] - hand[t-1]| / control_dt`` (``hand[-1]`` = start) and the hand is
taken to be at rest before the episode. Speed peaks are the local maxima of that profile
(:func:`scipy.signal.find_peaks`, with a zero prepended for the rest before the start, none
appended: a hand still speeding up at the end has no peak there) that reach
:data:`PEAK_FRACTION` of the episode's largest speed. Straightness, overshoot and lateral
deviation need a direction: they are NaN where start and target are closer than
:data:`MIN_DISTANCE` (a hold, which starts at its target).

With the go cue (``task.go_cue``), :func:`go_cue_kinematics` adds the reaction time and the
movement before the cue (:data:`GO_CUE_KINEMATICS`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.signal import find_peaks

KINEMATICS: tuple[str, ...] = ("straightness", "speed_peaks", "single_peak_fraction", "peak_speed",
                               "time_to_peak_speed", "overshoot", "lateral_deviation")
PEAK_FRACTION = 0.1  # a speed peak counts when it reaches this fraction of the episode's largest speed
MIN_DISTANCE = 0.01  # m: start and target closer than this give a movement no direction
GO_CUE_KINEMATICS: tuple[str, ...] = ("reaction_time", "precue_movement")
REACTION_SPEED = 0.05  # m/s: the hand speed that marks the movement's onset after the cue


def speed_profile(hand: Any, start: Any, control_dt: float) -> np.ndarray:
    """Hand speed during each step, (..., T) m/s, from ``hand`` (..., T, 2) m after each
    step and ``start`` (..., 2) m."""
    hand, start = np.asarray(hand, np.float64), np.asarray(start, np.float64)
    if hand.ndim < 2 or hand.shape[-1] != 2 or start.shape != hand.shape[:-2] + (2,):
        raise ValueError(f"hand must be (..., T, 2) and start (..., 2) with the same leading axes, "
                         f"got {hand.shape} and {start.shape}")
    if not control_dt > 0:
        raise ValueError(f"control_dt must be > 0, got {control_dt}")
    path = np.concatenate([start[..., None, :], hand], axis=-2)
    return np.linalg.norm(np.diff(path, axis=-2), axis=-1) / control_dt


def count_speed_peaks(speed: Any, fraction: float = PEAK_FRACTION) -> np.ndarray:
    """Peaks of each speed profile (..., T) that reach ``fraction`` of its maximum, (...)
    integers (0 for a hand that never moves or only speeds up)."""
    speed = np.asarray(speed, np.float64)
    flat = speed.reshape(-1, speed.shape[-1])
    counts = np.zeros(flat.shape[0], np.int64)
    for i, s in enumerate(flat):
        top = s.max()
        if top > 0:
            counts[i] = find_peaks(np.concatenate([[0.0], s]), height=fraction * top)[0].size
    return counts.reshape(speed.shape[:-1])


def kinematics(hand: Any, start: Any, target: Any, control_dt: float) -> dict[str, np.ndarray]:
    """Per-episode movement shape, each (...) from ``hand`` (..., T, 2), ``start`` and
    ``target`` (..., 2) m:

    ``straightness``: hand path length over the start-target distance (1: a straight line;
    NaN without a direction); ``speed_peaks``: the number of speed peaks and
    ``single_peak_fraction`` 1.0 where it is exactly one, else 0.0 (its mean over episodes is
    the fraction of single-peaked reaches); ``peak_speed`` (m/s) and ``time_to_peak_speed``
    ((step of the largest speed + 1) * control_dt, s); ``overshoot``: the largest distance
    the hand goes past the target along the start-target line (m, 0 if it never does);
    ``lateral_deviation``: the largest distance from that line (m)."""
    hand, start = np.asarray(hand, np.float64), np.asarray(start, np.float64)
    target = np.asarray(target, np.float64)
    speed = speed_profile(hand, start, control_dt)
    if target.shape != start.shape:
        raise ValueError(f"target must be (..., 2) like start {start.shape}, got {target.shape}")
    line = target - start
    distance = np.linalg.norm(line, axis=-1)
    directed = distance >= MIN_DISTANCE
    unit = line / np.where(directed, distance, 1.0)[..., None]
    rel = hand - start[..., None, :]
    along = (rel * unit[..., None, :]).sum(axis=-1)  # (..., T) m from the start towards the target
    across = np.abs(rel[..., 0] * unit[..., None, 1] - rel[..., 1] * unit[..., None, 0])
    peaks = count_speed_peaks(speed)
    path_length = speed.sum(axis=-1) * control_dt

    def directional(x: np.ndarray) -> np.ndarray:
        return np.where(directed, x, np.nan)

    return {"straightness": directional(path_length / np.where(directed, distance, 1.0)),
            "speed_peaks": peaks.astype(np.float64),
            "single_peak_fraction": (peaks == 1).astype(np.float64),
            "peak_speed": speed.max(axis=-1),
            "time_to_peak_speed": (np.argmax(speed, axis=-1) + 1) * control_dt,
            "overshoot": directional(np.maximum(0.0, (along - distance[..., None]).max(axis=-1))),
            "lateral_deviation": directional(across.max(axis=-1))}


def go_cue_kinematics(hand: Any, start: Any, cue_step: Any, control_dt: float,
                      threshold: float = REACTION_SPEED) -> dict[str, np.ndarray]:
    """Per-episode numbers of a delayed reach, each (...) from ``hand`` (..., T, 2) m after
    each step, ``start`` (..., 2) m and ``cue_step`` (...) the cue's control step (the cue is
    in the observation of step ``cue_step``, at time ``cue_step * control_dt``):

    ``reaction_time``: from the cue to the end of the first step from the cue on whose hand
    speed (:func:`speed_profile`) exceeds ``threshold`` m/s, ``(t + 1 - cue_step) *
    control_dt`` s for that step t >= cue_step (so at least one control step; NaN if the
    hand never gets that fast after the cue); ``precue_movement``: the largest distance of
    the hand from its start over the steps before the cue, ``max |hand[t] - start|`` over
    t < cue_step (m; 0 when the cue comes at step 0)."""
    hand, start = np.asarray(hand, np.float64), np.asarray(start, np.float64)
    speed = speed_profile(hand, start, control_dt)
    cue = np.asarray(cue_step)
    if cue.shape != speed.shape[:-1]:
        raise ValueError(f"cue_step must have the leading axes {speed.shape[:-1]} of hand, got {cue.shape}")
    t = np.arange(speed.shape[-1])
    moving = (t >= cue[..., None]) & (speed > threshold)
    first = np.argmax(moving, axis=-1)
    before = t < cue[..., None]
    distance = np.linalg.norm(hand - start[..., None, :], axis=-1)
    return {"reaction_time": np.where(moving.any(axis=-1), (first + 1 - cue) * control_dt, np.nan),
            "precue_movement": np.where(before, distance, 0.0).max(axis=-1)}
