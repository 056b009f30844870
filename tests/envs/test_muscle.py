"""Hill muscle against closed forms and the numpy/JAX twins against each other."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from envs import muscle
from envs.params import MuscleParams

MP = MuscleParams()


def optimal_musculotendon_length(scale: float = 1.0) -> np.ndarray:
    return MP.tendon_length + scale * MP.optimal_length


def test_isometric_force_at_optimal_length_is_max_force() -> None:
    f = muscle.muscle_force(np.ones(6), optimal_musculotendon_length(), np.zeros(6), MP)
    np.testing.assert_allclose(f, MP.max_isometric_force, rtol=1e-12)


def test_force_length_parabola_and_passive_element() -> None:
    # Active part: 1 - (l - 1)^2 / 0.66^2 at l = 0.8 (no passive force below slack 1.4).
    f = muscle.muscle_force(np.ones(6), optimal_musculotendon_length(0.8), np.zeros(6), MP)
    np.testing.assert_allclose(f, (1 - 0.2**2 / 0.66**2) * MP.max_isometric_force, rtol=1e-12)
    # Silent muscle stretched to 1.5 optimal lengths: passive k_pe * 0.1^2 plus ~0 active.
    a = np.full(6, MP.min_activation)
    f = muscle.muscle_force(a, optimal_musculotendon_length(1.5), np.zeros(6), MP)
    passive = MP.k_pe * 0.1**2 * MP.max_isometric_force
    np.testing.assert_allclose(f, passive, rtol=0.01)


def test_force_velocity_shape() -> None:
    lmt = optimal_musculotendon_length()
    v = np.linspace(-0.9, 0.9, 19)[:, None] * MP.max_velocity
    f = muscle.muscle_force(np.ones(6), lmt, v, MP) / MP.max_isometric_force
    assert np.all(np.diff(f, axis=0) > 0)  # force rises with lengthening velocity
    assert np.all(f[:9] < 1) and np.all(f[10:] > 1)  # concentric < isometric < eccentric
    assert np.all(f[-1] < 1.8)  # eccentric plateau below ~1.5-1.8 Fmax


def test_activation_step_solves_linear_ode_exactly() -> None:
    a0, u, dt = np.full(6, 0.2), np.full(6, 0.9), 0.004
    tau = MP.tau_activation * (0.5 + 1.5 * a0)
    expected = u + (a0 - u) * np.exp(-dt / tau)
    np.testing.assert_allclose(muscle.activation_step(a0, u, dt, MP), expected, rtol=1e-12)
    # Deactivation is slower than activation.
    up = muscle.activation_step(np.full(6, 0.5), np.ones(6), 0.01, MP) - 0.5
    down = 0.5 - muscle.activation_step(np.full(6, 0.5), np.zeros(6), 0.01, MP)
    assert np.all(up > down)


def test_activation_converges_and_stays_in_range() -> None:
    a = np.full(6, MP.min_activation)
    u = np.array([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    for _ in range(200):
        a = muscle.activation_step(a, u, 0.01, MP)
    np.testing.assert_allclose(a, np.clip(u, MP.min_activation, 1), atol=1e-6)
    assert np.all((a >= MP.min_activation) & (a <= 1))


@pytest.mark.parametrize("seed", [0, 1])
def test_numpy_and_jax_agree(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 1, (32, 6))
    lmt = optimal_musculotendon_length() + rng.normal(0, 0.03, (32, 6))
    v = rng.normal(0, 0.5, (32, 6))
    f_np = muscle.muscle_force(a, lmt, v, MP)
    f_jx = np.asarray(muscle.muscle_force(jnp.asarray(a), jnp.asarray(lmt), jnp.asarray(v), MP, jnp))
    np.testing.assert_allclose(f_jx, f_np, rtol=2e-4, atol=1e-2)
    assert np.all(np.isfinite(f_np)) and np.all(f_np >= 0)
