"""Cut a stimulus into one clip per TR and compute a model's per-layer features of each
clip, for every task instruction, one batch of clips at a time.

:class:`Extraction` is the job: its ``batches`` (instruction group, first clip) are the
units a long extraction is stored and resumed by (the runner, ``task=features``, keeps
each finished batch and resumes); :meth:`Extraction.features` computes one, and
:func:`brain.features.layout.write_features` writes the assembled features file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from brain.features.clips import audio_window, clip_windows, frame_times
from brain.features.instructions import Instruction
from brain.features.layout import ROOT
from brain.features.models import FeatureModel


def _fingerprint(path: Path) -> str:
    """sha256 of the stimulus file: a resumed run must read the same stimulus."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _Stimulus:
    """Clip inputs of one stimulus file in the form ``model`` takes: audio samples, frames,
    or (audio-visual) each clip's frames and the samples of the same window."""

    def __init__(self, path: Path, model: FeatureModel) -> None:
        from brain.features.audio import load_audio
        from brain.features.video import VideoReader

        self.model = model
        self.video = None
        if model.modality in ("audio", "audio-visual"):
            self.samples, self.rate = load_audio(path, model.sampling_rate)
            self.duration = self.samples.shape[0] / self.rate
        if model.modality != "audio":
            self.video = VideoReader(path)
            self.duration = self.video.duration

    def clips(self, windows: np.ndarray) -> list[Any]:
        if self.model.modality != "video":
            sound = [audio_window(self.samples, self.rate, float(a), float(b)) for a, b in windows]
            if self.video is None:
                return sound
        times = np.concatenate([frame_times(w, self.model.n_frames) for w in windows])
        order = np.argsort(times, kind="stable")  # decode forward once per batch
        frames = np.empty((times.size, *self.model.frame_size, 3), np.uint8)
        frames[order] = self.video.frames_at(times[order], size=self.model.frame_size)
        frames = list(frames.reshape(len(windows), self.model.n_frames, *frames.shape[1:]))
        return frames if self.model.modality == "video" else list(zip(frames, sound))

    def close(self) -> None:
        if self.video is not None:
            self.video.close()


class Extraction:
    """``model``'s per-layer features of every TR-long clip of ``stimulus`` (an audio or
    video file; a video with sound for an audio-visual model) for each instruction (none for a plain encoder). ``context`` (s, >= tr):
    each clip's input window ends at its TR's end and reaches this far back (default one
    TR). ``max_clips``: only the first clips (quick looks). Use as a context manager (it
    holds the stimulus file open).

    ``windows`` (n_clips, 2) s; ``groups`` {group name: instruction text} ({ROOT: None} for
    a plain encoder); ``batches`` [(group, first clip)] in extraction order; ``manifest``
    everything that determines the features (model, stimulus sha256, TR, context, clips,
    batch size, instructions); ``attrs`` the features file's root attributes.
    """

    def __init__(self, stimulus: str | Path, model: FeatureModel, instructions: tuple[Instruction, ...],
                 tr: float, context: float | None = None, batch_size: int = 8,
                 max_clips: int | None = None) -> None:
        path = Path(stimulus).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"stimulus {path} does not exist")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if model.instruction_tuned and not instructions:
            raise ValueError(f"{model.name} is instruction-tuned: give instructions (a preset or a file)")
        if not model.instruction_tuned and instructions:
            raise ValueError(f"{model.name} is a plain {model.modality} encoder: use instructions=none")
        self.model, self.batch_size = model, batch_size
        self._source = _Stimulus(path, model)
        try:
            windows = clip_windows(self._source.duration, tr, context)
        except BaseException:
            self._source.close()
            raise
        self.windows = windows[:max_clips] if max_clips is not None else windows
        self.context = float(self.windows[0, 1] - self.windows[0, 0])
        self.groups: dict[str, str | None] = ({i.name: i.text for i in instructions} if instructions
                                              else {ROOT: None})
        starts = range(0, len(self.windows), batch_size)
        self.batches = [(g, s) for s in starts for g in self.groups]
        self.manifest: dict[str, Any] = {
            **model.describe(), "stimulus": path.name, "stimulus_sha256": _fingerprint(path), "tr": float(tr),
            "context": self.context, "n_clips": len(self.windows), "batch_size": batch_size,
            "instructions": self.groups}
        attrs = {k: v for k, v in self.manifest.items() if k != "instructions"}
        self.attrs = {k: (v if not isinstance(v, (list, dict)) else str(v)) for k, v in attrs.items()}
        self._cache: dict[int, list[np.ndarray]] = {}

    def features(self, group: str, start: int) -> np.ndarray:
        """(n_clips in the batch, n_layers, hidden) float32 of the batch of clips from
        ``start`` under ``group``'s instruction. The batch's clips are decoded once for all
        instructions when the batches are taken in order."""
        if (group, start) not in self.batches:
            raise ValueError(f"no batch ({group!r}, {start}) in this extraction")
        if start not in self._cache:
            self._cache = {start: self._source.clips(self.windows[start:start + self.batch_size])}
        values = self.model.features(self._cache[start], self.groups[group], clip_seconds=self.context)
        return np.asarray(values, np.float32)

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> Extraction:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
