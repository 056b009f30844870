"""An fMRI study as it is stored: BIDS with fMRIPrep derivatives, read through pybids, its
confounds through nilearn's ``load_confounds``, into an :class:`~brain.dataset.EncodingData`.

What is read (``BidsSpec``): for each subject, the preprocessed BOLD runs of one task in one
space: a volumetric space (``*_space-<space>_desc-preproc_bold.nii.gz``) with its brain masks
(``*_desc-brain_mask.nii.gz``, intersected over runs and subjects), or ``fsaverage5``: per run
a GIfTI pair ``*_hemi-L_space-fsaverage5_bold.func.gii`` / ``*_hemi-R_...`` (one data array
per volume, 10,242 vertices each, read by :func:`brain.loaders.load_gifti`) as vertices
0..20483, left then right, without a mask; their fMRIPrep confounds
(``*_desc-confounds_timeseries.tsv``, columns chosen by ``load_confounds`` strategies, given
the BOLD file or the GIfTI pair), the TR from the BOLD JSON sidecars (checked against the
NIfTI headers, or against the GIfTI ``TimeStep`` metadata, FreeSurfer's milliseconds, when
there is one, and between the two hemispheres' sidecars), and which stimulus each
run showed: the ``stim_file`` column of the run's ``events.tsv``, or a TSV the user gives
(columns ``run`` and ``stimulus``, optionally ``subject``). Features come per stimulus and
feature space: ``<features[space]>/<stimulus>.npz`` (or ``.h5`` / ``.hdf5``), one row per
TR, as :func:`brain.loaders.load_features` reads them.

The split is by stimulus. The stimuli named in ``test_stimuli`` are held out: their
presentations are the test repeats (the split-half ceiling needs two) and never training
data; every other stimulus is a training stimulus. With several test stimuli, test repeat k
is the k-th presentation of each, one after the other in the order they are named (each
subject must see every test stimulus equally often, and as often as the other subjects;
otherwise the subject and stimulus are named), ``features_test`` their features in that
order and ``EncodingData.test_runs`` labels the segments, at which the cleaning, the trim
and the FIR delays of the test side restart as at a training run. The inner cross-validation of the
penalties must never put one presentation of a stimulus in training and another in
validation (they share the stimulus-driven response). By default it is leave-one-run-out,
so each training stimulus must be shown once per subject (one run: leave-one-run-out is
then leave-one-stimulus-out); a training stimulus shown in several runs is refused, naming
the runs. With ``by_stimulus`` (``task.cv=by_stimulus``) the folds hold out whole stimuli
(:func:`brain.ridge.cv_folds` with the stimulus of every training TR, ``EncodingData.stimuli``),
all of a stimulus's runs together, so a training stimulus may be shown in several runs; the
FIR delays still restart at every run, also between two runs of one stimulus. ``n_folds``
(``task.cv_folds``) deals the training stimuli to that many folds instead of one per stimulus
(grouped K-fold, 2 <= K <= the number of training stimuli). ``study`` records the CV, the
stimuli each fold holds out and the test stimuli with their volumes.

Everything is checked before anything is fitted, and every problem raises a ``ValueError``
or ``FileNotFoundError`` naming the file and the BIDS entities: a missing derivative, mask
or confounds file, an unknown confound strategy, a run without features or whose features
are not as long as the run, a mask on another grid than the BOLD, TRs that disagree, an
unreadable sidecar; on the surface, a run with one hemisphere only, a hemisphere without
10,242 vertices or with other volumes than its twin.

Censored volumes: ``load_confounds``' ``sample_mask`` (the kept volumes of a run under the
strategies ``scrub``, high-motion volumes by ``fd_threshold`` / ``std_dvars_threshold`` with
segments shorter than ``scrub`` volumes censored too, and ``non_steady_state``) becomes a bool
mask per run, concatenated per subject into ``EncodingData.sample_mask_train`` and stacked
into ``sample_mask_test`` (None when nothing is censored). The volumes stay in the arrays, so
the FIR delays are built on whole runs; the cleaning, the fits and the scores then leave the
censored rows out (:class:`brain.prepare.SubjectData`). A run that keeps fewer than half its
volumes (``MIN_KEPT_FRACTION``) is refused, naming its file: its cleaning and delays would
rest on fragments. ``study["confounds"]["censored"]`` records, per run, the censored
volumes (count and indices) and the totals.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from brain.dataset import EncodingData, unusable_voxels
from brain.ridge import check_folds, cv_folds, fold_groups

STRATEGIES = ("motion", "wm_csf", "global_signal", "compcor", "high_pass", "non_steady_state", "scrub")
OPTIONS = ("motion", "wm_csf", "global_signal", "compcor", "n_compcor", "demean", "scrub", "fd_threshold",
           "std_dvars_threshold")
MIN_KEPT_FRACTION = 0.5  # a run keeping fewer of its volumes than this is refused
FEATURE_SUFFIXES = (".npz", ".h5", ".hdf5")
SURFACE_SPACES = {"fsaverage5": 10242}  # surface space: vertices per hemisphere (vertex index: left, then right)
HEMIS = ("L", "R")


def is_surface(space: str) -> bool:
    """Whether runs in ``space`` are surface data (GIfTI pairs), not volumes."""
    return space in SURFACE_SPACES


def _label_paths(labels: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if labels is None:
        return ()
    return (labels,) if isinstance(labels, (str, Path)) else tuple(str(x) for x in labels)


@dataclass(frozen=True)
class BidsSpec:
    """What to read. ``root``: the BIDS dataset; ``derivatives``: its fMRIPrep derivatives
    (default ``<root>/derivatives/fmriprep``); ``task`` and ``space`` select the runs;
    ``subjects``: labels without ``sub-`` (empty: all); ``confounds``: ``load_confounds``
    strategies (empty: none) with ``confound_options`` (e.g. ``{"motion": "basic"}``);
    ``features``: {feature space: directory of per-stimulus files}; ``test_stimuli``: the
    held-out stimuli; ``stimuli``: a TSV mapping runs to stimuli instead of ``events.tsv``;
    ``labels``: a BIDS ``dseg`` region label image on the BOLD grid (0: background; names
    from ``region_names``, one per label in ascending order, or the ``.tsv`` beside it); for
    ``space="fsaverage5"``, GIfTI label files instead: one of 20,484 vertices or a (left,
    right) pair of 10,242 each, a label naming one region in both hemispheres."""

    root: str
    task: str
    features: Mapping[str, str]
    test_stimuli: tuple[str, ...]
    derivatives: str | None = None
    space: str = "MNI152NLin2009cAsym"
    subjects: tuple[str, ...] = ()
    confounds: tuple[str, ...] = ()
    confound_options: Mapping[str, Any] = field(default_factory=dict)
    stimuli: str | None = None
    labels: str | tuple[str, ...] | None = None
    region_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.space.startswith("fs") and not is_surface(self.space):
            raise ValueError(f"space {self.space!r}: of the surface spaces only {', '.join(SURFACE_SPACES)} is read "
                             "(GIfTI pairs *_hemi-L|R_space-fsaverage5_bold.func.gii)")
        labels = _label_paths(self.labels)
        gifti = [x.lower().endswith(".gii") for x in labels]
        if is_surface(self.space) and labels and (not all(gifti) or len(labels) > 2):
            raise ValueError(f"labels {list(labels)}: {self.space} runs need GIfTI labels, one .label.gii of both "
                             "hemispheres or a [left, right] pair (a NIfTI dseg is on a volume grid)")
        if not is_surface(self.space) and (len(labels) > 1 or any(gifti)):
            raise ValueError(f"labels {list(labels)}: volumetric runs (space {self.space}) need one NIfTI dseg "
                             "image on the BOLD grid; GIfTI labels are for space=fsaverage5")
        unknown = [c for c in self.confounds if c not in STRATEGIES]
        if unknown:
            raise ValueError(f"unknown confound strategies {unknown}; valid: {', '.join(STRATEGIES)} "
                             "(nilearn.interfaces.fmriprep.load_confounds)")
        bad = [k for k in self.confound_options if k not in OPTIONS]
        if bad:
            raise ValueError(f"unknown confound options {bad}; valid: {', '.join(OPTIONS)}")
        if not self.features:
            raise ValueError("give the features per space: {space: directory of <stimulus>.npz files}")
        if not self.test_stimuli:
            raise ValueError("name at least one held-out test stimulus (task.bids.test_stimuli=[name, ...])")
        twice = sorted({t for t in self.test_stimuli if list(self.test_stimuli).count(t) > 1})
        if twice:
            raise ValueError(f"test stimuli {twice} are named more than once in {list(self.test_stimuli)}")


@dataclass(frozen=True)
class Run:
    """One preprocessed run: its subject, BIDS run entity, BOLD file, stimulus and length;
    on a surface, ``bold`` is the left hemisphere's GIfTI and ``right`` the right's."""

    subject: str
    run: Any
    bold: Path
    stimulus: str
    n_trs: int
    confounds: Path | None = None
    right: Path | None = None


def stimulus_name(stim_file: str) -> str:
    """The stimulus a ``stim_file`` names: its file name without the last suffix."""
    return PurePosixPath(str(stim_file)).stem


def split_runs(runs: list[Run], test_stimuli: tuple[str, ...], by_stimulus: bool = False
               ) -> tuple[list[Run], list[Run]]:
    """One subject's (training runs ordered by stimulus, the presentations of one stimulus
    in presentation order; test runs in presentation order). Refuses a split that would
    leak: without ``by_stimulus`` (leave-one-run-out CV), a training stimulus shown in more
    than one run (its presentations would fall on both sides of a fold); a test stimulus the
    subject never saw, or test stimuli it saw a different number of times (a test repeat is
    the k-th presentation of every test stimulus); fewer than two training stimuli left for
    cross-validation."""
    sub = runs[0].subject if runs else "?"
    seen = sorted({r.stimulus for r in runs})
    missing = [t for t in test_stimuli if t not in seen]
    if missing:
        raise ValueError(f"sub-{sub}: test stimuli {missing} are in none of its runs; its stimuli: {seen}")
    test = [r for r in runs if r.stimulus in test_stimuli]
    shown = {t: sum(r.stimulus == t for r in test) for t in test_stimuli}
    if len(set(shown.values())) > 1:
        fewest = min(shown, key=shown.get)
        raise ValueError(f"sub-{sub}: test stimulus {fewest!r} is shown {shown[fewest]} times, but "
                         + ", ".join(f"{t!r} {n} times" for t, n in shown.items() if t != fewest)
                         + ": every test stimulus must be shown equally often (test repeat k is the k-th "
                         "presentation of each, one after the other)")
    train = sorted((r for r in runs if r.stimulus not in test_stimuli), key=lambda r: r.stimulus)
    for stim in sorted({r.stimulus for r in train}):
        shown = [r for r in train if r.stimulus == stim]
        if len(shown) > 1 and not by_stimulus:
            raise ValueError(f"sub-{sub}: training stimulus {stim!r} is shown in {len(shown)} runs "
                             f"({', '.join(r.bold.name for r in shown)}): leave-one-run-out CV would put one "
                             "presentation in training and another in validation; cross-validate by stimulus "
                             "(task.cv=by_stimulus: all presentations of a stimulus held out together), name it "
                             "a test stimulus, or keep one presentation")
    n_train = len({r.stimulus for r in train})
    if n_train < 2:
        raise ValueError(f"sub-{sub}: {n_train} training stimulus left after holding out {list(test_stimuli)}; "
                         "cross-validation by stimulus needs >= 2")
    return train, test


def test_repeats(test: list[Run], test_stimuli: tuple[str, ...], items: list[np.ndarray]) -> np.ndarray:
    """(n_repeats, n_test, ...) from ``items``, one array per run of ``test`` (a subject's test
    runs in presentation order, as :func:`split_runs` gives them): repeat k is the k-th
    presentation of every test stimulus concatenated in the order of ``test_stimuli``."""
    per_stim = {t: [x for r, x in zip(test, items, strict=True) if r.stimulus == t] for t in test_stimuli}
    n = len(per_stim[test_stimuli[0]])
    return np.stack([np.concatenate([per_stim[t][k] for t in test_stimuli]) for k in range(n)])


def _layout(spec: BidsSpec) -> Any:
    from bids import BIDSLayout

    root = Path(spec.root).expanduser()
    deriv = Path(spec.derivatives).expanduser() if spec.derivatives else root / "derivatives" / "fmriprep"
    for p, what in ((root, "BIDS root"), (deriv, "fMRIPrep derivatives")):
        if not p.is_dir():
            raise FileNotFoundError(f"{what} {p}: no such directory")
    if not (deriv / "dataset_description.json").is_file():
        raise FileNotFoundError(f"{deriv}: no dataset_description.json (an fMRIPrep derivatives folder has one)")
    try:
        return BIDSLayout(str(root), derivatives=str(deriv), validate=False)
    except Exception as exc:  # pybids: unreadable JSON and the like
        raise ValueError(f"{root} (derivatives {deriv}): pybids cannot index the dataset: "
                         f"{type(exc).__name__}: {exc}") from exc


def _sidecar_tr(bold: Path) -> float:
    side = Path(str(bold).removesuffix(".nii.gz").removesuffix(".nii").removesuffix(".func.gii") + ".json")
    if not side.is_file():
        raise FileNotFoundError(f"{bold}: no JSON sidecar {side.name} (it gives RepetitionTime)")
    try:
        meta = json.loads(side.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{side}: unreadable sidecar: {exc}") from None
    tr = meta.get("RepetitionTime") if isinstance(meta, dict) else None
    if not isinstance(tr, (int, float)) or not tr > 0:
        raise ValueError(f"{side}: RepetitionTime must be a number > 0, got {tr!r}")
    return float(tr)


def _stimulus_table(path: str) -> list[dict[str, str]]:
    from brain.loaders import read_table

    return read_table(path, "stimulus table", ("run", "stimulus"), optional="subject")


def _events_stimulus(layout: Any, bold: Any) -> str:
    ents = {k: v for k, v in bold.get_entities().items() if k in ("subject", "session", "task", "run", "acquisition")}
    events = layout.get(scope="raw", suffix="events", extension=".tsv", **ents)
    if len(events) != 1:
        raise FileNotFoundError(f"{bold.path}: {len(events)} events.tsv files for {ents}; need one with a stim_file "
                                "column (or give a stimulus table)")
    import pandas as pd

    try:
        table = pd.read_csv(events[0].path, sep="\t", na_values="n/a")
    except Exception as exc:
        raise ValueError(f"{events[0].path}: unreadable events file: {exc}") from None
    if "stim_file" not in table:
        raise ValueError(f"{events[0].path}: no stim_file column; give a stimulus table (task.bids.stimuli)")
    names = sorted({stimulus_name(s) for s in table["stim_file"].dropna()})
    if len(names) != 1:
        raise ValueError(f"{events[0].path}: the run shows {len(names)} stimuli {names}; need exactly one per run")
    return names[0]


def _hemisphere_pairs(layout: Any, spec: BidsSpec, sub: str) -> tuple[list[Any], dict[str, Path]]:
    """A subject's surface runs: the left hemispheres' BIDS files and {left path: right path},
    refusing a run with one hemisphere only (naming the file that is there)."""
    files = layout.get(scope="derivatives", subject=sub, task=spec.task, space=spec.space, suffix="bold",
                       extension=".func.gii", hemi=list(HEMIS))
    if not files:
        raise FileNotFoundError(f"sub-{sub}: no fMRIPrep surface BOLD *_task-{spec.task}_hemi-L_space-{spec.space}"
                                f"_bold.func.gii (and hemi-R) under the derivatives")
    by_run: dict[tuple, dict[str, Any]] = {}
    for f in files:
        ents = f.get_entities()
        key = tuple(sorted((k, str(v)) for k, v in ents.items() if k != "hemi"))
        by_run.setdefault(key, {})[ents["hemi"]] = f
    lefts, rights = [], {}
    for pair in by_run.values():
        for have, other in (("L", "R"), ("R", "L")):
            if other not in pair:
                name = Path(pair[have].path).name.replace(f"_hemi-{have}_", f"_hemi-{other}_")
                raise FileNotFoundError(f"{pair[have].path}: no other hemisphere ({name}); {spec.space} runs need "
                                        "both hemispheres (left and right GIfTI)")
        lefts.append(pair["L"])
        rights[pair["L"].path] = Path(pair["R"].path)
    return sorted(lefts, key=lambda f: f.path), rights


def _surface_run(left: Path, right: Path, space: str) -> np.ndarray:
    """A surface run's BOLD (n_trs, both hemispheres' vertices: left, then right), refused
    unless each hemisphere has the space's vertices, both the same volumes and TR, and the
    GIfTI ``TimeStep`` (when present) is the sidecar's TR."""
    from brain.loaders import TR_TOL, load_gifti

    n_hemi = SURFACE_SPACES[space]
    seen, arrays = [], []
    for p in (left, right):
        arr, step = load_gifti(p)
        if arr.shape[1] != n_hemi:
            raise ValueError(f"{p}: {arr.shape[1]} vertices ({arr.shape[0]} volumes); a hemisphere of {space} has "
                             f"{n_hemi}")
        tr = _sidecar_tr(p)
        if step is not None and min(abs(step / 1000 - tr), abs(step - tr)) > TR_TOL:
            raise ValueError(f"{p}: the GIfTI TimeStep metadata gives {step:g} (ms: {step / 1000:g} s), its JSON "
                             f"sidecar RepetitionTime {tr:g} s")
        seen.append((arr.shape[0], tr))
        arrays.append(arr)
    (n_left, tr_left), (n_right, tr_right) = seen
    if n_right != n_left:
        raise ValueError(f"{right}: {n_right} volumes, the left hemisphere {left.name} has {n_left}")
    if abs(tr_right - tr_left) > TR_TOL:
        raise ValueError(f"{right}: its sidecar gives TR {tr_right:g} s, the left hemisphere's {tr_left:g} s")
    return np.concatenate(arrays, axis=1)


