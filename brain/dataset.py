"""The data of one encoding experiment, as the pipeline consumes it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EncodingData:
    """Features and responses of several subjects to one stimulus.

    features_train[space] / features_test[space]: lists of per-layer arrays
    (n_train, n_features) / (n_test, n_features). bold_train (n_subjects, n_train, n_vox);
    runs (n_train,) run labels or None; bold_test (n_subjects, n_repeats, n_test, n_vox).
    region (n_vox,) indices into region_names; vertices (n_vox,) fsaverage5 vertex indices
    (left then right, 0..20483) or None when the data are not on fsaverage5. tr in s.
    mask: the NIfTI mask image (path) that selected the voxels of volumetric data, or None.
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
    mask: str | None = None

    def __post_init__(self) -> None:
        n_sub, n_train, n_vox = self.bold_train.shape
        if self.bold_test.ndim != 4 or self.bold_test.shape[0] != n_sub or self.bold_test.shape[3] != n_vox:
            raise ValueError(f"bold_test must be (n_subjects={n_sub}, n_repeats, n_test, n_vox={n_vox}), "
                             f"got {self.bold_test.shape}")
        n_test = self.bold_test.shape[2]
        for space in self.spaces:
            for i, (tr_, te) in enumerate(zip(self.features_train[space], self.features_test[space])):
                if tr_.shape[0] != n_train or te.shape[0] != n_test:
                    raise ValueError(f"{space} layer {i}: features have {tr_.shape[0]} train / {te.shape[0]} "
                                     f"test rows, BOLD has {n_train} / {n_test} TRs")
        if self.region.shape != (n_vox,):
            raise ValueError(f"region labels {self.region.shape} do not match {n_vox} voxels")
        if self.runs is not None and np.shape(self.runs) != (n_train,):
            raise ValueError(f"runs {np.shape(self.runs)} do not match {n_train} training TRs")
        if self.vertices is not None and np.shape(self.vertices) != (n_vox,):
            raise ValueError(f"vertices {np.shape(self.vertices)} do not match {n_vox} voxels")
