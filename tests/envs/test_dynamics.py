"""The closed-form skeleton step (the default forward pass, and the backward pass of
``physics="mjx"``) against ``mjx.step`` and reverse mode through it."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.config import ArmConfig
from envs.dynamics import euler_step, mjx_step_fn
from envs.model import load_model, skeleton_from_model
from envs.params import SkeletonParams

SK = SkeletonParams()


def _mjx(env: envs.FunctionalArmEnv) -> tuple:
    """The MJX model and data of ``env``'s MJCF skeleton."""
    from mujoco import mjx

    model = mjx.put_model(env.mj_model)
    return model, mjx.make_data(model)


def _states(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    q = rng.uniform(SK.q_lower, SK.q_upper, (n, 2))
    return q, rng.normal(0, 4, (n, 2)), rng.normal(0, 20, (n, 2))


def test_closed_form_step_equals_mjx_step(rng: np.random.Generator) -> None:
    with jax.enable_x64(True):
        env = envs.make_functional("reach")
        mjx_fwd = mjx_step_fn(*_mjx(env), SK, env.cfg.physics_dt, gradient="mjx")
        q, qd, tau = (jnp.asarray(a) for a in _states(rng, 20))
        got = jax.jit(jax.vmap(lambda a, b, c: euler_step(a, b, c, SK, env.cfg.physics_dt)))(q, qd, tau)
        want = jax.jit(jax.vmap(mjx_fwd))(q, qd, tau)
        for a, b in zip(got, want):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-12)


def test_analytic_vjp_equals_reverse_mode_through_mjx(rng: np.random.Generator) -> None:
    with jax.enable_x64(True):
        env = envs.make_functional("reach")
        args = (*_mjx(env), SK, env.cfg.physics_dt)
        fast, slow = mjx_step_fn(*args, gradient="analytic"), mjx_step_fn(*args, gradient="mjx")
        q, qd, tau = (jnp.asarray(a) for a in _states(rng, 16))
        cot = (jnp.asarray(rng.normal(size=(16, 2))), jnp.asarray(rng.normal(size=(16, 2))))
        def out_and_vjp(step):
            def f(q, qd, tau, cot):
                out, vjp = jax.vjp(jax.vmap(step), q, qd, tau)
                return out, vjp(cot)
            return jax.jit(f)(q, qd, tau, cot)  # one compiled program, not op-by-op dispatch

        (out_f, grads_f), (out_s, grads_s) = out_and_vjp(fast), out_and_vjp(slow)
        np.testing.assert_array_equal(np.asarray(out_f[0]), np.asarray(out_s[0]))  # same forward: mjx.step
        for a, b in zip(grads_f, grads_s):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-9, atol=1e-9)


def test_episode_gradient_is_the_same_either_way() -> None:
    """Whole 50-step episode with muscles, limits and feedback delay: gradients with respect
    to the excitations agree between the two backward passes (float32, the training dtype)."""
    acts = jnp.asarray(np.random.default_rng(1).uniform(0.0, 0.6, (50, 6)), jnp.float32)
    grads = []
    for gradient in ("analytic", "mjx"):
        env = envs.FunctionalArmEnv(ArmConfig.from_overrides("reach", physics="mjx", gradient=gradient))
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


def test_closed_form_reads_the_skeleton_from_the_mjcf() -> None:
    """``skeleton_from_model`` (how a user brings their own MJCF) reads the shipped model's
    parameters (equal to MotorNet's numbers in ``SkeletonParams``), and follows an edited model."""
    model = load_model(0.01)
    read = skeleton_from_model(model)
    for name in ("m1", "m2", "l1", "l2", "l1g", "l2g", "i1", "i2"):
        assert getattr(read, name) == pytest.approx(getattr(SK, name), rel=1e-12), name
    np.testing.assert_allclose(read.q_upper, SK.q_upper)
    model.body_mass[model.body("forearm").id] = 2.5
    model.body_ipos[model.body("upper_arm").id][0] = 0.1
    edited = skeleton_from_model(model)
    assert (edited.m2, edited.l1g) == (2.5, 0.1)


def _paths(physics: str, acts: np.ndarray, q0: np.ndarray, **extra) -> tuple[np.ndarray, ...]:
    env = envs.make_functional("hold", physics=physics, **extra)
    s0 = jax.vmap(lambda q: env.reset(jax.random.key(0), joint_state=q, load=jnp.asarray([3.0, -5.0])))(q0)
    _, traj = jax.jit(jax.vmap(env.rollout))(s0, acts)
    return np.asarray(traj.q), np.asarray(traj.qd), np.asarray(traj.hand)


def test_closed_form_episodes_equal_mjx_step_episodes_with_limits() -> None:
    """Whole episodes (muscles, load, feedback, substeps, joint stops) in float64: joint
    angles, velocities and hand paths of the closed form equal ``mjx.step``'s, also where
    maximal excitation drives the joints onto their stops."""
    rng = np.random.default_rng(4)
    with jax.enable_x64(True):
        smooth = np.clip(0.25 + np.cumsum(rng.normal(0, 0.08, (3, 50, 6)), axis=1), 0, 1)
        extreme = np.tile(np.array([[1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 0, 1]], float)[:, None], (1, 50, 1))
        acts = jnp.asarray(np.concatenate([smooth, extreme]))
        q0 = jnp.asarray([[0.7, 1.3], [0.3, 2.4], [1.9, 0.4], [0.2, 0.2], [2.2, 2.5]])
        for substeps in (1, 3):
            closed = _paths("closed_form", acts, q0, n_substeps=substeps)
            ref = _paths("mjx", acts, q0, n_substeps=substeps)
            for a, b in zip(closed, ref):
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
        q = closed[0]
        at_stop = np.isclose(q[3:], SK.q_lower, atol=1e-9) | np.isclose(q[3:], SK.q_upper, atol=1e-9)
        assert at_stop.any(axis=(0, 2)).mean() > 0.5, "the extreme episodes should reach the stops"
        assert np.ptp(closed[2][:3], axis=1).max() > 0.05, "the smooth episodes should move the hand"


def test_closed_form_episode_gradient_equals_reverse_mode_through_mjx() -> None:
    """Gradient of a whole episode's loss with respect to the excitations: closed form
    (JAX's own reverse mode of it) vs reverse mode through ``mjx.step``, float64."""
    grads = []
    with jax.enable_x64(True):
        acts = jnp.asarray(np.random.default_rng(1).uniform(0.0, 0.6, (50, 6)))
        for physics, gradient in (("closed_form", "analytic"), ("mjx", "mjx")):
            env = envs.make_functional("reach", physics=physics, gradient=gradient)
            s0 = env.reset(jax.random.key(3), joint_state=[0.7, 1.4], target=[0.1, 0.45])

            def loss(a: jax.Array, env=env, s0=s0) -> jax.Array:
                return jnp.mean(env.rollout(s0, a)[1].metrics["position_error"])

            grads.append(np.asarray(jax.jit(jax.grad(loss))(acts)))
    assert np.abs(grads[1]).max() > 0
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-8, atol=1e-12)


def test_unknown_physics_setting_is_an_error() -> None:
    with pytest.raises(ValueError, match="physics='euler'.*closed_form, mjx"):
        ArmConfig.from_overrides("reach", physics="euler")
