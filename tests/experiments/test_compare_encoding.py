"""The cross-run encoding comparison on hand-made ``encoding.npz`` files (no runner, fast):
its best layer (alignment and depth maps) is the one with the best training CV score even
where the test r peaks at another layer, and its captions name the ceiling each run
normalised by."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from brain.layers import best_layer_alignment
from experiments.compare.encoding import CEILING_NAMES, add_encoding_section, load_encoding
from experiments.compare.runs import Run
from experiments.report.html import Report

N_SUB, N_LAYERS, N_VOX = 4, 3, 12
REGIONS = ("EVC", "AG")
CEILING = 0.5


def _planted_run(path: Path, ceiling_kind: str, rng: np.random.Generator) -> Run:
    """One space, 3 layers, 12 voxels in 2 regions. Training CV peaks at the last layer in
    every voxel, the test r at the first (as a noisy test peak would): a comparison that picks
    layers by test r gets depth 0 and alignment r[0] / ceiling, one that picks them by CV gets
    depth 1 and r[2] / ceiling. Voxel 11 is kept by no subject."""
    path.mkdir(parents=True)
    cv = np.broadcast_to(np.array([0.1, 0.2, 0.3])[:, None], (N_SUB, N_LAYERS, N_VOX)) + 0.01 * rng.random(
        (N_SUB, N_LAYERS, N_VOX))
    r = np.broadcast_to(np.array([0.4, 0.2, 0.1])[:, None], (N_SUB, N_LAYERS, N_VOX)) + 0.01 * rng.random(
        (N_SUB, N_LAYERS, N_VOX))
    keep = np.ones((N_SUB, N_VOX), bool)
    keep[:, 11] = False
    np.savez(path / "encoding.npz", spaces=np.array(["video"]), region_names=np.array(REGIONS),
             r=r[None], cv_score=cv[None], ceiling=np.full((N_SUB, N_VOX), CEILING), keep=keep,
             region=np.repeat([0, 1], N_VOX // 2), n_layers=np.array([N_LAYERS]), vertices=np.arange(N_VOX),
             ceiling_kind=np.array(ceiling_kind))
    config = {"task": {"kind": "encoding", "min_ceiling": 0.05, "data": "synthetic"}}
    (path / "config.json").write_text(json.dumps(config))
    (path / "metrics.json").write_text("{}")
    return Run(path, config, {}, None)


def test_the_best_layer_is_chosen_by_training_cv_not_test_r(tmp_path: Path) -> None:
    run = _planted_run(tmp_path / "run", "cross_subject", np.random.default_rng(0))
    res = load_encoding(run, "run")
    with np.load(run.path / "encoding.npz") as z:
        r, cv, keep, region = z["r"][0], z["cv_score"][0], z["keep"], z["region"]
    expected = np.stack([[r[s, 2, (region == j) & keep[s]].mean() / CEILING for j in range(2)] for s in range(N_SUB)])
    np.testing.assert_allclose(res.alignment["video"], expected, rtol=1e-12)
    # the runner's own summary (experiments.tasks.encoding_summary) gives the same numbers
    np.testing.assert_allclose(res.alignment["video"],
                               best_layer_alignment(r, cv, np.full((N_SUB, N_VOX), CEILING), keep, region, REGIONS),
                               rtol=1e-12)
    by_test_r = np.stack([[r[s, 0, (region == j) & keep[s]].mean() / CEILING for j in range(2)] for s in range(N_SUB)])
    assert (res.alignment["video"] < by_test_r - 0.5).all()  # the two rules disagree by far here
    depth = res.depth["video"]
    np.testing.assert_array_equal(depth[:11], 1.0)  # the last layer, where CV peaks (test r peaks at depth 0)
    assert np.isnan(depth[11])  # kept by no subject: not mapped
    assert res.ceiling_kind == "cross_subject"


@pytest.mark.parametrize("kinds", [("cross_subject", "cross_subject"), ("split_half", "none")])
def test_captions_name_the_ceiling_each_run_normalised_by(tmp_path: Path, kinds: tuple[str, str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """One label for all runs when they agree, per run when they differ; the depth maps name
    their run's ceiling; a ceiling no run used is never named."""
    import brain.plotting
    from experiments.report.plots import pyplot

    monkeypatch.setattr(brain.plotting, "plot_surface", lambda *args, **kwargs: pyplot().figure(figsize=(1, 1)))
    rng = np.random.default_rng(1)
    runs = [_planted_run(tmp_path / f"run{i}", kind, rng) for i, kind in enumerate(kinds)]
    rep = Report("t")
    (tmp_path / "figs").mkdir()
    n_fig, tests = add_encoding_section(rep, runs, ["A", "B"], tmp_path / "figs")
    assert [(t["a"], t["b"]) for t in tests["between_runs"]] == [("A", "B")]
    page = "\n".join(rep.parts)
    assert n_fig == 1 + 2  # one alignment figure (one space), one depth map per run
    if kinds[0] == kinds[1]:
        assert f"noise ceiling ({CEILING_NAMES[kinds[0]]};" in page
    else:
        assert f"noise ceiling (A: {CEILING_NAMES[kinds[0]]}; B: {CEILING_NAMES[kinds[1]]};" in page
    for label, kind in zip("AB", kinds):
        assert (f"{label} / video: normalised depth (0 = first, 1 = last) of the layer with the best subject-mean "
                f"training CV score, over the voxels kept in at least one subject ({CEILING_NAMES[kind]})") in page
    for kind, name in CEILING_NAMES.items():
        if kind not in kinds:
            assert name not in page, name
