"""Perturbation responses on hand-built trajectories with known answers, and the env's
perturbation force in its window."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from agents.perturbation import response
from envs.config import ArmConfig
from envs.tasks import external_force

DT, T, ONSET = 0.01, 40, 10


def _pair(gap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A free path and one displaced from it by ``gap`` (T,) m along y."""
    free = np.stack([np.linspace(0, 0.1, T), np.zeros(T)], axis=-1)
    return free + np.stack([np.zeros(T), gap], axis=-1), free


def test_peak_and_return_in_closed_form() -> None:
    """Displacement rising to 3 cm 5 steps after the onset and decaying linearly to 0 over
    the next 10: peak 3 cm; back within 1 cm (for good) at the first step with gap <= 1 cm."""
    gap = np.zeros(T)
    gap[ONSET:ONSET + 5] = np.linspace(0.006, 0.03, 5)
    gap[ONSET + 5:ONSET + 15] = np.linspace(0.027, 0.0, 10)
    hand, free = _pair(gap)
    u = np.zeros((T, 6))
    u_p = u.copy()
    u_p[ONSET:, 0] = 0.6  # one muscle corrects by 0.6 from the onset on
    out = response(hand[None], free[None], u_p[None], u[None], ONSET, DT)
    assert out["peak_displacement"][0] == pytest.approx(0.03)
    first_back = ONSET + 5 + int(np.argmax(gap[ONSET + 5:] <= 0.01))
    assert out["time_to_return"][0] == pytest.approx((first_back - ONSET + 1) * DT)
    assert out["corrective_excitation"][0] == pytest.approx(0.6 / 6)


def test_a_hand_that_leaves_again_or_never_returns() -> None:
    gap = np.zeros(T)
    gap[ONSET:ONSET + 3] = 0.03  # out, back ...
    gap[ONSET + 10:ONSET + 12] = 0.015  # ... and out again: back for good only after this
    never = np.zeros(T)
    never[ONSET:] = 0.02
    small = np.full(T, 0.004)  # never more than 1 cm away
    hands, frees = zip(*(_pair(g) for g in (gap, never, small)))
    u = np.zeros((3, T, 6))
    out = response(np.stack(hands), np.stack(frees), u, u, ONSET, DT)
    assert out["time_to_return"][0] == pytest.approx((12 + 1) * DT)
    assert np.isnan(out["time_to_return"][1]) and out["peak_displacement"][1] == pytest.approx(0.02)
    assert out["time_to_return"][2] == 0.0 and out["corrective_excitation"].tolist() == [0, 0, 0]


def test_bad_input_is_named() -> None:
    hand, free = _pair(np.zeros(T))
    u = np.zeros((T, 6))
    with pytest.raises(ValueError, match="must match"):
        response(hand, free[:-1], u, u, ONSET, DT)
    with pytest.raises(ValueError, match="onset"):
        response(hand, free, u, u, T, DT)


def test_the_env_pushes_in_the_window_in_the_named_direction() -> None:
    cfg = ArmConfig.from_overrides("hold", perturbation_force=5.0, perturbation_angle=90.0,
                                   perturbation_onset=0.1, perturbation_duration=0.03)
    load = jnp.array([1.0, 2.0])
    forces = np.array([np.asarray(external_force(load, jnp.asarray(t), cfg)) for t in range(20)])
    on = (np.arange(20) >= 10) & (np.arange(20) < 13)
    np.testing.assert_allclose(forces[~on], np.tile([1.0, 2.0], ((~on).sum(), 1)), atol=1e-6)
    np.testing.assert_allclose(forces[on], np.tile([1.0, 7.0], (on.sum(), 1)), atol=1e-6)
    np.testing.assert_allclose(external_force(np.array([1.0, 2.0]), 11, cfg, np), [1.0, 7.0], atol=1e-12)
    # the push moves the hand up (+y) against a still arm, in the JAX and the MuJoCo C env alike
    settings = dict(perturbation_force=20.0, perturbation_angle=90.0, perturbation_onset=0.05,
                    perturbation_duration=0.05, feedback_delay=0.0)
    js = np.array([0.8, 1.3, 0.0, 0.0])
    fn, c = envs.make_functional("hold", **settings), envs.ArmEnv("hold", **settings)
    c.reset(seed=0, options={"joint_state": js, "load": [0.0, 0.0]})
    s = fn.reset(jax.random.key(0), joint_state=jnp.asarray(js, jnp.float32), load=jnp.zeros(2))
    start = np.asarray(s.hand)
    step = jax.jit(fn.step)
    for _ in range(12):
        *_, info = c.step(np.zeros(6, np.float32))
        s = step(s, jnp.zeros(6))
        np.testing.assert_allclose(info["hand_pos"], np.asarray(s.hand), atol=2e-4)
    assert np.asarray(s.hand)[1] - start[1] > 0.005


def test_bad_perturbation_settings_are_named() -> None:
    for kw, why in (({"perturbation_force": -1.0}, "perturbation_force"), ({"perturbation_duration": 0.0}, ">"),
                    ({"perturbation_onset": 0.015, "perturbation_force": 1.0}, "whole number"),
                    ({"perturbation_onset": 0.6, "perturbation_force": 1.0}, "before the episode's end")):
        with pytest.raises(ValueError, match=why):
            ArmConfig.from_overrides("hold", **kw)
