"""Controllers: hemisphere independence, the paper's callosum by hand, delays, lesions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.callosum import pool_and_pad
from agents.controllers import (
    LESIONS,
    BilateralController,
    UnilateralController,
    project_nonnegative,
)
from tests.agents.helpers import fast_jit

OBS = 16
B = 3


def np_pool_and_pad(a: np.ndarray, width: int) -> np.ndarray:
    """Max over pairs of neighbours (an odd last unit dropped), zeros in front to ``width``."""
    a = np.asarray(a, np.float64)
    n = a.shape[-1] // 2 * 2
    pooled = np.maximum(a[..., 0:n:2], a[..., 1:n:2])
    out = np.zeros(a.shape[:-1] + (width,))
    out[..., width - pooled.shape[-1]:] = pooled
    return out


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def dense(p: dict, x: np.ndarray) -> np.ndarray:
    return x @ np.asarray(p["kernel"], np.float64) + np.asarray(p["bias"], np.float64)


def reference(params: dict, obs_seq: np.ndarray, widths: tuple[int, ...], callosum: str,
              delay: int = 0, lesion: str = "none") -> tuple[list, list]:
    """Bilateral tanh controller written out step by step in numpy (float64): outputs and
    hidden activities per step. Callosal input to layer i at step t: the other side's
    layer i - 1 activity of step t - delay (zero before the first step)."""
    p = params["params"]
    keep = {"left": float(lesion != "silence_left"), "right": float(lesion != "silence_right")}
    sees = {"left": float(lesion != "input_left"), "right": float(lesion != "input_right")}
    sends = {"left": float(lesion != "output_left"), "right": float(lesion != "output_right")}
    linked = callosum != "none" and lesion != "cut_callosum"
    past: list[dict] = []
    outs, hids = [], []
    for t, obs in enumerate(np.asarray(obs_seq, np.float64)):
        h: dict = {"left": [], "right": []}
        for i, _ in enumerate(widths):
            new = {}
            for s, o in (("left", "right"), ("right", "left")):
                x = obs * sees[s] if i == 0 else h[s][i - 1]
                if i > 0 and linked:
                    if delay == 0:
                        src = h[o][i - 1]
                    elif t - delay >= 0:
                        src = past[t - delay][o][i - 1]
                    else:
                        src = np.zeros_like(h[o][i - 1])
                    if callosum == "paper":
                        x = x + np_pool_and_pad(src, widths[i - 1])
                    else:  # learned: a linear map without bias
                        x = x + src @ np.asarray(p[s][f"callosal_{i - 1}"]["kernel"], np.float64)
                new[s] = np.tanh(dense(p[s][f"layers_{i}"], x)) * keep[s]
            for s, a in new.items():
                h[s].append(a)
        past.append(h)
        comb = (float(p["w_left"]) * sends["left"] * h["left"][-1]
                + float(p["w_right"]) * sends["right"] * h["right"][-1])
        outs.append(sigmoid(dense(p["output"], comb)))
        hids.append(h)
    return outs, hids


def init(model, seed: int = 0) -> dict:
    """Random parameters of ``model``'s structure (drawn in numpy: cheaper than compiling
    flax's initialisers for every shape), biases non-zero, w_left != w_right."""
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), model.initial_carry((B,)),
                            jnp.zeros((B, OBS)))
    rng = np.random.default_rng(seed)

    def draw(path, s):
        name = jax.tree_util.keystr(path)
        if "w_left" in name or "w_right" in name:
            return jnp.float32(0.7 if "w_left" in name else 0.4)
        scale = 1.0 / np.sqrt(s.shape[0]) if len(s.shape) == 2 else 0.3
        return jnp.asarray(scale * rng.normal(size=s.shape), jnp.float32)

    return jax.tree_util.tree_map_with_path(draw, shapes)


def run(model, params, obs_seq, lesion: str = "none"):
    """Feed observations step by step with the carry: outputs and hidden per step."""
    carry = model.initial_carry((B,))
    step = fast_jit(model.apply, static_argnames="lesion")
    outs, hids = [], []
    for obs in obs_seq:
        carry, u, hidden = step(params, carry, obs, lesion=lesion)
        outs.append(u)
        hids.append(hidden)
    return outs, hids


