"""The one runner: ``python -m experiments.run task=<name> [overrides]`` (Hydra).

Each run writes into its own directory (``runs/<task>/<time>/`` by default): the resolved
config, ``provenance.json`` (versions, git commit, seeds, devices, wall and compile times),
``metrics.json`` and the task's figures. ``-m`` sweeps with any Hydra launcher
(``hydra/launcher=parallel|submitit_local|slurm_cpu|slurm_gpu``, see the README).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

import experiments.conf  # noqa: F401  (registers the settings' schemas before Hydra composes)
from experiments.io import write_json
from experiments.settings import RunSettings
from experiments.tasks import kind_of

log = logging.getLogger("callosum")


def run_seeds(settings: RunSettings) -> list[int]:
    """The seeds a run uses: ``seed .. seed + task.seeds - 1`` for the kinds that train seeds."""
    n = settings.task.seeds if kind_of(settings.task.kind).seeded else 1
    return [settings.seed + i for i in range(n)]


def run_task(cfg: DictConfig, out_dir: Path, checked: RunSettings | None = None) -> dict[str, Any]:
    """Run the task named by ``cfg.task`` and write its outputs into ``out_dir``.

    Every check runs first, once (``experiments.validate.preflight``: unknown keys, wrong
    types or values, the task's own check, the devices; a run writes only into a directory it
    made, or its own run with ``resume=true`` and the settings it was started with), before
    anything is written; it turns ``cfg`` into the typed settings the task receives
    (``checked``: the settings the caller built and checked already, as the CLI's ``CheckRun``
    callback does for a single run). Resuming a finished run is a no-op that says so and
    returns its metrics. The tasks refuse the same for their partial outputs (checkpoints,
    encoding units, feature chunks).
    """
    from experiments.provenance import Provenance
    from experiments.runtime import (
        COMPILE_CLOCK,
        configure_jax,
        describe_devices,
        enable_compilation_cache,
        quiet_third_party_logs,
    )
    from experiments.validate import preflight

    quiet_third_party_logs()
    out_dir = Path(out_dir)
    if checked is None:
        configure_jax(cfg)
    settings = checked if checked is not None else preflight(cfg, out_dir)
    config = OmegaConf.to_container(cfg, resolve=True)
    if settings.resume and (out_dir / "metrics.json").is_file():
        import json

        Provenance(out_dir, config, run_seeds(settings), True).end("nothing to do: finished before", {})
        log.info("%s holds a finished run with these settings: nothing to do (its outputs are kept as they are; "
                 "the attempt is recorded in provenance.json)", out_dir)
        return json.loads((out_dir / "metrics.json").read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    record = Provenance(out_dir, config, run_seeds(settings), settings.resume)
    cache = enable_compilation_cache(settings.runtime.compilation_cache)
    record.begin(describe_devices(), cache)
    if not (out_dir / "config.json").exists():  # a resume keeps the record of the first attempt
        write_json(out_dir / "config.json", config)
    COMPILE_CLOCK.start()
    try:
        result = kind_of(settings.task.kind).load().run(settings, out_dir)
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
    from experiments.validate import CHECKED

    out_dir = Path(HydraConfig.get().runtime.output_dir)
    # a single run was checked by the CheckRun callback (its settings are kept); a sweep's jobs check here
    run_task(cfg, out_dir, checked=CHECKED.pop(str(out_dir.resolve()), None))


if __name__ == "__main__":
    main()
