"""The data of one encoding experiment, as the pipeline consumes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


def unusable_voxels(bold_train: np.ndarray, bold_test: np.ndarray) -> np.ndarray:
    """(n_subjects, n_vox) bool: voxels with a NaN or infinite value, or constant over time
    (e.g. all zero) in the training data or in any test repeat of that subject.

    ``bold_train`` (n_subjects, n_train, n_vox); ``bold_test`` (n_subjects, n_repeats, n_test, n_vox)."""
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(bold_train).all(axis=1) | ~np.isfinite(bold_test).all(axis=(1, 2))
        bad |= bold_train.max(axis=1) == bold_train.min(axis=1)
        bad |= (bold_test.max(axis=2) == bold_test.min(axis=2)).any(axis=1)
    return bad


@dataclass(frozen=True)
class EncodingData:
    """Features and responses of several subjects to one stimulus.

    features_train[space] / features_test[space]: lists of per-layer arrays
    (n_train, n_features) / (n_test, n_features), the same width per layer in both.
    bold_train (n_subjects, n_train, n_vox); runs (n_train,) integer run labels or None;
    bold_test (n_subjects, n_repeats, n_test, n_vox), n_repeats >= 1 (1: a single
    presentation, so no split-half noise ceiling: see ``n_repeats``).
    region (n_vox,) indices into region_names; vertices (n_vox,) fsaverage5 vertex indices
    (left then right, 0..20483) or None when the data are not on fsaverage5. tr in s.
    mask: the NIfTI mask image (path) that selected the voxels of volumetric data, or None.
    notes: what the loader found and did (e.g. voxels with NaN set to 0), for the log.
    instructions: the spaces that are instruction groups of one model (compared with one another
    by the encoding task's instruction analysis); empty when the spaces are not instructions.
    confounds_train / confounds_test: nuisance regressors removed run by run when the data
    are cleaned (:class:`brain.prepare.SubjectData`), (n_subjects, n_train, n_confounds) and
    (n_subjects, n_repeats, n_test, n_confounds), or None (e.g. fMRIPrep confounds read by
    :mod:`brain.bids`). study: where the data came from and how they were split (recorded
    in metrics.json), {} when not known. parcels: a :class:`brain.parcels.Parcels` when each
    "voxel" is a parcel mean (the source voxels' positions for maps are there), else None.
    stimuli: (n_train,) the stimulus each training TR shows, when known (a BIDS study: each
    run's stimulus; one stimulus may fill several runs), else None; cross-validation by
    stimulus (``task.cv=by_stimulus``) holds out all of a stimulus's TRs together.
    test_runs: (n_test,) integer labels of the test stimuli when the test presentation is
    several stimuli one after the other (each label one stimulus's TRs, in order): the FIR
    delays and the run-wise cleaning restart at every label change; None: one test stimulus.
    sample_mask_train / sample_mask_test: bool, True where a volume is kept, False where it
    is censored (e.g. fMRIPrep high-motion volumes under ``scrub``), (n_subjects, n_train) and
    (n_subjects, n_repeats, n_test); the FIR delays are built on the whole runs and the
    censored rows are then left out of the fit (training) and of the scores (test); None:
    every volume kept.
    bad_voxels (derived, not an argument): (n_subjects, n_vox) bool, see :func:`unusable_voxels`.
    """

    features_train: dict[str, list[np.ndarray]]
    features_test: dict[str, list[np.ndarray]]
    bold_train: np.ndarray
    runs: np.ndarray | None
    bold_test: np.ndarray
    region: np.ndarray
    region_names: tuple[str, ...]
    spaces: tuple[str, ...]
    vertices: np.ndarray | None
    tr: float
    mask: Any = None  # a path or a nibabel image
    notes: tuple[str, ...] = ()
    instructions: tuple[str, ...] = ()
    confounds_train: np.ndarray | None = None
    confounds_test: np.ndarray | None = None
    study: dict = field(default_factory=dict)
    parcels: Any = None
    stimuli: np.ndarray | None = None
    test_runs: np.ndarray | None = None
    sample_mask_train: np.ndarray | None = None
    sample_mask_test: np.ndarray | None = None
    bad_voxels: np.ndarray = field(init=False, repr=False, compare=False)

    @property
    def n_repeats(self) -> int:
        """Test presentations per subject (1: no split-half noise ceiling is possible)."""
        return int(self.bold_test.shape[1])

    def __post_init__(self) -> None:
        if np.ndim(self.bold_train) != 3:
            raise ValueError(f"bold_train must be (n_subjects, n_train, n_vox), got {np.shape(self.bold_train)}")
        n_sub, n_train, n_vox = self.bold_train.shape
        if self.bold_test.ndim != 4 or self.bold_test.shape[0] != n_sub or self.bold_test.shape[3] != n_vox \
                or self.bold_test.shape[1] < 1:
            raise ValueError(f"bold_test must be (n_subjects={n_sub}, n_repeats >= 1, n_test, n_vox={n_vox}), "
                             f"got {self.bold_test.shape}")
        n_test = self.bold_test.shape[2]
        for space in self.spaces:
            if len(self.features_train[space]) != len(self.features_test[space]):
                raise ValueError(f"{space}: {len(self.features_train[space])} train layers but "
                                 f"{len(self.features_test[space])} test layers")
            for i, (tr_, te) in enumerate(zip(self.features_train[space], self.features_test[space])):
                if tr_.shape[0] != n_train or te.shape[0] != n_test:
                    raise ValueError(f"{space} layer {i}: features have {tr_.shape[0]} train / {te.shape[0]} "
                                     f"test rows, BOLD has {n_train} / {n_test} TRs")
                if tr_.shape[1:] != te.shape[1:]:
                    raise ValueError(f"{space} layer {i}: {tr_.shape[1:]} train features but {te.shape[1:]} "
                                     f"test features")
        if self.region.shape != (n_vox,):
            raise ValueError(f"region labels {self.region.shape} do not match {n_vox} voxels")
        if self.runs is not None:
            if np.shape(self.runs) != (n_train,):
                raise ValueError(f"runs {np.shape(self.runs)} do not match {n_train} training TRs")
            kind = np.asarray(self.runs).dtype.kind
            if kind not in "iu":
                raise ValueError(f"runs must be integer labels, got dtype {np.asarray(self.runs).dtype}")
        if self.stimuli is not None and np.shape(self.stimuli) != (n_train,):
            raise ValueError(f"stimuli {np.shape(self.stimuli)} do not match {n_train} training TRs")
        if self.test_runs is not None and (np.shape(self.test_runs) != (n_test,)
                                           or np.asarray(self.test_runs).dtype.kind not in "iu"):
            raise ValueError(f"test_runs must be ({n_test},) integer labels, got {np.shape(self.test_runs)} "
                             f"{np.asarray(self.test_runs).dtype}")
        for name, want in (("sample_mask_train", (n_sub, n_train)), ("sample_mask_test", self.bold_test.shape[:3])):
            m = getattr(self, name)
            if m is not None and (np.shape(m) != want or np.asarray(m).dtype != bool):
                raise ValueError(f"{name} must be a bool array of shape {want}, got {np.shape(m)} "
                                 f"{np.asarray(m).dtype}")
        if self.vertices is not None and np.shape(self.vertices) != (n_vox,):
            raise ValueError(f"vertices {np.shape(self.vertices)} do not match {n_vox} voxels")
        unknown = [i for i in self.instructions if i not in self.spaces]
        if unknown:
            raise ValueError(f"instructions {unknown} are not feature spaces ({list(self.spaces)})")
        if self.confounds_train is not None and (np.ndim(self.confounds_train) != 3
                                                 or np.shape(self.confounds_train)[:2] != (n_sub, n_train)):
            raise ValueError(f"confounds_train must be (n_subjects={n_sub}, n_train={n_train}, n_confounds), "
                             f"got {np.shape(self.confounds_train)}")
        if self.confounds_test is not None and (np.ndim(self.confounds_test) != 4
                                                or np.shape(self.confounds_test)[:3] != self.bold_test.shape[:3]):
            raise ValueError(f"confounds_test must be (n_subjects, n_repeats, n_test) = {self.bold_test.shape[:3]} "
                             f"+ (n_confounds,), got {np.shape(self.confounds_test)}")
        object.__setattr__(self, "bad_voxels", unusable_voxels(self.bold_train, self.bold_test))
