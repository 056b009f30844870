"""Per-layer encoding of one subject: fit a ridge encoder on every layer, score on test data.

Pure arrays in, arrays out; the runner (``experiments.tasks.encoding``) loops over subjects and
feature spaces and writes results.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from brain.ridge import RidgeEncoder
from brain.scoring import pearson_r, r2_score


@dataclass(frozen=True)
class LayerScores:
    """Per-layer test scores of one subject and feature space.

    r, r2, best_alphas: (n_layers, n_voxels); predictions: (n_layers, n_test, n_voxels);
    cv_scores: (n_layers, n_voxels) mean training cross-validation score at each voxel's
    chosen penalty (the encoder's ``score_cv``), the score to select layers by.
    """

    r: np.ndarray
    r2: np.ndarray
    best_alphas: np.ndarray
    predictions: np.ndarray
    cv_scores: np.ndarray


def zscore_runs(Y: np.ndarray, runs: np.ndarray | None = None) -> np.ndarray:
    """Z-score each column of Y (n_trs, n_voxels) within each run; constant columns -> 0."""
    Y = np.asarray(Y, dtype=np.float32)
    labels = np.zeros(len(Y), int) if runs is None else np.asarray(runs)
    if labels.shape != (len(Y),):
        raise ValueError(f"runs {labels.shape} do not match {len(Y)} TRs")
    out = np.empty_like(Y)
    for run in np.unique(labels):
        block = Y[labels == run]
        sd = block.std(axis=0)
        out[labels == run] = (block - block.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return out


def encode_layers(
    layers_train: Sequence[np.ndarray],
    Y_train: np.ndarray,
    layers_test: Sequence[np.ndarray],
    Y_test: np.ndarray,
    runs: np.ndarray | None = None,
    encoder: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
    groups: np.ndarray | None = None,
    test_runs: np.ndarray | None = None,
    sample_mask: np.ndarray | None = None,
    test_mask: np.ndarray | None = None,
) -> LayerScores:
    """Fit one :class:`RidgeEncoder` per layer and score it on the test data.

    ``layers_train[i]`` (n_train, n_features_i), ``Y_train`` (n_train, n_voxels),
    ``layers_test[i]`` (n_test, n_features_i), ``Y_test`` (n_test, n_voxels); ``runs``
    (n_train,) labels for leave-one-run-out CV and run-bounded delays; ``groups`` (n_train,)
    labels (e.g. stimuli) whose TRs the CV folds hold out together (:func:`brain.ridge.cv_folds`;
    the runs then bound only the delays); ``encoder``: keyword arguments of
    :class:`RidgeEncoder`; ``test_runs`` (n_test,) labels of the test segments (several test
    stimuli one after the other: their delays restart at each, as at a training run), or None.
    ``progress(i)`` is called after each layer. Censored volumes:
    ``sample_mask`` (n_train,) bool, the training rows to fit on (the delays are built on all
    rows first); ``test_mask`` (n_test,) bool, the test rows scored: the prediction is made
    on all ``layers_test`` rows and cut to them, and ``Y_test`` then holds only those rows
    (``test_mask.sum()`` of them); the predictions returned are the kept rows.
    """
    if len(layers_train) != len(layers_test) or not layers_train:
        raise ValueError(f"need the same, non-zero number of train and test layers, got "
                         f"{len(layers_train)} and {len(layers_test)}")
    r, r2, alphas, preds, cv = [], [], [], [], []
    for i, (x_tr, x_te) in enumerate(zip(layers_train, layers_test)):
        model = RidgeEncoder(**(encoder or {}))
        with warnings.catch_warnings():
            # alpha-grid edge and constant-voxel warnings: the caller counts them from best_alphas
            warnings.simplefilter("ignore", UserWarning)
            model.fit(x_tr, Y_train, runs=runs, groups=groups, sample_mask=sample_mask)
        pred = model.predict(x_te, runs=test_runs)
        if test_mask is not None:
            pred = pred[np.asarray(test_mask, bool)]
        if pred.shape[0] != np.shape(Y_test)[0]:
            raise ValueError(f"Y_test has {np.shape(Y_test)[0]} rows, the (kept) test predictions {pred.shape[0]}")
        r.append(np.asarray(pearson_r(Y_test, pred)))
        r2.append(np.asarray(r2_score(Y_test, pred)))
        alphas.append(model.best_alphas_)
        cv.append(model.cv_scores_)
        preds.append(pred)
        if progress is not None:
            progress(i)
    return LayerScores(np.stack(r), np.stack(r2), np.stack(alphas), np.stack(preds).astype(np.float32),
                       np.stack(cv))
