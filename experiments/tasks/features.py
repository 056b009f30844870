"""``task=features``: per-layer features of a stimulus for the encoding pipeline.

Writes ``features.h5`` (layout in :mod:`brain.features.store`) and ``metrics.json`` into
the run directory; ``resume=true hydra.run.dir=<run dir>`` continues an interrupted run.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

log = logging.getLogger("callosum")


MODES = ("generate", "prompt")


def check(cfg: DictConfig) -> None:
    """The runner's up-front check: a model and a stimulus are named, a known mode."""
    t = cfg.task
    if not str(t.model or ""):
        raise ValueError("give task.model=<local model directory> or task.model=whisper-base")
    if not str(t.stimulus or ""):
        raise ValueError("give task.stimulus=<video or audio file> (or task.stimulus=demo)")
    if t.mode not in MODES:
        raise ValueError(f"task.mode={t.mode!r} is not one of: {', '.join(MODES)}")


def run(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    from brain.features.extract import extract_features
    from brain.features.instructions import PRESETS, load_instructions
    from brain.features.models import load_model

    t = cfg.task
    check(cfg)
    stimulus = str(t.stimulus)
    if stimulus == "demo":
        from brain.features.demo import write_demo_audio

        path = out_dir / "demo_stimulus.wav"
        if not path.exists():
            write_demo_audio(path, float(t.demo_duration), seed=int(cfg.seed))
        stimulus = str(path)
    model = load_model(t.model, device=t.device, half=bool(t.half), mode=t.mode,
                       max_new_tokens=int(t.max_new_tokens), n_frames=t.n_frames,
                       window_seconds=float(t.context) if t.context else None)
    spec = t.instructions
    if spec == "auto":
        spec = model.modality if model.instruction_tuned else "none"
    instructions = load_instructions(spec)
    if spec not in PRESETS:
        log.info("%d instructions from %s", len(instructions), spec)
    start = time.perf_counter()
    out = extract_features(stimulus, model, instructions, out_dir / "features.h5", tr=float(t.tr),
                           context=float(t.context) if t.context else None, batch_size=int(t.batch_size),
                           resume=bool(cfg.resume), max_clips=t.max_clips)
    seconds = time.perf_counter() - start
    import h5py

    with h5py.File(out, "r") as f:
        n_clips = int(f["clips/window"].shape[0])
    groups = [i.name for i in instructions] or [None]
    log.info("%s: %d clips x %d instruction(s) in %.1f s", model.name, n_clips, len(instructions), seconds)
    return {"features": str(out), "model": model.describe(), "stimulus": stimulus, "n_clips": n_clips,
            "instructions": groups, "seconds": seconds,
            "clips_per_second": n_clips * len(groups) / seconds if seconds > 0 else None}
