"""The original code's objectives against what Keras computed when the original ran.

``data/original_loss_reference.npz`` was recorded by running the original code
(Cerenaut/bilateral-motor-control on MotorNet 0.1.5 / TensorFlow 2.13, unmodified; drivers in
``data/original_drivers``) on 8 reach episodes with freshly initialised networks: a unilateral
network with the unspecialised objective and the bilateral callosal network with its two
routed objectives. It holds the plant outputs Keras produced and the loss values Keras
computed. Two checks: (1) our terms and objectives, computed on Keras's own output arrays
with the plant-output regulariser, give Keras's loss values; (2) our MotorNet-TF arm driven
by the same excitations from the same start produces those output arrays, so the
regulariser sees in training what the original's saw.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.objectives import TERMS, loss_terms, weight_matrix
from agents.original_loss import BILATERAL, UNILATERAL, keras_plant_outputs
from envs.functional import make_functional

REF = np.load(Path(__file__).parent / "data" / "original_loss_reference.npz")
OUTPUT = {"joint": "joint position", "muscle": "muscle state", "proprioception": "proprioceptive feedback",
          "vision": "visual feedback"}
CASES = {"unilateral_unspec": (UNILATERAL, {"compiled_loss": "unspecialised"}),
         "bicc_dual": (BILATERAL, {"compiled_loss": "unspecialised", "dual_loss[0]": "dominant",
                                   "dual_loss[1]": "nondominant"})}


def ref(case: str, key: str) -> np.ndarray:
    return np.asarray(REF[f"{case}/{key}"], np.float64)


@pytest.mark.parametrize("case", list(CASES))
def test_objectives_on_kerass_outputs_equal_kerass_losses(case: str) -> None:
    names, totals = CASES[case]
    cart, targets = ref(case, "out/cartesian position"), ref(case, "targets")
    plant = {n: jnp.asarray(ref(case, f"out/{OUTPUT[n]}").reshape(cart.shape[:2] + (-1,))) for n in names}
    terms = loss_terms(jnp.asarray(cart[..., :2]), jnp.asarray(targets[..., :2]),
                       jnp.asarray(ref(case, "out/excitation")), {}, 0.01, plant=plant)
    np.testing.assert_allclose(terms["abs_position_error"], ref(case, "term/pos_abs"), rtol=1e-5)
    np.testing.assert_allclose(terms["squared_position_error"], ref(case, "term/pos_sq"), rtol=1e-5)
    np.testing.assert_allclose(terms["effort"], ref(case, "term/exc"), rtol=1e-5)
    expected_reg = sum(float(ref(case, f"term/l2xdx[{OUTPUT[n]}]")) for n in names)
    np.testing.assert_allclose(terms["hidden_reg"], expected_reg, rtol=1e-5)
    vector = jnp.stack([terms[k] for k in TERMS])
    for keras_name, objective in totals.items():
        ours = float((weight_matrix((objective,)) @ vector)[0])
        np.testing.assert_allclose(ours, ref(case, f"keras_total/{keras_name}"), rtol=1e-5)


@pytest.mark.parametrize("case", list(CASES))
def test_motornet_tf_arm_reproduces_kerass_plant_outputs(case: str) -> None:
    names, _ = CASES[case]
    env = make_functional("reach", plant="motornet_tf", feedback_delay=0.0)
    joint0, targets = ref(case, "init_state_0_joint0"), ref(case, "targets")
    actions = jnp.asarray(ref(case, "out/excitation"), jnp.float32)

    def run(j0: jax.Array, target: jax.Array, u: jax.Array) -> dict[str, jax.Array]:
        state = env.reset(jax.random.PRNGKey(0), joint_state=j0, target=target)
        _, states = env.rollout(state, u)
        return {**jax.vmap(lambda s: keras_plant_outputs(env, s, bilateral=True))(states), "hand": states.hand}

    got = jax.jit(jax.vmap(run))(jnp.asarray(joint0, jnp.float32), jnp.asarray(targets[:, 0, :2], jnp.float32),
                                 actions)
    np.testing.assert_allclose(got["hand"], ref(case, "out/cartesian position")[..., :2], atol=5e-6)
    for n in BILATERAL:
        want = ref(case, f"out/{OUTPUT[n]}").reshape(np.asarray(got[n]).shape)
        scale = np.abs(want).max(axis=(0, 1), keepdims=True) + 1e-6
        np.testing.assert_allclose(np.asarray(got[n]) / scale, want / scale, atol=2e-4, err_msg=n)


def test_closed_loop_plant_outputs_on_the_stacked_episode_equal_them_step_by_step() -> None:
    """closed_loop evaluates the plant outputs once on the stacked states after the time loop;
    they equal the outputs of each state taken step by step from the same episode."""
    from agents.rollout import EpisodeSampler, closed_loop
    from agents.variants import build_model, make_variant

    sampler = EpisodeSampler(plant="motornet_tf", feedback_delay=0.0, episode_steps=12)
    env = sampler.env
    model = build_model(make_variant("bilateral_specialised_cc"), [5, 5], "mlp", 0, None, "glorot_uniform")
    params = model.init(jax.random.PRNGKey(1), model.initial_carry((1,)), jnp.zeros((1, env.observation_size)))
    state0 = sampler.states(jax.random.PRNGKey(2), 4, "hold")
    traj = closed_loop(model, params, env, state0, plant_outputs=lambda s: keras_plant_outputs(env, s))
    _, states = jax.vmap(env.rollout, in_axes=(0, 0))(state0, traj.excitation)  # (B, T, ...)
    step_by_step = jax.vmap(jax.vmap(lambda s: keras_plant_outputs(env, s)))(states)
    assert set(traj.plant) == set(BILATERAL)
    for name in BILATERAL:
        assert traj.plant[name].shape[:2] == (4, 12)
        np.testing.assert_allclose(traj.plant[name], step_by_step[name], rtol=1e-5, atol=1e-6)
    assert float(jnp.abs(traj.plant["muscle"][..., -1, :]).max()) > 1.0  # forces in N: not a trivial zero


def test_rematerialised_rollout_gives_the_same_gradient() -> None:
    """closed_loop(remat=True) recomputes each step in the backward pass instead of storing
    it: the loss and its gradient (through the MotorNet-TF arm and the plant-output
    regulariser) equal those of the stored rollout (to float32 rounding)."""
    from agents.rollout import EpisodeSampler, closed_loop
    from agents.variants import build_model, make_variant

    sampler = EpisodeSampler(plant="motornet_tf", feedback_delay=0.0, episode_steps=15)
    env = sampler.env
    model = build_model(make_variant("bilateral_specialised_cc"), [5, 5], "mlp", 0, None, "glorot_uniform")
    params = model.init(jax.random.PRNGKey(3), model.initial_carry((1,)), jnp.zeros((1, env.observation_size)))
    state0 = sampler.states(jax.random.PRNGKey(4), 8, "reach")

    def loss(p: dict, remat: bool) -> jax.Array:
        traj = closed_loop(model, p, env, state0, remat=remat, plant_outputs=lambda s: keras_plant_outputs(env, s))
        extra = sum(jnp.mean(v**2) for v in traj.plant.values())
        return jnp.mean(traj.position_error) + 1e-6 * extra + 0.1 * jnp.mean(traj.excitation**2)

    (a, ga), (b, gb) = (jax.value_and_grad(loss)(params, r) for r in (True, False))
    np.testing.assert_allclose(a, b, rtol=1e-6)
    flat_a, flat_b = jax.tree.leaves(ga), jax.tree.leaves(gb)
    assert max(float(jnp.abs(x).max()) for x in flat_b) > 1e-4  # a real gradient
    for x, y in zip(flat_a, flat_b):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-7)
