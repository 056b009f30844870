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
    ``predict`` on ``x_test``), or None (one test stimulus).

    Censored volumes (``data.sample_mask_train`` / ``sample_mask_test``, e.g. scrubbed
    high-motion volumes): every run is cleaned on its kept volumes only and its censored rows
    are 0, so the training BOLD and the features keep one row per (trimmed) TR and the FIR
    delays stay aligned; ``train_mask(s)`` gives subject ``s``'s kept training rows, for the
    fits (``sample_mask=``). The test side is scored on ``test_mask``, the test TRs kept in
    every repeat of every subject (one common set, so the subjects' scores and the
    inter-subject ceilings stay paired): ``test_repeats`` and the test response hold only
    those rows, the test features all TRs (predict on them, then keep ``test_mask``'s rows).
    ``train_common``: the training rows kept in every subject (for between-subject statistics
    on the training data), None when nothing is censored."""

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
        m_train = data.sample_mask_train
        self.train_masks = None if m_train is None else np.asarray(m_train)[:, self.train_keep]
        self.train_common = None if self.train_masks is None else self.train_masks.all(axis=0)
        self.test_mask = common_test_mask(data, self.trim)

    @property
    def scored_test_runs(self) -> np.ndarray | None:
        """The segment labels of the scored test TRs (``test_runs`` cut to ``test_mask``), for
        the permutation nulls and the block bootstrap; None with one test stimulus."""
        if self.test_runs is None or self.test_mask is None:
            return self.test_runs
        return self.test_runs[self.test_mask]

    def train_mask(self, s: int) -> np.ndarray | None:
        """Subject ``s``'s kept training rows (n_train kept after trimming,) bool, or None (all kept)."""
        return None if self.train_masks is None else self.train_masks[s]

    def test_repeats(self, s: int) -> np.ndarray:
        """Cleaned test presentations of subject ``s``: (n_repeats, n_test kept, n_vox in range),
        each test stimulus segment (``data.test_runs``) cleaned and trimmed as a run of its own;
        with censored volumes, each cleaned on its own kept volumes and cut to ``test_mask``."""
        conf, masks = self.data.confounds_test, self.data.sample_mask_test
        reps = np.stack([clean_runs(rep[:, self.sl], self.data.test_runs, self.data.tr, trim=self.trim,
                                    confounds=None if conf is None else conf[s, k],
                                    sample_mask=None if masks is None else np.asarray(masks[s, k]), **self.opts)
                         for k, rep in enumerate(self.data.bold_test[s])])
        return reps if self.test_mask is None else reps[:, self.test_mask]

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
        mask = self.data.sample_mask_train
        return clean_runs(self.data.bold_train[s][:, self.sl], self.data.runs, self.data.tr,
                          confounds=conf, trim=self.trim, sample_mask=None if mask is None else np.asarray(mask[s]),
                          **self.opts)


MIN_TEST_KEPT = 0.5  # the test TRs kept in every repeat of every subject: at least this share


def common_test_mask(data: EncodingData, trim: tuple[int, int] = (0, 0)) -> np.ndarray | None:
    """The (trimmed) test TRs kept in every repeat of every subject, (n_test kept,) bool, or
    None when none is censored. Refused when fewer than ``MIN_TEST_KEPT`` of them are left:
    the error names the repeats that censor most."""
    if data.sample_mask_test is None:
        return None
    keep = trim_mask(data.test_runs, *trim, n_trs=data.bold_test.shape[2])
    masks = np.asarray(data.sample_mask_test)[:, :, keep]
    common = masks.all(axis=(0, 1))
    if common.all():
        return None
    if common.sum() < MIN_TEST_KEPT * common.size:
        lost = (~masks).sum(axis=2)
        worst = sorted(((int(lost[s, k]), s, k) for s in range(lost.shape[0]) for k in range(lost.shape[1])),
                       reverse=True)[:5]
        raise ValueError(f"only {int(common.sum())} of the {common.size} test TRs are kept in every repeat of every "
                         f"subject (< {MIN_TEST_KEPT:g}); censored per (subject, repeat): "
                         + ", ".join(f"subject {s} repeat {k}: {n}" for n, s, k in worst)
                         + "; leave the worst subjects out or censor less")
    return common