def acquisition_order(bids_file: Any) -> tuple:
    """Sort key of a BIDS run file: session, then the run entity as a number (``run-2``
    before ``run-10``, where file names sort ``run-10`` first), then the path."""
    ents = bids_file.get_entities()
    run = ents.get("run")
    number = int(run) if run is not None and str(run).isdigit() else -1
    return (str(ents.get("session", "")), number, str(bids_file.path))


def find_runs(spec: BidsSpec, layout: Any, surfaces: dict[Path, np.ndarray] | None = None
              ) -> dict[str, list[Run]]:
    """Per subject, its runs of ``spec.task`` in ``spec.space`` with their stimuli, in
    acquisition order (:func:`acquisition_order`: presentation k of a test stimulus is its
    k-th run by number, not by file name). On a
    surface each run is a left and a right GIfTI, read and checked here (:func:`_surface_run`);
    ``surfaces``: a dict that then keeps each run's BOLD under its left file's path, so that
    it is not parsed twice (:func:`_read_run` takes it from there)."""
    import nibabel as nib

    subjects = list(spec.subjects) or layout.get_subjects(scope="derivatives")
    known = layout.get_subjects()
    for s in subjects:
        if s not in known:
            raise ValueError(f"sub-{s} is not in {spec.root}; subjects: {sorted(known)}")
    table = None if spec.stimuli is None else _stimulus_table(spec.stimuli)
    out = {}
    for sub in subjects:
        rights: dict[str, Path] = {}
        if is_surface(spec.space):
            bolds, rights = _hemisphere_pairs(layout, spec, sub)
        else:
            bolds = layout.get(scope="derivatives", subject=sub, task=spec.task, space=spec.space, desc="preproc",
                               suffix="bold", extension=[".nii.gz", ".nii"])
        if not bolds:
            raise FileNotFoundError(f"sub-{sub}: no fMRIPrep BOLD *_task-{spec.task}_space-{spec.space}"
                                    f"_desc-preproc_bold.nii.gz under the derivatives")
        runs = []
        for b in sorted(bolds, key=acquisition_order):
            ents = b.get_entities()
            if table is None:
                stim = _events_stimulus(layout, b)
            else:
                hits = [r["stimulus"] for r in table if str(r["run"]) == str(ents.get("run"))
                        and r.get("subject", sub) in (sub, f"sub-{sub}", "", None)]
                if len(hits) != 1:
                    raise ValueError(f"{spec.stimuli}: {len(hits)} rows for sub-{sub} run {ents.get('run')} "
                                     f"({Path(b.path).name}); need one")
                stim = stimulus_name(hits[0])
            conf = None
            if spec.confounds:
                c = layout.get(scope="derivatives", subject=sub, task=spec.task, run=ents.get("run"),
                               desc="confounds", suffix="timeseries", extension=".tsv",
                               **({"session": ents["session"]} if "session" in ents else {}))
                if len(c) != 1:
                    raise FileNotFoundError(f"{b.path}: no fMRIPrep confounds file "
                                            f"(*_desc-confounds_timeseries.tsv) for run {ents.get('run')}")
                conf = Path(c[0].path)
            if rights:
                y = _surface_run(Path(b.path), rights[b.path], spec.space)
                if surfaces is not None:
                    surfaces[Path(b.path)] = y
                runs.append(Run(sub, ents.get("run"), Path(b.path), stim, y.shape[0], conf, rights[b.path]))
                continue
            try:
                shape = nib.load(b.path).shape
            except Exception as exc:
                raise ValueError(f"{b.path}: cannot read the BOLD image: {type(exc).__name__}: {exc}") from None
            if len(shape) != 4:
                raise ValueError(f"{b.path}: BOLD must be 4-D, got shape {shape}")
            runs.append(Run(sub, ents.get("run"), Path(b.path), stim, int(shape[3]), conf))
        out[sub] = runs
    return out


