"""Variance partitioning of two feature spaces per subject and region, without circular
layer choice: each space's layer is chosen by training cross-validation scores, never by the
test scores that are then partitioned.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from brain.banded import BandedRidgeEncoder
from brain.dataset import EncodingData
from brain.layers import variance_partition
from brain.scoring import r2_score, r2_score_split

log = logging.getLogger(__name__)
PARTS = ("r2_a", "r2_b", "r2_joint", "split_a", "split_b", "unique_a", "unique_b", "shared")

#: ``subject_data(s)`` -> (y_train, y_test, features_train, features_test, runs) of subject
#: ``s``: cleaned BOLD (n_trs, n_vox), features as {space: [layer (n_trs, n_features)]}.
SubjectData = Callable[[int], tuple[np.ndarray, np.ndarray, dict, dict, "np.ndarray | None"]]


@dataclass(frozen=True)
class VariancePartition:
    """``parts[k]`` for ``k`` in :data:`PARTS`, each (n_subjects, n_vox), NaN off the
    partitioned voxels: r2_a, r2_b (test R^2 of each space alone, from its own ridge),
    r2_joint (banded ridge on both), split_a, split_b (himalaya's split R^2 of the joint
    model), unique_a = joint - r2_b, unique_b = joint - r2_a, shared = r2_a + r2_b - joint
    (nothing clipped). ``layers[s][region]``: the chosen (a, b) layers; ``alpha_edges[s]``:
    the joint models' voxels at the alpha grid's ends; ``pair``: the spaces' indices."""

    parts: dict[str, np.ndarray]
    layers: list[dict[str, list[int]]]
    alpha_edges: list[dict[str, int]]
    pair: tuple[int, int]


def partition_variance(data: EncodingData, cv_score: Sequence[np.ndarray], r2: Sequence[np.ndarray],
                       subject_data: SubjectData, encoder: dict[str, Any] | None = None,
                       pair: tuple[int, int] = (0, 1), progress: bool = True,
                       groups: np.ndarray | None = None, test_runs: np.ndarray | None = None
                       ) -> VariancePartition:
    """Partition the test R^2 of spaces ``pair`` (a first, b second) of ``data``.

    ``cv_score[i]``, ``r2[i]``: space i's per-layer training CV scores and test R^2, each
    (n_subjects, n_layers, n_vox). For each region, each space's layer is the one with the
    best mean CV score over the region's usable voxels; a banded ridge (``encoder``: keyword
    arguments of :class:`brain.banded.BandedRidgeEncoder`) is fit on those two layers over
    those voxels, once per distinct layer pair. ``groups``: (n_trs,) labels of the TRs
    ``subject_data`` gives (the same for every subject, e.g. their stimuli) whose TRs the
    joint model's CV folds hold out together, or None (folds by run). ``test_runs``: (n_test,)
    labels of the test segments ``subject_data`` gives (several test stimuli: the joint
    model's delays restart at each), or None."""
    if len(set(pair)) != 2 or not all(0 <= i < len(data.spaces) for i in pair):
        raise ValueError(f"pair must be two different space indices of {list(data.spaces)}, got {pair}")
    n_sub, n_vox = data.bold_train.shape[0], data.bold_train.shape[-1]
    for name, per_space in (("cv_score", cv_score), ("r2", r2)):
        for i in pair:
            if np.shape(per_space[i])[::2] != (n_sub, n_vox):
                raise ValueError(f"{name}[{i}] must be (n_subjects={n_sub}, n_layers, n_vox={n_vox}), "
                                 f"got {np.shape(per_space[i])}")
    out = {k: np.full((n_sub, n_vox), np.nan) for k in PARTS}
    layers, edges = [], []
    from tqdm.auto import tqdm

    for s in tqdm(range(n_sub), desc="variance partition", unit="subject", disable=not progress):
        y_train, y_test, x_train, x_test, runs = subject_data(s)
        # censored volumes (brain.prepare.SubjectData): fit on the kept training rows, score the kept test rows
        train_mask = getattr(subject_data, "train_mask", lambda _: None)(s)
        test_mask = getattr(subject_data, "test_mask", None)
        usable = ~data.bad_voxels[s]
        pairs: dict[tuple[int, int], np.ndarray] = {}
        chosen = {}
        for j, name in enumerate(data.region_names):
            vox = usable & (data.region == j)
            if not vox.any():
                continue
            layer_pair = tuple(int(np.nanargmax(np.nanmean(cv_score[i][s][:, vox], axis=1))) for i in pair)
            chosen[name] = list(layer_pair)
            pairs[layer_pair] = pairs.get(layer_pair, np.zeros(n_vox, bool)) | vox
        sub_edges = {"n_at_min": 0, "n_at_max": 0, "n_voxels": 0}
        sp = [data.spaces[i] for i in pair]
        for (la, lb), vox in pairs.items():
            joint = BandedRidgeEncoder(**(encoder or {}))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserWarning)
                joint.fit([x_train[sp[0]][la], x_train[sp[1]][lb]], y_train[:, vox], runs=runs, groups=groups,
                          sample_mask=train_mask)
            for w in caught:  # alpha-grid edges: counted in alpha_edges, logged at debug level
                log.debug("variance partition, subject %d, layers (%d, %d): %s", s, la, lb, w.message)
            for k in sub_edges:
                sub_edges[k] += int(joint.alpha_edges_[k])
            test = [x_test[sp[0]][la], x_test[sp[1]][lb]]
            a, b = r2[pair[0]][s][la, vox], r2[pair[1]][s][lb, vox]
            if test_mask is None:
                ab = np.asarray(joint.score_r2(test, y_test[:, vox], runs=test_runs))
                split = np.asarray(joint.score_split(test, y_test[:, vox], runs=test_runs))
            else:  # predict on all test TRs (the delays), score the kept ones, as score_r2 / score_split do
                yt = y_test[:, vox]
                ab = np.asarray(r2_score(yt, joint.predict(test, test_runs)[test_mask]))
                split = np.asarray(r2_score_split(yt - yt.mean(axis=0),
                                                  joint.predict_split(test, test_runs)[:, test_mask]))
            p = variance_partition(a, b, ab)
            for k, v in zip(PARTS, (a, b, ab, split[0], split[1], p["unique_a"], p["unique_b"], p["shared"])):
                out[k][s, vox] = v
        layers.append(chosen)
        edges.append(sub_edges)
    return VariancePartition(out, layers, edges, (int(pair[0]), int(pair[1])))
