"""Training: loss goes down, one-function and epoch-by-epoch training agree, early stopping,
checkpoint bytes (round trip, errors), resuming, settings and variants."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents import checkpoint
from agents.controllers import BilateralController, UnilateralController
from agents.rollout import EpisodeSampler
from agents.training import TrainConfig, Trainer
from agents.variants import VARIANTS, Variant, build_model, check_variants, make_variant
from tests.agents.helpers import (
    PointSampler,
    assert_trees_close,
    assert_trees_equal,
    fast_jit,
)

# Hold under a load: an episode of 10 steps is long enough for a clear improvement.
CFG = {"task": "hold", "batch_size": 16, "updates_per_epoch": 5, "max_epochs": 4, "patience": 1,
       "val_episodes": 8, "learning_rate": 3e-2}
WIDTHS = (16, 16)


def seed_keys(*seeds: int) -> jax.Array:
    return jnp.stack([jax.random.PRNGKey(s) for s in seeds])


def seed(tree, i: int):
    return jax.tree.map(lambda a: a[i], tree)


@pytest.fixture(scope="module")
def trained(sampler: EpisodeSampler) -> dict:
    variant = make_variant("bilateral_unspecialised_cc")
    trainer = Trainer(build_model(variant, WIDTHS), variant.objective, sampler, TrainConfig(**CFG))
    init = fast_jit(jax.vmap(trainer.init))
    epoch = fast_jit(jax.vmap(trainer.epoch))  # compiled once, shared by the tests below
    states, logs = [init(seed_keys(0, 1))], []
    for _ in range(trainer.cfg.max_epochs):
        state, log = epoch(states[-1])
        states.append(state)
        logs.append(jax.device_get(log))
    return {"trainer": trainer, "init": init, "epoch": epoch, "states": states, "logs": logs}


# -- training ------------------------------------------------------------------------------
def test_training_lowers_validation_loss(trained: dict) -> None:
    trainer, states, logs = trained["trainer"], trained["states"], trained["logs"]
    val_loss = fast_jit(jax.vmap(lambda p, k: jnp.sum(trainer.losses(p, k, trainer.cfg.val_episodes)[0])))
    before = np.asarray(val_loss(states[0].params, states[0].val_key))
    # the epoch's logged validation loss is this loss on the same episodes
    np.testing.assert_allclose(val_loss(states[1].params, states[0].val_key), logs[0]["val_loss"], rtol=1e-5)
    assert np.all(np.isfinite(before)) and np.all(before > 0)
    assert np.all(logs[0]["val_loss"] < before)
    best = np.asarray(states[-1].best_val)
    assert np.all(best < 0.5 * before), (before, best)


def test_train_equals_epoch_by_epoch() -> None:
    """``train`` (init and all epochs in one function) against ``init`` then
    ``jit(vmap(epoch))`` epoch by epoch, as the runner does. The equivalence is the training
    loop's, not the arm's: a point-mass stand-in keeps the two compilations cheap."""
    cfg = TrainConfig(batch_size=4, updates_per_epoch=3, max_epochs=4, patience=1, val_episodes=4,
                      learning_rate=1e-2)
    trainer = Trainer(BilateralController(widths=(4, 4), callosum="paper"), "specialised",
                      PointSampler(), cfg)
    keys = seed_keys(0, 1)
    init = fast_jit(jax.vmap(trainer.init))
    state, log = fast_jit(jax.vmap(trainer.train))(keys)
    by_epoch, epoch = init(keys), fast_jit(jax.vmap(trainer.epoch))
    val = []
    for _ in range(cfg.max_epochs):
        by_epoch, e_log = epoch(by_epoch)
        val.append(e_log["val_loss"])
    assert log["val_loss"].shape == (2, cfg.max_epochs)
    np.testing.assert_allclose(log["val_loss"], np.stack(val, 1), rtol=1e-5)
    np.testing.assert_array_equal(state.epoch, by_epoch.epoch)
    np.testing.assert_array_equal(state.stopped, by_epoch.stopped)
    np.testing.assert_array_equal(state.key, by_epoch.key)
    assert_trees_close(state.params, by_epoch.params, rtol=1e-5, atol=1e-7)
    assert_trees_close(state.best_params, by_epoch.best_params, rtol=1e-5, atol=1e-7)
    assert_trees_close(state.opt_state, by_epoch.opt_state, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(state.best_val, by_epoch.best_val, rtol=1e-5)
    # and training did move the parameters
    start = init(keys)
    assert not np.allclose(state.params["params"]["output"]["kernel"], start.params["params"]["output"]["kernel"])


def test_early_stopping_bookkeeping(trained: dict) -> None:
    """Replay the rule on the logged validation losses: best kept, bad epochs counted,
    stopped after ``patience`` epochs without improvement, then frozen."""
    states, logs, patience = trained["states"], trained["logs"], trained["trainer"].cfg.patience
    for i in range(2):
        best, best_epoch, bad, stopped = np.inf, 0, 0, False
        for e, log in enumerate(logs, start=1):
            now, before = seed(states[e], i), seed(states[e - 1], i)
            assert bool(log["active"][i]) == (not stopped)
            if stopped:  # a stopped run no longer changes at all
                assert_trees_equal(now, before)
                continue
            val = float(log["val_loss"][i])
            if val < best:
                best, best_epoch, bad = val, e, 0
            else:
                bad += 1
            stopped = bad >= patience
            assert int(now.epoch) == e and int(now.bad_epochs) == bad and bool(now.stopped) == stopped
            np.testing.assert_array_equal(now.best_val, np.float32(best))
            assert_trees_equal(now.best_params, seed(states[best_epoch], i).params)


def test_stopped_seed_is_frozen_while_other_trains(trained: dict) -> None:
    epoch, start = trained["epoch"], trained["states"][1]
    # seed 0 can no longer improve (stopped after `patience` epochs); seed 1 surely improves
    start = start.replace(best_val=jnp.array([-jnp.inf, jnp.inf], jnp.float32),
                          bad_epochs=jnp.zeros_like(start.bad_epochs),
                          stopped=jnp.zeros_like(start.stopped))
    state = start
    for _ in range(trained["trainer"].cfg.patience):
        assert not bool(state.stopped[0])
        state, log = epoch(state)
    assert bool(state.stopped[0]) and not bool(state.stopped[1])
    assert int(state.bad_epochs[0]) == trained["trainer"].cfg.patience
    assert_trees_equal(seed(state.best_params, 0), seed(start.best_params, 0))
    assert_trees_equal(seed(state.best_params, 1), seed(state.params, 1))
    frozen, log = epoch(state)
    assert not bool(log["active"][0]) and bool(log["active"][1])
    assert_trees_equal(seed(frozen, 0), seed(state, 0))
    assert int(frozen.epoch[1]) == int(state.epoch[1]) + 1
    for a, b in zip(jax.tree.leaves(seed(frozen.params, 1)), jax.tree.leaves(seed(state.params, 1))):
        assert not np.array_equal(a, b)


# -- checkpoints (bytes; the runner's files: tests/experiments/test_checkpoints.py) ---------
def test_checkpoint_round_trip(trained: dict) -> None:
    state, target = trained["states"][2], trained["states"][0]
    meta = {"variant": "bilateral_unspecialised_cc", "epoch": 2, "seeds": [0, 1], "val": 0.25}
    loaded, loaded_meta = checkpoint.loads(checkpoint.dumps(state, meta), target)
    assert loaded_meta == meta
    assert_trees_equal(loaded, state)
    _, empty_meta = checkpoint.loads(checkpoint.dumps(state), target)
    assert empty_meta == {}


def test_checkpoint_errors(trained: dict, sampler: EpisodeSampler) -> None:
    state, target = trained["states"][1], trained["states"][0]
    raw = checkpoint.dumps(state)
    for name, data in [("truncated.msgpack", raw[: len(raw) // 2]), ("garbage.msgpack", b"\x00nonsense")]:
        with pytest.raises(ValueError, match=name):
            checkpoint.loads(data, target, source=name)
    # a model of other widths, or another number of seeds
    other = Trainer(BilateralController(widths=(4, 4), callosum="paper"), "unspecialised", sampler,
                    TrainConfig(**CFG))
    with pytest.raises(ValueError, match="good.msgpack"):
        checkpoint.loads(raw, zeros_like_init(other, seed_keys(0, 1)), source="good.msgpack")
    with pytest.raises(ValueError, match="good.msgpack"):
        checkpoint.loads(raw, zeros_like_init(trained["trainer"], seed_keys(0, 1, 2)), source="good.msgpack")
    # a unilateral model: another structure altogether
    uni = Trainer(UnilateralController(widths=WIDTHS), "unspecialised", sampler, TrainConfig(**CFG))
    with pytest.raises(ValueError, match="good.msgpack"):
        checkpoint.loads(raw, zeros_like_init(uni, seed_keys(0, 1)), source="good.msgpack")
    # the right structure, though: loads
    assert_trees_equal(checkpoint.loads(raw, zeros_like_init(trained["trainer"], seed_keys(0, 1)))[0], state)
    with pytest.raises(TypeError):  # not serialisable
        checkpoint.dumps({"params": object()})


def zeros_like_init(trainer: Trainer, keys: jax.Array):
    """A restore target of ``vmap(trainer.init)(keys)``'s structure, without compiling it."""
    shapes = jax.eval_shape(jax.vmap(trainer.init), keys)
    return jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)


