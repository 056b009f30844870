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

from functools import cached_property, partial
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from agents.config import TrainConfig
from agents.controllers import BilateralController, lesion_mask, project_nonnegative
from agents.objectives import OBJECTIVES, TERMS, check_objective, go_cue_terms, loss_terms, route, weight_matrix
from agents.optim import make_optimizer
from agents.original_loss import keras_plant_outputs
from agents.rollout import EpisodeSampler, closed_loop


@struct.dataclass
class Member:
    """What tells apart models that train together in one compiled program (data, not code).

    hold_fraction: () share of hold episodes when the training task is ``mixed`` (0: reach
    only, 1: hold only). mask: (7,) the lesion mask applied while training
    (``agents.controllers.lesion_mask``; ``cut_callosum`` trains a ``_nocc`` variant on a
    callosal model, whose callosum then carries nothing). weights: (n_objectives,
    len(TERMS)) each trained objective's weights over ``agents.objectives.TERMS``.
    """

    hold_fraction: jax.Array
    mask: jax.Array
    weights: jax.Array


@struct.dataclass
class TrainState:
    """Everything a run needs to continue: parameters, optimiser state, PRNG keys (raw
    uint32, so that they serialise), epoch counter and early-stopping bookkeeping."""

    params: Any
    opt_state: Any
    key: jax.Array
    val_key: jax.Array
    data_key: jax.Array
    epoch: jax.Array
    best_params: Any
    best_val: jax.Array
    bad_epochs: jax.Array
    stopped: jax.Array
    member: Member


