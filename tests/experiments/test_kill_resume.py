"""A run killed with SIGKILL in the middle resumes (``resume=true``) to the results of an
uninterrupted run: motor training, encoding and feature extraction, each as a real process
of the runner killed once its first partial output is on disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # real runner processes killed and resumed (about 2 minutes); CI runs them, `-m 'not slow'` skips them

ROOT = Path(__file__).parents[2]
MOTOR = ["task=reach", "task.seeds=2", "task.variants=[bilateral_specialised_cc]",
         "task.eval_episodes=4", "task.lesions=false", "train.max_epochs=3", "train.patience=5",
         "train.updates_per_epoch=20", "train.batch_size=8", "train.val_episodes=8", "task.episode_steps=10"]
ENCODING = ["task=encoding", "task.synthetic.n_subjects=3", "task.synthetic.n_runs=3",
            "task.synthetic.trs_per_run=120", "task.synthetic.n_test_trs=120", "task.synthetic.n_layers=2",
            "task.synthetic.n_features=16", "task.synthetic.vertices_per_region=20", "task.n_permutations=200"]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "CALLOSUM_JAX_CACHE": str(tmp_path / "jax_cache")}


def _cmd(overrides: list[str], run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "experiments.run", *overrides, f"hydra.run.dir={run_dir}"]


def run(overrides: list[str], run_dir: Path, env: dict[str, str]) -> None:
    out = subprocess.run(_cmd(overrides, run_dir), capture_output=True, text=True, timeout=400, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]


def kill_when(overrides: list[str], run_dir: Path, env: dict[str, str], ready, timeout: float = 300) -> None:
    """Start the run, SIGKILL it as soon as ``ready()`` is true; fail if it finished first."""
    proc = subprocess.Popen(_cmd(overrides, run_dir), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=env, cwd=ROOT)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if proc.poll() is not None:
                pytest.fail(f"the run ended (code {proc.returncode}) before it could be killed: "
                            f"{proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("no partial output appeared in time")
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / "metrics.json").exists()


def _without_times(metrics: dict) -> dict:
    for per_task in metrics.get("training", {}).values():
        for v in per_task.values():
            v.pop("family_seconds", None)
    for key in ("seconds", "clips_per_second", "timing"):
        metrics.pop(key, None)
    return metrics


def _metrics(run_dir: Path) -> dict:
    return _without_times(json.loads((run_dir / "metrics.json").read_text()))


def test_motor_training_killed_mid_run_resumes_to_the_same_result(tmp_path: Path) -> None:
    env = _env(tmp_path)
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    run(MOTOR, ref, env)
    first = killed / "checkpoints" / "bilateral_specialised.msgpack"
    kill_when(MOTOR, killed, env, first.exists)
    with pytest.raises(subprocess.CalledProcessError):  # the partial run is not silently overwritten
        subprocess.run(_cmd(MOTOR, killed), capture_output=True, env=env, cwd=ROOT, check=True, timeout=400)
    run([*MOTOR, "resume=true"], killed, env)
    assert _metrics(killed) == _metrics(ref)
    attempts = json.loads((killed / "provenance.json").read_text())["attempts"]
    assert [a["status"] for a in attempts] == ["running", "finished"]  # killed, resumed (the refusal wrote nothing)
    assert attempts[-1]["resumed"] is True


def test_encoding_killed_mid_run_resumes_to_the_same_result(tmp_path: Path) -> None:
    env = _env(tmp_path)
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    run(ENCODING, ref, env)
    kill_when(ENCODING, killed, env, (killed / "units" / "s00_space01.npz").exists)
    done = sorted(p.name for p in (killed / "units").glob("*.npz"))
    assert 0 < len(done) < 9  # 3 subjects x (ceiling + 2 spaces)
    run([*ENCODING, "resume=true"], killed, env)
    assert _metrics(killed) == _metrics(ref)
    a, b = np.load(ref / "encoding.npz"), np.load(killed / "encoding.npz")
    assert a.files == b.files
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_feature_extraction_killed_mid_run_resumes_to_the_same_file(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    h5py = pytest.importorskip("h5py")
    from brain.features.tiny import write_tiny_model

    model = write_tiny_model("qwen2_audio", tmp_path / "tiny_qwen2_audio")
    env = _env(tmp_path)
    instructions = tmp_path / "instructions.txt"  # two instruction groups, a folder of pieces each
    instructions.write_text("Describe the sound.\nWhat do you hear?\n")
    overrides = ["task=features", f"task.model={model}", "task.stimulus=demo", "task.demo_duration=10.2", "task.tr=0.5",
                 "task.context=1.0", "task.batch_size=2", f"task.instructions={instructions}", "task.max_new_tokens=2"]
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    run(overrides, ref, env)
    partial = killed / "features.h5.partial"
    kill_when(overrides, killed, env, lambda: len(list(partial.glob("*/*.npz"))) >= 3)
    assert not (killed / "features.h5").exists()
    run([*overrides, "resume=true"], killed, env)
    assert _metrics(killed) == _metrics(ref) | {"features": str(killed / "features.h5"),
                                                 "stimulus": str(killed / "demo_stimulus.wav")}
    with h5py.File(ref / "features.h5", "r") as f, h5py.File(killed / "features.h5", "r") as g:
        names: list[str] = []
        f.visit(lambda n: names.append(n) if isinstance(f[n], h5py.Dataset) else None)
        assert sum("/layer_" in n for n in names) == 6  # 2 instructions x 3 layers
        for name in names:
            np.testing.assert_array_equal(f[name][()], g[name][()], err_msg=name)
