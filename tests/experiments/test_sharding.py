"""Seeds sharded over two JAX devices (forced host devices on the CPU) train to the
parameters and metrics of the same run on one device. Not bit for bit: a device's vmapped
batch of one seed compiles to other XLA kernels than a batch of two, so the numbers agree to
float32 rounding (parameters within ~3e-7 after two epochs). Runs in a subprocess, because
the device count is fixed when JAX starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # training processes on two forced host devices; CI runs them, `-m 'not slow'` skips them

SCRIPT = r"""
import json, sys
from pathlib import Path
import jax
from hydra import compose, initialize_config_module
from experiments.run import run_task
assert len(jax.devices()) == 2, jax.devices()
out = Path(sys.argv[1])
base = ["task=reach", "task.seeds=2", "task.variants=[bilateral_specialised_cc]", "task.eval_episodes=4",
        "train.max_epochs=2", "train.updates_per_epoch=3", "train.batch_size=4", "train.val_episodes=4",
        "task.episode_steps=5", "task.lesions=false", "train.patience=5"]
with initialize_config_module(config_module="experiments.conf", version_base="1.3"):
    for n in (1, 2):
        cfg = compose(config_name="config", overrides=base + [f"runtime.devices={n}"])
        run_task(cfg, out / f"devices{n}")
"""


def flatten(tree: object, prefix: str = "") -> dict[str, object]:
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in flatten(sub, f"{prefix}{key}.").items()}
    if isinstance(tree, list):
        return {k: v for i, sub in enumerate(tree) for k, v in flatten(sub, f"{prefix}{i}.").items()}
    return {prefix: tree}


def test_two_devices_give_the_one_device_results(tmp_path: Path) -> None:
    flags = os.environ.get("XLA_FLAGS", "").replace("--xla_force_host_platform_device_count=1", "")
    env = {**os.environ, "XLA_FLAGS": f"{flags} --xla_force_host_platform_device_count=2",
           "CALLOSUM_JAX_CACHE": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True,
                         timeout=400, env=env, cwd=Path(__file__).parents[2])
    assert out.returncode == 0, out.stderr[-3000:]
    one, two = (json.loads((tmp_path / f"devices{n}" / "metrics.json").read_text()) for n in (1, 2))
    assert one.pop("devices") == ["cpu:0"] and two.pop("devices") == ["cpu:0", "cpu:1"]
    for m in (one, two):
        m.pop("timing")  # seconds and compilation counts, not results
        for per in m["training"].values():
            for v in per.values():
                v.pop("family_seconds")
    a, b = flatten(one), flatten(two)
    assert a.keys() == b.keys()
    numbers = [k for k, v in a.items() if isinstance(v, float)]
    assert len(numbers) > 20
    assert {k: a[k] for k in numbers} == pytest.approx({k: b[k] for k in numbers}, rel=1e-5, abs=1e-7)
    assert {k: v for k, v in a.items() if k not in numbers} == {k: v for k, v in b.items() if k not in numbers}
    assert one["seeds"] == two["seeds"] == [0, 1]
    assert one["training"]["bilateral_specialised_cc"]["reach"]["epochs"] == [2, 2]
    devices = json.loads((tmp_path / "devices2" / "provenance.json").read_text())["devices"]
    assert len(devices) == 2


def _fresh_python(code: str, setting: str, flags: str | None) -> str:
    """stdout of ``code`` run with argument ``setting`` in a fresh Python whose XLA_FLAGS are
    ``flags`` (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if flags is not None:
        env["XLA_FLAGS"] = flags
    return subprocess.run([sys.executable, "-c", code, setting], capture_output=True, text=True, env=env,
                          check=True).stdout.strip()


def test_host_devices_are_split_before_jax_starts_and_never_over_the_users_flags() -> None:
    code = ("import os, sys; from experiments.runtime import split_host_devices; "
            "n = split_host_devices(sys.argv[1]); print(n, os.environ.get('XLA_FLAGS', ''))")
    run = partial(_fresh_python, code)

    cores = os.cpu_count() or 1
    assert run("auto", None) == (f"{cores} --xla_force_host_platform_device_count={cores}" if cores > 1 else "1")
    assert run("3", "--xla_cpu_foo=1") == "3 --xla_cpu_foo=1 --xla_force_host_platform_device_count=3"
    assert run("auto", "--xla_force_host_platform_device_count=1") == "1 --xla_force_host_platform_device_count=1"
    assert run("1", None) == "0"


def test_cpu_library_fusion_is_switched_off_before_jax_starts_and_never_over_the_users_flags() -> None:
    code = ("import os, sys; from experiments.runtime import set_cpu_library_fusion; "
            "on = set_cpu_library_fusion(sys.argv[1] == 'on'); print(on, os.environ.get('XLA_FLAGS', ''))")
    run = partial(_fresh_python, code)

    assert run("off", None) == "False --xla_cpu_experimental_ynn_fusion_type="
    assert run("on", None) == "True"
    assert run("off", "--xla_cpu_foo=1") == "False --xla_cpu_foo=1 --xla_cpu_experimental_ynn_fusion_type="
    # the user's own setting wins, whichever it is
    assert run("off", "--xla_cpu_experimental_ynn_fusion_type=dot") == \
        "True --xla_cpu_experimental_ynn_fusion_type=dot"
    assert run("off", "--xla_cpu_experimental_ynn_fusion_type= --xla_cpu_foo=1") == \
        "False --xla_cpu_experimental_ynn_fusion_type= --xla_cpu_foo=1"


def test_cpu_library_fusion_changes_the_arms_rollout_only_by_rounding() -> None:
    code = ("import sys, numpy as np; from experiments.runtime import set_cpu_library_fusion; "
            "set_cpu_library_fusion(sys.argv[1] == 'on'); import jax, jax.numpy as jnp; "
            "from envs.functional import make_functional; env = make_functional('reach', plant='motornet_tf'); "
            "s = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), 16)); "
            "u = jax.random.uniform(jax.random.PRNGKey(1), (50, 16, 6)); "
            "f = jax.jit(lambda s, u: jax.lax.scan(lambda s, a: (jax.vmap(env.step)(s, a), s.hand), s, u)[1]); "
            "np.save(sys.argv[2], np.asarray(f(s, u)))")
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    with tempfile.TemporaryDirectory() as d:
        paths = [os.path.join(d, f"{s}.npy") for s in ("on", "off")]
        for setting, path in zip(("on", "off"), paths):
            subprocess.run([sys.executable, "-c", code, setting, path], env=env, check=True, capture_output=True)
        on, off = (np.load(p) for p in paths)
    assert on.shape == (50, 16, 2) and np.isfinite(on).all()
    np.testing.assert_allclose(off, on, rtol=0, atol=1e-5)  # m, over 50 steps of 16 arms
