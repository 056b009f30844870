"""``task=reach`` / ``task=paper`` end to end with tiny settings: metrics, checkpoints,
report, lesions, claims, resume and the NaN guard."""

from __future__ import annotations

import html
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hydra import compose, initialize_config_module

from agents.claims import combine, verdict_from_per_seed
from agents.rollout import EpisodeSampler
from agents.training import TrainConfig, Trainer
from agents.variants import build_model, make_variant
from experiments import checkpoints as checkpoint
from experiments.run import run_task
from experiments.tasks.motor import train_variant

TINY = ["task.seeds=2", "task.eval_episodes=8", "train.max_epochs=2", "train.updates_per_epoch=2",
        "train.batch_size=4", "train.val_episodes=4", "task.episode_steps=6", "agent.widths=[4,4]"]
VARIANTS = "task.variants=[bilateral_specialised_cc,unilateral_dominant]"


def compose_cfg(overrides: list[str]):
    with initialize_config_module(config_module="experiments.conf", version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


@pytest.fixture(scope="module")
def reach_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("reach")
    return out, run_task(compose_cfg(["task=reach", VARIANTS, *TINY]), out)


def test_reach_run_writes_metrics_report_and_checkpoints(reach_run: tuple[Path, dict]) -> None:
    out, result = reach_run
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(result))
    assert saved["train_task"] == "reach" and saved["seeds"] == [0, 1]
    for variant in ("bilateral_specialised_cc", "unilateral_dominant"):
        for task in ("reach", "hold", "centre_out"):
            r = saved["variants"][variant][task]
            assert 0 < r["final_position_error"] < 1.5 and r["position_error_ci95"] >= 0
            assert 0 < r["effort"] < 1 and len(r["per_seed"]["position_error"]) == 2
            assert np.isclose(np.mean(r["per_seed"]["position_error"]), r["position_error"])
            assert r["trained_on"] == "reach"
            assert len(r["per_seed"]["single_peak_fraction"]) == 2 and 0 <= r["single_peak_fraction"] <= 1
            assert (r["straightness_median"] is None) == (task == "hold")  # a hold starts at its target
    for family in ("bilateral_specialised", "unilateral"):  # one compiled program per family
        assert (out / "checkpoints" / f"{family}.msgpack").exists()
    # lesions: ours and the original code's for a callosal bilateral controller, none for a unilateral one
    assert set(saved["lesions"]["bilateral_specialised_cc"]) == {
        "silence_left", "silence_right", "cut_callosum", "input_left", "input_right", "output_left", "output_right"}
    assert saved["lesions"]["unilateral_dominant"] == {}
    both_silent = saved["lesions"]["bilateral_specialised_cc"]["silence_left"]["reach"]
    assert both_silent["position_error"] != saved["variants"]["bilateral_specialised_cc"]["reach"]["position_error"]
    weights = saved["training"]["bilateral_specialised_cc"]["reach"]
    assert len(weights["w_left"]) == 2 and min(weights["w_left"] + weights["w_right"]) >= 0
    assert "claims" not in saved
    page = (out / "report.html").read_text()
    for png in ("position_error.png", "centre_out_paths.png", "learning_curves.png",
                "hemisphere_weights.png", "excitations.png", "centre_out_speed.png"):
        assert (out / png).stat().st_size > 5_000
    assert page.count("data:image/png;base64,") == 6 and "Lesions" in page and "Movement shape" in page
    traj = np.load(out / "trajectories.npz")
    assert traj["centre_out/unilateral_dominant/hand"].shape == (8, 6, 2)


def test_existing_run_is_not_overwritten_and_resume_reuses_it(reach_run: tuple[Path, dict]) -> None:
    out, result = reach_run
    before = (out / "checkpoints" / "unilateral.msgpack").read_bytes()
    cfg = compose_cfg(["task=reach", VARIANTS, *TINY])
    with pytest.raises(FileExistsError, match="resume=true"):
        run_task(cfg, out)
    assert (out / "checkpoints" / "unilateral.msgpack").read_bytes() == before
    # finished variants are not trained again: the same metrics come back
    again = run_task(compose_cfg(["task=reach", VARIANTS, *TINY, "resume=true"]), out)
    assert again["variants"] == json.loads(json.dumps(result["variants"]))
    with pytest.raises(ValueError, match="learning_rate"):
        run_task(compose_cfg(["task=reach", VARIANTS, *TINY, "resume=true", "train.learning_rate=0.1"]), out)


PAPER_TINY = [*TINY, "train.dataset_episodes=8", "train.val_episodes=4", "agent.unilateral_widths=[8,8]"]


