"""How a run uses JAX: XLA's settings chosen before JAX's first computation, the persistent
compilation cache, compile time measured apart from run time, and the devices seeds are
sharded over.

The pinned JAX reads ``XLA_FLAGS`` (host devices, YNNPACK fusion) and
``XLA_PYTHON_CLIENT_PREALLOCATE`` when it starts its backends, at the first JAX operation, not
when ``jax`` is imported: :func:`configure_jax` may run after any import, as long as nothing
has computed with JAX yet (``tests/experiments/test_runtime.py`` checks that the flags still
take effect then).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("callosum")

# Set before JAX starts unless the user set them: no up-front grab of 75 % of GPU memory
# (several jobs may share a GPU, and the encoding streams voxels through it).
JAX_ENVIRONMENT = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
# jax.monitoring events that are compilation: tracing, lowering and XLA's compile (a
# persistent-cache hit is reported as a fast backend compile).
COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration",
                  "/jax/core/compile/jaxpr_to_mlir_module_duration",
                  "/jax/core/compile/backend_compile_duration")
CACHE_HIT_EVENT = "/jax/compilation_cache/cache_hits"


HOST_DEVICE_FLAG = "--xla_force_host_platform_device_count"


def backends_started() -> bool:
    """Whether JAX has started its backends (a JAX operation ran): XLA's flags are read then,
    and changing them afterwards has no effect. Importing ``jax`` does not start them."""
    import sys

    if "jax" not in sys.modules:
        return False
    from jax._src import xla_bridge

    return bool(xla_bridge.backends_are_initialized())


def split_host_devices(setting: str | int | None = "auto") -> int:
    """Before JAX's first operation, split the CPU into host devices, so that a motor run shards its
    models over the cores (one XLA CPU device runs these small batched programs on about one
    core; two host devices on two cores trained about 1.9x faster, ``python -m benchmarks runner``).

    ``setting``: ``auto`` (one device per core), an integer, or 1 / None (leave it). Only
    the host (CPU) platform is affected; nothing happens when JAX has already computed or
    the user's ``XLA_FLAGS`` already set the count. Returns the count in force (0: unknown).
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if HOST_DEVICE_FLAG in flags:
        return int(flags.split(HOST_DEVICE_FLAG + "=")[1].split()[0])
    if setting in (None, 1, "1") or backends_started():
        return 0
    n = (os.cpu_count() or 1) if setting == "auto" else int(setting)
    if n > 1:
        os.environ["XLA_FLAGS"] = f"{flags} {HOST_DEVICE_FLAG}={n}".strip()
    return n


YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type"


def set_cpu_library_fusion(enabled: bool | None = False) -> bool:
    """Before JAX's first operation, choose whether XLA's CPU backend hands fused element-wise, reduce
    and dot clusters to the YNNPACK library (jaxlib 0.10's default). The motor runs' programs
    are thousands of tiny per-arm operations; with YNNPACK off a training update of the
    paper's controllers on the MotorNet-TF arm ran 1.3-1.7x faster at 10 seeds per device
    (same numbers to float32 rounding; ``python -m benchmarks runner`` measures it), but no faster at
    the 20 models per device of ``task=paper``'s specialised family. ``enabled``: False (off), True or None
    (leave XLA's default). Nothing happens when JAX has already computed or the user's
    ``XLA_FLAGS`` set it. Returns whether YNNPACK fusion is left on."""
    flags = os.environ.get("XLA_FLAGS", "")
    if YNN_FLAG in flags:
        value = flags.split(YNN_FLAG, 1)[1]
        return bool(value[1:].split(" ", 1)[0]) if value.startswith("=") else True
    if enabled is None or enabled or backends_started():
        return True
    os.environ["XLA_FLAGS"] = f"{flags} {YNN_FLAG}=".strip()
    return False


def configure_jax(cfg: Any) -> None:
    """Before JAX's first operation (importing it is fine): :func:`prepare_environment`, and
    for the kinds that run the arm (``experiments.tasks.TaskKind.runs_arm``) split the CPU
    into host devices and choose YNNPACK fusion (``runtime.host_devices``,
    ``runtime.cpu_library_fusion``). ``cfg``: the composed config or the typed settings.
    Called by the Hydra callbacks that check a run and by ``experiments.run.run_task``."""
    from experiments.tasks import KINDS

    prepare_environment()
    kind = KINDS.get(str(cfg.task.kind))
    if kind is not None and kind.runs_arm:
        split_host_devices(cfg.runtime.host_devices)
        set_cpu_library_fusion(cfg.runtime.cpu_library_fusion)


class _DropNotes(logging.Filter):
    """Drops third-party INFO notes logged on the root logger (mjx's "Using JAX default
    device" for every model it places)."""

    NOTES = ("Using JAX default device",)

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno <= logging.INFO and str(record.msg).startswith(self.NOTES))


def quiet_third_party_logs() -> None:
    """After Hydra configured logging: drop the root-logger notes of :class:`_DropNotes`."""
    root = logging.getLogger()
    if not any(isinstance(f, _DropNotes) for f in root.filters):
        root.addFilter(_DropNotes())


