"""XLA's settings need no import order: the pinned JAX reads them at its first operation, so
:func:`experiments.runtime.configure_jax` may run after ``import jax`` (and after importing the
library's packages), and the flags still take effect."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CODE = """
import sys
import jax, jax.numpy as jnp, envs, agents, brain  # the packages first, as any user would
from omegaconf import OmegaConf
from experiments.runtime import backends_started, configure_jax
assert not backends_started()
configure_jax(OmegaConf.create({"task": {"kind": sys.argv[1]},
                                "runtime": {"host_devices": "3", "cpu_library_fusion": False}}))
f = jax.jit(lambda a, b: jnp.tanh(a @ b + 1.0).sum(axis=0))
f(jnp.ones((64, 64)), jnp.ones((64, 64))).block_until_ready()
print(len(jax.devices()), backends_started())
"""


def _run(kind: str, dump: Path) -> tuple[str, str]:
    env = {**os.environ, "XLA_FLAGS": f"--xla_dump_to={dump}", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", CODE, kind], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    hlo = "".join(p.read_text() for p in dump.glob("*jit__lambda*after_optimizations.txt"))
    return out.stdout.strip(), hlo


def test_flags_set_after_import_take_effect(tmp_path: Path) -> None:
    # an arm task: three host devices, and no YNNPACK fusion in the compiled program
    stdout, hlo = _run("rollout", tmp_path / "arm")
    assert stdout == "3 True"
    assert hlo and "__ynn_fusion" not in hlo
    # the encoding task leaves XLA's defaults: one device, YNNPACK fuses the dot and tanh
    stdout, hlo = _run("encoding", tmp_path / "encoding")
    assert stdout == "1 True"
    assert "__ynn_fusion" in hlo