def _masks(layout: Any, spec: BidsSpec, runs: dict[str, list[Run]]) -> Any:
    """The intersection of every subject's brain masks, refused when a mask is on another
    grid than the BOLD it belongs to."""
    import nibabel as nib
    from nilearn.masking import intersect_masks

    from brain.loaders import same_grid

    imgs = []
    for sub, rs in runs.items():
        masks = layout.get(scope="derivatives", subject=sub, space=spec.space, desc="brain", suffix="mask",
                           extension=[".nii.gz", ".nii"], datatype="func")
        if not masks:
            raise FileNotFoundError(f"sub-{sub}: no brain mask *_space-{spec.space}_desc-brain_mask.nii.gz")
        ref = nib.load(rs[0].bold)
        for m in masks:
            img = nib.load(m.path)
            if not same_grid(img, ref):
                raise ValueError(f"{m.path}: the mask is on another grid (shape {img.shape[:3]}) than the BOLD "
                                 f"{rs[0].bold.name} (shape {ref.shape[:3]}) or has another affine; resample it "
                                 "onto the BOLD grid first (it is not resampled silently)")
            imgs.append(img)
        for r in rs[1:]:
            img = nib.load(r.bold)
            if not same_grid(img, ref):
                raise ValueError(f"{r.bold}: on another grid than {rs[0].bold.name}")
    mask = intersect_masks(imgs, threshold=1, connected=False) if len(imgs) > 1 else imgs[0]
    if not np.asarray(mask.dataobj).any():
        raise ValueError("the subjects' brain masks have no voxel in common")
    return mask


