"""Supervised training of a controller by back-propagation through time through the arm.

``Trainer(model, objective, sampler, cfg)`` holds the static parts; its methods are pure:

- ``init(key) -> TrainState``; ``epoch(state) -> (state, log)``: ``updates_per_epoch``
  Adam updates on fresh batches (``lax.scan``), then the validation loss on a fixed
  validation set and the early-stopping bookkeeping (best parameters kept; once stopped,
  the state no longer changes);
- ``train(key)``: ``init`` and every epoch in one function, so ``jax.jit(jax.vmap(
  trainer.train))(keys)`` trains several seeds at once.

The runner calls ``jit(vmap(epoch))`` epoch by epoch instead, to show progress and write
checkpoints between epochs; the two give the same parameters (same function, same keys).
With several devices, ``epoch_sharded(devices)`` splits the seeds over them
(``jax.shard_map``: each device runs the vmapped epoch of its own seeds, no communication).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from agents.controllers import project_nonnegative
from agents.objectives import OBJECTIVES, check_objective, loss_terms, route, weighted
from agents.rollout import TRAIN_TASKS, EpisodeSampler, closed_loop


@dataclass(frozen=True)
class TrainConfig:
    """task: the episodes trained on (``reach``, ``hold``, ``mixed``); Adam with
    ``learning_rate`` and global-norm clipping ``clip_norm``; ``batch_size`` episodes per
    update, ``updates_per_epoch`` updates per epoch, at most ``max_epochs`` epochs; early
    stopping after ``patience`` epochs without a lower validation loss on
    ``val_episodes`` fixed episodes; ``hold_fraction`` of hold episodes when mixed."""

    task: str = "reach"
    batch_size: int = 64
    updates_per_epoch: int = 100
    max_epochs: int = 20
    patience: int = 3
    learning_rate: float = 1e-3
    clip_norm: float = 1.0
    val_episodes: int = 256
    hold_fraction: float = 0.5

    def __post_init__(self) -> None:
        if self.task not in TRAIN_TASKS:
            raise ValueError(f"unknown training task {self.task!r}; valid: {', '.join(TRAIN_TASKS)}")
        for name in ("batch_size", "updates_per_epoch", "max_epochs", "patience", "val_episodes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"invalid training setting {name}={value!r}: must be a whole number >= 1")
        for name in ("learning_rate", "clip_norm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"invalid training setting {name}={getattr(self, name)!r}: must be > 0")
        if not 0.0 <= self.hold_fraction <= 1.0:
            raise ValueError(f"invalid training setting hold_fraction={self.hold_fraction!r}: must lie in [0, 1]")

    @classmethod
    def from_overrides(cls, **overrides: Any) -> TrainConfig:
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - valid)
        if unknown:
            raise ValueError(f"unknown training setting(s) {unknown}; valid: {', '.join(sorted(valid))}")
        return cls(**overrides)


@struct.dataclass
class TrainState:
    """Everything a run needs to continue: parameters, optimiser state, PRNG keys (raw
    uint32, so that they serialise), epoch counter and early-stopping bookkeeping."""

    params: Any
    opt_state: Any
    key: jax.Array
    val_key: jax.Array
    epoch: jax.Array
    best_params: Any
    best_val: jax.Array
    bad_epochs: jax.Array
    stopped: jax.Array


class Trainer:
    """Trains ``model`` (a controller module) on ``objective`` over episodes from ``sampler``."""

    def __init__(self, model: Any, objective: str, sampler: EpisodeSampler, cfg: TrainConfig):
        self.model = model
        self.objective = check_objective(objective)
        self.names = OBJECTIVES[objective]
        self.routed = len(self.names) > 1
        self.sampler = sampler
        self.cfg = cfg
        self.dt = sampler.env.cfg.control_dt
        self.optimizer = optax.chain(optax.clip_by_global_norm(cfg.clip_norm),
                                     optax.adam(cfg.learning_rate))

    # -- pure functions -----------------------------------------------------------------
    def init(self, key: jax.Array) -> TrainState:
        """Fresh state from ``key`` (a raw ``PRNGKey`` or a typed ``jax.random.key``)."""
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.key_data(key)  # raw uint32, so that checkpoints can store it
        k_init, k_train, k_val = jax.random.split(key, 3)
        obs = jnp.zeros((1, self.sampler.env.observation_size))
        params = self.model.init(k_init, self.model.initial_carry((1,)), obs)
        return TrainState(params=params, opt_state=self.optimizer.init(params), key=k_train,
                          val_key=k_val, epoch=jnp.zeros((), jnp.int32), best_params=params,
                          best_val=jnp.asarray(jnp.inf, jnp.float32),
                          bad_epochs=jnp.zeros((), jnp.int32), stopped=jnp.zeros((), bool))

    def losses(self, params: Any, key: jax.Array, n: int, task: str | None = None
               ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """The objective(s) trained, (len(names),), and the loss terms on ``n`` episodes."""
        state0 = self.sampler.states(key, n, task or self.cfg.task, self.cfg.hold_fraction)
        traj = closed_loop(self.model, params, self.sampler.env, state0)
        terms = loss_terms(traj.hand, traj.target, traj.excitation, traj.hidden, self.dt)
        terms["position_error"] = jnp.mean(traj.position_error)
        terms["final_position_error"] = jnp.mean(traj.position_error[:, -1])
        return jnp.stack([weighted(terms, n) for n in self.names]), terms

    def gradient(self, params: Any, key: jax.Array) -> tuple[Any, jax.Array, dict[str, jax.Array]]:
        """The update direction: the gradient of the objective, or for ``specialised`` the
        two objectives' gradients routed per hemisphere (one forward pass, one batched
        backward pass over both cotangents)."""
        f = lambda p: self.losses(p, key, self.cfg.batch_size)
        values, vjp, terms = jax.vjp(f, params, has_aux=True)
        (grads,) = jax.vmap(vjp)(jnp.eye(len(self.names), dtype=values.dtype))
        per_objective = {n: jax.tree.map(lambda g, i=i: g[i], grads) for i, n in enumerate(self.names)}
        g = route(per_objective) if self.routed else per_objective[self.names[0]]
        return g, values, terms

    def update(self, params: Any, opt_state: Any, key: jax.Array) -> tuple[Any, Any, jax.Array, dict]:
        g, values, terms = self.gradient(params, key)
        updates, opt_state = self.optimizer.update(g, opt_state, params)
        params = project_nonnegative(optax.apply_updates(params, updates))
        return params, opt_state, jnp.sum(values), terms

    def epoch(self, state: TrainState) -> tuple[TrainState, dict[str, jax.Array]]:
        def body(c: tuple[Any, Any], key: jax.Array) -> tuple[tuple[Any, Any], tuple]:
            p, o = c
            p, o, loss, terms = self.update(p, o, key)
            return (p, o), (loss, terms["position_error"])

        key, k_epoch = jax.random.split(state.key)
        keys = jax.random.split(k_epoch, self.cfg.updates_per_epoch)
        (params, opt_state), (train_loss, train_error) = jax.lax.scan(
            body, (state.params, state.opt_state), keys)
        values, val_terms = self.losses(params, state.val_key, self.cfg.val_episodes)
        val = jnp.sum(values)
        improved = val < state.best_val
        bad = jnp.where(improved, 0, state.bad_epochs + 1)
        new = state.replace(
            params=params, opt_state=opt_state, key=key, epoch=state.epoch + 1,
            best_params=jax.tree.map(lambda a, b: jnp.where(improved, a, b), params, state.best_params),
            best_val=jnp.where(improved, val, state.best_val).astype(jnp.float32), bad_epochs=bad,
            stopped=bad >= self.cfg.patience)
        # a stopped run stays as it was (under vmap other seeds may still be training)
        new = jax.tree.map(lambda old, nw: jnp.where(state.stopped, old, nw), state, new)
        log = {"train_loss": train_loss, "train_position_error": train_error, "val_loss": val,
               "val_position_error": val_terms["position_error"],
               "val_final_position_error": val_terms["final_position_error"],
               "stopped": new.stopped, "active": ~state.stopped}
        return new, log

    # -- compiled, over a leading seed axis (compiled once per trainer) ------------------
    def init_seeds(self, keys: jax.Array) -> TrainState:
        """States for a stack of keys (seeds, 2), stacked along a leading seed axis.

        Seed by seed, not ``jit(vmap(init))``: on the CPU backend (jaxlib 0.10.2) the batched
        QR of flax's orthogonal GRU initialiser hung inside XLA; initialisation is cheap.
        """
        states = [self.init(k) for k in keys]
        return jax.tree.map(lambda *xs: jnp.stack(xs), *states)

    @cached_property
    def epoch_seeds(self) -> Any:
        """``jit(vmap(epoch))``: one epoch of every seed at once."""
        return jax.jit(jax.vmap(self.epoch))

    def epoch_sharded(self, devices: list[Any]) -> Any:
        """``epoch_seeds`` with the seed axis split evenly over ``devices`` (a 1-D mesh
        ``seeds``); the inputs are placed with :meth:`place`. One device: ``epoch_seeds``."""
        if len(devices) == 1:
            return self.epoch_seeds
        mesh = self._mesh(devices)
        spec = jax.sharding.PartitionSpec("seeds")
        # check_vma=False: the scan carries of the rollout start device-invariant (zeros)
        return jax.jit(jax.shard_map(jax.vmap(self.epoch), mesh=mesh, in_specs=spec, out_specs=spec,
                                     check_vma=False))

    @staticmethod
    def _mesh(devices: list[Any]) -> jax.sharding.Mesh:
        import numpy as np

        return jax.sharding.Mesh(np.asarray(devices), ("seeds",))

    def place(self, state: TrainState, devices: list[Any]) -> TrainState:
        """Put a seed-stacked state on ``devices``, seeds split along the leading axis."""
        if len(devices) == 1:
            return jax.device_put(state, devices[0])
        sharding = jax.sharding.NamedSharding(self._mesh(devices), jax.sharding.PartitionSpec("seeds"))
        return jax.device_put(state, sharding)

    def train(self, key: jax.Array) -> tuple[TrainState, dict[str, jax.Array]]:
        """Init and ``max_epochs`` epochs (early stopping freezes the state), one function."""
        return jax.lax.scan(lambda s, _: self.epoch(s), self.init(key), None,
                            length=self.cfg.max_epochs)
