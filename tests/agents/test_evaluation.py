"""Evaluation numbers recomputed from the trajectories, confidence intervals, and the
episodes drawn for each task."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from agents.controllers import BilateralController
from agents.evaluation import METRICS, aggregate, episode_metrics, evaluate, mean_ci
from agents.rollout import EpisodeSampler
from envs.config import ArmConfig
from envs.geometry import hand_position
from tests.agents.helpers import fast_jit

N_EPISODES = 6


@pytest.fixture(scope="module")
def model() -> BilateralController:
    return BilateralController(widths=(4, 4), callosum="paper")


@pytest.fixture(scope="module")
def params(model: BilateralController):
    """Parameters of two seeds, stacked on a leading axis."""
    def init(key):
        return model.init(key, model.initial_carry((1,)), jnp.zeros((1, 16)))

    return fast_jit(jax.vmap(init))(jnp.stack([jax.random.PRNGKey(0), jax.random.PRNGKey(1)]))


@pytest.fixture(scope="module")
def evaluated(model, params, sampler: EpisodeSampler):
    # with a lesion: one compilation checks the numbers and that the lesion reaches the model
    return evaluate(model, params, sampler, "reach", N_EPISODES, jax.random.PRNGKey(3),
                    lesion="silence_left")


def test_evaluate_numbers_from_trajectories(evaluated, sampler: EpisodeSampler) -> None:
    numbers, traj = evaluated
    steps = sampler.env.cfg.episode_steps
    assert set(numbers) == set(METRICS)
    for name in METRICS:
        assert numbers[name].shape == (2, N_EPISODES)
    hand, target = np.asarray(traj.hand, np.float64), np.asarray(traj.target, np.float64)
    assert hand.shape == (2, N_EPISODES, steps, 2) and target.shape == (2, N_EPISODES, 2)
    dist = np.linalg.norm(hand - target[..., None, :], axis=-1)
    np.testing.assert_allclose(numbers["position_error"], dist.mean(axis=-1), rtol=1e-5)
    np.testing.assert_allclose(numbers["final_position_error"], dist[..., -1], rtol=1e-5)
    final = int(round(0.1 / sampler.env.cfg.control_dt))  # the last 100 ms
    np.testing.assert_allclose(numbers["final_phase_error"], dist[..., -final:].mean(axis=-1), rtol=1e-5)
    moved = np.linalg.norm(hand - np.asarray(traj.start, np.float64)[..., None, :], axis=-1)
    np.testing.assert_allclose(numbers["max_deviation"], moved.max(axis=-1), rtol=1e-5)
    np.testing.assert_array_equal(numbers["reached"], np.isfinite(numbers["time_to_target"]))
    path = np.concatenate([np.asarray(traj.start, np.float64)[..., None, :], hand], axis=-2)
    length = np.linalg.norm(np.diff(path, axis=-2), axis=-1).sum(axis=-1)
    line = np.linalg.norm(target - np.asarray(traj.start, np.float64), axis=-1)  # random reaches: > 1 cm
    np.testing.assert_allclose(numbers["straightness"], length / line, rtol=1e-5)
    assert np.all(numbers["speed_peaks"] >= 0) and set(np.unique(numbers["single_peak_fraction"])) <= {0.0, 1.0}
    np.testing.assert_array_equal(numbers["reached"], np.any(dist <= 0.01, axis=-1))
    assert np.all(np.isnan(numbers["load_drift"]))  # reach episodes carry no load
    u = np.asarray(traj.excitation, np.float64)
    assert u.shape == (2, N_EPISODES, steps, 6)
    np.testing.assert_allclose(numbers["effort"], (u**2).mean(axis=(-1, -2)), rtol=1e-5)
    # both seeds ran the same episodes, and behaved differently on them
    np.testing.assert_array_equal(traj.start[0], traj.start[1])
    np.testing.assert_array_equal(traj.target[0], traj.target[1])
    assert not np.allclose(numbers["position_error"][0], numbers["position_error"][1])
    # the hand moved: the numbers are not those of the start posture
    assert not np.allclose(hand[..., -1, :], np.asarray(traj.start))
    # the lesion: the left hemisphere silent throughout, the right active
    for h in traj.hidden["left"]:
        assert h.shape[:3] == (2, N_EPISODES, steps)
        np.testing.assert_array_equal(h, 0.0)
    assert np.all(np.any(np.asarray(traj.hidden["right"][-1]) != 0, axis=(-1, -2)))


def test_evaluate_is_deterministic(model, params, sampler: EpisodeSampler, evaluated) -> None:
    again, _ = evaluate(model, params, sampler, "reach", N_EPISODES, jax.random.PRNGKey(3),
                        lesion="silence_left")
    for name in METRICS:
        np.testing.assert_array_equal(again[name], evaluated[0][name])


def test_one_seed_ci_is_over_episodes(evaluated) -> None:
    one = {m: v[:1] for m, v in evaluated[0].items()}
    out = aggregate(one)
    assert out["ci_over"] == "episodes"
    values = one["position_error"][0].astype(np.float64)
    lo, hi = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    np.testing.assert_allclose(out["position_error"], values.mean(), rtol=1e-6)
    np.testing.assert_allclose(out["position_error_ci95"], (hi - lo) / 2, rtol=1e-6)
    np.testing.assert_allclose(out["per_seed"]["position_error"], [values.mean()], rtol=1e-6)
    two = aggregate(evaluated[0])
    assert two["ci_over"] == "seeds" and len(two["per_seed"]["position_error"]) == 2
    json.dumps(two, allow_nan=False)  # JSON-ready: no NaN (reach has no load drift)
    assert two["load_drift"] is None and two["per_seed"]["load_drift"] == [None, None]


# -- confidence intervals ------------------------------------------------------------------
def half_width(sample: np.ndarray) -> float:
    lo, hi = stats.t.interval(0.95, sample.size - 1, loc=sample.mean(), scale=stats.sem(sample))
    return (hi - lo) / 2


def test_mean_ci_over_seeds(rng: np.random.Generator) -> None:
    values = rng.normal(size=(3, 4))
    mean, half, over = mean_ci(values)
    per_seed = values.mean(axis=1)
    assert over == "seeds"
    np.testing.assert_allclose(mean, per_seed.mean(), rtol=1e-12)
    np.testing.assert_allclose(half, half_width(per_seed), rtol=1e-10)
    # by hand: t quantile 4.303 for 2 degrees of freedom
    np.testing.assert_allclose(half, 4.302653 * per_seed.std(ddof=1) / np.sqrt(3), rtol=1e-6)
    # over seeds, not over all values pooled
    assert not np.isclose(half, half_width(values.reshape(-1)))


def test_mean_ci_one_seed_is_over_episodes(rng: np.random.Generator) -> None:
    values = rng.normal(size=(1, 7))
    mean, half, over = mean_ci(values)
    assert over == "episodes"
    np.testing.assert_allclose(mean, values.mean(), rtol=1e-12)
    np.testing.assert_allclose(half, half_width(values[0]), rtol=1e-10)
    mean, half, over = mean_ci(np.array([[0.3]]))
    assert mean == pytest.approx(0.3) and np.isnan(half)


def test_aggregate(rng: np.random.Generator) -> None:
    numbers = {m: rng.uniform(size=(4, 5)) for m in METRICS}
    out = aggregate(numbers)
    assert set(out["per_seed"]) == set(METRICS) | {"time_to_target_median", "straightness_median"}
    assert out["ci_over"] == "seeds"
    np.testing.assert_allclose(out["per_seed"]["straightness_median"], np.median(numbers["straightness"], axis=1))
    for m in METRICS:
        per_seed = numbers[m].mean(axis=1)
        np.testing.assert_allclose(out[m], per_seed.mean(), rtol=1e-12)
        np.testing.assert_allclose(out[f"{m}_ci95"], half_width(per_seed), rtol=1e-10)
        np.testing.assert_allclose(out["per_seed"][m], per_seed, rtol=1e-12)


def test_aggregate_leaves_nan_episodes_out() -> None:
    # time to target: seed 0 reached in 2 of 3 episodes, seed 1 in 3, seed 2 never
    ttt = np.array([[0.2, np.nan, 0.4], [0.1, 0.3, 0.8], [np.nan, np.nan, np.nan]])
    numbers = {m: np.ones((3, 3)) for m in METRICS}
    numbers.update(time_to_target=ttt, reached=np.isfinite(ttt).astype(float),
                   load_drift=np.full((3, 3), np.nan))
    out = aggregate(numbers)
    json.dumps(out, allow_nan=False)
    assert out["per_seed"]["time_to_target"][:2] == pytest.approx([0.3, 0.4])
    assert out["per_seed"]["time_to_target"][2] is None
    assert out["per_seed"]["time_to_target_median"][:2] == pytest.approx([0.3, 0.3])
    assert out["per_seed"]["reached"] == pytest.approx([2 / 3, 1.0, 0.0])
    # the mean and its interval over the seeds that reached at all
    assert out["time_to_target"] == pytest.approx(0.35)
    assert out["time_to_target_ci95"] == pytest.approx(half_width(np.array([0.3, 0.4])))
    assert out["time_to_target_median"] == pytest.approx(0.3) and out["time_to_target_median_ci95"] == pytest.approx(0.0, abs=1e-12)
    assert out["reached"] == pytest.approx(5 / 9)
    assert out["load_drift"] is None and out["load_drift_ci95"] is None
    assert out["per_seed"]["load_drift"] == [None, None, None]


# -- metrics on hand-built trajectories --------------------------------------------------------
def test_reach_metrics_in_closed_form() -> None:
    """A hand moving at 0.23 m/s straight to a target 10 cm away and stopping there, and a
    hand that never moves (dt 10 ms, 50 steps)."""
    dt, steps = 0.01, 50
    n = np.arange(1, steps + 1)  # the hand after step n
    x = np.minimum(0.1, 0.0023 * n)
    hand = np.zeros((2, steps, 2))
    hand[0, :, 0] = x
    start, target = np.zeros((2, 2)), np.array([[0.1, 0.0], [0.05, 0.0]])
    error = np.linalg.norm(hand - target[:, None], axis=-1)
    out = episode_metrics(error, hand, start, np.zeros((2, 2)), np.full((2, steps, 6), 0.5), dt)
    # within 1 cm once 0.0023 n >= 0.09, n = 40: 0.40 s
    assert out["time_to_target"][0] == pytest.approx(0.40) and out["reached"][0] == 1.0
    # last 100 ms = steps 41..50: errors 0.0057, 0.0034, 0.0011 then 0 (at the target from 44)
    assert out["final_phase_error"][0] == pytest.approx((0.0057 + 0.0034 + 0.0011) / 10)
    assert out["final_position_error"][0] == pytest.approx(0.0, abs=1e-15)
    assert out["max_deviation"][0] == pytest.approx(0.1)
    # the still hand: never reached, error 5 cm throughout, no deviation
    assert np.isnan(out["time_to_target"][1]) and out["reached"][1] == 0.0
    assert out["final_phase_error"][1] == pytest.approx(0.05) and out["max_deviation"][1] == 0.0
    assert np.all(np.isnan(out["load_drift"])) and out["effort"] == pytest.approx([0.25, 0.25])


def test_hold_metrics_in_closed_form() -> None:
    """Holds under a (3, 4) N load (unit vector (0.6, 0.8)), the hand drifting linearly to
    start + (0.02, -0.01) m, and to start + (-0.006, -0.008) m (against the load); dt 20 ms,
    so the final phase is the last 5 steps."""
    dt, steps = 0.02, 20
    start = np.array([[0.1, 0.3], [0.1, 0.3]])
    end = np.array([[0.02, -0.01], [-0.006, -0.008]])
    frac = np.arange(1, steps + 1) / steps  # (steps,)
    hand = start[:, None] + frac[None, :, None] * end[:, None]
    error = np.linalg.norm(hand - start[:, None], axis=-1)  # target = start
    load = np.array([[3.0, 4.0], [3.0, 4.0]])
    out = episode_metrics(error, hand, start, load, np.zeros((2, steps, 6)), dt)
    # final phase: steps 16..20, mean fraction 18/20 = 0.9
    assert out["load_drift"][0] == pytest.approx(0.9 * (0.6 * 0.02 - 0.8 * 0.01))  # yielded: +3.6 mm
    assert out["load_drift"][1] == pytest.approx(-0.9 * 0.01)  # pushed back against the load: -9 mm
    assert out["max_deviation"] == pytest.approx([np.sqrt(0.02**2 + 0.01**2), 0.01])
    assert out["final_phase_error"] == pytest.approx(0.9 * out["max_deviation"])
    assert out["time_to_target"] == pytest.approx([dt, dt])  # starts on the target
    assert out["effort"] == pytest.approx([0.0, 0.0])


# -- episodes --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def draw(sampler: EpisodeSampler):
    return fast_jit(sampler.states, static_argnums=(1, 2))


def test_hold_targets_are_start_positions(draw, sampler: EpisodeSampler) -> None:
    s = draw(jax.random.PRNGKey(0), 8, "hold", 0.5)
    skeleton = sampler.env.cfg.skeleton
    start = hand_position(np.asarray(s.q, np.float64), skeleton)
    np.testing.assert_allclose(s.target, start, atol=1e-6)
    np.testing.assert_allclose(s.hand, start, atol=1e-6)
    load = np.asarray(s.load)
    assert np.all(np.abs(load) <= 10.0) and np.all(np.linalg.norm(load, axis=-1) > 0)
    assert len(np.unique(load[:, 0])) == 8  # drawn per episode
    np.testing.assert_array_equal(s.qd, 0.0)


def test_centre_out_targets_on_circle(draw, sampler: EpisodeSampler) -> None:
    cfg = ArmConfig()
    s = draw(jax.random.PRNGKey(1), 10, "centre_out", 0.5)
    start = hand_position(np.asarray(cfg.centre_out_start), cfg.skeleton)
    np.testing.assert_allclose(s.hand, np.tile(start, (10, 1)), atol=1e-6)
    offset = np.asarray(s.target, np.float64) - start
    np.testing.assert_allclose(np.linalg.norm(offset, axis=-1), cfg.centre_out_radius, rtol=1e-5)
    # the targets in turn: eight directions 45 degrees apart, then round again
    angles = np.degrees(np.arctan2(offset[:, 1], offset[:, 0])) % 360
    np.testing.assert_allclose(angles[:8], 45.0 * np.arange(8), atol=1e-3)
    np.testing.assert_allclose(s.target[8:], s.target[:2], atol=1e-7)
    np.testing.assert_array_equal(s.load, 0.0)


def test_mixed_draws(draw) -> None:
    n = 32
    key = jax.random.PRNGKey(2)
    s = draw(key, n, "mixed", 0.0)  # all reach
    assert s.obs.shape == (n, 16)
    assert np.all(np.linalg.norm(np.asarray(s.target - s.hand), axis=-1) > 1e-3)
    np.testing.assert_array_equal(s.load, 0.0)
    s = draw(key, n, "mixed", 1.0)
    np.testing.assert_allclose(s.target, s.hand, atol=1e-6)
    assert np.all(np.linalg.norm(np.asarray(s.load), axis=-1) > 0)
    s = draw(key, n, "mixed", 0.5)
    hold = np.linalg.norm(np.asarray(s.target - s.hand), axis=-1) < 1e-6
    loaded = np.linalg.norm(np.asarray(s.load), axis=-1) > 0
    np.testing.assert_array_equal(hold, loaded)  # holds, and only holds, carry loads
    assert 0 < hold.sum() < n


def test_unknown_task(sampler: EpisodeSampler) -> None:
    with pytest.raises(ValueError, match="'swim'.*mixed"):
        sampler.states(jax.random.PRNGKey(0), 4, "swim")
