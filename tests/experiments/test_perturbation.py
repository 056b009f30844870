"""``task=perturbation`` on a tiny finished ``task=reach`` run: the controllers loader
(round trip, refusals naming the file), the task end to end (per-seed values, the claim's
verdict, the report), and zero force giving zero displacement."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest
from hydra import compose, initialize_config_module

from agents.claims import FAILS, HOLDS, INCONCLUSIVE, stability_claim
from agents.evaluation import evaluate
from agents.rollout import EpisodeSampler
from experiments.controllers import load, read_run
from experiments.run import run_task

# the smallest settings of tests/experiments/test_motor.py (TINY), with the two unilateral variants
TINY = ["task.seeds=2", "task.eval_episodes=4", "train.max_epochs=1", "train.updates_per_epoch=2",
        "train.batch_size=4", "train.val_episodes=4", "task.episode_steps=12", "agent.widths=[4,4]",
        "task.eval_tasks=[reach,hold]", "task.lesions=false",
        "task.variants=[unilateral_dominant,unilateral_nondominant]"]
PERTURB = ["task=perturbation", "task.episodes=4", "task.angles=[0,90]", "task.onset=0.03", "task.duration=0.03"]


def compose_cfg(overrides: list[str]):
    with initialize_config_module(config_module="experiments.conf", version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


@pytest.fixture(scope="module")
def reach_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("reach")
    return out, run_task(compose_cfg(["task=reach", *TINY]), out)


def test_loader_round_trips_the_trained_controllers(reach_run: tuple[Path, dict]) -> None:
    out, metrics = reach_run
    controllers = load(out)
    assert controllers.run.seeds == [0, 1]
    assert sorted(c.variant for c in controllers.models) == ["unilateral_dominant", "unilateral_nondominant"]
    judged = controllers.judged_on("hold")
    assert set(judged) == {"unilateral_dominant", "unilateral_nondominant"}
    # the restored parameters give the run's own evaluation numbers back
    sampler = EpisodeSampler(**controllers.arm)
    c = judged["unilateral_nondominant"]
    numbers, _ = evaluate(c.model, c.params, sampler, "hold", 4, jax.random.PRNGKey(12345), base_mask=c.mask)
    saved = metrics["variants"]["unilateral_nondominant"]["hold"]["per_seed"]["position_error"]
    np.testing.assert_allclose(numbers["position_error"].mean(axis=1), saved, rtol=1e-5)


def test_loader_names_what_is_missing_or_wrong(reach_run: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = reach_run
    with pytest.raises(FileNotFoundError, match="no such directory"):
        read_run(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="config.json is missing"):
        read_run(tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "checkpoints" / "unilateral.msgpack").unlink()
    with pytest.raises(FileNotFoundError, match=r"unilateral\.msgpack"):
        read_run(copy)
    (copy / "checkpoints" / "unilateral.msgpack").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"unilateral\.msgpack is unreadable"):
        load(copy)
    config = json.loads((copy / "config.json").read_text())
    config["task"] = {"name": "rollout", "kind": "rollout"}
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="of kind 'rollout'"):
        read_run(copy)
    (copy / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="config.json is unreadable"):
        read_run(copy)
    unfinished = tmp_path / "unfinished"
    shutil.copytree(out, unfinished)
    (unfinished / "metrics.json").unlink()
    with pytest.raises(FileNotFoundError, match="did not finish"):
        read_run(unfinished)


def test_task_refuses_bad_input_before_writing(reach_run: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = reach_run
    with pytest.raises(ValueError, match="needs task.controllers"):
        run_task(compose_cfg(["task=perturbation"]), tmp_path / "a")
    with pytest.raises(ValueError, match="task.onset"):  # past the episode's 12 steps of 10 ms
        run_task(compose_cfg([*PERTURB, f"task.controllers={out}", "task.onset=0.5"]), tmp_path / "b")
    with pytest.raises(ValueError, match="task.eval_tasks"):
        run_task(compose_cfg([*PERTURB, f"task.controllers={out}", "task.eval_tasks=[centre_out]"]), tmp_path / "c")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_perturbation_task_end_to_end(reach_run: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = reach_run
    result = run_task(compose_cfg([*PERTURB, f"task.controllers={out}"]), tmp_path)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(result))
    assert saved["seeds"] == [0, 1] and saved["perturbation"]["onset_step"] == 3
    for variant in ("unilateral_dominant", "unilateral_nondominant"):
        for task in ("reach", "hold"):
            r = saved["variants"][variant][task]
            assert len(r["per_seed"]["peak_displacement"]) == 2
            assert np.isclose(np.mean(r["per_seed"]["peak_displacement"]), r["peak_displacement"])
            assert r["peak_displacement"] > 0 and r["corrective_excitation"] > 0
            assert set(r["by_angle"]) == {"0", "90"} and 0 <= r["returned"] <= 1
    claim = saved["claim"]
    assert claim["verdict"] in (HOLDS, FAILS, INCONCLUSIVE) and claim["task"] == "hold"
    part = claim["parts"]["peak_displacement"]
    d = (np.array(saved["variants"]["unilateral_nondominant"]["hold"]["per_seed"]["peak_displacement"])
         - saved["variants"]["unilateral_dominant"]["hold"]["per_seed"]["peak_displacement"])
    assert np.isclose(part["difference"], d.mean()) and part["ci95"][0] <= part["difference"] <= part["ci95"][1]
    assert set(claim["other_tasks"]) == {"information", "reach"}
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 1 and "positional stability" in page
    curves = np.load(tmp_path / "displacement.npz")
    assert curves["hold/unilateral_dominant"].shape == (2, 12)


def test_zero_force_moves_nothing(reach_run: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = reach_run
    result = run_task(compose_cfg([*PERTURB, f"task.controllers={out}", "task.force=0", "task.duration=null",
                                   "task.eval_tasks=[hold]"]), tmp_path)
    for r in result["variants"].values():
        assert r["hold"]["peak_displacement"] == 0 and r["hold"]["corrective_excitation"] == 0
        assert r["hold"]["time_to_return"] == 0 and r["hold"]["returned"] == 1
    assert result["perturbation"]["kind"] == "step"
    assert result["claim"]["verdict"] == INCONCLUSIVE  # no difference at all: nothing to decide


def test_stability_claim_reads_paired_seeds() -> None:
    def per(values: list[float]) -> dict:
        return {"per_seed": {"peak_displacement": values, "time_to_return": values}}

    lower = {"unilateral_nondominant": {"hold": per([1.0, 2.0, 3.0])},
             "unilateral_dominant": {"hold": per([1.5, 2.6, 3.4])}}
    assert stability_claim(lower)["verdict"] == HOLDS
    higher = {"unilateral_nondominant": {"hold": per([2.0, 3.0, 4.0])}, "unilateral_dominant": lower["unilateral_nondominant"]}
    assert stability_claim(higher)["verdict"] == FAILS
    missing = stability_claim({"unilateral_dominant": lower["unilateral_dominant"]})
    assert missing["verdict"] == INCONCLUSIVE and missing["missing"] == ["unilateral_nondominant/hold"]
