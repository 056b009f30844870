"""Gradient clipping rules against optax's own transforms and Keras's ``clipnorm`` formula."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from agents.optim import clip_by_norm_per_variable, make_optimizer

GRADS = {"a": jnp.asarray([3.0, 4.0]),                       # norm 5: clipped
         "b": {"kernel": jnp.full((2, 2), 0.1)},              # norm 0.2: untouched
         "c": jnp.asarray(12.0)}                              # a scalar weight: clipped to 1


def test_per_variable_equals_optax_global_clip_of_each_leaf_alone() -> None:
    out, _ = clip_by_norm_per_variable(1.0).update(GRADS, optax.EmptyState())
    ref = optax.clip_by_global_norm(1.0)
    for key in ("a", "c"):
        alone, _ = ref.update({key: GRADS[key]}, ref.init(None))
        np.testing.assert_allclose(out[key], alone[key], rtol=1e-6)
    alone, _ = ref.update(GRADS["b"], ref.init(None))
    np.testing.assert_allclose(out["b"]["kernel"], alone["kernel"], rtol=1e-6)


def test_per_variable_matches_keras_clipnorm_formula_and_differs_from_global() -> None:
    out, _ = clip_by_norm_per_variable(1.0).update(GRADS, optax.EmptyState())
    # tf.clip_by_norm(g, 1) = g * 1 / max(|g|, 1), variable by variable
    np.testing.assert_allclose(out["a"], [0.6, 0.8], rtol=1e-6)
    np.testing.assert_allclose(out["b"]["kernel"], np.full((2, 2), 0.1), rtol=1e-6)
    np.testing.assert_allclose(out["c"], 1.0, rtol=1e-6)
    glob, _ = optax.clip_by_global_norm(1.0).update(GRADS, optax.EmptyState())
    assert not np.allclose(glob["b"]["kernel"], out["b"]["kernel"])  # global clipping shrinks b too


def test_make_optimizer_chains_clip_then_adam() -> None:
    params = {k: jnp.zeros_like(v) for k, v in GRADS.items() if k != "b"}
    grads = {k: GRADS[k] for k in params}
    opt = make_optimizer(1e-3, 1.0, "per_variable", eps=1e-7)
    ref = optax.chain(clip_by_norm_per_variable(1.0), optax.adam(1e-3, eps=1e-7))
    a, _ = opt.update(grads, opt.init(params), params)
    b, _ = ref.update(grads, ref.init(params), params)
    for k in params:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-7)
    with pytest.raises(ValueError, match="unknown clipping rule 'norm'"):
        make_optimizer(1e-3, 1.0, "norm")


def test_cosine_schedule_scales_adams_steps_along_a_half_cosine() -> None:
    """Adam's first step moves each entry by ~lr (sign of the gradient); with the cosine
    schedule the step at update k is lr * (0.05 + 0.95 * (1 + cos(pi k / K)) / 2), after K it
    stays at 5 %. Checked on a fresh Adam state at each k by feeding k no-op updates first."""
    params = {"w": jnp.zeros(3)}
    g = {"w": jnp.asarray([0.5, -2.0, 0.1])}
    lr, total = 0.01, 10
    opt = make_optimizer(lr, 1e9, "global", schedule="cosine", total_steps=total)
    state = opt.init(params)
    for k in range(total + 3):
        step, state = opt.update(g, state, params)
        want = lr * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * min(k, total) / total)))
        # a constant gradient keeps Adam's normalised direction at sign(g) exactly
        np.testing.assert_allclose(np.asarray(step["w"]), -want * np.sign(np.asarray(g["w"])), rtol=1e-4)
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'step'"):
        make_optimizer(lr, 1.0, schedule="step")
    with pytest.raises(ValueError, match="total_steps"):
        make_optimizer(lr, 1.0, schedule="cosine")
