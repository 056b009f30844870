"""The go cue in training and evaluation: the objective's terms on a constructed
trajectory against hand-computed values, reaction time and movement before the cue against
closed forms, hold episodes under the cue, finite gradients of the trained objective."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.config import TrainConfig
from agents.evaluation import aggregate, evaluate
from agents.kinematics import go_cue_kinematics
from agents.objectives import TERMS, go_cue_terms, weight_matrix
from agents.rollout import EpisodeSampler
from agents.training import Trainer
from agents.variants import build_model, make_variant

DT = 0.01


def test_go_cue_terms_equal_hand_computed_values() -> None:
    """Two episodes of 4 steps, cues at steps 1 and 3: the position terms over the 3 + 1
    steps from the cue, the movement over the 1 + 3 steps before it."""
    start = np.array([[0.0, 0.0], [1.0, 1.0]])
    target = np.array([[0.3, 0.0], [1.0, 1.4]])
    hand = np.array([[[0.03, 0.04], [0.1, 0.0], [0.2, 0.1], [0.3, 0.0]],
                     [[1.0, 1.1], [1.06, 1.08], [1.0, 1.3], [1.0, 1.4]]])
    cue = np.array([1, 3])
    terms = go_cue_terms(jnp.asarray(hand), jnp.asarray(start), jnp.asarray(target), jnp.asarray(cue))
    before = [0.05, 0.1, 0.1, 0.3]  # |hand - start| of (episode 0, step 0), (1, 0), (1, 1), (1, 2)
    after = [hand[0, 1] - target[0], hand[0, 2] - target[0], hand[0, 3] - target[0], hand[1, 3] - target[1]]
    np.testing.assert_allclose(float(terms["precue_movement"]), np.mean(before), rtol=1e-6)
    np.testing.assert_allclose(float(terms["abs_position_error"]), np.mean(np.abs(after)), rtol=1e-6)
    np.testing.assert_allclose(float(terms["squared_position_error"]),
                               np.mean((10 * np.asarray(after)) ** 2) / 10, rtol=1e-6)
    none = go_cue_terms(jnp.asarray(hand), jnp.asarray(start), jnp.asarray(target), jnp.zeros(2, jnp.int32))
    assert float(none["precue_movement"]) == 0.0  # no step before a cue at step 0
    np.testing.assert_allclose(float(none["abs_position_error"]), np.mean(np.abs(hand - target[:, None])), rtol=1e-6)


def test_reaction_time_and_precue_movement_against_closed_forms() -> None:
    """The hand creeps at 0.01 m/s before the cue (below the 0.05 m/s onset speed), then
    rests, then moves at 0.2 m/s from step cue + lag: reaction time (lag + 1) * dt, movement
    before the cue cue * 0.01 m/s * dt."""
    t_steps, cue, lag = 30, np.array([10, 4, 20]), np.array([3, 0, 5])
    hand = np.zeros((3, t_steps, 2))
    for i in range(3):
        x = 0.0
        for t in range(t_steps):
            x += DT * (0.01 if t < cue[i] else 0.2 if t >= cue[i] + lag[i] else 0.0)
            hand[i, t, 0] = x
    out = go_cue_kinematics(hand, np.zeros((3, 2)), cue, DT)
    np.testing.assert_allclose(out["reaction_time"], (lag + 1) * DT, rtol=1e-12)
    np.testing.assert_allclose(out["precue_movement"], cue * 0.01 * DT, rtol=1e-12)
    still = go_cue_kinematics(np.zeros((1, 5, 2)), np.zeros((1, 2)), np.array([0]), DT)
    assert np.isnan(still["reaction_time"][0]) and still["precue_movement"][0] == 0.0
    # moving fast only before the cue does not count as a reaction
    early = np.cumsum(np.where(np.arange(8) < 3, 1.0, 0.0))[None, :, None] * np.array([DT, 0.0])
    out = go_cue_kinematics(early, np.zeros((1, 2)), np.array([3]), DT)
    assert np.isnan(out["reaction_time"][0])
    np.testing.assert_allclose(out["precue_movement"], [3 * DT])
    with pytest.raises(ValueError, match="cue_step"):
        go_cue_kinematics(hand, np.zeros((3, 2)), cue[:2], DT)


ARM = dict(episode_steps=8, go_cue=True, go_cue_window=(0.02, 0.05))


def test_hold_episodes_under_the_cue_start_with_it_on() -> None:
    sampler = EpisodeSampler(**ARM)
    hold = sampler.states(jax.random.key(0), 6, "hold")
    reach = sampler.states(jax.random.key(0), 6, "reach")
    assert hold.obs.shape == reach.obs.shape == (6, 17)
    np.testing.assert_array_equal(np.asarray(hold.cue_step), 0)
    np.testing.assert_array_equal(np.asarray(hold.obs[:, -1]), 1.0)
    assert np.all((np.asarray(reach.cue_step) >= 2) & (np.asarray(reach.cue_step) <= 5))
    plain = EpisodeSampler(episode_steps=8).states(jax.random.key(0), 6, "hold")  # the same hold draws
    np.testing.assert_array_equal(np.asarray(hold.obs[:, :16]), np.asarray(plain.obs))
    mixed = sampler.states(jax.random.key(1), 8, "mixed", 0.5)
    assert mixed.obs.shape == (8, 17)


def test_the_objective_adds_the_penalty_and_its_gradient_is_finite() -> None:
    cfg = TrainConfig(batch_size=4, val_episodes=4, updates_per_epoch=1, max_epochs=1)
    variant = make_variant("bilateral_specialised_cc", "paper")
    sampler = EpisodeSampler(go_cue_penalty=7.0, **ARM)
    trainer = Trainer(build_model(variant, (4, 4)), variant.objective, sampler, cfg)
    state = trainer.init(jax.random.key(0))
    assert state.params["params"]["left"]["layers_0"]["kernel"].shape[0] == 17  # the cue is an input
    values, terms = trainer.losses(state.params, jax.random.key(1), 4)
    weights = weight_matrix(("dominant", "nondominant"))
    expected = weights @ jnp.stack([terms[k] for k in TERMS]) + 7.0 * terms["precue_movement"]
    np.testing.assert_allclose(np.asarray(values), np.asarray(expected), rtol=1e-6)
    assert float(terms["precue_movement"]) > 0
    g, _, _ = trainer.gradient(state.params, jax.random.key(2))
    leaves = jax.tree.leaves(g)
    assert all(np.all(np.isfinite(np.asarray(x))) for x in leaves) and max(float(jnp.abs(x).max()) for x in leaves) > 0
    numbers, traj = evaluate(trainer.model, jax.tree.map(lambda a: a[None], state.params), sampler, "reach", 4,
                             jax.random.key(3))
    assert numbers["precue_movement"].shape == (1, 4) and np.all(numbers["precue_movement"] > 0)
    report = aggregate(numbers)
    assert report["precue_movement"] is not None and "reaction_time" in report["per_seed"]
