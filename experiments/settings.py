"""Every setting of the runner, described once, as dataclass schemas registered with Hydra's
ConfigStore (structured configs).

Hydra composes the YAML files in ``conf/`` onto these schemas, so it rejects an unknown key
or a value of the wrong type itself, before anything runs. The settings of the arm, the
controller and the training are the library's own dataclasses (``envs.config.PlantConfig``
and ``TaskConfig``, the parts of ``ArmConfig``,
``agents.config.AgentConfig``, ``agents.config.TrainConfig``): their fields, types and
defaults are read from there, and :func:`typed_settings` builds them, so that their own
checks (choices, ranges) judge a run's settings. The tasks' settings are the dataclasses
below; a task's YAML file names only what differs from its schema.

Importing this module starts no JAX backend (``experiments.run`` registers the schemas
before the runner sets XLA's flags and the CPU's device split).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf

from agents.config import AgentConfig, TrainConfig
from envs.config import PlantConfig, TaskConfig

# ---------------------------------------------------------------------------------------------
# Schemas derived from the library's dataclasses


def _omegaconf_type(hint: Any) -> Any:
    """The type OmegaConf can hold for a library field's type (tuples become lists)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            return Any
        return Optional[_omegaconf_type(rest[0])]  # noqa: UP045 (a type built at run time)
    if origin in (tuple, list):
        items = [a for a in args if a is not Ellipsis]
        item = items[0] if items and all(a == items[0] for a in items) else Any
        return list[_omegaconf_type(item)]
    return hint


def _schema_field(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        value = f.default
        if isinstance(value, tuple):
            return field(default_factory=lambda v=value: list(v))
        return field(default=value)
    return field(default_factory=f.default_factory)


def schema_of(cls: type, name: str, exclude: tuple[str, ...] = ()) -> type:
    """A structured-config schema with the fields, types and defaults of the library
    dataclass ``cls`` (less ``exclude``: settings the runner gives per run, or nested
    parameter sets it does not expose). Building the schema builds ``cls`` (the excluded
    settings at their defaults), so ``cls``'s own checks run."""
    hints = typing.get_type_hints(cls)
    fields = [(f.name, _omegaconf_type(hints[f.name]), _schema_field(f))
              for f in dataclasses.fields(cls) if f.name not in exclude]

    names = [n for n, _, _ in fields]

    def library(self: Any) -> Any:  # the schema's own fields (a task schema may add its own)
        values = {n: getattr(self, n) for n in names}
        for key, value in values.items():  # lists back to the library's tuples
            if isinstance(value, list) and typing.get_origin(hints[key]) is tuple:
                values[key] = tuple(value)
        return cls(**values)

    return dataclasses.make_dataclass(name, fields, namespace={
        "__doc__": f"The runner's settings of ``{cls.__module__}.{cls.__qualname__}`` (see there).",
        "library": library, "__post_init__": _build_library})


def _build_library(self: Any) -> None:
    self.library()  # the library dataclass's own checks


# The arm (``arm.*``): the plant's settings (envs.config.PlantConfig) but the nested skeleton
# and muscle constants (the plant's own; ``arm.plant`` picks them).
ArmSettings = schema_of(PlantConfig, "ArmSettings", exclude=("skeleton", "muscles"))
# The arm's task settings (envs.config.TaskConfig: episode length, loads, effort weight,
# centre-out circle) are the settings of the tasks that run the arm (``task.episode_steps``),
# but the task itself (each run's tasks choose it), the centre-out start posture and the
# perturbation (an evaluation of trained controllers, not a condition to train them in).
PERTURBATION_SETTINGS = ("perturbation_force", "perturbation_angle", "perturbation_onset", "perturbation_duration")
ArmTaskSettings = schema_of(TaskConfig, "ArmTaskSettings", exclude=("task", "centre_out_start", *PERTURBATION_SETTINGS))
ARM_TASK_SETTINGS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ArmTaskSettings))


def arm_settings(settings: RunSettings) -> dict[str, Any]:
    """The ``envs.config.ArmConfig`` settings of a run (all but the task): the plant's
    (``arm.*``) and the arm task's (``task.*``)."""
    arm = {f.name: getattr(settings.arm, f.name) for f in dataclasses.fields(settings.arm)}
    return {**arm, **{k: getattr(settings.task, k) for k in ARM_TASK_SETTINGS}}


