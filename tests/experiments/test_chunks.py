"""Encoding split into voxel-chunk jobs and merged equals the single-job run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from experiments.tasks.encoding import voxel_range
from tests.experiments.test_encoding import TINY, compose_and_run

pytestmark = pytest.mark.slow  # four encoding runs (chunks, merge, single); CI runs them, `-m 'not slow'` skips them


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("chunks")
    compose_and_run(TINY, root / "single")
    for c in range(2):
        compose_and_run([*TINY, "task.chunks=2", f"task.chunk={c}"], root / "multirun" / str(c))
    compose_and_run([*TINY, f"task.merge={root / 'multirun'}"], root / "merged")
    return root


def test_voxel_ranges_tile_the_voxels() -> None:
    ranges = [voxel_range(10, c, 3) for c in range(3)]
    assert ranges == [(0, 4), (4, 7), (7, 10)]
    with pytest.raises(ValueError, match="task.chunk"):
        voxel_range(10, 3, 3)
    with pytest.raises(ValueError, match="more than the 10 voxels"):
        voxel_range(10, 0, 11)


def test_merged_chunks_equal_the_single_run(runs: Path) -> None:
    """Alphas, p-values and ceilings are bit for bit the same, and r and R^2 agree to float32
    rounding (a chunk's ridge solve runs on fewer voxel columns, so XLA blocks the products
    differently), except where that rounding flips a near-tie between two penalties in the
    cross-validation: on the 2-core CI machine kind one voxel of 2,880 chose another alpha
    (and so another r), so at most 0.1 % of the voxels may differ in their alpha, and those
    are left out of the per-voxel comparison; at most 0.1 % of the other values may exceed
    plain float32 rounding (an ill-conditioned solve amplifies it), none by more than 1e-3;
    the metrics agree all the same."""
    a, b = np.load(runs / "single" / "encoding.npz"), np.load(runs / "merged" / "encoding.npz")
    assert a.files == b.files
    same = a["best_alphas"] == b["best_alphas"]
    assert same.mean() >= 0.999, f"{(~same).sum()} voxels chose another alpha"
    for key in a.files:
        x, y = a[key], b[key]
        if x.shape == same.shape:
            x, y = x[same], y[same]
        if key in ("r", "r2", "cv_score"):  # float32 scores of the solve: rounding differs with chunk width
            # A misplaced voxel or column would move many values by about the spread of r
            # (~0.1); rounding moves almost all by < 2e-6, and a rare ill-conditioned solve
            # (smallest alpha) by up to ~1e-4 (8.3e-5 seen on another machine of this kind).
            diff = np.abs(x - y)
            assert np.mean(diff > 2e-6) <= 1e-3, f"{key}: {int(np.sum(diff > 2e-6))} values differ by > 2e-6"
            assert diff.max() <= 1e-3, f"{key}: max difference {diff.max():.2e}"
        else:
            np.testing.assert_array_equal(x, y, err_msg=key)
    single = json.loads((runs / "single" / "metrics.json").read_text())
    merged = json.loads((runs / "merged" / "metrics.json").read_text())
    assert merged.keys() == single.keys()
    assert merged["spaces"].keys() == single["spaces"].keys()
    for space, res in single["spaces"].items():
        flipped = int((~same).sum())  # a voxel with another alpha moves a mean over ~10^3 voxels a little
        assert merged["spaces"][space]["best_layer_depth"] == pytest.approx(res["best_layer_depth"],
                                                                            abs=1e-6 + 1e-3 * flipped)
        for layer, vals in res["layers"].items():
            got = merged["spaces"][space]["layers"][layer]
            assert got["mean_r"] == pytest.approx(vals["mean_r"], abs=1e-6 + 1e-4 * flipped)
            assert abs(got["significant_voxels"] - vals["significant_voxels"]) <= flipped
    assert (runs / "merged" / "report.html").exists()


def test_chunk_jobs_write_only_their_voxels(runs: Path) -> None:
    metas = [json.loads((runs / "multirun" / str(c) / "chunk.json").read_text()) for c in range(2)]
    assert [m["voxels"] for m in metas] == [[0, 120], [120, 240]]  # 6 regions x 40 vertices
    with np.load(runs / "multirun" / "1" / "scores.npz") as f:
        assert f["r_0"].shape[-1] == 120 and f["split_ceiling"].shape == (3, 120)  # subjects, voxels
    assert not (runs / "multirun" / "1" / "encoding.npz").exists()


def test_merge_refuses_missing_or_foreign_chunks(runs: Path, tmp_path: Path) -> None:
    import shutil

    part = tmp_path / "part"
    shutil.copytree(runs / "multirun" / "1", part / "1")
    with pytest.raises(ValueError, match=r"chunk\(s\) \[0\] of 2 are missing"):
        compose_and_run([*TINY, f"task.merge={part}"], tmp_path / "m1")
    with pytest.raises(ValueError, match="other settings"):
        compose_and_run([*TINY, "task.n_permutations=100", f"task.merge={runs / 'multirun'}"], tmp_path / "m2")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no chunk runs"):
        compose_and_run([*TINY, f"task.merge={tmp_path / 'empty'}"], tmp_path / "m3")
    assert not (tmp_path / "m1" / "metrics.json").exists()


def test_resume_with_other_settings_names_them(runs: Path) -> None:
    run_dir = runs / "multirun" / "0"
    before = (run_dir / "scores.npz").read_bytes()
    with pytest.raises(ValueError, match=r"settings differ: .*task.n_permutations: saved 200, now 100"):
        compose_and_run([*TINY, "task.chunks=2", "task.chunk=0", "task.n_permutations=100", "resume=true"], run_dir)
    assert (run_dir / "scores.npz").read_bytes() == before