def test_resume_from_checkpoint_is_identical(trained: dict) -> None:
    epoch, states = trained["epoch"], trained["states"]
    fresh = trained["init"](seed_keys(5, 6))  # a target with other values
    assert not np.array_equal(fresh.key, states[1].key)
    state, _ = checkpoint.loads(checkpoint.dumps(states[1]), fresh)
    for _ in range(2):
        state, _ = epoch(state)
    assert_trees_equal(state, states[3])


# -- settings and variants -----------------------------------------------------------------
def test_train_config_validation() -> None:
    assert TrainConfig.from_overrides(batch_size=8, task="mixed").batch_size == 8
    with pytest.raises(ValueError, match="unknown training setting.*'batchsize'") as err:
        TrainConfig.from_overrides(batchsize=8)
    assert "batch_size" in str(err.value) and "learning_rate" in str(err.value)
    bad = [{"batch_size": 0}, {"batch_size": 2.0}, {"batch_size": True}, {"patience": -1},
           {"updates_per_epoch": 0}, {"val_episodes": 0}, {"max_epochs": 0},
           {"learning_rate": 0.0}, {"clip_norm": -1.0}, {"learning_rate": float("nan")},
           {"hold_fraction": 1.5}, {"hold_fraction": -0.1}]
    for setting in bad:
        name = next(iter(setting))
        with pytest.raises(ValueError, match=name):
            TrainConfig.from_overrides(**setting)
    with pytest.raises(ValueError, match="'swim'.*reach"):
        TrainConfig(task="swim")
    with pytest.raises(ValueError, match="centre_out"):  # an evaluation task, not trained on
        TrainConfig(task="centre_out")


