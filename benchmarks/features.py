"""Feature-extraction benchmark: clips per second of each supported model family (tiny
random models) and of Whisper-base, end to end (decoding, clipping, forward passes, HDF5).

``python -m benchmarks features``: a table on stdout and
``bench_features.json``. The device is torch's choice (GPU when present, else CPU); the
machine record says which. An instruction-tuned model's rate is per (clip, instruction).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.timing import (
    cpu_snapshot,
    fmt,
    grid,
    interference,
    interference_line,
    machine,
    versions,
)


def _bench_one(spec: str, stimulus: Path, n_clips: int, tr: float, context: float, batch: int,
               device: str, out_dir: Path) -> dict[str, Any]:
    from brain.features.extract import Extraction
    from brain.features.instructions import load_instructions
    from brain.features.models import load_model

    t0 = time.perf_counter()
    model = load_model(spec, device=device, max_new_tokens=8, window_seconds=context)
    load_s = time.perf_counter() - t0
    instructions = load_instructions(model.modality)[:1] if model.instruction_tuned else ()
    # Warm-up batch (allocations, lazy initialisation) outside the timing.
    from experiments.tasks.features import extract_to_file

    def extract(out: Path, clips: int) -> None:
        with Extraction(stimulus, model, instructions, tr=tr, context=context, batch_size=batch,
                        max_clips=clips) as job:
            extract_to_file(job, out, progress=False)

    extract(out_dir / f"warm_{model.name}.h5", batch)
    t0 = time.perf_counter()
    extract(out_dir / f"{model.name}.h5", n_clips)
    seconds = time.perf_counter() - t0
    return {"model": model.name, "family": model.family, "modality": model.modality,
            "instruction_tuned": model.instruction_tuned, "n_layers": model.n_layers,
            "device": model.device, "clips": n_clips, "batch": batch, "context_s": context,
            "seconds": seconds, "clips_per_second": n_clips / seconds, "load_seconds": load_s}


def run_benchmark(n_clips: int = 48, whisper_clips: int = 200, tr: float = 1.49, context: float = 2.98,
                  batch: int = 8, device: str = "auto") -> dict[str, Any]:
    from brain.features.demo import write_demo_audio
    from brain.features.models import pick_device
    from brain.features.tiny import FAMILIES, VIDEO_FAMILIES, write_tiny_model
    from brain.features.video import write_test_video

    device = pick_device(device)
    start = cpu_snapshot()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        duration = (max(n_clips, whisper_clips) + 1) * tr
        audio, video = root / "stimulus.wav", root / "stimulus.mp4"
        write_demo_audio(audio, duration)
        write_test_video(video, (n_clips + 1) * tr, fps=25, size=(64, 64))
        for family in FAMILIES:
            path = write_tiny_model(family, root / family)
            stim = video if family in VIDEO_FAMILIES else audio
            results[f"tiny_{family}"] = _bench_one(str(path), stim, n_clips, tr, context, batch, device, root)
        results["whisper-base"] = _bench_one("whisper-base", audio, whisper_clips, tr, context, batch, device,
                                             root)
    import torch

    info = {**machine(), "torch_device": device, "torch_threads": torch.get_num_threads(),
            "versions": versions(("torch", "transformers", "av", "soundfile", "soxr"))}
    return {"models": results, "settings": {"tr": tr, "context_s": context, "batch": batch},
            "machine": info, "interference": interference(start, cpu_snapshot())}


def format_table(result: dict[str, Any]) -> str:
    rows = [[name, r["family"], "yes" if r["instruction_tuned"] else "no", str(r["n_layers"]), r["device"],
             str(r["clips"]), fmt(r["seconds"]), fmt(r["clips_per_second"])]
            for name, r in result["models"].items()]
    table = grid(["model", "family", "instructed", "layers", "device", "clips", "seconds", "clips/s"], rows)
    return f"{table}\n{interference_line(result['interference'])}"


@dataclass(frozen=True)
class Settings:
    """The benchmark's settings (``python -m benchmarks features key=value ...``): the keyword
    arguments of :func:`run_benchmark`."""

    n_clips: int = 48
    whisper_clips: int = 200
    tr: float = 1.49
    context: float = 2.98
    batch: int = 8
    device: str = "auto"