@pytest.fixture(scope="module")
def obs_seq() -> jax.Array:
    return jax.random.normal(jax.random.PRNGKey(42), (5, B, OBS))


def perturb(params: dict, side: str, seed: int = 1) -> dict:
    sub = params["params"][side]
    leaves, tree = jax.tree.flatten(sub)
    keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
    noisy = [a + 0.5 * jax.random.normal(k, a.shape) for a, k in zip(leaves, keys)]
    return {"params": {**params["params"], side: jax.tree.unflatten(tree, noisy)}}


# -- pool_and_pad -----------------------------------------------------------------------
def test_pool_and_pad_by_hand() -> None:
    out = pool_and_pad(jnp.array([1.0, 5.0, 2.0, 3.0, 9.0, 0.0]), 6)
    np.testing.assert_array_equal(out, [0, 0, 0, 5, 3, 9])
    # odd width: the last unit is dropped
    np.testing.assert_array_equal(pool_and_pad(jnp.array([1.0, 5.0, 2.0, 3.0, 9.0]), 5),
                                  [0, 0, 0, 5, 3])
    np.testing.assert_array_equal(pool_and_pad(jnp.array([-1.0, -5.0, 7.0]), 3), [0, 0, -1])
    # a single unit pools to nothing: all zeros
    np.testing.assert_array_equal(pool_and_pad(jnp.array([4.0]), 1), [0])
    with pytest.raises(ValueError, match="exceeds layer width"):
        pool_and_pad(jnp.zeros(10), 4)


def test_pool_and_pad_batched_matches_numpy(rng: np.random.Generator) -> None:
    a = rng.normal(size=(2, 3, 7)).astype(np.float32)
    for width in (3, 7, 9):
        out = pool_and_pad(jnp.asarray(a), width)
        assert out.shape == (2, 3, width)
        np.testing.assert_allclose(out, np_pool_and_pad(a, width), rtol=0, atol=0)


# -- hemisphere independence --------------------------------------------------------------
def test_no_callosum_hemispheres_independent(obs_seq: jax.Array) -> None:
    model = BilateralController(widths=(4, 4), callosum="none")
    params = init(model)
    _, base = run(model, params, obs_seq[:2])
    _, pert = run(model, perturb(params, "left"), obs_seq[:2])
    for hb, hp in zip(base, pert):
        for layer in range(2):
            np.testing.assert_array_equal(hp["right"][layer], hb["right"][layer])
            assert not np.allclose(hp["left"][layer], hb["left"][layer])


def test_paper_callosum_carries_left_into_right(obs_seq: jax.Array) -> None:
    model = BilateralController(widths=(4, 4), callosum="paper")
    params = init(model)
    _, base = run(model, params, obs_seq[:1])
    _, pert = run(model, perturb(params, "left"), obs_seq[:1])
    np.testing.assert_array_equal(pert[0]["right"][0], base[0]["right"][0])
    assert not np.allclose(pert[0]["right"][1], base[0]["right"][1])


# -- the paper's callosum by hand --------------------------------------------------------
def test_paper_layer_two_and_output_by_hand(obs_seq: jax.Array) -> None:
    model = BilateralController(widths=(6, 4), callosum="paper")
    params = init(model, seed=3)
    # non-default combination weights, so that a swapped w_left / w_right would show
    params = {"params": {**params["params"], "w_left": jnp.float32(0.8), "w_right": jnp.float32(0.3)}}
    obs = np.asarray(obs_seq[0], np.float64)
    p = params["params"]
    h_l1 = np.tanh(dense(p["left"]["layers_0"], obs))
    h_r1 = np.tanh(dense(p["right"]["layers_0"], obs))
    h_l2 = np.tanh(dense(p["left"]["layers_1"], h_l1 + np_pool_and_pad(h_r1, 6)))
    h_r2 = np.tanh(dense(p["right"]["layers_1"], h_r1 + np_pool_and_pad(h_l1, 6)))
    u_ref = sigmoid(dense(p["output"], 0.8 * h_l2 + 0.3 * h_r2))

    _, u, hidden = model.apply(params, model.initial_carry((B,)), obs_seq[0])
    np.testing.assert_allclose(hidden["left"][0], h_l1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hidden["left"][1], h_l2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hidden["right"][1], h_r2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(u, u_ref, rtol=1e-5, atol=1e-6)
    assert u.shape == (B, 6)


@pytest.mark.parametrize("widths", [(5, 5), (6, 4, 4), (3, 8), (1, 3), (4,)])
def test_paper_callosum_shapes_and_reference(widths: tuple[int, ...], obs_seq: jax.Array) -> None:
    model = BilateralController(widths=widths, callosum="paper")
    params = init(model, seed=len(widths))
    outs, hids = run(model, params, obs_seq[:2])
    ref_outs, ref_hids = reference(params, obs_seq[:2], widths, "paper")
    for u, h, ru, rh in zip(outs, hids, ref_outs, ref_hids):
        assert u.shape == (B, 6)
        np.testing.assert_allclose(u, ru, rtol=1e-5, atol=1e-6)
        for s in ("left", "right"):
            assert [a.shape for a in h[s]] == [(B, w) for w in widths]
            for a, r in zip(h[s], rh[s]):
                np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-6)