def prepare_environment() -> dict[str, str]:
    """Set :data:`JAX_ENVIRONMENT` defaults (never overriding the user's); returns them.
    Quiets start-up notes that Hydra's INFO logging would print: PyOpenGL's (imported with
    MuJoCo's renderer), JAX's backend probing (no TPU library) and cache resets."""
    for name in ("OpenGL", "jax"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for key, value in JAX_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    return {k: os.environ[k] for k in JAX_ENVIRONMENT}


@dataclass
class CompileClock:
    """Seconds JAX spent compiling: tracing, lowering and XLA (``xla_compile_seconds``, the
    part the persistent cache saves), and how many executables came from that cache;
    since :meth:`start`; thread-safe, a no-op until started."""

    seconds: float = 0.0
    events: int = 0
    cache_hits: int = 0
    backend_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _started: bool = False
    _registered: bool = False

    def _on_duration(self, event: str, duration: float, **_: Any) -> None:
        if self._started and event in COMPILE_EVENTS:
            with self._lock:
                self.seconds += float(duration)
                self.events += 1
                if event == COMPILE_EVENTS[2]:
                    self.backend_seconds += float(duration)

    def _on_event(self, event: str, **_: Any) -> None:
        if self._started and event == CACHE_HIT_EVENT:
            with self._lock:
                self.cache_hits += 1

    def start(self) -> CompileClock:
        import jax.monitoring

        if not self._registered:
            jax.monitoring.register_event_duration_secs_listener(self._on_duration)
            jax.monitoring.register_event_listener(self._on_event)
            self._registered = True
        self.seconds, self.events, self.cache_hits, self.backend_seconds = 0.0, 0, 0, 0.0
        self._started = True
        return self

    def snapshot(self) -> dict[str, float | int]:
        """The figures so far, without stopping the clock."""
        with self._lock:
            return {"compile_seconds": self.seconds, "compilations": self.events,
                    "persistent_cache_hits": self.cache_hits,
                    "xla_compile_seconds": self.backend_seconds}

    def stop(self) -> dict[str, float | int]:
        self._started = False
        return self.snapshot()


COMPILE_CLOCK = CompileClock()


def enable_compilation_cache(path: str | Path | None, min_compile_seconds: float = 0.0) -> str | None:
    """Use JAX's persistent compilation cache in ``path`` (created; ``None``/"" disables).

    Executables that took at least ``min_compile_seconds`` to compile are stored (default:
    all; a motor run compiles hundreds of small programs whose XLA time adds up to tens of
    seconds), and later runs (and the jobs of a sweep) load them instead of compiling again.
    Lowered programs of the training epochs go to ``path/exported`` (``experiments.trace_cache``),
    so that a later run neither traces nor lowers them."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    from experiments import trace_cache

    if not path:
        trace_cache.set_directory(None)
        if jax.config.jax_compilation_cache_dir:
            jax.config.update("jax_compilation_cache_dir", None)
            compilation_cache.reset_cache()
        return None
    p = Path(os.path.expanduser(str(path))).resolve()
    p.mkdir(parents=True, exist_ok=True)
    if jax.config.jax_compilation_cache_dir != str(p):  # the cache opens once: reopen it elsewhere
        jax.config.update("jax_compilation_cache_dir", str(p))
        compilation_cache.reset_cache()
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_seconds))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    trace_cache.set_directory(p / "exported")
    return str(p)


def seed_devices(n_seeds: int, devices: str | int | None = "auto") -> list[Any]:
    """The JAX devices to shard ``n_seeds`` seeds over.

    ``devices``: ``auto`` takes the most local devices that divide ``n_seeds`` evenly (so
    every device trains the same number of seeds); an integer asks for exactly that many
    (an error if it is more than there are or does not divide the seeds); 1 = no sharding.
    """
    import jax

    available = jax.local_devices()
    if devices in (None, "auto"):
        n = max(k for k in range(1, len(available) + 1) if n_seeds % k == 0)
        if n < len(available):
            log.warning("%d seeds do not split evenly over the %d devices: training on %d (choose a seed "
                        "count that is a multiple of %d to use them all)", n_seeds, len(available), n, len(available))
    else:
        try:
            n = int(devices)
        except (TypeError, ValueError):
            raise ValueError(f"runtime.devices must be auto or a positive integer, got {devices!r}") from None
        if n < 1 or n > len(available):
            raise ValueError(f"runtime.devices={n}, but JAX sees {len(available)} device(s): "
                             f"{', '.join(map(str, available))}")
        if n_seeds % n:
            raise ValueError(f"runtime.devices={n} does not divide the {n_seeds} seeds; use a seed "
                             f"count that is a multiple of it, or runtime.devices=auto")
    return available[:n]


def describe_devices() -> list[dict[str, Any]]:
    import jax

    return [{"id": d.id, "platform": d.platform, "kind": getattr(d, "device_kind", "")}
            for d in jax.devices()]
