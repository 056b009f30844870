"""``task=features``: per-layer features of a stimulus for the encoding pipeline.

Writes ``features.h5`` (layout in :mod:`brain.features.layout`) and ``metrics.json`` into
the run directory. Each finished batch of clips (per instruction) is kept in
``features.h5.partial/`` (:class:`experiments.store.ResumableStore`), so
``resume=true hydra.run.dir=<run dir>`` continues an interrupted run where it stopped; the
HDF5 file is written to a temporary name and renamed into place, and only then is the
partial folder removed.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from brain.features.models import PRESETS as MODEL_PRESETS
from brain.features.models import check_model_dir
from experiments.settings import RunSettings

log = logging.getLogger("callosum")


def check(settings: RunSettings) -> None:
    """The runner's up-front check: a model and a stimulus are named and there (the model
    directory's config, type and weights header read), a known mode and instructions (before
    the run directory or the demo stimulus is made)."""
    from brain.features.instructions import PRESETS

    t = settings.task
    if not t.model:
        raise ValueError("give task.model=<local model directory> or task.model=whisper-base")
    if not t.stimulus:
        raise ValueError("give task.stimulus=<video or audio file> (or task.stimulus=demo)")
    if t.model not in MODEL_PRESETS and not Path(t.model).expanduser().is_dir():
        raise FileNotFoundError(f"task.model={t.model}: not a directory and not a preset "
                                f"({', '.join(MODEL_PRESETS)})")
    try:
        check_model_dir(t.model)
    except (OSError, ValueError) as e:
        raise type(e)(f"task.model={t.model}: {e}") from None
    if t.stimulus != "demo" and not Path(t.stimulus).expanduser().is_file():
        raise FileNotFoundError(f"task.stimulus={t.stimulus}: no such file (or task.stimulus=demo)")
    if t.instructions not in (*PRESETS, "auto") and not Path(t.instructions).expanduser().is_file():
        raise FileNotFoundError(f"task.instructions={t.instructions}: no such file and not one of "
                                f"{', '.join((*PRESETS, 'auto'))}")


def extract_to_file(job: Any, out: Path, resume: bool = False, progress: bool = True) -> Path:
    """Run every batch of the :class:`brain.features.extract.Extraction` ``job`` not yet
    kept in ``<out>.partial/``, then write the features file ``out`` atomically."""
    from tqdm.auto import tqdm

    from brain.features.layout import write_features
    from experiments.io import atomic_path
    from experiments.store import ResumableStore

    out = Path(out)
    if out.suffix not in (".h5", ".hdf5"):
        raise ValueError(f"output {out} must end in .h5 or .hdf5")
    if out.exists():
        raise FileExistsError(f"{out} exists; choose another output or delete it")
    store = ResumableStore(out.with_name(out.name + ".partial"), job.manifest, resume, what="feature extraction")
    name = lambda group, start: f"{group}/{start:07d}"
    todo = [b for b in job.batches if not store.has(name(*b))]
    with tqdm(total=len(job.batches), initial=len(job.batches) - len(todo), desc=f"{job.model.name} features",
              unit="batch", disable=not progress) as bar:
        for group, start in todo:
            store.put(name(group, start), values=job.features(group, start))
            bar.update()
    rows = {g: np.concatenate([store.get(name(g, s))["values"] for gg, s in job.batches if gg == g])
            for g in job.groups}
    with atomic_path(out, suffix=out.suffix) as tmp:
        write_features(tmp, job.groups, rows, job.windows, job.attrs)
    store.remove()
    return out


def run(settings: RunSettings, out_dir: Path) -> dict[str, Any]:
    from brain.features.extract import Extraction
    from brain.features.instructions import PRESETS, load_instructions
    from brain.features.models import load_model

    t = settings.task
    stimulus = t.stimulus
    if stimulus == "demo":
        from brain.features.demo import write_demo_audio

        path = out_dir / "demo_stimulus.wav"
        if not path.exists():
            write_demo_audio(path, t.demo_duration, seed=settings.seed)
        stimulus = str(path)
    model = load_model(t.model, device=t.device, half=t.half, mode=t.mode, max_new_tokens=t.max_new_tokens,
                       n_frames=t.n_frames, window_seconds=t.context)
    spec = t.instructions
    if spec == "auto":
        spec = model.modality if model.instruction_tuned else "none"
    instructions = load_instructions(spec)
    if spec not in PRESETS:
        log.info("%d instructions from %s", len(instructions), spec)
    start = time.perf_counter()
    with Extraction(stimulus, model, instructions, tr=t.tr, context=t.context, batch_size=t.batch_size,
                    max_clips=t.max_clips) as job:
        out = extract_to_file(job, out_dir / "features.h5", resume=settings.resume)
    seconds = time.perf_counter() - start
    import h5py

    with h5py.File(out, "r") as f:
        n_clips = int(f["clips/window"].shape[0])
    groups = [i.name for i in instructions] or [None]
    log.info("%s: %d clips x %d instruction(s) in %.1f s", model.name, n_clips, len(instructions), seconds)
    return {"features": str(out), "model": model.describe(), "stimulus": stimulus, "n_clips": n_clips,
            "instructions": groups, "seconds": seconds,
            "clips_per_second": n_clips * len(groups) / seconds if seconds > 0 else None}