@pytest.mark.slow  # the paper task end to end: three variants trained per task, claims tested
def test_paper_task_trains_per_task_and_tests_the_claims(tmp_path: Path) -> None:
    variants = "task.variants=[unilateral_dominant,unilateral_nondominant,bilateral_specialised_cc]"
    result = run_task(compose_cfg(["task=paper", variants, *PAPER_TINY]), tmp_path)
    assert result["train_task"] == "per_task" and result["arm"]["plant"] == "motornet_tf"
    assert result["agent"]["widths"] == [4, 4] and result["train"]["clip"] == "per_variable"
    v, cross = result["variants"], result["cross_task"]
    for name in ("unilateral_dominant", "unilateral_nondominant", "bilateral_specialised_cc"):
        # one model per task, each judged on the task it was trained on; every model on every task as extra
        assert set(cross[name]) == {"reach", "hold"} and set(result["training"][name]) == {"reach", "hold"}
        for task in ("reach", "hold"):
            assert v[name][task]["trained_on"] == task and v[name][task] == cross[name][task][task]
        assert v[name]["centre_out"]["trained_on"] == "reach"
        assert cross[name]["hold"]["reach"] != cross[name]["reach"]["reach"]  # two different models
        assert result["training"][name]["reach"]["kept"] == "last"
    assert result["lesions"]["unilateral_dominant"] == {}
    # lesions of a per-task model: on the task it was trained on
    assert set(result["lesions"]["bilateral_specialised_cc"]["input_left"]) == {"reach", "hold"}
    claims = result["claims"]
    c1 = claims["claim_1_specialised_hemispheres_win_preferred_task"]
    ps = {n: {t: v[n][t]["per_seed"]["position_error"] for t in ("reach", "hold")} for n in v}
    with np.load(tmp_path / "episodes.npz") as npz:  # per-episode values: the two-level bootstrap
        ep = {n: {t: npz[f"variants/{n}/{t}/position_error"] for t in ("reach", "hold")} for n in v}
    dom, non = "unilateral_dominant", "unilateral_nondominant"
    assert c1["verdict"] == combine([
        verdict_from_per_seed(ps[dom]["reach"], ps[non]["reach"], episodes=(ep[dom]["reach"], ep[non]["reach"])),
        verdict_from_per_seed(ps[non]["hold"], ps[dom]["hold"], episodes=(ep[non]["hold"], ep[dom]["hold"]))])
    assert result["claims_final_phase"]["claim_1_specialised_hemispheres_win_preferred_task"]["metric"] == \
        "final_phase_error"
    # the callosum-free variants were not run: claim 3 is not tested, and says what is missing
    c3 = claims["claim_3_callosum_tends_to_help"]
    assert c3["verdict"] == "inconclusive" and c3["missing"]
    page = html.unescape((tmp_path / "report.html").read_text())
    assert "The paper's claims" in page and "cross-task" in page


@pytest.fixture(scope="module")
def trainer() -> Trainer:
    variant = make_variant("bilateral_unspecialised_cc")
    cfg = TrainConfig(batch_size=4, updates_per_epoch=2, max_epochs=3, val_episodes=4, patience=10)
    return Trainer(build_model(variant, (4, 4)), variant.objective, EpisodeSampler(episode_steps=6), cfg)


KEYS = jnp.stack([jax.random.PRNGKey(0), jax.random.PRNGKey(1)])


class _Interrupt(Exception):
    pass


def test_resume_after_interruption_gives_the_same_parameters(trainer: Trainer, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    settings = {"what": "test"}
    straight, history, _ = train_variant(trainer, KEYS, tmp_path / "a.msgpack", settings, False, "a")

    real_save, calls = checkpoint.save, []

    def save_then_die(path, tree, meta=None):  # the process dies right after epoch 1's checkpoint
        real_save(path, tree, meta)
        calls.append(path)
        if len(calls) == 1:
            raise _Interrupt

    monkeypatch.setattr(checkpoint, "save", save_then_die)
    with pytest.raises(_Interrupt):
        train_variant(trainer, KEYS, tmp_path / "b.msgpack", settings, False, "b")
    resumed, history_b, _ = train_variant(trainer, KEYS, tmp_path / "b.msgpack", settings, True, "b")
    for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert history_b == history and len(history["val_loss"]) == 3
    with pytest.raises(ValueError, match="settings differ: what"):
        train_variant(trainer, KEYS, tmp_path / "b.msgpack", {"what": "else"}, True, "b")


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(trainer: Trainer, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    real = trainer.epoch_seeds

    def poisoned(state):  # the loss of seed index 1 turns NaN in the second epoch
        new, log = real(state)
        if int(state.epoch[0]) >= 1:
            log = {**log, "train_loss": log["train_loss"].at[1, 0].set(jnp.nan)}
        return new, log

    monkeypatch.setattr(trainer, "epoch_seeds", poisoned)
    path = tmp_path / "c.msgpack"
    with pytest.raises(FloatingPointError, match=r"non-finite loss in epoch 2 for seed index\(es\) \[1\]"):
        train_variant(trainer, KEYS, path, {}, False, "c")
    state, meta = checkpoint.load(path, trainer.init_seeds(KEYS))
    assert meta["epoch"] == 1 and np.asarray(state.epoch).tolist() == [1, 1]
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(state.params))


def test_bad_settings_fail_before_training(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="variant"):
        run_task(compose_cfg(["task=reach", "task.variants=[bilateral_telepathic]", *TINY]), tmp_path)
    with pytest.raises(ValueError, match="batch_size"):
        run_task(compose_cfg(["task=reach", VARIANTS, *TINY, "train.batch_size=0"]), tmp_path)
    with pytest.raises(ValueError, match=r"task.eval_tasks=\[.swim.\] is not one of: reach, hold, centre_out"):
        run_task(compose_cfg(["task=reach", VARIANTS, *TINY, "task.eval_tasks=[swim]"]), tmp_path)
    with pytest.raises(ValueError, match="callosum"):
        run_task(compose_cfg(["task=reach", VARIANTS, *TINY, "agent.callosum=telegraph"]), tmp_path)
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "metrics.json").exists()


