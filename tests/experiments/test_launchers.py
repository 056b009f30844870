"""Sweeps through Hydra's launcher plugins, run as real processes: the submitit launcher
with its local executor, the joblib launcher, and the SLURM configs' sbatch scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

pytestmark = pytest.mark.slow  # sweeps through the joblib and submitit launchers (separate processes); CI runs them, `-m 'not slow'` skips them

ROLLOUT = ["task=rollout", "task.episodes=4", "task.plot_episodes=2", "task.episode_steps=5"]


def sweep(tmp_path: Path, launcher: str, *extra: str) -> list[Path]:
    cmd = [sys.executable, "-m", "experiments.run", "-m", f"hydra/launcher={launcher}", *ROLLOUT,
           "seed=1,2", f"hydra.sweep.dir={tmp_path / 'sweep'}", *extra]
    env = {**os.environ, "CALLOSUM_JAX_CACHE": str(tmp_path / "jax_cache")}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=Path(__file__).parents[2])
    assert out.returncode == 0, out.stderr[-3000:]
    return [tmp_path / "sweep" / str(i) for i in range(2)]


def check_jobs(jobs: list[Path]) -> None:
    seeds = []
    for job in jobs:
        metrics = json.loads((job / "metrics.json").read_text())
        prov = json.loads((job / "provenance.json").read_text())
        assert prov["attempts"][-1]["status"] == "finished"
        assert prov["config"]["seed"] == prov["seeds"][0]
        assert metrics["episodes"] == 4
        seeds.append(prov["seeds"][0])
    assert sorted(seeds) == [1, 2]
    # different seeds, different random controllers: the sweep really ran two configs
    a, b = (json.loads((j / "metrics.json").read_text())["position_error"] for j in jobs)
    assert a != b


def test_submitit_local_executor_runs_the_sweep(tmp_path: Path) -> None:
    jobs = sweep(tmp_path, "submitit_local", "hydra.launcher.timeout_min=5")
    check_jobs(jobs)
    assert list((tmp_path / "sweep" / ".submitit").glob("*/*_result.pkl"))  # submitit's own records


def test_joblib_launcher_runs_jobs_in_parallel_processes(tmp_path: Path) -> None:
    jobs = sweep(tmp_path, "parallel", "hydra.launcher.n_jobs=2")
    check_jobs(jobs)
    hosts_pids = {json.loads((j / "provenance.json").read_text())["attempts"][0]["pid"] for j in jobs}
    assert len(hosts_pids) == 2  # two worker processes


@pytest.mark.parametrize("launcher, gpu", [("slurm_cpu", False), ("slurm_gpu", True)])
def test_slurm_configs_make_the_expected_sbatch_script(launcher: str, gpu: bool, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The launcher's parameters, passed to submitit the way hydra-submitit-launcher does,
    give an sbatch script with one GPU (or none), the partition, and JAX's memory setting
    exported before Python starts. (No SLURM here: a stub ``srun`` passes submitit's check.)"""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    with initialize_config_module(config_module="experiments.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"hydra/launcher={launcher}", "task=paper"],
                      return_hydra_config=True)
    monkeypatch.delenv("CALLOSUM_JAX_CACHE", raising=False)
    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert params["_target_"].endswith("SlurmLauncher")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "srun").write_text("#!/bin/sh\nexit 0\n")
    (tmp_path / "bin" / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    # hydra_plugins.hydra_submitit_launcher.submitit_launcher.BaseSubmititLauncher.launch
    executor = submitit.AutoExecutor(cluster="slurm", folder=tmp_path / "submitit",
                                     slurm_max_num_timeout=params.pop("max_num_timeout"))
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    params = {k if k in base else f"slurm_{k}": v for k, v in params.items()
              if k not in ("submitit_folder", "_target_")}
    params["name"] = "callosum"
    executor.update_parameters(**params)
    script = executor._executor._make_submission_file_text("python -u -m submitit.core._submit x", "uid")
    assert f"#SBATCH --partition={'gpu' if gpu else 'cpu'}" in script
    assert ("#SBATCH --gpus-per-node=1" in script) is gpu
    assert "export XLA_PYTHON_CLIENT_PREALLOCATE=false" in script
    assert f"export JAX_PLATFORMS={'cuda' if gpu else 'cpu'}" in script
    assert "#SBATCH --signal=USR2@120" in script
    assert "export CALLOSUM_JAX_CACHE=~/.cache/callosum/jax" in script
    assert script.index("export XLA_PYTHON_CLIENT_PREALLOCATE") < script.index("srun")


def test_a_sweep_with_a_bad_job_starts_no_job(tmp_path: Path) -> None:
    """Every job's config is checked before the launcher starts any (here: 3 of 4 are bad)."""
    cmd = [sys.executable, "-m", "experiments.run", "-m", *ROLLOUT, "task.controller=random,psychic",
           "task.env=reach,swim", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2])
    assert out.returncode != 0
    assert "3 of 4 sweep job(s) have an invalid config, no job was started" in out.stderr
    assert "task.controller='psychic' is not one of: random, zero" in out.stderr
    assert "task.env='swim' is not one of: reach, hold, centre_out" in out.stderr
    assert not (tmp_path / "sweep").exists()


def _submitit_job(run_dir: str) -> dict[str, str | None]:
    """A job for submitit: a tiny rollout through the runner; what the job's environment held."""
    from hydra import compose, initialize_config_module

    from experiments.run import run_task

    with initialize_config_module(config_module="experiments.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*ROLLOUT, "seed=4"])
    run_task(cfg, Path(run_dir))
    import jax

    return {"JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS"), "backend": jax.default_backend(),
            "XLA_PYTHON_CLIENT_PREALLOCATE": os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE")}


def test_slurm_cpu_config_runs_a_job_through_the_local_executor(tmp_path: Path) -> None:
    """slurm_cpu's resources and its setup lines, given to submitit's local executor (which
    runs the setup in a shell before Python, as sbatch does): the job sees the exports."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    with initialize_config_module(config_module="experiments.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=["hydra/launcher=slurm_cpu", "task=rollout"],
                      return_hydra_config=True)
    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    generic = {k: v for k, v in params.items() if k in set(OmegaConf.structured(BaseQueueConf).keys())
               and k not in ("submitit_folder", "name")}
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit", cluster="local")
    executor.update_parameters(**generic, local_setup=params["setup"], name="callosum")
    job = executor.submit(_submitit_job, str(tmp_path / "run"))
    seen = job.result()
    assert seen == {"JAX_PLATFORMS": "cpu", "backend": "cpu", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["episodes"] == 4