def test_sampler_rejects_unknown_arm_setting() -> None:
    with pytest.raises(ValueError, match="episode_length.*episode_steps"):
        EpisodeSampler(episode_length=10)


EXPECTED = {  # name: architecture, callosum (default 'paper' for _cc), objective
    "bilateral_specialised_cc": ("bilateral", "paper", "specialised"),
    "bilateral_specialised_nocc": ("bilateral", "none", "specialised"),
    "bilateral_unspecialised_cc": ("bilateral", "paper", "unspecialised"),
    "bilateral_unspecialised_nocc": ("bilateral", "none", "unspecialised"),
    "unilateral_dominant": ("unilateral", "none", "dominant"),
    "unilateral_nondominant": ("unilateral", "none", "nondominant"),
    "unilateral_unspecialised": ("unilateral", "none", "unspecialised"),
}


def test_variants_table() -> None:
    assert set(VARIANTS) == set(EXPECTED) and len(VARIANTS) == 7
    for name, (arch, callosum, objective) in EXPECTED.items():
        v = make_variant(name)
        assert (v.name, v.architecture, v.callosum, v.objective) == (name, arch, callosum, objective)
        learned = make_variant(name, callosum="learned")
        assert learned.callosum == ("learned" if callosum == "paper" else callosum)
        model = build_model(v, (8, 6), callosal_delay=2 if arch == "bilateral" else 0)
        if arch == "bilateral":
            assert isinstance(model, BilateralController)
            assert (model.widths, model.callosum, model.callosal_delay) == ((8, 6), callosum, 2)
            expected_lesions = ({"silence_left", "silence_right", "input_left", "input_right", "output_left",
                                 "output_right"} | ({"cut_callosum"} if callosum != "none" else set()))
            assert set(v.lesions) == expected_lesions
        else:
            assert isinstance(model, UnilateralController) and model.widths == (8, 6)
            assert build_model(v, (8, 6), unilateral_widths=(10, 10)).widths == (10, 10)
            assert v.lesions == ()
    assert build_model(make_variant("unilateral_dominant"), [3], cell="gru").cell == "gru"


