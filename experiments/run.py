"""The one runner: ``python -m experiments.run task=<name> [overrides]`` (Hydra).

Each run writes into its own directory (``runs/<task>/<time>/`` by default): the resolved
config, ``provenance.json`` (versions, git commit, seeds, devices, wall and compile times),
``metrics.json`` and the task's figures. ``-m`` sweeps with any Hydra launcher
(``hydra/launcher=parallel|submitit_local|slurm_cpu|slurm_gpu``, see the README).
"""

from __future__ import annotations

from experiments.runtime import prepare_environment

prepare_environment()  # before anything imports JAX (the submitit and joblib workers too)

import logging  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from experiments.io import write_json  # noqa: E402

log = logging.getLogger("callosum")
TASK_KINDS = ("motor", "robustness", "rollout", "bench_envs", "encoding", "bench_encoding", "features",
              "bench_features", "bench_encoding_scale", "bench_runner")


def _seeds(cfg: DictConfig) -> list[int]:
    n = int(cfg.task.get("seeds", 1)) if cfg.task.get("kind") in ("motor", "robustness") else 1
    return [int(cfg.seed) + i for i in range(n)]


def run_task(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Run the task named by ``cfg.task`` and write its outputs into ``out_dir``.

    The config is checked first (unknown keys or values fail before anything is written);
    a directory that holds a finished run is only continued with ``resume=true`` (the tasks
    refuse the same for their partial outputs: checkpoints, encoding units, feature chunks).
    """
    from experiments.provenance import Provenance
    from experiments.runtime import COMPILE_CLOCK, describe_devices, enable_compilation_cache
    from experiments.validate import validate_config

    out_dir = Path(out_dir)
    kind = cfg.task.get("kind")
    if kind not in TASK_KINDS:
        raise ValueError(f"unknown task kind {kind!r}; valid kinds: {', '.join(TASK_KINDS)}")
    validate_config(cfg)
    if (out_dir / "metrics.json").exists() and not cfg.get("resume"):
        raise FileExistsError(f"{out_dir} already holds a finished run (metrics.json): pass resume=true "
                              f"to continue it, or use a new run directory (nothing was changed)")
    out_dir.mkdir(parents=True, exist_ok=True)
    config = OmegaConf.to_container(cfg, resolve=True)
    record = Provenance(out_dir, config, _seeds(cfg), bool(cfg.get("resume")))
    runtime = cfg.get("runtime") or {}
    cache = enable_compilation_cache(runtime.get("compilation_cache"))
    record.begin(describe_devices(), cache)
    if not (out_dir / "config.json").exists():  # a resume keeps the record of the first attempt
        write_json(out_dir / "config.json", config)
    COMPILE_CLOCK.start()
    try:
        result = _dispatch(cfg, kind, out_dir)
    except BaseException as exc:
        record.end("failed", COMPILE_CLOCK.stop(), error=f"{type(exc).__name__}: {exc}")
        raise
    times = COMPILE_CLOCK.stop()
    record.end("finished", times)
    log.info("wall %.1f s, of which compiling %.1f s (%d persistent-cache hits)",
             record.attempt["wall_seconds"], times["compile_seconds"], times["persistent_cache_hits"])
    log.info("outputs in %s", out_dir)
    return result


def _dispatch(cfg: DictConfig, kind: str, out_dir: Path) -> dict[str, Any]:
    if kind == "motor":
        from experiments.motor import run_motor

        result = run_motor(cfg, out_dir)
    elif kind == "robustness":
        from experiments.robustness import run_robustness

        result = run_robustness(cfg, out_dir)
    elif kind == "rollout":
        from experiments.rollout import run_rollout

        result = run_rollout(cfg, out_dir)
    elif kind == "features":
        from experiments.features import run_features

        result = run_features(cfg, out_dir)
    elif kind == "bench_features":
        from experiments.bench_features import format_table, run_benchmark

        t = cfg.task
        result = run_benchmark(n_clips=int(t.n_clips), whisper_clips=int(t.whisper_clips), tr=float(t.tr),
                               context=float(t.context), batch=int(t.batch), device=str(t.device))
        print(format_table(result))
        write_json(out_dir / "bench_features.json", result)
    elif kind == "bench_runner":
        from experiments.bench_runner import format_table, run_benchmark

        t = cfg.task
        result = run_benchmark(seeds=int(t.seeds), batch=int(t.batch), steps=int(t.steps), updates=int(t.updates),
                               widths=list(t.widths), repeats=int(t.repeats), encoding=list(t.encoding),
                               fusion_seeds=int(t.get("fusion_seeds", 10)))
        print(format_table(result))
        write_json(out_dir / "bench_runner.json", result)
    elif kind == "bench_encoding_scale":
        from experiments.bench_scale import format_table, run_benchmark

        t = cfg.task
        result = run_benchmark(n_train=int(t.n_train), n_test=int(t.n_test), n_features=int(t.n_features),
                               n_delays=int(t.n_delays), n_voxels=int(t.n_voxels), n_alphas=int(t.n_alphas),
                               cv=int(t.cv), voxel_batch=int(t.voxel_batch), seed=int(t.seed))
        print(format_table(result))
        write_json(out_dir / "bench_encoding_scale.json", result)
    elif kind == "encoding":
        from experiments.encoding import run_encoding

        result = run_encoding(cfg, out_dir)
    elif kind == "bench_encoding":
        from experiments.bench_encoding import format_table, run_benchmark

        banded_keys = ("banded", "n_banded_train", "n_banded_test", "n_banded_features",
                       "n_banded_voxels", "n_banded_ratios", "n_banded_alphas")

        t = cfg.task
        result = run_benchmark(n_train=t.n_train, n_test=t.n_test, n_features=t.n_features,
                               n_voxels=t.n_voxels, n_alphas=t.n_alphas, cv=t.cv,
                               repeats=t.repeats, seed=t.seed, peers=t.peers,
                               **{k: t[k] for k in banded_keys if k in t})
        print(format_table(result))
        write_json(out_dir / "bench_encoding.json", result)
    else:
        from experiments.bench_envs import format_table, run_benchmark

        t = cfg.task
        result = run_benchmark(batch=t.batch, steps=t.steps, grad_batch=t.grad_batch,
                               repeats=t.repeats, peers=t.peers)
        print(format_table(result))
        write_json(out_dir / "bench_envs.json", result)
    write_json(out_dir / "metrics.json", result)
    return result


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    if cfg.task.get("kind") in ("motor", "robustness"):  # before anything imports JAX
        from experiments.runtime import set_cpu_library_fusion, split_host_devices

        runtime = cfg.get("runtime") or {}
        split_host_devices(runtime.get("host_devices", "auto"))
        set_cpu_library_fusion(runtime.get("cpu_library_fusion", False))
    run_task(cfg, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()
