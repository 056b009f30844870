"""Shared fixtures: small, deterministic set-ups."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")
# Cheaper-to-compile XLA CPU code: compiling the arm's training step dominates the suite's
# run time. Level 1, not 0: level 0 computed NaN gradients for a rematerialised GRU
# controller (see tests/agents/helpers.py).
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1 "
                      "--xla_backend_optimization_level=1 --xla_cpu_use_fusion_emitters=false")

# One BLAS/OpenMP/torch thread per pytest-xdist worker: the workers already fill the cores,
# and oversubscribed threads made a tiny model's forward pass up to 100x slower.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import tempfile  # noqa: E402

# Runs in tests keep JAX's persistent compilation cache in a fresh folder of this session,
# not in the user's ~/.cache (tests that start processes pass their own).
os.environ.setdefault("CALLOSUM_JAX_CACHE", tempfile.mkdtemp(prefix="callosum-jax-cache-"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with `slow` tests first, then the runner's other end-to-end files, then the rest
    (stable otherwise): pytest-xdist hands out whole files in this order, so the long ones
    start early and the many short ones fill in at the end, instead of one long file running
    alone after the rest."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: 0 if item.path in slow_files else 1 if "tests/experiments/" in item.nodeid else 2)