# Training: every TrainConfig setting but the trained task (``task.train_task``).
TrainSettings = schema_of(TrainConfig, "TrainSettings", exclude=("task",))
AgentSettings = schema_of(AgentConfig, "AgentSettings")


@dataclass
class RuntimeSettings:
    """Where and how a run computes, not what: the only settings a resume may change."""

    devices: str = "auto"  # motor runs: JAX devices the seeds are sharded over; auto = most that divide the seeds, 1 = none
    host_devices: str = "auto"  # the arm's tasks on a CPU: split it into this many JAX devices (auto = one per core; 1 = no split)
    cpu_library_fusion: bool | None = False  # let XLA fuse into YNNPACK calls (1.7x slower env rollouts); null = XLA's default
    compilation_cache: str | None = "${oc.env:CALLOSUM_JAX_CACHE,'~/.cache/callosum/jax'}"  # JAX's persistent cache; null = off


@dataclass
class RunSettings:
    """The root: the first seed (a motor run trains seeds ``seed .. seed + task.seeds - 1``),
    ``resume`` (continue an interrupted run: ``resume=true hydra.run.dir=<its directory>``),
    the runtime, and the four groups."""

    seed: int = 0
    resume: bool = False
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)
    arm: Any = MISSING
    agent: Any = MISSING
    train: Any = MISSING
    task: Any = MISSING


# ---------------------------------------------------------------------------------------------
# Checks of the runner's own settings, ranges and choices (each setting checked here, once; the
# library's dataclasses check theirs). A choice the library defines is read from the library,
# imported where it is checked (brain loads only for the tasks that use it).


def at_least(key: str, value: Any, minimum: float, whole: bool = True) -> None:
    """``value`` is a whole number (``whole``) or a number, at least ``minimum``; or a
    ``ValueError`` naming ``key``."""
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < minimum:
        raise ValueError(f"{key}={value!r} must be a {'whole number' if whole else 'number'} >= {minimum}")


def in_open_interval(key: str, value: float, low: float, high: float) -> None:
    if not low < value < high:
        raise ValueError(f"{key}={value!r} must be between {low} and {high} (exclusive)")


def one_of(key: str, value: Any, valid: tuple[str, ...] | list[str]) -> None:
    """``value`` is one of ``valid``; or a ``ValueError`` naming ``key`` and the choices."""
    if value not in valid:
        raise ValueError(f"{key}={value!r} is not one of: {', '.join(valid)}")


