"""Movement shape on hand-built trajectories with known answers: a straight minimum-jerk
reach, a path bent through a via point, an overshoot and return, a two-peaked reach, a
still hand, and a hold (no direction)."""

from __future__ import annotations

import numpy as np
import pytest

from agents.kinematics import count_speed_peaks, kinematics, speed_profile

DT, STEPS = 0.01, 60


def min_jerk(t: np.ndarray) -> np.ndarray:
    """Minimum-jerk position fraction at normalised time t in [0, 1] (Flash & Hogan 1985)."""
    t = np.clip(t, 0.0, 1.0)
    return 10 * t**3 - 15 * t**4 + 6 * t**5


def reach(start: np.ndarray, end: np.ndarray, duration: float) -> np.ndarray:
    """(STEPS, 2): the hand after each step of a minimum-jerk reach from start to end."""
    t = np.arange(1, STEPS + 1) * DT / duration
    return start + min_jerk(t)[:, None] * (end - start)


def test_straight_min_jerk_reach() -> None:
    """Straight, one speed peak at half the movement time of height 1.875 d / T, no overshoot."""
    start, target = np.array([0.0, 0.3]), np.array([0.12, 0.39])  # 15 cm
    d, T = 0.15, 0.4
    out = kinematics(reach(start, target, T)[None], start[None], target[None], DT)
    assert out["straightness"][0] == pytest.approx(1.0, abs=1e-12)
    assert out["speed_peaks"][0] == 1 and out["single_peak_fraction"][0] == 1.0
    assert out["time_to_peak_speed"][0] == pytest.approx(T / 2, abs=DT)
    # the step speed is the mean over the step: within the curvature over one step of 1.875 d/T
    assert out["peak_speed"][0] == pytest.approx(1.875 * d / T, rel=2e-3)
    assert out["overshoot"][0] == pytest.approx(0.0, abs=1e-12)
    assert out["lateral_deviation"][0] == pytest.approx(0.0, abs=1e-12)


def test_bent_path_two_segments() -> None:
    """Start -> via -> target, each leg a minimum-jerk reach of 0.25 s: path length = the two
    legs, lateral deviation = the via point's distance from the line, two speed peaks."""
    start, via, target = np.array([0.0, 0.0]), np.array([0.05, 0.04]), np.array([0.1, 0.0])
    first = reach(start, via, 0.25)[:25]
    t = np.arange(1, STEPS - 25 + 1) * DT / 0.25
    second = via + min_jerk(t)[:, None] * (target - via)
    hand = np.vstack([first, second])
    out = kinematics(hand[None], start[None], target[None], DT)
    legs = 2 * np.hypot(0.05, 0.04)
    assert out["straightness"][0] == pytest.approx(legs / 0.1, rel=1e-9)
    assert out["lateral_deviation"][0] == pytest.approx(0.04, rel=1e-9)
    assert out["speed_peaks"][0] == 2 and out["single_peak_fraction"][0] == 0.0


def test_overshoot_and_return() -> None:
    """Out 2 cm past a target 10 cm away along x and back: overshoot 2 cm, two peaks, path
    length 10 + 2 + 2 cm, no lateral deviation."""
    start, target = np.zeros(2), np.array([0.1, 0.0])
    out_leg = reach(start, np.array([0.12, 0.0]), 0.3)[:30]
    t = np.arange(1, STEPS - 30 + 1) * DT / 0.2
    back = np.array([0.12, 0.0]) + min_jerk(t)[:, None] * (target - np.array([0.12, 0.0]))
    hand = np.vstack([out_leg, back])
    out = kinematics(hand[None], start[None], target[None], DT)
    assert out["overshoot"][0] == pytest.approx(0.02, rel=1e-9)
    assert out["straightness"][0] == pytest.approx(0.14 / 0.1, rel=1e-9)
    assert out["speed_peaks"][0] == 2
    assert out["lateral_deviation"][0] == pytest.approx(0.0, abs=1e-12)


def test_still_hand_and_hold() -> None:
    """A hand that never moves has no peak and no speed; a hold (target = start) has no
    direction, so straightness, overshoot and lateral deviation are NaN."""
    start = np.array([[0.0, 0.3], [0.0, 0.3]])
    target = np.array([[0.1, 0.3], [0.0, 0.3]])
    hand = np.repeat(start[:, None], STEPS, axis=1)
    out = kinematics(hand, start, target, DT)
    assert out["speed_peaks"].tolist() == [0, 0] and out["peak_speed"].tolist() == [0, 0]
    assert out["straightness"][0] == 0.0 and out["lateral_deviation"][0] == 0.0
    for k in ("straightness", "overshoot", "lateral_deviation"):
        assert np.isnan(out[k][1]), k


def test_peaks_below_the_fraction_do_not_count() -> None:
    """A profile with a main peak and a ripple at 5 % of it: one peak at the 10 % threshold,
    two at 1 %; a profile still rising at the end has none."""
    s = np.concatenate([np.sin(np.linspace(0, np.pi, 40)), 0.05 * np.sin(np.linspace(0, np.pi, 20))])
    assert count_speed_peaks(s) == 1
    assert count_speed_peaks(s, fraction=0.01) == 2
    assert count_speed_peaks(np.linspace(0, 1, 30)) == 0
    assert count_speed_peaks(np.array([[1.0, 0.5, 0.0]])).tolist() == [1]  # fastest in the first step


def test_leading_axes_and_bad_input() -> None:
    rng = np.random.default_rng(0)
    hand = rng.normal(size=(3, 4, STEPS, 2)) * 0.01
    start, target = rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 4, 2))
    out = kinematics(hand, start, target, DT)
    assert all(v.shape == (3, 4) for v in out.values())
    one = kinematics(hand[1, 2][None], start[1, 2][None], target[1, 2][None], DT)
    for k, v in out.items():
        np.testing.assert_allclose(v[1, 2], one[k][0], err_msg=k)
    with pytest.raises(ValueError, match="hand must be"):
        speed_profile(hand[..., :1], start, DT)
    with pytest.raises(ValueError, match="control_dt"):
        speed_profile(hand, start, 0.0)
    with pytest.raises(ValueError, match="target must be"):
        kinematics(hand, start, target[:, :2], DT)
