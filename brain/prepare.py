"""One subject's data as the encoding models are fit on it: the BOLD cleaned run by run,
the same TRs trimmed from features and run labels, the test response averaged over its
cleaned presentations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from brain.cleaning import clean_runs, trim_mask
from brain.dataset import EncodingData


@dataclass(frozen=True)
class Cleaning:
    """``brain.cleaning.clean_runs`` options: a linear trend per run, a high-pass cutoff (Hz,
    discrete-cosine regressors), the standardisation and the TRs cut at the start and end of
    every run (and of every test presentation)."""

    detrend: bool = True
    high_pass: float | None = None
    standardize: str | None = "zscore_sample"
    trim: tuple[int, int] = (0, 0)


class SubjectData:
    """Cleaned, trimmed training and test data of each subject for voxels [start, stop).

    ``confounds(s)``: subject ``s``'s confound regressors (n_train TRs, n_confounds) for the
    training BOLD, or None; without it the data's own ``confounds_train`` (and, for the test
    presentations, ``confounds_test``) are regressed out. Calling the object with a subject
    gives (y_train, y_test, features_train, features_test, runs), the form
    :func:`brain.partition.partition_variance` takes. ``stimuli``: the kept training TRs'
    stimulus labels (the same for every subject), or None when the data have none.
    ``test_runs``: the kept test TRs' segment labels (``EncodingData.test_runs``: several test
    stimuli, each cleaned and trimmed on its own and delayed on its own, so give them to every
    ``predict`` on ``x_test``), or None (one test stimulus)."""

    def __init__(self, data: EncodingData, clean: Cleaning, voxels: tuple[int, int] | None = None,
                 confounds: Callable[[int], np.ndarray | None] | None = None):
        self.data, self.clean = data, clean
        self.sl = slice(*(voxels or (0, data.bold_train.shape[-1])))
        self.opts = {"detrend": clean.detrend, "high_pass": clean.high_pass, "standardize": clean.standardize}
        self.trim = tuple(clean.trim)
        self.confounds = confounds
        n_train = data.bold_train.shape[1]
        self.train_keep = trim_mask(data.runs, *self.trim, n_trs=n_train)
        self.test_keep = trim_mask(data.test_runs, *self.trim, n_trs=data.bold_test.shape[2])
        self.runs = None if data.runs is None else np.asarray(data.runs)[self.train_keep]
        self.test_runs = None if data.test_runs is None else np.asarray(data.test_runs)[self.test_keep]
        self.stimuli = None if data.stimuli is None else np.asarray(data.stimuli)[self.train_keep]
        self.x_train = {sp: [x[self.train_keep] for x in data.features_train[sp]] for sp in data.spaces}
        self.x_test = {sp: [x[self.test_keep] for x in data.features_test[sp]] for sp in data.spaces}

    def test_repeats(self, s: int) -> np.ndarray:
        """Cleaned test presentations of subject ``s``: (n_repeats, n_test kept, n_vox in range),
        each test stimulus segment (``data.test_runs``) cleaned and trimmed as a run of its own."""
        conf = self.data.confounds_test
        return np.stack([clean_runs(rep[:, self.sl], self.data.test_runs, self.data.tr, trim=self.trim,
                                    confounds=None if conf is None else conf[s, k], **self.opts)
                         for k, rep in enumerate(self.data.bold_test[s])])

    def __call__(self, s: int) -> tuple[np.ndarray, np.ndarray, dict, dict, np.ndarray | None]:
        return self.train(s), self.test_repeats(s).mean(axis=0), self.x_train, self.x_test, self.runs

    def train(self, s: int) -> np.ndarray:
        """Cleaned training BOLD of subject ``s``: (n_train kept, n_vox in range)."""
        conf = None if self.confounds is None else self.confounds(s)
        if conf is None and self.data.confounds_train is not None:
            conf = self.data.confounds_train[s]
        if conf is not None and conf.shape[0] != self.data.bold_train.shape[1]:
            raise ValueError(f"subject {s}'s confounds have {conf.shape[0]} rows, the training BOLD has "
                             f"{self.data.bold_train.shape[1]} TRs")
        return clean_runs(self.data.bold_train[s][:, self.sl], self.data.runs, self.data.tr,
                          confounds=conf, trim=self.trim, **self.opts)
