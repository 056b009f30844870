"""Loss terms by hand, and the per-hemisphere gradient routing of the specialised objective."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.controllers import BilateralController, UnilateralController
from agents.objectives import (
    OBJECTIVES,
    check_objective,
    hidden_reg,
    loss_terms,
    route,
    weighted,
)
from agents.rollout import EpisodeSampler
from agents.training import TrainConfig, Trainer
from agents.variants import build_model, make_variant
from tests.agents.helpers import PointSampler, assert_trees_close, fast_jit

BATCH = 4


# -- loss terms -------------------------------------------------------------------------
def np_hidden_reg(hidden: dict, dt: float) -> float:
    total = 0.0
    for layers in hidden.values():
        for h in layers:
            h = np.asarray(h, np.float64)
            dhdt = (h[:, 1:, :] - h[:, :-1, :]) / dt
            total += np.mean(h**2) + 0.05 * np.mean(dhdt**2)
    return total


def test_loss_terms_by_hand(rng: np.random.Generator) -> None:
    b, t, dt = 3, 5, 0.02
    hand = rng.normal(scale=0.1, size=(b, t, 2)).astype(np.float32)
    target = rng.normal(scale=0.1, size=(b, 2)).astype(np.float32)
    u = rng.uniform(size=(b, t, 6)).astype(np.float32)
    hidden = {"left": [rng.normal(size=(b, t, 4)).astype(np.float32),
                       rng.normal(size=(b, t, 3)).astype(np.float32)],
              "right": [rng.normal(size=(b, t, 4)).astype(np.float32),
                        rng.normal(size=(b, t, 3)).astype(np.float32)]}
    terms = loss_terms(jnp.asarray(hand), jnp.asarray(target), jnp.asarray(u),
                       jax.tree.map(jnp.asarray, hidden), dt)
    err = hand.astype(np.float64) - target[:, None, :]
    np.testing.assert_allclose(terms["abs_position_error"], np.mean(np.abs(err)), rtol=1e-6)
    np.testing.assert_allclose(terms["squared_position_error"], np.mean(100.0 * err**2) / 10.0, rtol=1e-6)
    np.testing.assert_allclose(terms["effort"], np.mean(u.astype(np.float64) ** 2), rtol=1e-6)
    np.testing.assert_allclose(terms["hidden_reg"], np_hidden_reg(hidden, dt), rtol=1e-5)
    # the derivative part matters at this dt: the sum of plain means alone is far off
    plain = sum(np.mean(np.asarray(h, np.float64) ** 2) for hs in hidden.values() for h in hs)
    assert abs(float(terms["hidden_reg"]) - plain) > 1.0
    # a per-step target gives the same as the broadcast one
    per_step = loss_terms(jnp.asarray(hand), jnp.broadcast_to(target[:, None, :], hand.shape),
                          jnp.asarray(u), jax.tree.map(jnp.asarray, hidden), dt)
    for name in terms:
        np.testing.assert_allclose(per_step[name], terms[name], rtol=1e-6)


def test_hidden_reg_unilateral_one_layer(rng: np.random.Generator) -> None:
    h = rng.normal(size=(2, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(hidden_reg({"hemisphere": [jnp.asarray(h)]}, 0.01),
                               np_hidden_reg({"hemisphere": [h]}, 0.01), rtol=1e-5)


def test_weighted_is_the_weighted_sum() -> None:
    terms = {"effort": 1.0, "abs_position_error": 10.0, "squared_position_error": 100.0,
             "hidden_reg": 1000.0}
    # each term at a different decade: the total reads off the weights used
    np.testing.assert_allclose(weighted(terms, "dominant"), 5.0 * 10.0 + 0.02 * 1000.0)
    np.testing.assert_allclose(weighted(terms, "nondominant"), 5.0 * 100.0 + 2.0 * 1.0)
    np.testing.assert_allclose(weighted(terms, "unspecialised"),
                               1.0 + 2.5 * 10.0 + 2.5 * 100.0 + 0.01 * 1000.0)
    assert OBJECTIVES["specialised"] == ("dominant", "nondominant")
    with pytest.raises(ValueError, match="specialised"):
        check_objective("selfish")


def test_route_synthetic_trees() -> None:
    def tree(v: float) -> dict:
        return {"params": {"left": {"layers_0": {"kernel": jnp.full((2, 3), v)}},
                           "right": {"layers_0": {"kernel": jnp.full((2, 3), 10 * v)}},
                           "output": {"bias": jnp.full(6, 100 * v)},
                           "w_left": jnp.float32(1000 * v), "w_right": jnp.float32(-v)}}
    out = route({"dominant": tree(1.0), "nondominant": tree(3.0)})["params"]
    np.testing.assert_array_equal(out["left"]["layers_0"]["kernel"], 1.0)
    np.testing.assert_array_equal(out["right"]["layers_0"]["kernel"], 30.0)
    np.testing.assert_array_equal(out["output"]["bias"], 200.0)
    np.testing.assert_array_equal(out["w_left"], 2000.0)
    np.testing.assert_array_equal(out["w_right"], -2.0)


# -- gradient routing through the arm -----------------------------------------------------
@pytest.fixture(scope="module")
def routed(sampler: EpisodeSampler) -> dict:
    variant = make_variant("bilateral_specialised_cc")
    assert variant.objective == "specialised" and variant.callosum == "paper"
    model = build_model(variant, (4, 4))
    cfg = TrainConfig(batch_size=BATCH, updates_per_epoch=2, val_episodes=4)
    trainer = Trainer(model, variant.objective, sampler, cfg)
    params = fast_jit(trainer.init)(jax.random.PRNGKey(0)).params
    # unequal combination weights, so that mixing up the shared halves would show
    params = {"params": {**params["params"], "w_left": jnp.float32(0.8), "w_right": jnp.float32(0.3)}}
    key = jax.random.PRNGKey(7)
    g, values, terms = fast_jit(trainer.gradient)(params, key)

    def objective(p, k, c):  # c selects one objective: a plain scalar loss
        return trainer.losses(p, k, BATCH)[0] @ c

    ref = fast_jit(jax.value_and_grad(objective))
    (v_d, g_d), (v_n, g_n) = ref(params, key, jnp.array([1.0, 0.0])), ref(params, key, jnp.array([0.0, 1.0]))
    return {"g": g["params"], "values": values, "terms": terms, "v_d": v_d, "v_n": v_n,
            "g_d": g_d["params"], "g_n": g_n["params"]}


def scale(tree) -> float:
    return max(float(np.max(np.abs(np.asarray(a)))) for a in jax.tree.leaves(tree))


def test_specialised_gradient_is_routed_exactly(routed: dict) -> None:
    g, g_d, g_n = routed["g"], routed["g_d"], routed["g_n"]
    assert set(g) == {"left", "right", "output", "w_left", "w_right"}
    atol = 1e-6 * max(scale(g_d), scale(g_n))
    assert_trees_close(g["left"], g_d["left"], rtol=1e-5, atol=atol)
    assert_trees_close(g["right"], g_n["right"], rtol=1e-5, atol=atol)
    for name in ("output", "w_left", "w_right"):
        half = jax.tree.map(lambda a, b: 0.5 * (a + b), g_d[name], g_n[name])
        assert_trees_close(g[name], half, rtol=1e-5, atol=atol)
    np.testing.assert_allclose(routed["values"], [routed["v_d"], routed["v_n"]], rtol=1e-6)


def test_routing_discards_cross_gradients(routed: dict) -> None:
    g, g_d, g_n = routed["g"], routed["g_d"], routed["g_n"]
    # the dominant objective does depend on the right hemisphere (through the callosum and
    # the output), and the non-dominant one on the left: routing drops those parts
    assert scale(g_d["right"]) > 1e-4 * scale(g_d) and scale(g_n["left"]) > 1e-4 * scale(g_n)
    for a, b in zip(jax.tree.leaves(g["right"]), jax.tree.leaves(g_d["right"])):
        assert not np.allclose(a, b, rtol=1e-3)
    for a, b in zip(jax.tree.leaves(g["left"]), jax.tree.leaves(g_n["left"])):
        assert not np.allclose(a, b, rtol=1e-3)
    for a in jax.tree.leaves(g):
        assert np.all(np.isfinite(a))


@pytest.mark.parametrize("model,objective", [
    (BilateralController(widths=(4, 4), callosum="paper"), "unspecialised"),
    (UnilateralController(widths=(4, 3)), "dominant"),
])
def test_unrouted_gradient_is_plain_grad(model, objective: str) -> None:
    # the gradient plumbing does not depend on the arm: a point-mass stand-in compiles fast
    cfg = TrainConfig(batch_size=BATCH, updates_per_epoch=2, val_episodes=4)
    trainer = Trainer(model, objective, PointSampler(), cfg)
    assert not trainer.routed
    params = fast_jit(trainer.init)(jax.random.PRNGKey(1)).params
    key = jax.random.PRNGKey(2)
    g, values, _ = fast_jit(trainer.gradient)(params, key)
    value, ref = fast_jit(jax.value_and_grad(lambda p, k: trainer.losses(p, k, BATCH)[0][0]))(params, key)
    assert scale(ref) > 0
    assert_trees_close(g, ref, rtol=1e-5, atol=1e-7 * scale(ref))
    np.testing.assert_allclose(values, [value], rtol=1e-6)
