"""Variance partition (``brain.partition``) on planted data: each space's unique part where it
alone drives the response, layers chosen by the CV scores handed in (never by test scores),
the partition's identities, and the joint model's split R^2 on the driving space."""

from __future__ import annotations

import numpy as np
import pytest

from brain.dataset import EncodingData
from brain.encoding import encode_layers
from brain.partition import PARTS, partition_variance

ENCODER = {"delays": [0], "cv": 3, "alphas": [1e-2, 1.0, 1e2]}


def _planted(rng: np.random.Generator) -> EncodingData:
    """Space a's layer 1 drives region 0, space b's layer 1 region 1, both region 2 (20 voxels
    each; layer 0 of each space is noise); subject 1's voxel 0 is constant (unusable)."""
    n_train, n_test, n_feat, n_sub = 300, 200, 5, 2
    feats = {sp: [rng.normal(size=(n_train + n_test, n_feat)) for _ in range(2)] for sp in ("a", "b")}
    region = np.repeat(np.arange(3), 20)
    w = {sp: rng.normal(size=(n_feat, 60)) for sp in ("a", "b")}
    drive = {"a": region != 1, "b": region != 0}
    y = sum(feats[sp][1] @ (w[sp] * drive[sp]) for sp in ("a", "b"))
    bold = np.stack([y + rng.normal(0, 2.0, y.shape) for _ in range(n_sub)])
    bold[1, :, 0] = 1.0
    return EncodingData(
        features_train={sp: [x[:n_train] for x in v] for sp, v in feats.items()},
        features_test={sp: [x[n_train:] for x in v] for sp, v in feats.items()},
        bold_train=bold[:, :n_train], runs=np.repeat(np.arange(3), 100), bold_test=bold[:, None, n_train:],
        region=region, region_names=("a_only", "b_only", "both"), spaces=("a", "b"), vertices=None, tr=1.0)


def _subject(data: EncodingData):
    def subject_data(s: int):
        return data.bold_train[s], data.bold_test[s, 0], data.features_train, data.features_test, data.runs
    return subject_data


def test_partition_recovers_the_planted_drives() -> None:
    data = _planted(np.random.default_rng(0))
    scores = {sp: [encode_layers(data.features_train[sp], data.bold_train[s], data.features_test[sp],
                                 data.bold_test[s, 0], runs=data.runs, encoder=ENCODER) for s in range(2)]
              for sp in data.spaces}
    cv = [np.stack([r.cv_scores for r in scores[sp]]) for sp in data.spaces]
    r2 = [np.stack([r.r2 for r in scores[sp]]) for sp in data.spaces]
    vp = partition_variance(data, cv, r2, _subject(data), ENCODER, progress=False)
    assert vp.pair == (0, 1)
    for chosen in vp.layers:  # the driving layer where a space drives (the other space's layer is a guess)
        assert chosen["a_only"][0] == 1 and chosen["b_only"][1] == 1 and chosen["both"] == [1, 1]
    p, region = vp.parts, data.region
    for s in range(2):
        ok = ~data.bad_voxels[s]
        a_only, b_only = ok & (region == 0), ok & (region == 1)
        assert np.median(p["unique_a"][s, a_only]) > 0.2 > abs(np.median(p["unique_b"][s, a_only]))
        assert np.median(p["unique_b"][s, b_only]) > 0.2 > abs(np.median(p["unique_a"][s, b_only]))
        np.testing.assert_allclose(p["unique_a"][s, ok], p["r2_joint"][s, ok] - p["r2_b"][s, ok])
        np.testing.assert_allclose(p["shared"][s, ok], p["r2_a"][s, ok] + p["r2_b"][s, ok] - p["r2_joint"][s, ok])
        assert np.median(p["split_a"][s, a_only]) > 0.2 > abs(np.median(p["split_b"][s, a_only]))
        on_a = ok & (region != 1)  # where a's layer 1 is the chosen one: its own R^2 is passed through
        np.testing.assert_array_equal(p["r2_a"][s, on_a], r2[0][s, 1, on_a])
    assert all(np.isnan(p[k][1, 0]) for k in PARTS)  # the unusable voxel is not partitioned


def test_layers_are_chosen_by_the_cv_scores_handed_in() -> None:
    """CV scores that favour layer 0 of space b in region 'both' pick it there, whatever the
    test R^2 says."""
    data = _planted(np.random.default_rng(1))
    cv = [np.zeros((2, 2, 60)) for _ in range(2)]
    cv[0][:, 1], cv[1][:, 1] = 1.0, 1.0
    cv[1][:, 0, data.region == 2] = 2.0
    r2 = [np.full((2, 2, 60), 0.1) for _ in range(2)]
    vp = partition_variance(data, cv, r2, _subject(data), ENCODER, progress=False)
    assert vp.layers[1] == {"a_only": [1, 1], "b_only": [1, 1], "both": [1, 0]}
    with pytest.raises(ValueError, match=r"cv_score\[1\] must be \(n_subjects=2, n_layers, n_vox=60\)"):
        partition_variance(data, [cv[0], cv[1][:, :, :5]], r2, _subject(data), ENCODER)
    with pytest.raises(ValueError, match="pair must be two different space indices"):
        partition_variance(data, cv, r2, _subject(data), ENCODER, pair=(0, 0))