def _checked_tr(bold: Path) -> float:
    """The run's TR from its sidecar, refused when the NIfTI header gives another one."""
    from brain.loaders import TR_TOL, nifti_tr

    tr = _sidecar_tr(bold)
    if bold.name.endswith(".func.gii"):  # both hemispheres and TimeStep checked by find_runs
        return tr
    header = nifti_tr(bold)
    if header is not None and abs(header - tr) > TR_TOL:
        raise ValueError(f"{bold}: the NIfTI header gives TR {header:g} s, its sidecar {tr:g} s")
    return tr


def _read_run(r: Run, masker: Any, tr: float, surfaces: dict[Path, np.ndarray] | None = None) -> np.ndarray:
    import nibabel as nib

    if r.right is not None:  # fsaverage5: the left hemisphere's vertices, then the right's (read by find_runs)
        if surfaces is not None and r.bold in surfaces:
            return surfaces.pop(r.bold)
        return _surface_run(r.bold, r.right, next(s for s in SURFACE_SPACES if f"_space-{s}_" in r.bold.name))
    img = nib.load(r.bold)
    try:
        return np.asarray(masker.transform(img), np.float32)
    except Exception as exc:
        raise ValueError(f"{r.bold}: cannot read the BOLD: {type(exc).__name__}: {exc}") from exc