def test_width_one_or_single_layer_sends_nothing(obs_seq: jax.Array) -> None:
    # a one-unit layer pools to nothing and a single layer has no next layer to feed:
    # the paper callosum is then no link at all
    for widths in [(1, 3), (4,)]:
        paper = BilateralController(widths=widths, callosum="paper")
        none = BilateralController(widths=widths, callosum="none")
        params = init(paper)
        _, u_p, _ = paper.apply(params, paper.initial_carry((B,)), obs_seq[0])
        _, u_n, _ = none.apply(params, none.initial_carry((B,)), obs_seq[0])
        np.testing.assert_array_equal(u_p, u_n)


# -- delays --------------------------------------------------------------------------------
@pytest.mark.parametrize("callosum,widths,delay", [("paper", (4, 4), 2), ("paper", (6, 4, 4), 1),
                                                   ("learned", (4, 4), 1), ("learned", (5, 3), 0)])
def test_callosal_delay_matches_reference(callosum: str, widths: tuple[int, ...], delay: int,
                                          obs_seq: jax.Array) -> None:
    model = BilateralController(widths=widths, callosum=callosum, callosal_delay=delay)
    params = init(model, seed=7)
    carry = model.initial_carry((B,))
    assert [line.shape for line in carry["callosum"]["left"]] == [(B, delay, w) for w in widths[:-1]]
    outs, hids = run(model, params, obs_seq)
    ref_outs, ref_hids = reference(params, obs_seq, widths, callosum, delay)
    for t in range(len(obs_seq)):
        np.testing.assert_allclose(outs[t], ref_outs[t], rtol=1e-5, atol=1e-6, err_msg=f"step {t}")
        for s in ("left", "right"):
            for a, r in zip(hids[t][s], ref_hids[t][s]):
                np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-6, err_msg=f"step {t} {s}")


def test_delay_two_starts_as_cut_callosum_then_differs(obs_seq: jax.Array) -> None:
    model = BilateralController(widths=(4, 4), callosum="paper", callosal_delay=2)
    undelayed = BilateralController(widths=(4, 4), callosum="paper")
    params = init(model, seed=5)
    delayed_out, _ = run(model, params, obs_seq)
    cut_out, _ = run(model, params, obs_seq, lesion="cut_callosum")
    now_out, _ = run(undelayed, params, obs_seq)
    for t in range(2):  # the delay lines start at zero and pool_and_pad(0) = 0
        np.testing.assert_allclose(delayed_out[t], cut_out[t], rtol=1e-6, atol=1e-7)
    for t in range(2, 5):
        assert not np.allclose(delayed_out[t], cut_out[t], rtol=1e-6, atol=1e-7)
        assert not np.allclose(delayed_out[t], now_out[t], rtol=1e-6, atol=1e-7)


def test_negative_delay_rejected() -> None:
    model = BilateralController(widths=(4, 4), callosum="paper", callosal_delay=-1)
    with pytest.raises(ValueError, match="callosal_delay"):
        model.init(jax.random.PRNGKey(0), {"gru": {"left": [], "right": []},
                                           "callosum": {"left": [], "right": []}}, jnp.zeros((1, OBS)))