def positive(key: str, value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{key}={value!r} must be > 0")


# ---------------------------------------------------------------------------------------------
# The tasks' settings (one schema per task kind; a task's YAML file sets its name and what differs)

ALL_VARIANTS = ["bilateral_specialised_cc", "bilateral_specialised_nocc", "bilateral_unspecialised_cc",
                "bilateral_unspecialised_nocc", "unilateral_dominant", "unilateral_nondominant",
                "unilateral_unspecialised"]


@dataclass
class MotorTask(ArmTaskSettings):
    """Train the controller variants (``task.seeds`` seeds each) and evaluate them on every
    evaluation task, with lesions; ``claims``: test the paper's claims (paired CIs)."""

    name: str = MISSING
    kind: str = "motor"
    train_task: str = "reach"  # reach | hold | mixed | per_task (a model per variant and task)
    variants: list[str] = field(default_factory=lambda: list(ALL_VARIANTS))
    seeds: int = 5
    eval_tasks: list[str] = field(default_factory=lambda: ["reach", "hold", "centre_out"])
    eval_episodes: int = 256  # per seed and task (centre_out: its targets)
    eval_seed: int = 12345  # the same evaluation episodes for every variant
    lesions: bool = True
    claims: bool = False
    # claim 2's "as good as" (non-inferiority) margin: a fraction of the preferred hand's mean
    # error on the task and metric (0: must be better); default agents.claims.DEFAULT_MARGIN
    claims_margin: float = 0.05

    def __post_init__(self) -> None:
        from agents.plan import check_eval_tasks, check_regime
        from agents.variants import check_variants

        super().__post_init__()
        check_regime(self.train_task)
        check_variants(self.variants)
        check_eval_tasks(self.eval_tasks, self.train_task)
        at_least("task.seeds", self.seeds, 1)
        at_least("task.eval_episodes", self.eval_episodes, 1)
        at_least("task.claims_margin", self.claims_margin, 0, whole=False)


@dataclass
class RobustnessTask:
    """The claims re-tested over settings: one ``task=<base>`` grid per setting."""

    name: str = MISSING
    kind: str = "robustness"
    base: str = "paper"  # the task every setting runs
    seeds: int = 5
    overrides: list[str] = field(default_factory=list)  # applied to every setting
    only: list[str] = field(default_factory=list)  # run only these settings
    settings: dict[str, list[str]] = field(default_factory=dict)  # setting name -> overrides
    reuse: Any = None  # {setting name: a finished run directory to take it from}

    def __post_init__(self) -> None:
        at_least("task.seeds", self.seeds, 1)


PERTURBED_TASKS = ("reach", "hold")  # the tasks a perturbation task perturbs


@dataclass
class PerturbationTask:
    """Mechanical perturbations of the hand on the trained controllers of a finished motor
    run (``task.controllers``): the same episodes with and without a force on the hand
    (``task.force`` N in each direction of ``task.angles``, from ``task.onset`` s for
    ``task.duration`` s, null: to the episode's end, a step). The arm, the controllers and
    their seeds are the run's (its config.json); the ``arm``, ``agent`` and ``train`` groups
    of this run are not used."""

    name: str = MISSING
    kind: str = "perturbation"
    controllers: str | None = None  # the directory of a finished task=reach / task=hold (motor) run
    force: float = 10.0  # N (0: none, a null check)
    angles: list[float] = field(default_factory=lambda: [0.0, 90.0, 180.0, 270.0])  # degrees from +x
    onset: float = 0.1  # s, a whole number of control steps
    duration: float | None = 0.05  # s (a pulse); null: to the episode's end (a step)
    eval_tasks: list[str] = field(default_factory=lambda: list(PERTURBED_TASKS))
    episodes: int = 64  # per seed, task and direction
    eval_seed: int = 12345  # the same episodes (and noise) with and without the force, for every variant
    lesions: bool = False  # also the specialised bilateral controllers with one hemisphere silenced

    def __post_init__(self) -> None:
        at_least("task.force", self.force, 0, whole=False)
        at_least("task.onset", self.onset, 0, whole=False)
        if self.duration is not None:
            positive("task.duration", self.duration)
        if not self.angles:
            raise ValueError("task.angles is empty: give at least one direction (degrees anticlockwise from +x)")
        if len(set(self.angles)) != len(self.angles):
            raise ValueError(f"task.angles={self.angles!r} names a direction twice")
        if not self.eval_tasks or len(set(self.eval_tasks)) != len(self.eval_tasks):
            raise ValueError(f"task.eval_tasks={self.eval_tasks!r} must name each of {', '.join(PERTURBED_TASKS)} "
                             f"at most once, and one at least")
        for t in self.eval_tasks:
            one_of("task.eval_tasks", t, PERTURBED_TASKS)
        at_least("task.episodes", self.episodes, 1)


CONTROLLERS = ("random", "zero")  # the rollout task's open-loop controllers


@dataclass
class RolloutTask(ArmTaskSettings):
    """An open-loop baseline controller on one task's episodes."""

    name: str = MISSING
    kind: str = "rollout"
    env: str = "reach"
    controller: str = "random"  # random | zero
    episodes: int = 32
    plot_episodes: int = 8

    def __post_init__(self) -> None:
        from envs.config import TASKS

        super().__post_init__()
        one_of("task.controller", self.controller, CONTROLLERS)
        one_of("task.env", self.env, TASKS)
        at_least("task.episodes", self.episodes, 1)
        at_least("task.plot_episodes", self.plot_episodes, 0)


@dataclass
class SyntheticSizes:
    """``brain.synthetic.SyntheticConfig`` sizes of the embedded experiment."""

    n_subjects: int = 3
    n_runs: int = 4
    trs_per_run: int = 300
    n_test_trs: int = 300
    n_layers: int = 6
    n_features: int = 32
    vertices_per_region: int = 150
    n_repeats: int = 2  # test presentations per subject (1: a single presentation, no split-half ceiling)
    instructions: Any = None  # N (2-5) or a list of names: spaces are instructions with planted regions
    instruction_specific: bool = True  # false: no instruction-specific region is planted (a null experiment)


@dataclass
class StimulusFeatures:
    """Drive one synthetic space's planted responses by real features (``task=features`` output)."""

    file: str | None = None  # features .h5/.npz; its TRs set trs_per_run = (TRs - n_test_trs) // n_runs
    group: str | None = None  # instruction group in the file (null for a plain encoder's file)
    space: str = "audio"  # which synthetic space the real features replace


@dataclass
class Cleaning:
    """``brain.cleaning.clean_runs`` on the training BOLD (per run) and every test presentation."""

    detrend: bool = True  # remove a linear trend per run
    high_pass: float | None = None  # cutoff in Hz (e.g. 0.0078 = 1/128 s), discrete-cosine drift regressors
    standardize: str | None = "zscore_sample"  # zscore_sample | psc | null
    trim: list[int] = field(default_factory=lambda: [0, 0])  # TRs dropped at the start and end of every run
    confounds: list[str] | None = None  # one .npy (n_train_trs, n_confounds) per subject, training data only

    def __post_init__(self) -> None:
        positive("task.clean.high_pass", self.high_pass)
        if len(self.trim) != 2 or any(not isinstance(n, int) or n < 0 for n in self.trim):
            raise ValueError(f"task.clean.trim={self.trim!r} must be two whole numbers >= 0 (TRs cut at the start "
                             f"and the end of every run)")


@dataclass
class ExperimentFiles:
    """``task.data=files``: your own experiment (``brain.loaders.load_experiment``)."""

    bold: list[str] = field(default_factory=list)  # one training BOLD file per subject
    test_bold: list[Any] = field(default_factory=list)  # per subject: a list of repeat files, or one file
    features: Any = None  # {space: {train: file, test: file}}, per-layer .npz/.h5; group: name or groups: [..]|all
    runs: str | None = None  # .npy run labels of the training TRs
    labels: str | None = None  # .npy integer region label per voxel, or a NIfTI label image
    region_names: list[str] | None = None  # names of the labels
    vertices: str | None = None  # .npy fsaverage5 vertex index per voxel (for surface maps)
    mask: str | None = None  # mask image for NIfTI BOLD
    tr: float = 1.49

    def __post_init__(self) -> None:
        positive("task.files.tr", self.tr)


@dataclass
class BidsStudy:
    """``task.data=bids``: a BIDS dataset with fMRIPrep derivatives (``brain.bids.load_bids``)."""

    root: str | None = None  # the BIDS dataset
    derivatives: str | None = None  # its fMRIPrep derivatives; null = <root>/derivatives/fmriprep
    task: str | None = None  # the BIDS task of the runs
    space: str = "MNI152NLin2009cAsym"  # an MNI volume space (with its brain masks) or fsaverage5 (GIfTI pairs)
    subjects: list[str] = field(default_factory=list)  # labels without sub-; [] = all
    confounds: list[str] = field(default_factory=list)  # load_confounds strategies, e.g. [motion, wm_csf]
    confound_options: Any = None  # load_confounds options, e.g. {motion: basic}
    features: Any = None  # {space: directory of <stimulus>.npz|.h5}
    # the held-out stimuli: test repeat k is the k-th presentation of each, one after the other in this order
    # (each subject must see each equally often; their delays and cleaning restart at every stimulus)
    test_stimuli: list[str] = field(default_factory=list)
    stimuli: str | None = None  # a TSV run -> stimulus; null = the stim_file column of events.tsv
    labels: Any = None  # a BIDS dseg label image on the BOLD grid (0: background); fsaverage5: [left, right] .label.gii
    region_names: list[str] | None = None  # names of its labels (ascending); null = the .tsv beside it

    def spec(self) -> Any:
        """The library's :class:`brain.bids.BidsSpec` (its checks name ``task.bids.*``)."""
        from brain.bids import BidsSpec

        for key in ("root", "task"):
            if not getattr(self, key):
                raise ValueError(f"task.data=bids needs task.bids.{key}")
        if not isinstance(self.features, dict) or not self.features:
            raise ValueError("task.data=bids needs task.bids.features={space: directory of per-stimulus files}")
        if self.confound_options is not None and not isinstance(self.confound_options, dict):
            raise ValueError(f"task.bids.confound_options must be a mapping, e.g. {{motion: basic}}, "
                             f"got {self.confound_options!r}")
        try:
            return BidsSpec(root=self.root, task=self.task, features={str(k): str(v) for k, v in self.features.items()},
                            test_stimuli=tuple(self.test_stimuli), derivatives=self.derivatives, space=self.space,
                            subjects=tuple(self.subjects), confounds=tuple(self.confounds),
                            confound_options=dict(self.confound_options or {}), stimuli=self.stimuli,
                            labels=self._labels(),
                            region_names=None if self.region_names is None else tuple(self.region_names))
        except ValueError as e:
            raise ValueError(f"task.bids: {e}") from None

    def _labels(self) -> str | tuple[str, ...] | None:
        if self.labels is None or isinstance(self.labels, str):
            return self.labels
        if isinstance(self.labels, (list, tuple)) and self.labels and all(isinstance(x, str) for x in self.labels):
            return tuple(self.labels)
        raise ValueError(f"labels must be a path or a [left, right] pair of GIfTI paths, got {self.labels!r}")


@dataclass
class InstructionAnalysis:
    """Comparison of the instruction groups of one run (spaces named by instruction)."""

    pair: list[str] | None = None  # the two instructions of the variance partition; null = the first two


DATA_SOURCES = ("synthetic", "files", "bids")
BY_STIMULUS = "by_stimulus"  # task.cv: folds of whole stimuli (brain.ridge.cv_folds with groups)
NULLS = ("phase", "block")  # brain.stats.phase_randomisation_test | block_permutation_test


@dataclass
class EncodingTask:
    """Voxel-wise encoding of per-layer model features (synthetic default with planted truth)."""

    name: str = MISSING
    kind: str = "encoding"
    data: str = "synthetic"  # synthetic (embedded, planted truth on fsaverage5) | files | bids
    synthetic: SyntheticSizes = field(default_factory=SyntheticSizes)
    stimulus_features: StimulusFeatures = field(default_factory=StimulusFeatures)
    delays_s: list[float] | None = field(default_factory=lambda: [2, 4, 6, 8, 10])  # FIR delays in s -> whole TRs
    delays: list[int] | None = None  # FIR delays in TRs ([0] = none); when given it overrides delays_s
    alphas: list[float] | None = None  # null = logspace(-2, 7, 20)
    # folds of contiguous blocks (leave-one-run-out when runs are known), or by_stimulus: leave-one-stimulus-out,
    # every presentation of a stimulus held out together (task.data=bids: a stimulus may fill several runs)
    cv: Any = 5
    # task.cv=by_stimulus: deal the training stimuli to this many folds (grouped K-fold, 2 <= K <= n stimuli);
    # null = one fold per stimulus
    cv_folds: int | None = None
    score_cv: str = "r2"  # CV score that picks each voxel's penalty: r2 | r | neg_mse
    r_null: str = "phase"  # null of each layer's test r: phase (calibrated) | block (the paper's)
    n_permutations: int = 1000  # draws of that null (also of the ceilings' p-values)
    block: int | None = 10  # TRs per permutation block
    fdr_alpha: float = 0.05  # BH-FDR level over voxels; alpha of the subject test
    ceiling: str = "auto"  # auto | cross_subject | split_half | none
    n_bootstraps: int = 100  # bootstrap resamples of the cross-subject ceiling's extrapolation
    ceiling_fit: str = "exponential"  # exponential (the paper's) | spearman_brown (attenuation-corrected)
    min_ceiling: float = 0.05  # a region's ceiling (and, per voxel, the secondary ratio's) below this: no ratio
    selection: str = "auto"  # kept voxels: training_isc (independent of the ceiling; auto with >= 2 subjects) | ceiling
    min_region_voxels: int = 10  # region summaries (alignment, depth, best instruction) need this many voxels
    n_block_bootstraps: int = 200  # <= 4 subjects: block bootstrap of the test TRs for a within-subject CI (0: off)
    clean: Cleaning = field(default_factory=Cleaning)
    chunks: int = 1  # split the voxels into this many chunks ...
    chunk: int | None = None  # ... and run only chunk i as one job: -m task.chunk=0,1,2,3
    merge: str | None = None  # a directory holding the chunk runs: merge them into one result
    files: ExperimentFiles = field(default_factory=ExperimentFiles)
    bids: BidsStudy = field(default_factory=BidsStudy)
    # parcel-level encoding (brain.parcels): a label image on the data's grid (NIfTI; GIfTI on
    # fsaverage5, or [left, right]; .npy per voxel), or synthetic (2 parcels per planted region)
    atlas: Any = None
    atlas_labels: str | None = None  # TSV with index and name columns naming the atlas labels
    stacked: bool = False  # also a stacked encoder per space (brain.stacking): convex weights over its layers
    instructions: InstructionAnalysis = field(default_factory=InstructionAnalysis)

    def __post_init__(self) -> None:
        from brain.noise_ceiling import EXTRAPOLATIONS
        from brain.ridge import check_score
        from brain.selection import CEILINGS, SELECTIONS

        for key, valid in (("data", DATA_SOURCES), ("r_null", NULLS), ("ceiling", CEILINGS),
                           ("ceiling_fit", EXTRAPOLATIONS), ("selection", SELECTIONS)):
            one_of(f"task.{key}", getattr(self, key), valid)
        check_score(self.score_cv, "task.score_cv")
        if self.delays_s is not None and self.delays is None:
            if not self.delays_s or any(d < 0 for d in self.delays_s):
                raise ValueError(f"task.delays_s={self.delays_s!r} must be a non-empty list of delays >= 0 s")
        if self.delays is not None and (not self.delays or any(d < 0 for d in self.delays)):
            raise ValueError(f"task.delays={self.delays!r} must be a non-empty list of whole TRs >= 0")
        if self.delays is None and self.delays_s is None:
            raise ValueError("give task.delays_s (s) or task.delays (TRs); both are null")
        if self.alphas is not None and (not self.alphas or any(not a > 0 for a in self.alphas)):
            raise ValueError(f"task.alphas={self.alphas!r} must be a non-empty list of penalties > 0 (null: the "
                             f"default grid logspace(-2, 7, 20))")
        if self.cv == BY_STIMULUS:
            if self.data != "bids":
                raise ValueError(f"task.cv=by_stimulus needs the stimulus of every training TR, which only "
                                 f"task.data=bids gives (each run's stimulus); task.data={self.data} has none: use "
                                 f"task.cv=<number of folds> (leave-one-run-out when the runs are known)")
        elif isinstance(self.cv, str):
            raise ValueError(f"task.cv={self.cv!r} must be a whole number >= 2 or {BY_STIMULUS}")
        else:
            at_least("task.cv", self.cv, 2)
        if self.cv_folds is not None:
            if self.cv != BY_STIMULUS:
                raise ValueError(f"task.cv_folds={self.cv_folds} is the number of folds of task.cv=by_stimulus; with "
                                 f"task.cv={self.cv!r} the number of folds is task.cv itself (leave task.cv_folds null)")
            at_least("task.cv_folds", self.cv_folds, 2)
        at_least("task.n_permutations", self.n_permutations, 1)
        at_least("task.n_bootstraps", self.n_bootstraps, 1)
        if self.block is not None:
            at_least("task.block", self.block, 1)
        in_open_interval("task.fdr_alpha", self.fdr_alpha, 0, 1)
        at_least("task.min_ceiling", self.min_ceiling, 0, whole=False)
        at_least("task.min_region_voxels", self.min_region_voxels, 1)
        at_least("task.n_block_bootstraps", self.n_block_bootstraps, 0)
        at_least("task.chunks", self.chunks, 1)
        if self.chunk is not None and self.merge:
            raise ValueError("task.chunk and task.merge exclude each other: run the chunks, then merge them")
        if self.chunk is not None and not (isinstance(self.chunk, int) and 0 <= self.chunk < self.chunks):
            raise ValueError(f"task.chunk must be in 0 .. task.chunks - 1 = {self.chunks - 1}, got {self.chunk!r}")


@dataclass
class FeaturesTask:
    """Per-layer model features of a stimulus, one row per TR, per task instruction."""

    name: str = MISSING
    kind: str = "features"
    stimulus: str = "demo"  # a video or audio file, or demo (generated sound events, no download)
    model: str = "whisper-base"  # a local transformers model directory, or the preset whisper-base
    instructions: str = "auto"  # video | audio | none | a text file (one per line); auto: by the model
    tr: float = 1.49  # s; one clip (and one output row) per whole TR of the stimulus
    context: float = 2.98  # s of input per clip, ending at its TR's end (>= tr)
    batch_size: int = 8  # clips per forward pass
    mode: str = "generate"  # instruction-tuned models: generate (mean over answer tokens) | prompt
    max_new_tokens: int = 16
    n_frames: int | None = None  # video models: frames per clip (null: the model's setting, else 8)
    device: str = "auto"  # auto (GPU when torch sees one) | cpu | cuda | cuda:1 ...
    half: bool = True  # bfloat16/float16 weights on a GPU (always float32 on the CPU)
    max_clips: int | None = None  # only the first clips (a quick look)
    demo_duration: float = 1117.5  # stimulus=demo: seconds of generated audio (750 TRs of 1.49 s)

    def __post_init__(self) -> None:
        from brain.features.models import MODES

        one_of("task.mode", self.mode, MODES)
        positive("task.tr", self.tr)
        if not self.context >= self.tr:
            raise ValueError(f"task.context={self.context!r} must be >= task.tr={self.tr!r} (s of input per clip)")
        at_least("task.batch_size", self.batch_size, 1)
        at_least("task.max_new_tokens", self.max_new_tokens, 1)
        for key in ("n_frames", "max_clips"):
            if getattr(self, key) is not None:
                at_least(f"task.{key}", getattr(self, key), 1)
        positive("task.demo_duration", self.demo_duration)


# ---------------------------------------------------------------------------------------------
# Checks Hydra cannot make


def unknown_keys(node: Any, path: str = "", schema: Any = None, ignore: tuple[str, ...] = ()) -> list[str]:
    """Keys of ``node`` that its schema (default: the one OmegaConf keeps on the node) does
    not have, at every depth (OmegaConf lets ``+key=...`` add them to a structured config),
    each with the valid keys at its level; keys in ``ignore`` are skipped."""
    if not isinstance(node, DictConfig):
        return []
    schema = schema or OmegaConf.get_type(node)
    valid = [f.name for f in dataclasses.fields(schema)] if dataclasses.is_dataclass(schema) else list(node)
    where = f"in {path.rstrip('.')}" if path else "at the top level"
    out = []
    for key in node:
        if key in ignore:
            continue
        if key not in valid:
            out.append(f"unknown key {path + str(key)!r} (valid keys {where}: {', '.join(valid)})")
        elif not OmegaConf.is_missing(node, key):
            out += unknown_keys(node._get_node(key), f"{path}{key}.")
    return out


def non_finite(node: Any, path: str = "") -> list[str]:
    """Settings under ``node`` whose value is a float that is infinite or NaN (also inside
    lists): every number a run takes is finite (``train.learning_rate=inf`` would be checked
    as large, then fail in the middle of the run)."""
    if isinstance(node, DictConfig):
        return [p for key in node if not OmegaConf.is_missing(node, key)
                for p in non_finite(node._get_node(key), f"{path}{key}.")]
    if isinstance(node, ListConfig):
        return [p for i in range(len(node)) for p in non_finite(node._get_node(i), f"{path.rstrip('.')}[{i}].")]
    value = node._value() if hasattr(node, "_value") else node
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{path.rstrip('.')}={value!r}: must be a finite number"]
    return []


GROUPS = ("runtime", "arm", "agent", "train", "task")


def typed_settings(cfg: DictConfig) -> RunSettings:
    """The run's settings as typed objects, built once from the composed ``cfg``: each group
    becomes its schema's dataclass (``OmegaConf.to_object``), whose own checks, and the
    library's (``arm``, ``agent``, ``train``), judge it. Raises one ``ValueError`` naming every
    unknown key, every non-finite number and every setting a schema refuses. Types were
    checked by Hydra when it composed ``cfg``."""
    problems = unknown_keys(cfg, schema=RunSettings, ignore=("hydra",))
    problems += non_finite(OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]))
    if problems:
        raise ValueError("invalid config, nothing was run: " + "; ".join(problems))
    groups = {}
    for group in GROUPS:
        node = cfg.get(group)
        if not isinstance(node, DictConfig) or not dataclasses.is_dataclass(OmegaConf.get_type(node)):
            problems.append(f"{group}: no settings schema (choose a {group} shipped in experiments/conf/{group}/ or "
                            f"extend its schema)")
            continue
        try:
            groups[group] = OmegaConf.to_object(node)
        except (ValueError, TypeError) as exc:  # a message that names its key needs no group
            problems.append(str(exc) if str(exc).startswith(f"{group}.") else f"{group}: {exc}")
    try:
        at_least("seed", cfg.get("seed"), 0)
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        raise ValueError("invalid config, nothing was run: " + "; ".join(problems))
    return RunSettings(seed=cfg.seed, resume=bool(cfg.resume), **groups)
