"""The closed-form backward pass of mjx.step against reverse mode through mjx.step itself."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.config import ArmConfig
from envs.dynamics import euler_step, mjx_step_fn
from envs.params import SkeletonParams

SK = SkeletonParams()


def _states(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    q = rng.uniform(SK.q_lower, SK.q_upper, (n, 2))
    return q, rng.normal(0, 4, (n, 2)), rng.normal(0, 20, (n, 2))


def test_closed_form_step_equals_mjx_step(rng: np.random.Generator) -> None:
    with jax.enable_x64(True):
        env = envs.make_functional("reach")
        mjx_fwd = mjx_step_fn(env._mjx_model, env._mjx_data, SK, env.cfg.physics_dt, gradient="mjx")
        for q, qd, tau in zip(*_states(rng, 20)):
            got = euler_step(jnp.asarray(q), jnp.asarray(qd), jnp.asarray(tau), SK, env.cfg.physics_dt)
            want = mjx_fwd(jnp.asarray(q), jnp.asarray(qd), jnp.asarray(tau))
            np.testing.assert_allclose(np.concatenate(got), np.concatenate(want), rtol=1e-12, atol=1e-12)


def test_analytic_vjp_equals_reverse_mode_through_mjx(rng: np.random.Generator) -> None:
    with jax.enable_x64(True):
        env = envs.make_functional("reach")
        args = (env._mjx_model, env._mjx_data, SK, env.cfg.physics_dt)
        fast, slow = mjx_step_fn(*args, gradient="analytic"), mjx_step_fn(*args, gradient="mjx")
        q, qd, tau = (jnp.asarray(a) for a in _states(rng, 16))
        cot = (jnp.asarray(rng.normal(size=(16, 2))), jnp.asarray(rng.normal(size=(16, 2))))
        out_f, vjp_f = jax.vjp(jax.vmap(fast), q, qd, tau)
        out_s, vjp_s = jax.vjp(jax.vmap(slow), q, qd, tau)
        np.testing.assert_array_equal(np.asarray(out_f[0]), np.asarray(out_s[0]))  # same forward: mjx.step
        for a, b in zip(vjp_f(cot), vjp_s(cot)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-9, atol=1e-9)


def test_episode_gradient_is_the_same_either_way() -> None:
    """Whole 50-step episode with muscles, limits and feedback delay: gradients with respect
    to the excitations agree between the two backward passes (float32, the training dtype)."""
    acts = jnp.asarray(np.random.default_rng(1).uniform(0.0, 0.6, (50, 6)), jnp.float32)
    grads = []
    for gradient in ("analytic", "mjx"):
        env = envs.FunctionalArmEnv(ArmConfig.from_overrides("reach", gradient=gradient))
        s0 = env.reset(jax.random.key(3), joint_state=[0.7, 1.4], target=[0.1, 0.45])

        def loss(a: jax.Array, env=env, s0=s0) -> jax.Array:
            return jnp.mean(env.rollout(s0, a)[1].metrics["position_error"])

        grads.append(np.asarray(jax.jit(jax.grad(loss))(acts)))
    scale = np.abs(grads[1]).max()
    assert scale > 0
    np.testing.assert_allclose(grads[0], grads[1], rtol=0, atol=2e-4 * scale)


def test_unknown_gradient_setting_is_an_error() -> None:
    with pytest.raises(ValueError, match="gradient"):
        ArmConfig.from_overrides("reach", gradient="magic")