def _confound_matrix(r: Run, spec: BidsSpec) -> tuple[Any, np.ndarray | None]:
    """The run's confounds table (one row per volume) and its kept volumes as a bool mask
    (n_trs,), None when ``load_confounds`` censors nothing; a run keeping fewer than
    ``MIN_KEPT_FRACTION`` of its volumes is refused."""
    import warnings

    from nilearn.interfaces.fmriprep import load_confounds

    opts = dict(spec.confound_options)
    if "high_pass" not in spec.confounds and "demean" not in opts:
        opts["demean"] = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = str(r.bold) if r.right is None else [str(r.bold), str(r.right)]  # GIfTI: the pair
            table, sample_mask = load_confounds(img, strategy=tuple(spec.confounds), **opts)
    except Exception as exc:
        raise ValueError(f"{r.confounds}: load_confounds{tuple(spec.confounds)} failed: "
                         f"{type(exc).__name__}: {exc}") from exc
    if len(table) != r.n_trs:
        raise ValueError(f"{r.confounds}: {len(table)} rows, the BOLD {r.bold.name} has {r.n_trs} volumes")
    if sample_mask is None:
        return table, None
    kept = np.asarray(sample_mask, dtype=np.int64)
    if kept.size and (kept.min() < 0 or kept.max() >= r.n_trs):
        raise ValueError(f"{r.confounds}: load_confounds kept volumes {kept.min()}..{kept.max()} outside the "
                         f"run's {r.n_trs} volumes")
    mask = np.zeros(r.n_trs, bool)
    mask[kept] = True
    if mask.sum() < MIN_KEPT_FRACTION * r.n_trs:
        raise ValueError(f"{r.confounds}: the strategy {list(spec.confounds)} "
                         f"(options {dict(spec.confound_options)}) censors {int((~mask).sum())} of the "
                         f"{r.n_trs} volumes of {r.bold.name}, keeping {int(mask.sum())} < "
                         f"{MIN_KEPT_FRACTION:g} of the run: too few to clean and fit on; raise fd_threshold / "
                         "std_dvars_threshold, lower scrub, or leave the run out")
    return table, (None if mask.all() else mask)


