"""The seven controller variants compared in the paper, by the names used in outputs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import flax.linen as nn

from agents.config import CALLOSA, check_choice
from agents.controllers import BilateralController, UnilateralController

VARIANTS: tuple[str, ...] = (
    "bilateral_specialised_cc",
    "bilateral_specialised_nocc",
    "bilateral_unspecialised_cc",
    "bilateral_unspecialised_nocc",
    "unilateral_dominant",
    "unilateral_nondominant",
    "unilateral_unspecialised",
)


@dataclass(frozen=True)
class Variant:
    """``architecture`` bilateral or unilateral; ``callosum`` kind (bilateral only);
    ``objective`` a key of ``agents.objectives.OBJECTIVES``."""

    name: str
    architecture: str
    callosum: str
    objective: str

    @property
    def lesions(self) -> tuple[str, ...]:
        """The lesions that make sense for this variant: ours, then the original code's."""
        if self.architecture == "unilateral":
            return ()
        return (("silence_left", "silence_right") + (("cut_callosum",) if self.callosum != "none" else ())
                + ("input_left", "input_right", "output_left", "output_right"))


def check_variants(names: Sequence[str]) -> tuple[str, ...]:
    names = tuple(names)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not names:
        raise ValueError(f"unknown or no variant(s) {unknown}; valid: {', '.join(VARIANTS)}")
    return names


def make_variant(name: str, callosum: str = "paper") -> Variant:
    """The variant ``name``; its ``_cc`` form uses the callosum kind ``callosum``."""
    check_variants([name])
    check_choice("callosum", callosum, CALLOSA)
    if callosum == "none":
        raise ValueError("callosum for the _cc variants must be 'paper' or 'learned', not 'none'")
    if name.startswith("unilateral_"):
        return Variant(name, "unilateral", "none", name.removeprefix("unilateral_"))
    _, objective, link = name.split("_")
    return Variant(name, "bilateral", callosum if link == "cc" else "none", objective)


def build_model(variant: Variant, widths: Sequence[int], cell: str = "mlp",
                callosal_delay: int = 0, unilateral_widths: Sequence[int] | None = None,
                init: str = "lecun_normal") -> nn.Module:
    """The flax module of ``variant`` with hidden ``widths`` per hemisphere; a unilateral
    controller gets ``unilateral_widths`` (default: ``widths``, one hemisphere's size).
    ``init``: the dense kernel initialiser (``agents.hemisphere.INITS``)."""
    widths = tuple(int(w) for w in widths)
    if variant.architecture == "unilateral":
        uni = widths if unilateral_widths is None else tuple(int(w) for w in unilateral_widths)
        return UnilateralController(widths=uni, cell=cell, initializer=init)
    return BilateralController(widths=widths, cell=cell, callosum=variant.callosum,
                               callosal_delay=callosal_delay, initializer=init)
