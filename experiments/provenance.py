"""``provenance.json``: what produced a run directory.

The resolved config, package versions, the git commit of the code, seeds, JAX devices and,
per attempt (a resumed run adds one), start and end times, wall and compile seconds and
how it ended. Written atomically at the start and the end of every attempt.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from experiments.io import write_json

PACKAGES = ("callosum", "jax", "jaxlib", "mujoco", "mujoco-mjx", "flax", "optax", "numpy", "scipy",
            "nilearn", "hydra-core", "omegaconf", "gymnasium", "h5py", "torch", "transformers",
            "himalaya", "submitit", "hydra-submitit-launcher", "hydra-joblib-launcher")
ROOT = Path(__file__).resolve().parents[1]


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_state(root: Path = ROOT) -> dict[str, Any] | None:
    """Commit and whether the work tree differs from it; None outside a git checkout."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Provenance:
    """One attempt at a run in ``out_dir``; earlier attempts' records are kept."""

    def __init__(self, out_dir: Path, config: dict[str, Any], seeds: list[int], resume: bool):
        self.path = Path(out_dir) / "provenance.json"
        saved: dict[str, Any] = {}
        if self.path.exists():
            try:
                saved = json.loads(self.path.read_text())
            except json.JSONDecodeError:
                saved = {}  # written atomically, so only a hand-edited file gets here
        self.record: dict[str, Any] = {
            "config": saved.get("config", config), "seeds": saved.get("seeds", seeds),
            "packages": package_versions(), "git": git_state(), "python": sys.version.split()[0],
            "platform": platform.platform(), "host": socket.gethostname(), "command": sys.argv,
            "attempts": list(saved.get("attempts", [])),
        }
        self.attempt: dict[str, Any] = {"started": _now(), "resumed": resume, "status": "running",
                                        "pid": os.getpid(), "command": sys.argv}
        if config != self.record["config"]:
            self.attempt["config"] = config  # a resume with other settings (the task checks them)
        self.record["attempts"].append(self.attempt)
        self._start = time.perf_counter()

    def begin(self, devices: list[dict[str, Any]], cache_dir: str | None) -> None:
        self.record["devices"] = devices
        self.record["compilation_cache"] = cache_dir
        write_json(self.path, self.record)

    def end(self, status: str, compile_stats: dict[str, Any], error: str | None = None,
            extra: dict[str, Any] | None = None) -> None:
        wall = time.perf_counter() - self._start
        self.attempt.update(status=status, ended=_now(), wall_seconds=wall,
                            run_seconds=max(wall - float(compile_stats.get("compile_seconds", 0.0)), 0.0),
                            **compile_stats, **(extra or {}))
        if error is not None:
            self.attempt["error"] = error
        total = [a.get("wall_seconds", 0.0) for a in self.record["attempts"]]
        self.record["wall_seconds_all_attempts"] = float(sum(total))
        write_json(self.path, self.record)