def _features(spec: BidsSpec, stimuli: dict[str, int], where: dict[str, Path], tr: float
              ) -> dict[str, dict[str, list[np.ndarray]]]:
    """{space: {stimulus: [per-layer arrays]}}; every stimulus has a file per space whose rows
    match the run's volumes, with the same layers and widths."""
    from brain.loaders import load_features

    out: dict[str, dict[str, list[np.ndarray]]] = {}
    for space, folder in spec.features.items():
        d = Path(folder).expanduser()
        if not d.is_dir():
            raise FileNotFoundError(f"features of space {space!r}: {d} is not a directory")
        out[space] = {}
        shapes = None
        for stim, n in stimuli.items():
            files = [d / f"{stim}{ext}" for ext in FEATURE_SUFFIXES if (d / f"{stim}{ext}").is_file()]
            if not files:
                raise FileNotFoundError(f"no features of stimulus {stim!r} (run {where[stim]}) for space {space!r}: "
                                        f"looked for {stim}{{{','.join(FEATURE_SUFFIXES)}}} in {d}")
            layers = load_features(files[0], tr=tr, n_trs=n)
            arrays = list(layers.values())
            got = [(k, x.shape[1]) for k, x in layers.items()]
            if shapes is not None and got != shapes:
                raise ValueError(f"{files[0]}: layers {got} differ from the other stimuli's {shapes}")
            shapes = got
            rows = {x.shape[0] for x in arrays}
            if rows != {n}:
                raise ValueError(f"{files[0]}: {sorted(rows)} rows of features, the run {where[stim]} has {n} "
                                 f"volumes at TR {tr:g} s; give one row per TR")
            out[space][stim] = arrays
    return out


