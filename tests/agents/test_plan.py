"""The motor training plan (``agents.plan``), without Hydra: units per regime, families,
what each unit is judged on, the best variant and its 1 cm verdict."""

from __future__ import annotations

import pytest

from agents.plan import (
    best_variant,
    check_eval_tasks,
    families,
    family_variant,
    hold_fraction,
    judged_on,
    training_task,
    training_units,
)
from agents.variants import VARIANTS, make_variant

ALL = [make_variant(n, "paper") for n in VARIANTS]


@pytest.mark.parametrize(("regime", "per_variant"), [("reach", 1), ("hold", 1), ("mixed", 1), ("per_task", 2)])
def test_units_and_families(regime: str, per_variant: int) -> None:
    units = training_units(ALL, regime)
    assert len(units) == per_variant * len(ALL)
    fam = families(units)
    assert list(fam) == ["bilateral_specialised", "bilateral_unspecialised", "unilateral"]
    assert [len(v) for v in fam.values()] == [2 * per_variant, 2 * per_variant, 3 * per_variant]
    for name, members in fam.items():
        v = family_variant(name, members)  # the linked model: a _nocc member trains it with the callosum cut
        assert v.callosum == ("none" if name == "unilateral" else "paper")
        assert {m.variant.objective for m in members} == ({"specialised"} if name.endswith("_specialised") else
                                                          {"unspecialised"} if name.startswith("bilateral") else
                                                          {"dominant", "nondominant", "unspecialised"})
    assert {u.trained_on for u in units} == ({"reach", "hold"} if regime == "per_task" else {regime})
    assert training_task(regime) == ("mixed" if regime in ("mixed", "per_task") else regime)


def test_refusals_name_the_valid_choices() -> None:
    with pytest.raises(ValueError, match="task.train_task='both'; valid: reach, hold, mixed, per_task"):
        training_units(ALL, "both")
    with pytest.raises(ValueError, match=r"task.eval_tasks=\['reech'\] is not one of"):
        check_eval_tasks(["reach", "reech"], "reach")
    with pytest.raises(ValueError, match="task.eval_tasks is empty"):
        check_eval_tasks([], "reach")
    with pytest.raises(ValueError, match=r"per_task .* must include \['hold'\]"):
        check_eval_tasks(["reach", "centre_out"], "per_task")
    assert check_eval_tasks(("reach", "hold"), "per_task") == ["reach", "hold"]


def test_what_a_unit_is_judged_on() -> None:
    reach, hold = training_units(ALL[:1], "per_task")
    assert judged_on(reach, "reach", True) and not judged_on(reach, "hold", True)
    assert judged_on(hold, "hold", True) and not judged_on(hold, "reach", True)
    assert judged_on(reach, "centre_out", True) and not judged_on(hold, "centre_out", True)
    (mixed,) = training_units(ALL[:1], "mixed")
    assert all(judged_on(mixed, t, False) for t in ("reach", "hold", "centre_out"))
    assert (hold_fraction("reach", 0.3), hold_fraction("hold", 0.3), hold_fraction("mixed", 0.3)) == (0.0, 1.0, 0.3)


def test_best_variant_is_the_lowest_final_error_on_the_training_task() -> None:
    runs = {"a": {"reach": {"final_phase_error": 0.012, "final_phase_error_ci95": 0.001},
                  "hold": {"final_phase_error": 0.001}},
            "b": {"reach": {"final_phase_error": 0.008, "final_phase_error_ci95": 0.003, "ci_over": "episodes"}},
            "c": {"hold": {"final_phase_error": 0.0005}}}
    best = best_variant(runs, "mixed")  # mixed and per_task runs are judged on reach
    assert best["variant"] == "b" and best["task"] == "reach" and best["ci_over"] == "episodes"
    assert best["within_1cm"] and not best["ci_below_1cm"]  # 0.008 + 0.003 >= 0.01
    assert best_variant(runs, "hold")["variant"] == "c"
    assert best_variant({"a": {"hold": {"final_phase_error": None}}}, "hold") is None
