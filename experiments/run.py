"""The one runner: ``python -m experiments.run task=<name> [overrides]`` (Hydra).

Each run writes into its own directory (``runs/<task>/<time>/`` by default): the resolved
config, ``metrics.json`` and the task's figures.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from experiments.io import write_json

log = logging.getLogger("callosum")
TASK_KINDS = ("motor", "rollout", "bench_envs", "encoding", "bench_encoding", "features",
              "bench_features", "bench_encoding_scale")


def run_task(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Run the task named by ``cfg.task`` and write its outputs into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    kind = cfg.task.get("kind")
    if kind not in TASK_KINDS:
        raise ValueError(f"unknown task kind {kind!r}; valid kinds: {', '.join(TASK_KINDS)}")
    write_json(out_dir / "config.json", OmegaConf.to_container(cfg, resolve=True))
    if kind == "motor":
        from experiments.motor import run_motor

        result = run_motor(cfg, out_dir)
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
    log.info("outputs in %s", out_dir)
    return result


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    run_task(cfg, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()