def load_bids(spec: BidsSpec, progress: bool = False, by_stimulus: bool = False, n_folds: int | None = None
              ) -> EncodingData:
    """The study as an :class:`~brain.dataset.EncodingData` (see the module docstring), with
    its confounds per run in ``confounds_train`` / ``confounds_test``, each training TR's
    stimulus in ``stimuli`` and what was read in ``study``: the runs with their stimuli and
    files, the split with the inner CV and each fold's held-out stimuli, the confound
    strategy and columns, the TR and the features per stimulus. ``by_stimulus``: the inner
    CV holds out whole stimuli (a training stimulus may then be shown in several runs);
    False: leave-one-run-out (each training stimulus shown once). ``n_folds``: with
    ``by_stimulus``, deal the training stimuli to this many folds (grouped K-fold,
    :func:`brain.ridge.cv_folds`); None: one fold per stimulus. Several test stimuli: repeat
    k of ``bold_test`` is the k-th presentation of each, one after the other in the order of
    ``spec.test_stimuli``, ``features_test`` their features in that order and ``test_runs``
    labels the segments (None with one test stimulus)."""
    from nilearn.maskers import NiftiMasker
    from tqdm.auto import tqdm

    layout = _layout(spec)
    surfaces: dict[Path, np.ndarray] = {}  # surface runs as find_runs read them (emptied as they are used)
    runs = find_runs(spec, layout, surfaces)
    splits = {sub: split_runs(rs, spec.test_stimuli, by_stimulus) for sub, rs in runs.items()}
    trs = {r.bold: _checked_tr(r.bold) for rs in runs.values() for r in rs}
    values, counts = np.unique(np.round(list(trs.values()), 6), return_counts=True)
    tr = float(values[np.argmax(counts)])
    odd = [f"{p.name}: {t:g} s" for p, t in trs.items() if round(t, 6) != tr]
    if odd:
        raise ValueError(f"the runs' TRs differ: most runs have {tr:g} s, but " + ", ".join(odd))
    first = next(iter(splits))
    train_stims = [r.stimulus for r in splits[first][0]]
    lengths = {r.stimulus: r.n_trs for r in splits[first][0] + splits[first][1]}
    where = {r.stimulus: r.bold.name for r in splits[first][0] + splits[first][1]}
    n_repeats = len(splits[first][1]) // len(spec.test_stimuli)  # split_runs: each test stimulus as often
    if n_folds is not None:
        n_stims = len(set(train_stims))
        if not by_stimulus:
            raise ValueError(f"n_folds={n_folds}: folds of whole stimuli need by_stimulus (task.cv=by_stimulus)")
        if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or not 2 <= n_folds <= n_stims:
            raise ValueError(f"task.cv_folds={n_folds!r}: grouped K-fold over the {n_stims} training stimuli "
                             f"{sorted(set(train_stims))} needs 2 <= K <= {n_stims}")
    for sub, (train, test) in splits.items():
        if [r.stimulus for r in train] != train_stims:
            raise ValueError(f"sub-{sub} saw the training stimuli {[r.stimulus for r in train]}, sub-{first} saw "
                             f"{train_stims}: every subject needs the same training stimuli")
        if len(test) != n_repeats * len(spec.test_stimuli):
            stim = spec.test_stimuli[0]
            raise ValueError(f"sub-{sub} saw the test stimulus {stim!r} {sum(r.stimulus == stim for r in test)} "
                             f"times, sub-{first} {n_repeats} times: every subject needs as many presentations")
        for r in train + test:
            if r.n_trs != lengths[r.stimulus]:
                raise ValueError(f"{r.bold}: {r.n_trs} volumes of stimulus {r.stimulus!r}, {where[r.stimulus]} of "
                                 f"sub-{first} has {lengths[r.stimulus]}")
    feats = _features(spec, lengths, where, tr)
    surface = is_surface(spec.space)
    mask = None if surface else _masks(layout, spec, runs)  # a surface run has every vertex, no mask
    masker = None if surface else NiftiMasker(mask_img=mask, standardize=None, reports=False).fit()
    conf_tables: dict[Path, Any] = {}
    kept: dict[Path, np.ndarray | None] = {}
    if spec.confounds:
        for rs in runs.values():
            for r in rs:
                conf_tables[r.bold], kept[r.bold] = _confound_matrix(r, spec)

    def keep(r: Run) -> np.ndarray:
        m = kept.get(r.bold)
        return np.ones(r.n_trs, bool) if m is None else m
    columns = sorted({c for t in conf_tables.values() for c in t.columns})

    def confounds(r: Run) -> np.ndarray:
        t = conf_tables[r.bold]
        return np.stack([t[c].to_numpy(float) if c in t else np.zeros(r.n_trs) for c in columns], axis=1)

    train_bold, test_bold, conf_train, conf_test, keep_train, keep_test = [], [], [], [], [], []
    with tqdm(total=sum(len(rs) for rs in runs.values()), desc="BIDS runs", unit="run", disable=not progress) as bar:
        for train, test in splits.values():
            ys = []
            for r in train + test:
                ys.append(_read_run(r, masker, tr, surfaces))
                bar.update()
            train_bold.append(np.concatenate(ys[:len(train)]))
            test_bold.append(test_repeats(test, spec.test_stimuli, ys[len(train):]))
            keep_train.append(np.concatenate([keep(r) for r in train]))
            keep_test.append(test_repeats(test, spec.test_stimuli, [keep(r) for r in test]))
            if columns:
                conf_train.append(np.concatenate([confounds(r) for r in train]))
                conf_test.append(test_repeats(test, spec.test_stimuli, [confounds(r) for r in test]))
    y_train, y_test = np.stack(train_bold), np.stack(test_bold)
    labels_names = _regions(spec, mask, y_train.shape[2])
    from brain.loaders import _bad_voxel_notes

    subs = [f"sub-{s}" for s in splits]
    notes = _bad_voxel_notes(y_train, y_test, subs, subs, unusable_voxels)
    run_labels = np.concatenate([np.full(lengths[s], i) for i, s in enumerate(train_stims)])
    stim_labels = np.concatenate([np.full(lengths[s], s) for s in train_stims])
    folds = cv_folds(len(run_labels), n_folds, run_labels, stim_labels if by_stimulus else None)
    check_folds(folds, stim_labels)
    test_names = list(spec.test_stimuli)
    test_runs = None if len(test_names) == 1 else np.concatenate(
        [np.full(lengths[t], i) for i, t in enumerate(test_names)])
    mask_train, mask_test = np.stack(keep_train), np.stack(keep_test)
    censored = _censored_record(runs, kept, mask_train, mask_test) if any(m is not None for m in kept.values()) \
        else None
    shown = {s: train_stims.count(s) for s in sorted(set(train_stims))}
    study = {
        "source": "bids", "root": str(Path(spec.root).expanduser().resolve()), "task": spec.task,
        "space": spec.space, "subjects": list(splits), "tr": tr, "tr_from": "BOLD JSON sidecars (RepetitionTime)",
        "split": {"by": "stimulus", "test_stimuli": test_names, "train_stimuli": list(shown),
                  "train_presentations": shown, "test_presentations": n_repeats,
                  "test_volumes": {t: lengths[t] for t in test_names},
                  "cv": "by_stimulus" if by_stimulus else "leave-one-run-out", "cv_folds": n_folds,
                  "inner_cv": (f"grouped {len(folds)}-fold over the training stimuli (every presentation of a "
                               "stimulus held out together)" if by_stimulus and n_folds is not None else
                               "leave-one-stimulus-out (every presentation of a stimulus held out together)"
                               if by_stimulus else "leave-one-run-out (one run per training stimulus, so "
                               "leave-one-stimulus-out)"),
                  "folds": fold_groups(folds, stim_labels)},
        "runs": {f"sub-{sub}": [{"run": r.run, "bold": r.bold.name, "stimulus": r.stimulus, "volumes": r.n_trs}
                                | ({"bold_right": r.right.name} if r.right is not None else {})
                                for r in rs] for sub, rs in runs.items()},
        "stimuli_from": spec.stimuli or "events.tsv stim_file",
        "confounds": {"strategy": list(spec.confounds), "options": dict(spec.confound_options),
                      "columns": columns, **({"censored": censored} if censored else {})},
        "features": {sp: {s: str(Path(spec.features[sp]).expanduser()) for s in lengths} for sp in spec.features},
        "voxels": int(y_train.shape[2]),
        "mask": (f"none: {spec.space} vertices 0..{y_train.shape[2] - 1}, left hemisphere then right" if surface
                 else "intersection of the subjects' brain masks"),
    }
    return EncodingData(
        features_train={sp: [np.concatenate([f[s][k] for s in train_stims]) for k in range(len(f[train_stims[0]]))]
                        for sp, f in feats.items()},
        features_test={sp: [np.concatenate([f[t][k] for t in test_names]) for k in range(len(f[test_names[0]]))]
                       for sp, f in feats.items()},
        bold_train=y_train, runs=run_labels, stimuli=stim_labels, bold_test=y_test, region=labels_names[0],
        region_names=labels_names[1], spaces=tuple(feats), vertices=np.arange(y_train.shape[2]) if surface else None,
        tr=tr, mask=mask, notes=tuple(notes),
        confounds_train=np.stack(conf_train) if columns else None,
        confounds_test=np.stack(conf_test) if columns else None, study=study, test_runs=test_runs,
        sample_mask_train=None if censored is None else mask_train,
        sample_mask_test=None if censored is None else mask_test)


