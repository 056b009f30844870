"""The checked mode of the JAX env: each refusal fires with a named error, and valid inputs
give the fast path's result (to float rounding: another compiled program)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

import envs
from envs.functional import checked

ENV = envs.make_functional("reach")
KEY = jax.random.key(0)


@pytest.mark.parametrize("options,message", [
    (dict(joint_state=[0.5, 3.0]), r"reset: joint angle q\[1\]=3.0 rad \(elbow\) outside \[0, 2.705\]"),
    (dict(joint_state=[-0.5, 1.0]), r"reset: joint angle q\[0\]=-0.5 rad \(shoulder\) outside"),
    (dict(joint_state=[0.5, 1.0, np.nan, 0.0]), r"reset: joint state \[2\]=nan is not finite"),
    (dict(target=[np.nan, 0.3]), r"reset: target=\[nan 0.3\] m is not finite"),
    (dict(load=[0.0, np.inf]), r"reset: load=.*inf\] N is not finite"),
])
def test_reset_refuses(options: dict, message: str) -> None:
    with pytest.raises(checkify.JaxRuntimeError, match=message):
        checked(ENV).reset(KEY, **options)


def test_step_refuses_non_finite_action_and_reports_non_finite_state() -> None:
    env = checked(ENV)
    s = env.reset(KEY, joint_state=[0.5, 1.0], target=[0.1, 0.45])
    with pytest.raises(checkify.JaxRuntimeError, match="step: action=.*has NaN or inf entries"):
        env.step(s, jnp.full(6, jnp.nan))
    with pytest.raises(checkify.JaxRuntimeError, match="step: non-finite state after the step"):
        env.step(s.replace(qd=jnp.asarray([jnp.inf, 0.0])), jnp.full(6, 0.3))


def test_valid_inputs_give_the_fast_paths_result() -> None:
    env = checked(ENV)
    opts = dict(joint_state=[0.5, 1.0], target=[0.1, 0.45])
    got, want = env.reset(KEY, **opts), jax.jit(lambda k: ENV.reset(k, **opts))(KEY)  # both compiled
    a = jnp.asarray(np.random.default_rng(0).uniform(0, 1, 6), jnp.float32)
    got, want = env.step(got, a), jax.jit(ENV.step)(want, a)
    for x, y in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6, atol=1e-7)  # float32 rounding
