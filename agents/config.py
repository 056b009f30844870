"""The controller's and the training's settings, and the choices each setting takes.

Plain dataclasses and choices (the runner's Hydra schemas, ``experiments.settings``, are
built from them). The modules that act on a setting import its choices from here: they are
written once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# Controller (agents.hemisphere, agents.callosum)
CELLS: tuple[str, ...] = ("mlp", "gru")
INITS: tuple[str, ...] = ("lecun_normal", "glorot_uniform")  # flax's default | Keras's (the original code)
CALLOSA: tuple[str, ...] = ("none", "paper", "learned")
# Training (agents.rollout, agents.optim, agents.objectives, agents.training)
TRAIN_TASKS: tuple[str, ...] = ("reach", "hold", "mixed")
CLIPS: tuple[str, ...] = ("global", "per_variable")
SCHEDULES: tuple[str, ...] = ("constant", "cosine")
REGULARISERS: tuple[str, ...] = ("hidden", "plant")


def _whole(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def check_choice(name: str, value: Any, valid: tuple[str, ...], what: str = "agent setting") -> str:
    """``value`` if it is one of ``valid``, else ``ValueError`` naming the setting and the choices."""
    if value not in valid:
        raise ValueError(f"invalid {what} {name}={value!r}: valid: {', '.join(valid)}")
    return value


def check_widths(widths: Any, name: str = "widths") -> tuple[int, ...]:
    """Hidden widths as a tuple: a non-empty list of whole numbers >= 1 (numpy integers
    count; floats and bools do not), else ``ValueError`` naming the setting."""
    ok = isinstance(widths, (list, tuple)) and len(widths) > 0 and all(
        hasattr(w, "__index__") and not isinstance(w, bool) and w >= 1 for w in widths)
    if not ok:
        raise ValueError(f"invalid agent setting {name}={widths!r}: must be a non-empty list of whole numbers >= 1")
    return tuple(int(w) for w in widths)


@dataclass(frozen=True)
class AgentConfig:
    """A controller's size and kind (``agents.variants.build_model``): hidden ``widths``
    per hemisphere, ``cell`` (``mlp``: tanh layers; ``gru``), the corpus callosum of the
    ``*_cc`` variants (``paper``: max-pool by 2, no weights; ``learned``: a dense map;
    ``none``), its delay in control steps, the unilateral variants' widths (``None``: one
    hemisphere's) and the dense kernel initialiser."""

    widths: list[int] = field(default_factory=lambda: [64, 64])
    cell: str = "mlp"
    callosum: str = "paper"
    callosal_delay: int = 0
    unilateral_widths: list[int] | None = None
    init: str = "lecun_normal"

    def __post_init__(self) -> None:
        for name, valid in (("cell", CELLS), ("callosum", CALLOSA), ("init", INITS)):
            check_choice(name, getattr(self, name), valid)
        for name in ("widths", "unilateral_widths"):
            if getattr(self, name) is not None:
                check_widths(list(getattr(self, name)), name)
        if not _whole(self.callosal_delay, 0):
            raise ValueError(f"invalid agent setting callosal_delay={self.callosal_delay!r}: must be a whole "
                             f"number >= 0")


KEEP: tuple[str, ...] = ("best", "last")
# the validation loss of early stopping: the sum of the objectives trained, or as the original
# code's Keras logs had it (a specialised model's val_loss was the unspecialised objective)
VAL_LOSSES: tuple[str, ...] = ("trained", "original")


@dataclass(frozen=True)
class TrainConfig:
    """task: the episodes trained on (``reach``, ``hold``, ``mixed``); Adam with
    ``learning_rate`` (``lr_schedule``: ``constant``, or ``cosine`` decay to 5 % of it over
    ``max_epochs`` epochs) and clipping ``clip_norm``; ``batch_size`` episodes per
    update, ``updates_per_epoch`` updates per epoch, at most ``max_epochs`` epochs; early
    stopping after ``patience`` epochs without a lower validation loss on
    ``val_episodes`` fixed episodes; ``hold_fraction`` of hold episodes when mixed."""

    task: str = "reach"
    batch_size: int = 64
    updates_per_epoch: int = 100
    max_epochs: int = 20
    patience: int = 3
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    clip_norm: float = 1.0
    val_episodes: int = 256
    hold_fraction: float = 0.5
    clip: str = "global"
    adam_eps: float = 1e-8
    dataset_episodes: int = 0
    early_stopping: bool = True
    keep: str = "best"
    regulariser: str = "hidden"
    dominant_effort: float = 0.0
    val_loss: str = "trained"

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
        for name, valid in (("clip", CLIPS), ("lr_schedule", SCHEDULES), ("keep", KEEP), ("regulariser", REGULARISERS),
                            ("val_loss", VAL_LOSSES)):
            if getattr(self, name) not in valid:
                raise ValueError(f"invalid training setting {name}={getattr(self, name)!r}: "
                                 f"valid: {', '.join(valid)}")
        if not isinstance(self.dataset_episodes, int) or isinstance(self.dataset_episodes, bool) \
                or self.dataset_episodes < 0 or 0 < self.dataset_episodes < self.batch_size:
            raise ValueError(f"invalid training setting dataset_episodes={self.dataset_episodes!r}: must be 0 "
                             f"(fresh episodes every update) or a whole number >= batch_size ({self.batch_size})")
        if not isinstance(self.early_stopping, bool):
            raise ValueError(f"invalid training setting early_stopping={self.early_stopping!r}: must be true or false")
        if not (self.adam_eps > 0 and self.dominant_effort >= 0):
            raise ValueError(f"invalid training setting adam_eps={self.adam_eps!r} (must be > 0) or "
                             f"dominant_effort={self.dominant_effort!r} (must be >= 0)")

    @property
    def updates(self) -> int:
        """Updates per epoch: one pass over the fixed set, or ``updates_per_epoch``."""
        if self.dataset_episodes:
            return self.dataset_episodes // self.batch_size
        return self.updates_per_epoch

    @classmethod
    def from_overrides(cls, **overrides: Any) -> TrainConfig:
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - valid)
        if unknown:
            raise ValueError(f"unknown training setting(s) {unknown}; valid: {', '.join(sorted(valid))}")
        return cls(**overrides)