def test_variant_validation() -> None:
    with pytest.raises(ValueError, match="bilateral_specialised_cc"):
        make_variant("bilateral_cc")
    with pytest.raises(ValueError, match="unilateral_unspecialised"):
        check_variants(["unilateral_dominant", "trilateral"])
    with pytest.raises(ValueError):
        check_variants([])
    with pytest.raises(ValueError, match="paper"):
        make_variant("bilateral_specialised_cc", callosum="none")
    with pytest.raises(ValueError, match="learned"):
        make_variant("bilateral_specialised_cc", callosum="telepathy")
    assert check_variants(("unilateral_dominant",)) == ("unilateral_dominant",)
    assert isinstance(make_variant("unilateral_dominant"), Variant)


def test_typed_keys_are_stored_raw_so_checkpoints_work(trained: dict) -> None:
    trainer = trained["trainer"]
    typed, raw = trainer.init(jax.random.key(3)), trainer.init(jax.random.PRNGKey(3))
    assert typed.key.dtype == jnp.uint32
    assert_trees_equal(typed, raw)  # the same state, whichever key flavour started it
    restored, meta = checkpoint.loads(checkpoint.dumps(typed, {"ok": 1}), raw)
    assert_trees_equal(restored, typed) and meta == {"ok": 1}


# -- the original code's regime: a fixed set reshuffled every epoch, last weights ----------
class RecordingSampler(PointSampler):
    """Records (on the host) the episode keys of every training batch drawn from the fixed set."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[np.ndarray] = []

    def states_from_keys(self, keys: jax.Array, task: str, hold_fraction: float = 0.5):
        jax.debug.callback(lambda k: self.seen.append(np.asarray(k)), keys, ordered=True)
        return super().states_from_keys(keys, task, hold_fraction)


def test_fixed_training_set_is_one_pass_in_a_new_order_each_epoch() -> None:
    sampler = RecordingSampler()
    cfg = TrainConfig(batch_size=4, dataset_episodes=12, updates_per_epoch=99, max_epochs=2,
                      val_episodes=4, early_stopping=False, keep="last")
    assert cfg.updates == 3  # one pass: 12 episodes in batches of 4 (updates_per_epoch unused)
    variant = make_variant("unilateral_unspecialised")
    trainer = Trainer(build_model(variant, (4,)), variant.objective, sampler, cfg)
    state = trainer.init(jax.random.PRNGKey(0))
    epoch = jax.jit(trainer.epoch)
    for _ in range(2):
        state, _ = epoch(state)
    jax.effects_barrier()
    assert len(sampler.seen) == 6 and all(k.shape == (4, 2) for k in sampler.seen)
    every = np.asarray(jax.random.split(state.data_key, 12))
    rows = lambda batches: [tuple(r) for b in batches for r in b]
    first, second = rows(sampler.seen[:3]), rows(sampler.seen[3:])
    assert sorted(first) == sorted(map(tuple, every)) == sorted(second)  # the same set, each once
    assert first != second  # reshuffled
    # last weights kept, and no early stopping whatever the validation loss did
    assert not bool(state.stopped)
    assert_trees_equal(trainer.kept_params(state), state.params)


def test_fixed_training_set_settings_checked() -> None:
    with pytest.raises(ValueError, match="dataset_episodes=8"):
        TrainConfig(batch_size=16, dataset_episodes=8)
    with pytest.raises(ValueError, match="keep='first'"):
        TrainConfig(keep="first")
    with pytest.raises(ValueError, match="clip='norm'"):
        TrainConfig(clip="norm")
    with pytest.raises(ValueError, match="regulariser='weights'"):
        TrainConfig(regulariser="weights")


# -- families: models that differ only in data train in one compiled program ---------------
def _one_epoch(trainer: Trainer, member=None):
    return jax.jit(trainer.epoch)(trainer.init(jax.random.PRNGKey(7), member))[0]


def test_nocc_member_of_a_callosal_family_trains_as_a_callosum_free_model() -> None:
    cfg = TrainConfig(batch_size=4, updates_per_epoch=3, max_epochs=1, val_episodes=4, learning_rate=3e-2)
    sampler = PointSampler()
    linked = BilateralController(widths=(4, 4), callosum="paper")
    family = Trainer(linked, "specialised", sampler, cfg, masked=True)
    alone = Trainer(BilateralController(widths=(4, 4), callosum="none"), "specialised", sampler, cfg)
    cut = _one_epoch(family, family.member(cut_callosum=True))
    ref = _one_epoch(alone)
    assert_trees_close(cut.params, ref.params, rtol=1e-5, atol=1e-7)
    intact = _one_epoch(family, family.member())
    assert not np.allclose(intact.params["params"]["output"]["kernel"], ref.params["params"]["output"]["kernel"])
    with pytest.raises(ValueError, match="masked=True"):
        alone.member(cut_callosum=True)


def test_unilateral_objectives_as_data_equal_their_own_trainers() -> None:
    cfg = TrainConfig(batch_size=4, updates_per_epoch=3, max_epochs=1, val_episodes=4, learning_rate=3e-2,
                      dominant_effort=0.5)
    sampler = PointSampler()
    model = UnilateralController(widths=(6,))
    family = Trainer(model, "unspecialised", sampler, cfg)
    for objective in ("dominant", "nondominant"):
        got = _one_epoch(family, family.member(objective))
        ref = _one_epoch(Trainer(model, objective, sampler, cfg))
        assert_trees_close(got.params, ref.params, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="trains 2 objective"):
        family.member("specialised")


def test_hold_fraction_zero_or_one_draws_one_task(sampler: EpisodeSampler) -> None:
    key = jax.random.PRNGKey(3)
    reach = sampler.states(key, 32, "mixed", jnp.float32(0.0))
    hold = sampler.states(key, 32, "mixed", jnp.float32(1.0))
    assert np.all(np.asarray(reach.load) == 0.0) and np.all(np.abs(np.asarray(hold.load)).max(axis=-1) > 0)
    np.testing.assert_allclose(np.asarray(hold.target), np.asarray(hold.hand), atol=1e-6)  # hold: target = start


def test_original_val_loss_of_a_specialised_model_is_the_unspecialised_objective() -> None:
    from agents.objectives import weighted

    cfg = TrainConfig(batch_size=4, updates_per_epoch=2, max_epochs=1, val_episodes=4, val_loss="original")
    trainer = Trainer(BilateralController(widths=(4, 4)), "specialised", PointSampler(), cfg)
    state = trainer.init(jax.random.PRNGKey(2))
    new, log = jax.jit(trainer.epoch)(state)
    _, terms = trainer.losses(new.params, state.val_key, 4)
    np.testing.assert_allclose(log["val_loss"], weighted(terms, "unspecialised"), rtol=1e-5)
    trained = Trainer(BilateralController(widths=(4, 4)), "specialised", PointSampler(),
                      TrainConfig(batch_size=4, updates_per_epoch=2, max_epochs=1, val_episodes=4))
    _, log_t = jax.jit(trained.epoch)(state)
    assert not np.isclose(log_t["val_loss"], log["val_loss"])  # the default sums the two trained objectives
