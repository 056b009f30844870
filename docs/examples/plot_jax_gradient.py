"""
A JAX gradient through the arm
==============================

The pure JAX arm (``envs.make_functional``) is differentiable end to end: ``jax.grad`` of a
rollout's mean hand-target distance with respect to every excitation of the episode. Eight
arms (a small batch), 50 steps each; a few plain gradient steps on the excitations bring the
hands towards their targets.
"""

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import envs

env = envs.make_functional("reach")
states = jax.vmap(env.reset)(jax.random.split(jax.random.key(0), 8))
n_steps = 50


def loss(actions: jax.Array) -> jax.Array:
    """Mean hand-target distance (m) over arms and steps; ``actions`` (8, 50, 6)."""
    _, traj = jax.vmap(env.rollout)(states, actions)
    return traj.metrics["position_error"].mean()


value_and_grad = jax.jit(jax.value_and_grad(loss))
actions = jnp.full((8, n_steps, 6), 0.2)
losses = []
for _ in range(15):
    value, grad = value_and_grad(actions)
    losses.append(float(value))
    actions = jnp.clip(actions - 2.0 * grad / (jnp.abs(grad).max() + 1e-12), 0.0, 1.0)
print(f"mean position error: {losses[0] * 100:.1f} cm -> {losses[-1] * 100:.1f} cm")

_, grad = value_and_grad(jnp.full((8, n_steps, 6), 0.2))
fig, (ax_grad, ax_loss) = plt.subplots(1, 2, figsize=(8, 3.5))
image = ax_grad.imshow(np.asarray(grad[0]).T, aspect="auto", cmap="RdBu_r")
ax_grad.set(xlabel="control step", ylabel="muscle", title="d loss / d excitation (arm 0)")
fig.colorbar(image, ax=ax_grad)
ax_loss.plot(np.asarray(losses) * 100, "o-")
ax_loss.set(xlabel="gradient step", ylabel="mean position error (cm)", title="descent on the excitations")
fig.tight_layout()
plt.show()