# -- lesions -------------------------------------------------------------------------------
def test_silence_left_by_hand(obs_seq: jax.Array) -> None:
    model = BilateralController(widths=(4, 4), callosum="paper")
    params = init(model, seed=2)
    _, u, hidden = model.apply(params, model.initial_carry((B,)), obs_seq[0], lesion="silence_left")
    for h in hidden["left"]:
        np.testing.assert_array_equal(h, 0.0)
    p = params["params"]
    obs = np.asarray(obs_seq[0], np.float64)
    # nothing crosses from a silent side: the right runs as if alone
    h_r = np.tanh(dense(p["right"]["layers_1"], np.tanh(dense(p["right"]["layers_0"], obs))))
    u_ref = sigmoid(dense(p["output"], float(p["w_right"]) * h_r))
    np.testing.assert_allclose(hidden["right"][1], h_r, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(u, u_ref, rtol=1e-5, atol=1e-6)
    # and the lesion did change the output
    _, u_intact, _ = model.apply(params, model.initial_carry((B,)), obs_seq[0])
    assert not np.allclose(u, u_intact)


@pytest.mark.parametrize("lesion", ["silence_right", "cut_callosum", "input_left", "input_right",
                                    "output_left", "output_right"])
def test_other_lesions_match_reference(lesion: str, obs_seq: jax.Array) -> None:
    model = BilateralController(widths=(6, 4), callosum="paper", callosal_delay=1)
    params = init(model, seed=4)
    outs, hids = run(model, params, obs_seq[:3], lesion=lesion)
    ref_outs, _ = reference(params, obs_seq[:3], (6, 4), "paper", delay=1, lesion=lesion)
    for u, ru in zip(outs, ref_outs):
        np.testing.assert_allclose(u, ru, rtol=1e-5, atol=1e-6)
    if lesion == "silence_right":
        for h in hids[-1]["right"]:
            np.testing.assert_array_equal(h, 0.0)
    intact, intact_h = run(model, params, obs_seq[:3])
    assert not np.allclose(outs[-1], intact[-1])  # every lesion changes the output
    if lesion.startswith("input_"):
        # the original's highleft/highright: the blinded side's biases still act, and its
        # activity still differs from zero and still crosses the callosum
        side = lesion.removeprefix("input_")
        assert np.abs(np.asarray(hids[-1][side][0])).max() > 0
    if lesion.startswith("output_"):
        # the original's lowleft/lowright: hidden activity is untouched, only the output differs
        for s in ("left", "right"):
            for a, b in zip(hids[-1][s], intact_h[-1][s]):
                np.testing.assert_array_equal(a, b)


def test_cut_callosum_equals_no_callosum_model(obs_seq: jax.Array) -> None:
    paper = BilateralController(widths=(4, 4), callosum="paper")
    none = BilateralController(widths=(4, 4), callosum="none")
    params = init(paper, seed=9)
    assert jax.tree.structure(params) == jax.tree.structure(init(none))
    cut, cut_h = run(paper, params, obs_seq[:2], lesion="cut_callosum")
    alone, alone_h = run(none, params, obs_seq[:2])
    intact, _ = run(paper, params, obs_seq[:2])
    for t in range(2):
        np.testing.assert_array_equal(cut[t], alone[t])
        for s in ("left", "right"):
            for a, b in zip(cut_h[t][s], alone_h[t][s]):
                np.testing.assert_array_equal(a, b)
        assert not np.allclose(cut[t], intact[t])


def test_lesion_validation(obs_seq: jax.Array) -> None:
    model = BilateralController(widths=(4, 4), callosum="paper")
    params = init(model)
    with pytest.raises(ValueError, match="unknown lesion 'cut'") as err:
        model.apply(params, model.initial_carry((B,)), obs_seq[0], lesion="cut")
    for name in LESIONS:
        assert name in str(err.value)
    uni = UnilateralController(widths=(4, 4))
    uparams = init(uni)
    _, u, hidden = uni.apply(uparams, uni.initial_carry((B,)), obs_seq[0], lesion="none")
    assert u.shape == (B, 6) and [h.shape for h in hidden["hemisphere"]] == [(B, 4), (B, 4)]
    for lesion in ("silence_left", "silence_right", "cut_callosum"):
        with pytest.raises(ValueError, match="bilateral"):
            uni.apply(uparams, uni.initial_carry((B,)), obs_seq[0], lesion=lesion)


def test_unilateral_by_hand(obs_seq: jax.Array) -> None:
    uni = UnilateralController(widths=(5, 3))
    params = init(uni, seed=11)
    p = params["params"]
    obs = np.asarray(obs_seq[0], np.float64)
    h = np.tanh(dense(p["hemisphere"]["layers_1"], np.tanh(dense(p["hemisphere"]["layers_0"], obs))))
    _, u, _ = uni.apply(params, uni.initial_carry((B,)), obs_seq[0])
    np.testing.assert_allclose(u, sigmoid(dense(p["output"], h)), rtol=1e-5, atol=1e-6)


# -- GRU cells, learned callosum ------------------------------------------------------------
def test_gru_learned_callosum_carries_state(obs_seq: jax.Array) -> None:
    model = BilateralController(widths=(4, 4), cell="gru", callosum="learned")
    params = init(model, seed=6)
    for side in ("left", "right"):
        names = set(params["params"][side])
        assert {n for n in names if n.startswith("callosal_")} == {"callosal_0"}
        assert params["params"][side]["callosal_0"]["kernel"].shape == (4, 4)
        assert "bias" not in params["params"][side]["callosal_0"]
    carry = model.initial_carry((B,))
    carry1, u1, h1 = model.apply(params, carry, obs_seq[0])
    _, u2, _ = model.apply(params, carry1, obs_seq[0])
    assert u1.shape == (B, 6) and np.all((np.asarray(u1) > 0) & (np.asarray(u1) < 1))
    assert not np.allclose(u1, u2)  # same observation, different state
    for s in ("left", "right"):
        for i in range(2):
            np.testing.assert_array_equal(carry1["gru"][s][i], h1[s][i])
    # from the same carry, the same observation gives the same output (no hidden state
    # outside the carry)
    _, u1_again, _ = model.apply(params, carry, obs_seq[0])
    np.testing.assert_array_equal(u1, u1_again)
    # the learned link does something: zeroing its kernels changes the output
    zeroed = jax.tree.map(lambda a: a, params)
    for s in ("left", "right"):
        zeroed["params"][s]["callosal_0"] = {"kernel": jnp.zeros((4, 4))}
    _, u_zero, _ = model.apply(zeroed, carry, obs_seq[0])
    _, u_cut, _ = model.apply(params, carry, obs_seq[0], lesion="cut_callosum")
    np.testing.assert_allclose(u_zero, u_cut, rtol=1e-6, atol=1e-7)
    assert not np.allclose(u_zero, u1)


def test_unilateral_gru_runs(obs_seq: jax.Array) -> None:
    uni = UnilateralController(widths=(4, 3), cell="gru")
    params = init(uni)
    carry1, u1, _ = uni.apply(params, uni.initial_carry((B,)), obs_seq[0])
    _, u2, _ = uni.apply(params, carry1, obs_seq[0])
    assert [c.shape for c in carry1["gru"]] == [(B, 4), (B, 3)]
    assert not np.allclose(u1, u2)


# -- non-negativity projection --------------------------------------------------------------
def test_project_nonnegative() -> None:
    model = BilateralController(widths=(4, 4), callosum="paper")
    params = fast_jit(model.init)(jax.random.PRNGKey(0), model.initial_carry((1,)), jnp.zeros((1, OBS)))
    assert float(params["params"]["w_left"]) == 0.5 == float(params["params"]["w_right"])
    params = {"params": {**params["params"], "w_left": jnp.float32(-0.3), "w_right": jnp.float32(0.2)}}
    out = project_nonnegative(params)
    assert float(out["params"]["w_left"]) == 0.0
    assert float(out["params"]["w_right"]) == np.float32(0.2)
    for name in ("left", "right", "output"):
        for a, b in zip(jax.tree.leaves(out["params"][name]), jax.tree.leaves(params["params"][name])):
            np.testing.assert_array_equal(a, b)
    both = project_nonnegative({"params": {**params["params"], "w_right": jnp.float32(-2.0)}})
    assert float(both["params"]["w_right"]) == 0.0 and float(both["params"]["w_left"]) == 0.0
    uni = init(UnilateralController(widths=(4, 4)))
    for a, b in zip(jax.tree.leaves(project_nonnegative(uni)), jax.tree.leaves(uni)):
        np.testing.assert_array_equal(a, b)
