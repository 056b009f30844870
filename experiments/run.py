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

import experiments.conf  # noqa: E402, F401  (registers the settings' schemas before Hydra composes)
from experiments.io import write_json  # noqa: E402

log = logging.getLogger("callosum")
# task.kind -> the module of that task. Every task module has ``run(cfg, out_dir) -> metrics``
# and may have ``check(cfg)``: every check that needs no data and writes nothing, which the
# runner calls before anything is written (for each job of a sweep too). A module is
# imported only when a run of its kind starts or is checked.
TASKS: dict[str, str] = {
    "motor": "experiments.tasks.motor",
    "robustness": "experiments.tasks.robustness",
    "rollout": "experiments.tasks.rollout",
    "encoding": "experiments.tasks.encoding",
    "features": "experiments.tasks.features",
    "bench_envs": "experiments.bench.envs",
    "bench_encoding": "experiments.bench.encoding",
    "bench_features": "experiments.bench.features",
    "bench_encoding_scale": "experiments.bench.scale",
    "bench_runner": "experiments.bench.runner",
}
TASK_KINDS = tuple(TASKS)


def task_module(kind: str) -> Any:
    """The module of task kind ``kind``; unknown kinds fail naming the valid ones."""
    import importlib

    if kind not in TASKS:
        raise ValueError(f"unknown task kind {kind!r}; valid kinds: {', '.join(TASKS)}")
    return importlib.import_module(TASKS[kind])


def task_check(kind: str) -> Any:
    """The check function of task kind ``kind`` (None: it has none)."""
    return getattr(task_module(kind), "check", None)


def _seeds(cfg: DictConfig) -> list[int]:
    n = int(cfg.task.get("seeds", 1)) if cfg.task.get("kind") in ("motor", "robustness") else 1
    return [int(cfg.seed) + i for i in range(n)]


def run_task(cfg: DictConfig, out_dir: Path, checked: bool = False) -> dict[str, Any]:
    """Run the task named by ``cfg.task`` and write its outputs into ``out_dir``.

    Every check runs first (``experiments.validate.preflight``: unknown keys, wrong types or
    values, the task's own check; a directory that holds a finished run is only continued with
    ``resume=true``, and only with the settings it was started with), before anything is
    written (``checked=True``: the caller ran them, as the CLI's ``CheckRun`` callback does
    for a single run). The tasks refuse the same for their partial outputs (checkpoints,
    encoding units, feature chunks).
    """
    from experiments.provenance import Provenance
    from experiments.runtime import COMPILE_CLOCK, describe_devices, enable_compilation_cache, quiet_third_party_logs
    from experiments.validate import preflight

    quiet_third_party_logs()
    out_dir = Path(out_dir)
    kind = str(cfg.task.get("kind"))
    if not checked:  # the CLI's single runs were checked by the CheckRun callback already
        preflight(cfg, out_dir)
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
        result = task_module(kind).run(cfg, out_dir)
        write_json(out_dir / "metrics.json", result)
    except BaseException as exc:
        record.end("failed", COMPILE_CLOCK.stop(), error=f"{type(exc).__name__}: {exc}")
        raise
    times = COMPILE_CLOCK.stop()
    record.end("finished", times)
    log.info("wall %.1f s, of which compiling %.1f s (%d persistent-cache hits)",
             record.attempt["wall_seconds"], times["compile_seconds"], times["persistent_cache_hits"])
    log.info("outputs in %s", out_dir)
    return result


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from experiments.runtime import configure_jax

    configure_jax(cfg)  # before anything imports JAX (the checking callbacks did it already)
    from hydra.types import RunMode

    hc = HydraConfig.get()
    checked = hc.mode == RunMode.RUN and "check_run" in (hc.callbacks or {})  # a sweep's jobs check here
    run_task(cfg, Path(hc.runtime.output_dir), checked=checked)


if __name__ == "__main__":
    main()
