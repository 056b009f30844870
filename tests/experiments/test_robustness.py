"""``task=paper_robustness`` end to end with tiny settings: one run per setting, the table of
verdicts built from those runs' own claims, resume, and bad settings refused up front."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module

from agents.claims import compare
from experiments.run import run_task
from experiments.tasks.robustness import CLAIMS, format_table
from tests.experiments.test_reports import ReportPage

TINY = ["task.seeds=2", "task.variants=[unilateral_dominant,unilateral_nondominant]", "task.eval_episodes=8",
        "task.lesions=false", "train.max_epochs=1", "train.batch_size=4", "train.dataset_episodes=8",
        "train.val_episodes=4", "task.episode_steps=6", "agent.widths=[4,4]", "agent.unilateral_widths=[4,4]"]


def compose_cfg(overrides: list[str]):
    with initialize_config_module(config_module="experiments.conf", version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def robustness(extra: list[str], only: str = "[paper,dominant_effort]") -> list[str]:
    inner = ",".join(f"'{x}'" for x in TINY)
    return ["task=paper_robustness", "task.seeds=2", f"task.overrides=[{inner}]", f"task.only={only}", *extra]


def test_robustness_runs_every_setting_and_tabulates_their_claims(tmp_path: Path) -> None:
    result = run_task(compose_cfg(robustness([])), tmp_path)
    assert list(result["settings"]) == ["paper", "dominant_effort"]
    for name in ("paper", "dominant_effort"):
        sub = json.loads((tmp_path / "settings" / name / "metrics.json").read_text())
        assert sub["train_task"] == "per_task" and sub["seeds"] == [0, 1]
        c1 = sub["claims"]["claim_1_specialised_hemispheres_win_preferred_task"]
        assert result["settings"][name]["claims"]["claim_1_specialised_hemispheres_win_preferred_task"][
            "verdict"] == c1["verdict"]
        # the intervals come from the two-level bootstrap on the per-episode values in episodes.npz,
        # whose seed means are metrics.json's per-seed numbers; each part recomputes from them
        with np.load(tmp_path / "settings" / name / "episodes.npz") as ep:
            for task, part in c1["parts"].items():
                a, b = (ep[f"variants/{v}/{task}/position_error"] for v in (part["a"], part["b"]))
                assert a.shape == (2, 8) and part["interval"] == "two-level bootstrap"
                ps = [sub["variants"][v][task]["per_seed"]["position_error"] for v in (part["a"], part["b"])]
                np.testing.assert_allclose(a.mean(axis=1), ps[0], rtol=1e-5)
                again = compare(ps[0], ps[1], episodes=(a, b))
                assert again["verdict"] == part["verdict"]
                np.testing.assert_allclose(again["ci95"], part["ci95"], rtol=1e-4)
    assert json.loads((tmp_path / "settings" / "dominant_effort" / "metrics.json").read_text())[
        "train"]["dominant_effort"] == 1.0
    table = format_table(result)
    assert len(table) == 3 and all(len(row) == 3 for row in table)
    _check_report(tmp_path / "report.html", result)
    # resume: finished settings are read back, not trained again
    (tmp_path / "metrics.json").unlink()
    before = (tmp_path / "settings" / "paper" / "metrics.json").stat().st_mtime_ns
    again = run_task(compose_cfg(robustness(["resume=true"])), tmp_path)
    assert again["settings"] == json.loads(json.dumps(result["settings"]))
    assert (tmp_path / "settings" / "paper" / "metrics.json").stat().st_mtime_ns == before


def test_bad_robustness_setting_fails_before_any_run(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="train.no_such_thing"):
        run_task(compose_cfg(robustness(["+task.settings.b=['train.no_such_thing=1']"], "[paper,b]")), tmp_path)
    with pytest.raises(ValueError, match="train: invalid training setting clip='sideways'"):
        run_task(compose_cfg(robustness(["+task.settings.a=['train.clip=sideways']"], "[a]")), tmp_path)
    with pytest.raises(ValueError, match=r"task.only names unknown setting\(s\) \['nope'\]"):
        run_task(compose_cfg(robustness([], "[nope]")), tmp_path)
    assert not (tmp_path / "settings").exists()


def test_reuse_takes_a_finished_run_only_if_it_is_that_setting(tmp_path: Path) -> None:
    paper = tmp_path / "paper_run"
    inner = [x for x in TINY if not x.startswith("task.seeds")]
    run_task(compose_cfg(["task=paper", "task.seeds=3", *inner]), paper)
    out = run_task(compose_cfg(robustness([f"task.reuse={{paper: '{paper}'}}"], "[paper]")), tmp_path / "r")
    assert out["settings"]["paper"]["seeds"] == 3 and out["settings"]["paper"]["run"] == str(paper)
    assert not (tmp_path / "r" / "settings" / "paper").exists()  # nothing trained
    with pytest.raises(ValueError, match="dominant_effort: saved 0.0, now 1.0"):
        run_task(compose_cfg(robustness([f"task.reuse={{dominant_effort: '{paper}'}}"])), tmp_path / "s")


def _check_report(path: Path, result: dict) -> None:
    """The robustness page says what the results say: its title's seed count, one row per
    setting (overrides, seeds, run), each verdict cell led by that setting's verdict, and the
    errors behind them in cm."""
    page = ReportPage(path.read_text())
    names = list(result["settings"])
    assert f"{result['seeds']} seeds per setting" in path.read_text()
    rows = page.table_with("overrides")[1:]
    assert [r[0] for r in rows] == names
    for row, name in zip(rows, names):
        s = result["settings"][name]
        assert row[1:] == [" ".join(s["overrides"]) or "(base)", str(s["seeds"]), s["run"]]
    verdicts = [t for t in page.tables if t and t[0][0] == "claim"]
    assert len(verdicts) == 2  # episode-mean error, last 100 ms
    for table, key in zip(verdicts, ("claims", "claims_final_phase")):
        assert table[0][1:] == names and [r[0] for r in table[1:]] == list(CLAIMS.values())
        for row, claim in zip(table[1:], CLAIMS):
            for cell, name in zip(row[1:], names):
                assert cell.startswith(result["settings"][name][key].get(claim, {}).get("verdict") or "-"), cell
    errors = page.table_with("variant / task")[1:]
    for row in errors:
        variant, task = row[0].split(" / ")
        for cell, name in zip(row[1:], names):
            v = result["settings"][name]["errors_cm"].get(variant, {}).get(task)
            assert cell == ("NaN" if v is None else format(v, ".2f")), (row, name)


def test_summary_cells_carry_holm_the_margin_the_qualifier_and_both_readings() -> None:
    from agents.claims import evaluate_claims
    from experiments.tasks.robustness import _cell, summary
    from tests.agents.test_claims import C1, C2, C3, PAPER_LIKE, _variants

    rows = summary(evaluate_claims(_variants(PAPER_LIKE), margin=0.0))
    assert rows[C2]["margin"] == 0.0 and rows[C2]["variants_after_holm"] == {
        "bilateral_specialised_cc": "holds", "bilateral_specialised_nocc": "inconclusive"}
    assert "cc: holds, after Holm holds" in _cell(rows[C2])
    q = rows[C3]["qualifier"]
    assert f"not always for the specialised: {q['verdict']}" in _cell(rows[C3])
    # no lesions run: the reading inside the bilateral models is undecided
    assert rows[C1]["verdict_both_readings"] == "inconclusive" and "both readings" in _cell(rows[C1])
