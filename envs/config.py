"""Settings of an arm environment, validated once at construction: the plant's
(:class:`PlantConfig`: physics, sensors) and the task's (:class:`TaskConfig`: episodes,
loads, scoring), and :class:`ArmConfig`, both together as one flat, hashable config."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

from envs.params import MuscleParams, SkeletonParams

TASKS: tuple[str, ...] = ("reach", "hold", "centre_out")
FIELD_DIRECTIONS: tuple[str, ...] = ("clockwise", "counterclockwise")
PLANTS: tuple[str, ...] = ("motornet", "motornet_tf")
PHYSICS: tuple[str, ...] = ("closed_form", "mjx")
GRADIENTS: tuple[str, ...] = ("analytic", "mjx")  # backward pass of physics="mjx"
_TASK_ALIASES = {"centreout": "centre_out", "center_out": "centre_out", "centre-out": "centre_out"}


@dataclass(frozen=True)
class PlantConfig:
    """The plant: what the physics and the sensors are. Times in s.

    control_dt: control step; ``n_substeps`` physics steps of ``control_dt / n_substeps``
      run inside each one.
    feedback_delay: delay of proprioceptive and visual feedback, a whole number of
      control steps; the shorthand for both channels' delays.
    obs_noise: standard deviation of Gaussian noise on proprioception and hand position;
      the shorthand for both channels' noise.
    proprioceptive_delay, visual_delay: the delay of the muscle lengths and velocities and
      of the hand position (vision), each a whole number of control steps; ``None`` takes
      ``feedback_delay``. The feedback the controller gets mixes the two (MotorNet's
      ``proprioception_delay`` / ``vision_delay``).
    proprioceptive_noise, visual_noise: standard deviation of the Gaussian noise on each
      channel's observation (proprioception in its normalised units, vision in m); ``None``
      takes ``obs_noise``.
    motor_noise: standard deviation of Gaussian noise added to the excitations before the
      muscles (then clipped to [0, 1]); the loss is scored on the commanded excitations
      (MotorNet's ``action_noise``).
    physics: forward pass of the JAX env's skeleton step (default plant): ``closed_form``
      (MuJoCo's semi-implicit Euler step of the two-link arm written out, with the masses,
      lengths and inertias of ``skeleton``; a few dozen fused operations, differentiated
      by JAX) or ``mjx`` (``mjx.step`` on the same model). They agree to float rounding
      (tests: trajectories, gradients and joint limits against ``mjx.step`` and MuJoCo C).
    gradient: backward pass with ``physics="mjx"``: ``analytic`` (the closed-form step's
      vector-Jacobian product, see ``envs.dynamics``; fast) or ``mjx`` (reverse mode through
      ``mjx.step``). Ignored by ``closed_form``, whose backward pass is its own.
    plant: which MotorNet the arm reproduces. ``motornet`` (MotorNet 0.3, torch):
      exponential-Euler activation, forces from this step's activation, semi-implicit
      Euler skeleton. ``motornet_tf`` (MotorNet 0.1.5, TensorFlow, the plant of the
      original bilateral-control code): explicit-Euler activation, muscle forces applied one
      plant step late and evaluated on the previous step's geometry, explicit-Euler
      skeleton, proprioception read from that lagged muscle state (see
      ``envs.motornet_tf``).
    skeleton: the two-link arm's constants (MotorNet 0.3's). The MuJoCo model (C and MJX)
      is built from them, and kinematics, joint limits and the closed form read them; to
      use your own MJCF arm pass ``envs.model.skeleton_from_model(your_model)``.
    muscles: muscle constants; ``None`` takes the plant's own: ``MuscleParams()`` for
      ``motornet``, passive-force slack length 1.0 (``MuscleParams.motornet_tf()``) for
      ``motornet_tf``.
    """

    control_dt: float = 0.01
    n_substeps: int = 1
    feedback_delay: float = 0.01
    obs_noise: float = 0.0
    proprioceptive_delay: float | None = None
    visual_delay: float | None = None
    proprioceptive_noise: float | None = None
    visual_noise: float | None = None
    motor_noise: float = 0.0
    physics: str = "closed_form"
    gradient: str = "analytic"
    plant: str = "motornet"
    skeleton: SkeletonParams = field(default_factory=SkeletonParams)
    muscles: MuscleParams | None = None

    def __post_init__(self) -> None:
        _check(self.control_dt > 0, "control_dt", self.control_dt, "must be positive")
        _check(_is_int(self.n_substeps) and self.n_substeps >= 1, "n_substeps",
               self.n_substeps, "must be a whole number >= 1")
        for channel in ("proprioceptive", "visual"):  # the shorthands fill the channels left unset
            for kind, shorthand in (("delay", "feedback_delay"), ("noise", "obs_noise")):
                if getattr(self, f"{channel}_{kind}") is None:
                    object.__setattr__(self, f"{channel}_{kind}", getattr(self, shorthand))
        for name in DELAYS:
            value = getattr(self, name)
            _check(_is_number(value) and value >= 0, name, value, "must be a number >= 0 (s)")
            steps = value / self.control_dt
            _check(abs(steps - round(steps)) < 1e-6, name, value,
                   f"must be a whole number of control steps (control_dt={self.control_dt})")
        for name in NOISES:
            _check(_is_number(getattr(self, name)) and getattr(self, name) >= 0, name, getattr(self, name),
                   "must be a number >= 0")
        _check(self.gradient in GRADIENTS, "gradient", self.gradient,
               "must be 'analytic' (closed-form backward pass of mjx.step) or 'mjx' (through mjx.step)")
        _check(self.physics in PHYSICS, "physics", self.physics,
               f"must be one of {', '.join(PHYSICS)} (closed-form skeleton step or mjx.step)")
        if self.plant not in PLANTS:
            raise ValueError(f"unknown plant {self.plant!r}; valid plants: {', '.join(PLANTS)}")
        if self.muscles is None:
            tf = self.plant == "motornet_tf"
            object.__setattr__(self, "muscles", MuscleParams.motornet_tf() if tf else MuscleParams())
        for name in ("control_dt", *DELAYS, *NOISES):
            _check(math.isfinite(getattr(self, name)), name, getattr(self, name), "must be finite")


DELAYS: tuple[str, ...] = ("feedback_delay", "proprioceptive_delay", "visual_delay")
NOISES: tuple[str, ...] = ("obs_noise", "proprioceptive_noise", "visual_noise", "motor_noise")


@dataclass(frozen=True)
class TaskConfig:
    """The task: which episodes the arm is given and how they are scored. Distances in m,
    forces in N.

    task: ``reach`` (random start and target), ``hold`` (hold the start position under a
      constant endpoint load), ``centre_out`` (8 targets on a circle round a fixed start).
    episode_steps: control steps per episode (episodes end by truncation).
    effort_weight: reward = -(position_error + effort_weight * effort).
    load_range: endpoint load drawn uniformly in [-load_range, load_range] N per axis
      (``None``: 10 N for ``hold``, 0 otherwise).
    centre_out_radius, centre_out_start: circle radius and fixed start posture
      (shoulder, elbow in rad) of ``centre_out``; ``centre_out_targets`` targets.
    load_onset: when the endpoint load switches on (s, a whole number of control steps): 0
      (default) is the step from rest (the load acts from the first step); later, the arm
      first settles at its start posture unloaded, so holding tests posture control against
      a load that arrives.
    perturbation_force, perturbation_angle, perturbation_onset, perturbation_duration: a
      mechanical perturbation of the hand: a force of ``perturbation_force`` N (0: none) in the
      direction ``perturbation_angle`` (degrees anticlockwise from +x) from
      ``perturbation_onset`` s for ``perturbation_duration`` s (a pulse; up to the episode's
      end: a step), whole numbers of control steps, on top of the load.
    field_strength, field_direction: a velocity-dependent curl field on the hand (Shadmehr &
      Mussa-Ivaldi 1994), ``F = B v`` with ``B = b [[0, 1], [-1, 0]]`` for ``clockwise`` (the
      force turns the hand's velocity clockwise) and ``-B`` for ``counterclockwise``; ``b`` =
      ``field_strength`` in N s/m, 0: no field. It acts on top of the constant ``load``.
    go_cue, go_cue_window, go_cue_penalty: a delayed reach (``reach`` and ``centre_out`` only;
      off by default). The target is shown from the start; a go cue switches from 0 to 1 at
      control step ``c``, drawn per episode uniformly among the whole steps of
      ``go_cue_window`` = (earliest, latest) s (both whole numbers of control steps, latest
      before the episode's end) from the episode's key (``envs.tasks.draw_cue_step``). The
      observation gets one more entry, the last: the cue, undelayed and noiseless, 1 in the
      observation at step t when t >= c (the controller's action at step c is the first that
      can follow it). Movement before the cue is penalised: the steps whose action was taken
      before the cue (t < c) are scored by ``go_cue_penalty`` times the hand's distance from
      its start position (m) instead of the hand-target distance, in the envs' reward and in
      the training objective (``agents.objectives.go_cue_terms``); the reach error counts
      from step c on.
    """

    task: str = "reach"
    episode_steps: int = 50
    effort_weight: float = 0.1
    load_range: float | None = None
    centre_out_radius: float = 0.1
    centre_out_start: tuple[float, float] = (math.pi / 4, math.pi / 2)
    centre_out_targets: int = 8
    load_onset: float = 0.0
    perturbation_force: float = 0.0
    perturbation_angle: float = 0.0
    perturbation_onset: float = 0.1
    perturbation_duration: float = 0.05
    field_strength: float = 0.0
    field_direction: str = "clockwise"
    go_cue: bool = False
    go_cue_window: tuple[float, float] = (0.1, 0.3)
    go_cue_penalty: float = 5.0

    def __post_init__(self) -> None:
        task = _TASK_ALIASES.get(str(self.task).lower(), str(self.task).lower())
        if task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; valid tasks: {', '.join(TASKS)}")
        object.__setattr__(self, "task", task)
        if self.load_range is None:
            object.__setattr__(self, "load_range", 10.0 if task == "hold" else 0.0)
        _check(_is_int(self.episode_steps) and self.episode_steps >= 1, "episode_steps",
               self.episode_steps, "must be a whole number >= 1")
        _check(self.effort_weight >= 0, "effort_weight", self.effort_weight, "must be >= 0")
        _check(self.load_range >= 0, "load_range", self.load_range,
               "must be >= 0 (loads are drawn in [-load_range, load_range])")
        _check(self.centre_out_radius > 0, "centre_out_radius", self.centre_out_radius,
               "must be positive")
        _check(_is_int(self.centre_out_targets) and self.centre_out_targets >= 1,
               "centre_out_targets", self.centre_out_targets, "must be a whole number >= 1")
        _check(len(self.centre_out_start) == 2, "centre_out_start", self.centre_out_start,
               "must be (shoulder, elbow) in rad")
        _check(_is_number(self.field_strength) and self.field_strength >= 0, "field_strength", self.field_strength,
               "must be a number >= 0 (N s/m); the direction is field_direction")
        for name in ("load_onset", "perturbation_force", "perturbation_onset"):
            _check(_is_number(getattr(self, name)) and 0 <= getattr(self, name), name, getattr(self, name),
                   "must be a number >= 0")
        _check(_is_number(self.perturbation_duration) and self.perturbation_duration > 0, "perturbation_duration",
               self.perturbation_duration, "must be a number > 0 (s)")
        _check(_is_number(self.perturbation_angle), "perturbation_angle", self.perturbation_angle,
               "must be a number (degrees)")
        _check(self.field_direction in FIELD_DIRECTIONS, "field_direction", self.field_direction,
               f"must be one of {', '.join(FIELD_DIRECTIONS)}")
        for name in ("effort_weight", "load_range", "field_strength", "load_onset", "perturbation_force",
                     "perturbation_angle", "perturbation_onset", "perturbation_duration"):
            _check(math.isfinite(getattr(self, name)), name, getattr(self, name), "must be finite")
        _check(isinstance(self.go_cue, bool), "go_cue", self.go_cue, "must be true or false")
        window = self.go_cue_window
        _check(not isinstance(window, (str, bytes)) and hasattr(window, "__len__") and len(window) == 2
               and all(_is_number(w) for w in window), "go_cue_window", window, "must be (earliest, latest) cue times in s")
        object.__setattr__(self, "go_cue_window", tuple(float(w) for w in window))
        _check(all(math.isfinite(w) and w >= 0 for w in self.go_cue_window), "go_cue_window", window,
               "must be finite times >= 0 (s)")
        _check(self.go_cue_window[0] <= self.go_cue_window[1], "go_cue_window", window,
               "latest < earliest: must be (earliest, latest) with earliest <= latest")
        _check(_is_number(self.go_cue_penalty) and math.isfinite(self.go_cue_penalty) and self.go_cue_penalty >= 0,
               "go_cue_penalty", self.go_cue_penalty, "must be a finite number >= 0")
        _check(not (self.go_cue and task == "hold"), "go_cue", self.go_cue,
               "the hold task starts at its target and has no movement to cue; go_cue is for reach and centre_out")


PLANT_SETTINGS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(PlantConfig))
TASK_SETTINGS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TaskConfig))


def _copy(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return field(default=f.default)
    return field(default_factory=f.default_factory)


# ArmConfig's fields are the task's then the plant's, as those dataclasses declare them
# (names, types, defaults written once, there).
_ArmFields = dataclasses.make_dataclass(
    "_ArmFields", [(f.name, f.type, _copy(f)) for part in (TaskConfig, PlantConfig) for f in dataclasses.fields(part)],
    frozen=True, namespace={"__module__": __name__})


@dataclass(frozen=True)
class ArmConfig(_ArmFields):
    """Everything that defines one arm environment: every field of :class:`TaskConfig`
    (``task``, ``episode_steps``, ``effort_weight``, ``load_range``, ``centre_out_*``,
    ``field_*``, ``go_cue*``) and
    of :class:`PlantConfig` (``control_dt``, ``n_substeps``, ``feedback_delay``,
    ``obs_noise`` and the per-channel delays and noises, ``motor_noise``, ``physics``, ``gradient``, ``plant``, ``skeleton``, ``muscles``), flat
    (``cfg.control_dt``, ``cfg.load_range``); see the parts for their meanings. The parts
    judge their own fields; :attr:`plant_config` and :attr:`task_config` give them back, and
    :meth:`from_parts` builds an arm from them."""

    def __post_init__(self) -> None:
        for part in (self.plant_config, self.task_config):  # their checks and resolved defaults (aliases, loads, muscles)
            for f in dataclasses.fields(part):
                object.__setattr__(self, f.name, getattr(part, f.name))
        for name in ("load_onset", "perturbation_onset", "perturbation_duration"):  # the plant's step, the task's time
            steps = getattr(self, name) / self.control_dt
            _check(abs(steps - round(steps)) < 1e-6, name, getattr(self, name),
                   f"must be a whole number of control steps (control_dt={self.control_dt})")
        for end, w in zip(("earliest", "latest"), self.go_cue_window if self.go_cue else ()):
            steps = w / self.control_dt
            _check(abs(steps - round(steps)) < 1e-6, "go_cue_window", self.go_cue_window,
                   f"{end} ({w} s) must be a whole number of control steps (control_dt={self.control_dt})")
        _check(not self.go_cue or self.go_cue_steps[1] < self.episode_steps, "go_cue_window", self.go_cue_window,
               f"latest must be before the episode's end ({self.episode_steps} steps of {self.control_dt} s)")
        for name in ("load_onset", "perturbation_onset"):
            _check(self.steps_of(name) < self.episode_steps or (name == "perturbation_onset"
                                                                 and self.perturbation_force == 0),
                   name, getattr(self, name),
                   f"must be before the episode's end ({self.episode_steps} steps of {self.control_dt} s)")

    @property
    def plant_config(self) -> PlantConfig:
        """The plant part (physics, sensors)."""
        return PlantConfig(**{k: getattr(self, k) for k in PLANT_SETTINGS})

    @property
    def task_config(self) -> TaskConfig:
        """The task part (episodes, scoring)."""
        return TaskConfig(**{k: getattr(self, k) for k in TASK_SETTINGS})

    @classmethod
    def from_parts(cls, plant: PlantConfig, task: TaskConfig) -> ArmConfig:
        return cls(**{f.name: getattr(plant, f.name) for f in dataclasses.fields(plant)},
                   **{f.name: getattr(task, f.name) for f in dataclasses.fields(task)})

    @property
    def physics_dt(self) -> float:
        """Integrator time step (s)."""
        return self.control_dt / self.n_substeps

    def steps_of(self, name: str) -> int:
        """A time setting (``load_onset``, ``perturbation_onset``, ...) in control steps."""
        return int(round(getattr(self, name) / self.control_dt))

    @property
    def load_onset_steps(self) -> int:
        """The control step from which the load acts (0: from the first)."""
        return self.steps_of("load_onset")

    @property
    def go_cue_steps(self) -> tuple[int, int]:
        """``go_cue_window`` in control steps: (earliest, latest), both possible."""
        return tuple(int(round(w / self.control_dt)) for w in self.go_cue_window)

    @property
    def observation_size(self) -> int:
        """Entries of an observation: 16 (12 proprioceptive, hand x, y, target x, y), and the
        go cue last with ``go_cue``."""
        return 16 + int(self.go_cue)

    @property
    def proprioceptive_steps(self) -> int:
        """Proprioceptive delay in control steps."""
        return int(round(self.proprioceptive_delay / self.control_dt))

    @property
    def visual_steps(self) -> int:
        """Visual delay in control steps."""
        return int(round(self.visual_delay / self.control_dt))

    @property
    def delay_steps(self) -> int:
        """The longer of the two channels' delays in control steps: the delay line holds
        that many past feedback vectors besides the newest."""
        return max(self.proprioceptive_steps, self.visual_steps)

    @classmethod
    def from_overrides(cls, task: str = "reach", **overrides: Any) -> ArmConfig:
        """Build a config, naming any unknown setting in the error."""
        valid = {f.name for f in dataclasses.fields(cls)} - {"task"}
        unknown = sorted(set(overrides) - valid)
        if unknown:
            raise ValueError(
                f"unknown arm setting(s) {unknown}; valid settings: {', '.join(sorted(valid))}"
            )
        return cls(task=task, **overrides)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check(ok: bool, name: str, value: Any, message: str) -> None:
    if not ok:
        raise ValueError(f"invalid setting {name}={value!r}: {message}")
