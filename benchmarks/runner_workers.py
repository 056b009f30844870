"""The training programs ``python -m benchmarks runner`` times, each run in a fresh process:

- ``shard``: one bilateral controller (``bilateral_specialised_cc``) trained over ``seeds``
  seeds, on 1 device and then sharded over 2; seconds per epoch.
- ``fusion``: the paper's unilateral controller (2 x 10 units) on the MotorNet-TF arm with the
  original's Keras settings over ``seeds`` seeds on one device; seconds per epoch and the
  validation losses of every epoch (the parent compares those of its two processes).

``python -m benchmarks.runner_workers shard|fusion --seeds N --batch N ...`` prints
one line ``RESULT<json>`` (:func:`parse_result` reads it back); :func:`command` builds that
command line from the parent's settings.

The parent (``benchmarks.runner``) chooses ``XLA_FLAGS`` (the host device count, the
YNNPACK fusion flag) and passes them in the child's environment, so they are in force before
JAX starts; this module therefore imports JAX (and ``agents``, which imports it) only inside
the workers, never at import time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

MODULE = "benchmarks.runner_workers"
RESULT = "RESULT"  # marks the result line on the worker's stdout


def shard(seeds: int, batch: int, steps: int, updates: int, widths: list[int], repeats: int) -> dict[str, Any]:
    """The bilateral controller trained over ``seeds`` seeds on the first 1 and 2 local
    devices: ``devices_<n>`` holds the fastest of ``repeats`` epochs after the first
    (compiling) one (``epoch_s``), all of them, and the first one's seconds."""
    import jax
    import jax.numpy as jnp

    from agents.rollout import EpisodeSampler
    from agents.training import TrainConfig, Trainer
    from agents.variants import build_model, make_variant

    variant = make_variant("bilateral_specialised_cc")
    cfg = TrainConfig(batch_size=batch, updates_per_epoch=updates, max_epochs=100, patience=100, val_episodes=batch)
    trainer = Trainer(build_model(variant, widths), variant.objective, EpisodeSampler(episode_steps=steps), cfg)
    keys = jnp.stack([jax.random.PRNGKey(i) for i in range(seeds)])
    out: dict[str, Any] = {"devices": [str(d) for d in jax.devices()], "platform": jax.default_backend()}
    for n in (1, 2):
        devices = jax.local_devices()[:n]
        state = trainer.place(trainer.init_seeds(keys), devices)
        step = trainer.epoch_sharded(devices)
        t0 = time.perf_counter()
        state, _ = step(state)
        jax.block_until_ready(state)
        compile_and_first = time.perf_counter() - t0
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            state, _ = step(state)
            jax.block_until_ready(state)
            times.append(time.perf_counter() - t0)
        out[f"devices_{n}"] = {"epoch_s": min(times), "epoch_s_all": times, "first_epoch_s": compile_and_first}
    return out


def fusion(seeds: int, batch: int, steps: int, updates: int, repeats: int) -> dict[str, Any]:
    """The paper's unilateral controller on the MotorNet-TF arm over ``seeds`` seeds on the
    default device: the fastest of ``repeats`` epochs after the first (compiling) one
    (``epoch_s``), all of them, the first one's seconds, and every epoch's validation loss
    per seed (``val_loss``, first epoch included)."""
    import jax
    import jax.numpy as jnp

    from agents.rollout import EpisodeSampler
    from agents.training import TrainConfig, Trainer
    from agents.variants import build_model, make_variant

    variant = make_variant("unilateral_dominant")
    cfg = TrainConfig(batch_size=batch, updates_per_epoch=updates, max_epochs=100, patience=100,
                      val_episodes=64, clip="per_variable", adam_eps=1e-7)
    model = build_model(variant, [5, 5], "mlp", 0, [10, 10], "glorot_uniform")
    trainer = Trainer(model, variant.objective,
                      EpisodeSampler(episode_steps=steps, plant="motornet_tf", feedback_delay=0.0), cfg)
    state = trainer.init_seeds(jnp.stack([jax.random.PRNGKey(i) for i in range(seeds)]))
    step = trainer.epoch_seeds
    t0 = time.perf_counter()
    state, logs = step(state)
    jax.block_until_ready(state)
    first, val, times = time.perf_counter() - t0, [logs["val_loss"].tolist()], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        state, logs = step(state)
        jax.block_until_ready(state)
        times.append(time.perf_counter() - t0)
        val.append(logs["val_loss"].tolist())
    return {"epoch_s": min(times), "epoch_s_all": times, "first_epoch_s": first, "val_loss": val}


WORKERS = {"shard": shard, "fusion": fusion}


def command(worker: str, settings: dict[str, Any]) -> list[str]:
    """The command line that runs ``worker`` with ``settings`` (its keyword arguments; a
    list value becomes several arguments) in a fresh interpreter, as ``python -m``."""
    args = [sys.executable, "-m", MODULE, worker]
    for key, value in settings.items():
        args += [f"--{key}", *(str(v) for v in (value if isinstance(value, list) else [value]))]
    return args


def parse_result(stdout: str) -> dict[str, Any]:
    """The result a worker printed (everything after the first ``RESULT`` marker)."""
    return json.loads(stdout.split(RESULT, 1)[1])


def parse_args(argv: list[str] | None = None) -> tuple[str, dict[str, Any]]:
    """The worker's name and its keyword arguments."""
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="worker", required=True)
    for name, needs_widths, about in (("shard", True, "the bilateral controller on 1 and on 2 devices"),
                                      ("fusion", False, "the paper's unilateral controller on the MotorNet-TF arm")):
        p = sub.add_parser(name, help=about)
        p.add_argument("--seeds", type=int, required=True, help="seeds trained at once")
        p.add_argument("--batch", type=int, required=True, help="episodes per update")
        p.add_argument("--steps", type=int, required=True, help="control steps per episode")
        p.add_argument("--updates", type=int, required=True, help="Adam updates per epoch")
        if needs_widths:
            p.add_argument("--widths", type=int, nargs="+", required=True, help="hidden widths")
        p.add_argument("--repeats", type=int, required=True, help="timed epochs after the first")
    settings = vars(parser.parse_args(argv))
    return settings.pop("worker"), settings


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Runs the worker the command line names and prints ``RESULT<json>``; returns the result."""
    worker, settings = parse_args(argv)
    result = WORKERS[worker](**settings)
    print(RESULT + json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