class Trainer:
    """Trains ``model`` (a controller module) on ``objective`` over episodes from ``sampler``."""

    def __init__(self, model: Any, objective: str, sampler: EpisodeSampler, cfg: TrainConfig,
                 masked: bool = False):
        """``masked``: apply each member's lesion mask while training (needed when a family
        trains ``_nocc`` members on a callosal model); otherwise the model runs intact."""
        self.model = model
        self.masked = bool(masked) and isinstance(model, BilateralController)
        self.objective = check_objective(objective)
        self.names = OBJECTIVES[objective]
        self.routed = len(self.names) > 1
        self.sampler = sampler
        self.cfg = cfg
        self.dt = sampler.env.cfg.control_dt
        self.optimizer = make_optimizer(cfg.learning_rate, cfg.clip_norm, cfg.clip, cfg.adam_eps,
                                        cfg.lr_schedule, cfg.max_epochs * cfg.updates)

    def member(self, objective: str | None = None, hold_fraction: float | None = None,
               cut_callosum: bool = False) -> Member:
        """The :class:`Member` of ``objective`` (default: the trainer's; it must train as
        many objectives as the trainer's, e.g. any single objective on a unilateral model),
        ``hold_fraction`` (default ``cfg.hold_fraction``) and ``cut_callosum``."""
        names = OBJECTIVES[check_objective(objective or self.objective)]
        if len(names) != len(self.names):
            raise ValueError(f"objective {objective!r} trains {len(names)} objective(s); this trainer's "
                             f"{self.objective!r} trains {len(self.names)}")
        if cut_callosum and not self.masked:
            raise ValueError("a member with its callosum cut needs a bilateral trainer built with masked=True")
        hf = self.cfg.hold_fraction if hold_fraction is None else float(hold_fraction)
        return Member(hold_fraction=jnp.asarray(hf, jnp.float32),
                      mask=lesion_mask("cut_callosum" if cut_callosum else "none"),
                      weights=weight_matrix(names, self.cfg.dominant_effort))

    # -- pure functions -----------------------------------------------------------------
    def init(self, key: jax.Array, member: Member | None = None) -> TrainState:
        """Fresh state from ``key`` (a raw ``PRNGKey`` or a typed ``jax.random.key``) for
        ``member`` (default: :meth:`member` with no arguments)."""
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.key_data(key)  # raw uint32, so that checkpoints can store it
        k_init, k_train, k_val = jax.random.split(key, 3)
        k_data = jax.random.fold_in(key, 3)  # the fixed training set (dataset_episodes > 0)
        obs = jnp.zeros((1, self.sampler.env.observation_size))
        params = self.model.init(k_init, self.model.initial_carry((1,)), obs)
        return TrainState(params=params, opt_state=self.optimizer.init(params), key=k_train,
                          val_key=k_val, data_key=k_data, epoch=jnp.zeros((), jnp.int32), best_params=params,
                          best_val=jnp.asarray(jnp.inf, jnp.float32),
                          bad_epochs=jnp.zeros((), jnp.int32), stopped=jnp.zeros((), bool),
                          member=self.member() if member is None else member)

    def losses(self, params: Any, key: jax.Array, n: int, task: str | None = None,
               member: Member | None = None) -> tuple[jax.Array, dict[str, jax.Array]]:
        """The objective(s) trained, (len(names),), and the loss terms on ``n`` episodes
        of ``task`` (default: the training task)."""
        member = self.member() if member is None else member
        state0 = self.sampler.states(key, n, task or self.cfg.task, member.hold_fraction)
        return self.losses_on(params, state0, member)

    def losses_on(self, params: Any, state0: Any, member: Member | None = None
                  ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """The objective(s) and loss terms on the episodes starting at ``state0`` (batch,)."""
        member = self.member() if member is None else member
        plant = self.cfg.regulariser == "plant"
        lesion = member.mask if self.masked else "none"
        traj = closed_loop(self.model, params, self.sampler.env, state0, lesion=lesion,
                           plant_outputs=partial(keras_plant_outputs, self.sampler.env,
                                                 bilateral=isinstance(self.model, BilateralController))
                           if plant else None)
        terms = loss_terms(traj.hand, traj.target, traj.excitation, traj.hidden, self.dt,
                           plant=traj.plant if plant else None)
        terms["position_error"] = jnp.mean(traj.position_error)
        terms["final_position_error"] = jnp.mean(traj.position_error[:, -1])
        if getattr(self.sampler.env.cfg, "go_cue", False):  # position terms from the cue on, movement before it penalised
            terms.update(go_cue_terms(traj.hand, traj.start, traj.target, traj.cue_step))
        values = member.weights @ jnp.stack([terms[k] for k in TERMS]) + self._go_cue_penalty(terms)
        return values, terms

    def _go_cue_penalty(self, terms: dict[str, jax.Array]) -> jax.Array | float:
        """What every objective adds with the go cue: ``go_cue_penalty * precue_movement``."""
        cfg = self.sampler.env.cfg
        return cfg.go_cue_penalty * terms["precue_movement"] if getattr(cfg, "go_cue", False) else 0.0

    def batch(self, key: jax.Array, member: Member, data_key: jax.Array | None = None,
              index: jax.Array | None = None) -> Any:
        """Start states of one training batch: fresh episodes from ``key``, or (fixed set)
        the episodes ``index`` (batch_size,) of the set drawn from ``data_key``."""
        if index is None:
            return self.sampler.states(key, self.cfg.batch_size, self.cfg.task, member.hold_fraction)
        keys = jax.random.split(data_key, self.cfg.dataset_episodes)[index]
        return self.sampler.states_from_keys(keys, self.cfg.task, member.hold_fraction)

    def gradient(self, params: Any, key: jax.Array, state0: Any = None, member: Member | None = None
                 ) -> tuple[Any, jax.Array, dict[str, jax.Array]]:
        """The update direction: the gradient of the objective, or for ``specialised`` the
        two objectives' gradients routed per hemisphere (one forward pass, one batched
        backward pass over both cotangents). Episodes: ``state0``, or fresh from ``key``."""
        member = self.member() if member is None else member
        if state0 is None:
            state0 = self.batch(key, member)
        f = lambda p: self.losses_on(p, state0, member)
        values, vjp, terms = jax.vjp(f, params, has_aux=True)
        (grads,) = jax.vmap(vjp)(jnp.eye(len(self.names), dtype=values.dtype))
        per_objective = {n: jax.tree.map(lambda g, i=i: g[i], grads) for i, n in enumerate(self.names)}
        g = route(per_objective) if self.routed else per_objective[self.names[0]]
        return g, values, terms

    def update(self, params: Any, opt_state: Any, key: jax.Array, state0: Any = None,
               member: Member | None = None) -> tuple[Any, Any, jax.Array, dict]:
        g, values, terms = self.gradient(params, key, state0, member)
        updates, opt_state = self.optimizer.update(g, opt_state, params)
        params = project_nonnegative(optax.apply_updates(params, updates))
        return params, opt_state, jnp.sum(values), terms

    def epoch(self, state: TrainState) -> tuple[TrainState, dict[str, jax.Array]]:
        fixed = self.cfg.dataset_episodes > 0
        n, b = self.cfg.updates, self.cfg.batch_size

        def body(c: tuple[Any, Any], x: tuple[jax.Array, jax.Array]) -> tuple[tuple[Any, Any], tuple]:
            p, o = c
            key, index = x
            state0 = self.batch(key, state.member, state.data_key, index if fixed else None)
            p, o, loss, terms = self.update(p, o, key, state0, state.member)
            return (p, o), (loss, terms["position_error"])

        key, k_epoch = jax.random.split(state.key)
        keys = jax.random.split(k_epoch, n)
        if fixed:  # one pass over the fixed set in a new order
            order = jax.random.permutation(jax.random.fold_in(k_epoch, 1), self.cfg.dataset_episodes)
            index = order[: n * b].reshape(n, b)
        else:
            index = jnp.zeros((n, 0), jnp.int32)  # unused
        (params, opt_state), (train_loss, train_error) = jax.lax.scan(
            body, (state.params, state.opt_state), (keys, index))
        values, val_terms = self.losses(params, state.val_key, self.cfg.val_episodes, member=state.member)
        val = jnp.sum(values)
        if self.routed and self.cfg.val_loss == "original":
            val = (weight_matrix(("unspecialised",)) @ jnp.stack([val_terms[k] for k in TERMS]))[0] \
                + self._go_cue_penalty(val_terms)
        improved = val < state.best_val
        bad = jnp.where(improved, 0, state.bad_epochs + 1)
        stop = bad >= self.cfg.patience if self.cfg.early_stopping else jnp.zeros((), bool)
        new = state.replace(
            params=params, opt_state=opt_state, key=key, epoch=state.epoch + 1,
            best_params=jax.tree.map(lambda a, b: jnp.where(improved, a, b), params, state.best_params),
            best_val=jnp.where(improved, val, state.best_val).astype(jnp.float32), bad_epochs=bad,
            stopped=stop)
        # a stopped run stays as it was (under vmap other seeds may still be training)
        new = jax.tree.map(lambda old, nw: jnp.where(state.stopped, old, nw), state, new)
        log = {"train_loss": train_loss, "train_position_error": train_error, "val_loss": val,
               "val_position_error": val_terms["position_error"],
               "val_final_position_error": val_terms["final_position_error"],
               "stopped": new.stopped, "active": ~state.stopped}
        return new, log

    def kept_params(self, state: TrainState) -> Any:
        """The parameters used after training: ``best_params`` or ``params`` (``keep``)."""
        return state.best_params if self.cfg.keep == "best" else state.params

    # -- compiled, over a leading seed axis (compiled once per trainer) ------------------
    def init_seeds(self, keys: jax.Array, members: list[Member] | None = None) -> TrainState:
        """States for a stack of keys (seeds, 2), stacked along a leading seed axis; with
        ``members`` (one per key), each key's state trains its member.

        Seed by seed, not ``jit(vmap(init))``: on the CPU backend (jaxlib 0.10.2) the batched
        QR of flax's orthogonal GRU initialiser hung inside XLA; initialisation is cheap.
        """
        members = [None] * len(keys) if members is None else members
        if len(members) != len(keys):
            raise ValueError(f"{len(members)} members for {len(keys)} keys")
        states = [self.init(k, m) for k, m in zip(keys, members)]
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