def _censored_record(runs: dict[str, list[Run]], kept: dict[Path, np.ndarray | None], mask_train: np.ndarray,
                     mask_test: np.ndarray) -> dict[str, Any]:
    """For metrics.json: per subject and run the censored volumes (count, indices), the
    totals, and the test TRs kept in every repeat of every subject (the ones scored)."""
    per_run = {f"sub-{sub}": [{"run": r.run, "bold": r.bold.name, "stimulus": r.stimulus,
                               "censored": int((~keep).sum()), "indices": np.flatnonzero(~keep).tolist()}
                              for r in rs for keep in [np.ones(r.n_trs, bool) if kept.get(r.bold) is None
                                                       else kept[r.bold]]]
               for sub, rs in runs.items()}
    n_vol = sum(r.n_trs for rs in runs.values() for r in rs)
    n_cens = sum(x["censored"] for v in per_run.values() for x in v)
    everywhere = mask_test.all(axis=(0, 1))
    return {"runs": per_run, "volumes": n_vol, "censored": n_cens, "fraction": round(n_cens / n_vol, 4),
            "train_censored": int((~mask_train).sum()), "test_censored": int((~mask_test).sum()),
            "test_trs": int(everywhere.size), "test_trs_kept_everywhere": int(everywhere.sum())}


def _regions(spec: BidsSpec, mask: Any, n_vox: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """Region per voxel from a BIDS ``dseg`` label image on the BOLD grid (on fsaverage5: a
    GIfTI label file of both hemispheres or a left/right pair, read by
    :func:`brain.parcels._gifti_labels`, a label naming one region in both hemispheres):
    label 0 is the background (its voxels form the region ``unlabelled``), the others are
    named by ``region_names`` (one per label, ascending), else by the ``.tsv`` beside the
    image (``index`` and ``name`` columns; for GIfTI, beside the first file without its
    ``hemi-L`` entity, BIDS's shared look-up table, or beside it), else ``region_<label>``."""
    if spec.labels is None:
        return np.zeros(n_vox, int), ("all",)
    from brain.parcels import _gifti_labels, _volume_labels, read_label_table

    paths = [Path(x).expanduser() for x in _label_paths(spec.labels)]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"label image {p}: no such file")
    p = paths[0]
    if is_surface(spec.space):
        values = np.concatenate(_gifti_labels(paths, distinct_hemispheres=False))
        if values.size != n_vox:
            raise ValueError(f"{', '.join(map(str, paths))}: {values.size} labels for {n_vox} vertices")
        stem = str(p).removesuffix(".gii").removesuffix(".label")
        tables = [Path(stem.replace("_hemi-L_", "_").replace("hemi-L_", "") + ".tsv"), Path(stem + ".tsv")]
    else:
        values = _volume_labels(p, mask)
        tables = [Path(str(p).removesuffix(".gz").removesuffix(".nii") + ".tsv")]
    if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)) or values.min() < 0:
        raise ValueError(f"{p}: region labels must be whole numbers >= 0 (0: background)")
    values = values.astype(int)
    used = [int(v) for v in np.unique(values) if v != 0]
    table_path = next((t for t in tables if t.is_file()), tables[0])
    if spec.region_names:
        if len(spec.region_names) != len(used):
            raise ValueError(f"{p}: {len(used)} labels {used[:10]} but {len(spec.region_names)} region names")
        names = list(spec.region_names)
    elif table_path.is_file():
        table = read_label_table(table_path)
        missing = [v for v in used if v not in table]
        if missing:
            raise ValueError(f"{table_path}: labels {missing[:10]} of {p.name} are not in the table")
        names = [table[v] for v in used]
    else:
        names = [f"region_{v}" for v in used]
    index = {v: i for i, v in enumerate(used)}
    region = np.array([index.get(int(v), len(used)) for v in values])
    if (values == 0).any():
        names.append("unlabelled")
    return region, tuple(names)
