"""Cut a stimulus into one clip per TR and store a model's per-layer features of each clip,
for every task instruction (see :mod:`brain.features.store` for the output layout)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from brain.features.clips import audio_window, clip_windows, frame_times
from brain.features.instructions import Instruction
from brain.features.models import FeatureModel
from brain.features.store import ROOT, FeatureStore


def _fingerprint(path: Path) -> str:
    """sha256 of the stimulus file: a resumed run must read the same stimulus."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _Stimulus:
    """Clip inputs of one stimulus file in the form ``model`` takes."""

    def __init__(self, path: Path, model: FeatureModel) -> None:
        from brain.features.audio import load_audio
        from brain.features.video import VideoReader

        self.model = model
        self.video = None
        if model.modality == "audio":
            self.samples, self.rate = load_audio(path, model.sampling_rate)
            self.duration = self.samples.shape[0] / self.rate
        else:
            self.video = VideoReader(path)
            self.duration = self.video.duration

    def clips(self, windows: np.ndarray) -> list[np.ndarray]:
        if self.video is None:
            return [audio_window(self.samples, self.rate, float(a), float(b)) for a, b in windows]
        times = np.concatenate([frame_times(w, self.model.n_frames) for w in windows])
        order = np.argsort(times, kind="stable")  # decode forward once per batch
        frames = np.empty((times.size, *self.model.frame_size, 3), np.uint8)
        frames[order] = self.video.frames_at(times[order], size=self.model.frame_size)
        return list(frames.reshape(len(windows), self.model.n_frames, *frames.shape[1:]))

    def close(self) -> None:
        if self.video is not None:
            self.video.close()


def extract_features(stimulus: str | Path, model: FeatureModel, instructions: tuple[Instruction, ...],
                     out: str | Path, tr: float, context: float | None = None, batch_size: int = 8,
                     resume: bool = False, progress: bool = True, max_clips: int | None = None) -> Path:
    """Extract ``model``'s per-layer features of every TR-long clip of ``stimulus`` (an
    audio or video file) for each instruction (none for a plain encoder) into the HDF5
    file ``out``. ``context`` (s, >= tr): each clip's input window ends at its TR's end and
    reaches this far back (default one TR). ``max_clips``: only the first clips (quick looks).
    Returns ``out``."""
    from tqdm.auto import tqdm

    path = Path(stimulus).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"stimulus {path} does not exist")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if model.instruction_tuned and not instructions:
        raise ValueError(f"{model.name} is instruction-tuned: give instructions (a preset or a file)")
    if not model.instruction_tuned and instructions:
        raise ValueError(f"{model.name} is a plain {model.modality} encoder: use instructions=none")
    source = _Stimulus(path, model)
    try:
        windows = clip_windows(source.duration, tr, context)
        if max_clips is not None:
            windows = windows[:max_clips]
        context = float(windows[0, 1] - windows[0, 0])
        groups: dict[str, str | None] = ({i.name: i.text for i in instructions} if instructions
                                         else {ROOT: None})
        manifest = {**model.describe(), "stimulus": path.name, "stimulus_sha256": _fingerprint(path),
                    "tr": float(tr), "context": context, "n_clips": len(windows), "batch_size": batch_size,
                    "instructions": groups}
        store = FeatureStore(out, manifest, resume=resume)
        starts = range(0, len(windows), batch_size)
        todo = [(g, s) for s in starts for g in groups if not store.has(g, s)]
        bar = tqdm(total=len(groups) * len(starts), initial=len(groups) * len(starts) - len(todo),
                   desc=f"{model.name} features", unit="batch", disable=not progress)
        cache: dict[int, list[np.ndarray]] = {}
        for group, start in todo:
            if start not in cache:  # the clips of a batch serve every instruction
                cache = {start: source.clips(windows[start:start + batch_size])}
            values = model.features(cache[start], groups[group], clip_seconds=context)
            store.put(group, start, values)
            bar.update()
        bar.close()
    finally:
        source.close()
    attrs: dict[str, Any] = {k: v for k, v in manifest.items() if k != "instructions"}
    attrs = {k: (v if not isinstance(v, (list, dict)) else str(v)) for k, v in attrs.items()}
    return store.finish(groups, windows, attrs)