def test_gru_hemispheres_train_over_seeds(tmp_path: Path) -> None:
    """Recurrent hemispheres through the runner's training path (several seeds at once)."""
    variant = make_variant("bilateral_specialised_cc")
    cfg = TrainConfig(batch_size=4, updates_per_epoch=2, max_epochs=1, val_episodes=4)
    trainer = Trainer(build_model(variant, (4, 4), cell="gru"), variant.objective,
                      EpisodeSampler(episode_steps=4), cfg)
    state, history, _ = train_variant(trainer, KEYS, tmp_path / "g.msgpack", {}, False, "gru")
    assert np.asarray(state.epoch).tolist() == [1, 1]
    assert np.isfinite(history["val_loss"][0]).all()
    kernel = state.params["params"]["left"]["layers_0"]
    assert {"ir", "iz", "in", "hr", "hz", "hn"} <= set(kernel)  # GRU gates, per seed


def test_presets_hold_the_original_codes_settings() -> None:
    """task=paper_original: what the original code does (read from it and confirmed by running
    it, see the README); task=paper: the same with the regulariser on hidden activity."""
    original, paper = compose_cfg(["task=paper_original"]), compose_cfg(["task=paper"])
    for cfg in (original, paper):
        assert cfg.task.train_task == "per_task" and cfg.task.seeds == 10 and cfg.task.claims
        assert list(cfg.agent.widths) == [5, 5] and list(cfg.agent.unilateral_widths) == [10, 10]
        assert cfg.agent.init == "glorot_uniform" and cfg.agent.callosum == "paper" and cfg.agent.cell == "mlp"
        assert cfg.arm.plant == "motornet_tf" and cfg.arm.feedback_delay == 0.0 and cfg.arm.control_dt == 0.01
        t = cfg.train
        assert (t.batch_size, t.dataset_episodes, t.val_episodes, t.max_epochs) == (64, 6400, 64, 10)
        assert (t.clip, t.clip_norm, t.learning_rate, t.adam_eps) == ("per_variable", 1.0, 1e-3, 1e-7)
        assert t.lr_schedule == "constant"
        assert (t.early_stopping, t.patience, t.val_loss, t.keep) == (True, 3, "original", "last")
        assert t.dominant_effort == 0.0
    assert original.train.regulariser == "plant" and paper.train.regulariser == "hidden"
    # the other tasks keep this project's defaults
    reach = compose_cfg(["task=reach"])
    assert reach.arm.plant == "motornet" and reach.train.clip == "global" and reach.train.regulariser == "hidden"


def test_report_says_what_it_shows(reach_run: tuple[Path, dict]) -> None:
    """The captions follow the run (train_task, seed count) and the table drops what means
    nothing (time to / share reaching 1 cm on hold, which starts at its target)."""
    import re

    out, result = reach_run
    page = (out / "report.html").read_text()
    assert "every model is trained on reach and judged on every evaluation task" in page
    assert "judged on the task it was trained on" not in page
    assert "CIs are 95 % t-intervals over seeds" in page and "one seed" not in page
    rows = re.findall(r"<tr><td>(\w+)</td><td>(\w+)</td>((?:<td>[^<]*</td>)+)</tr>", page)
    by_task = {}
    for _variant, task, cells in rows:
        values = re.findall(r"<td>([^<]*)</td>", cells)
        if len(values) == 8:  # the results tables: error, CI, final, CI, time, reached, drift, effort
            by_task.setdefault(task, []).append(values)
    assert set(by_task) >= {"reach", "hold", "centre_out"}
    for cells in by_task["hold"]:
        assert cells[4] == "-" and cells[5] == "-"  # time to 1 cm, reached 1 cm
    for cells in by_task["reach"]:
        assert re.fullmatch(r"NaN|\d+", cells[4]), cells[4]  # whole ms, not 260.000
