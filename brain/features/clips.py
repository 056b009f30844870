"""Cutting a stimulus into one clip per TR, for per-TR model features.

Clip ``k`` is the TR's own interval ``[k tr, (k+1) tr)``. A model may be shown more than
that: with ``context`` seconds the window is ``[(k+1) tr - context, (k+1) tr)``, reaching
into the past so that each TR's features see what led up to it (and never the future,
which the BOLD response at that TR cannot depend on). Windows of the first TRs then start
before 0; the start stays negative so callers know how much to pad (silence for audio,
the first frame for video). Pure numpy: media decoding lives in ``brain.features.audio``
and ``brain.features.video``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_EPS = 1e-9


@dataclass(frozen=True)
class Clip:
    """One TR's clip: its own interval [start, stop) and the model's window [window_start, stop)."""

    index: int
    start: float
    stop: float
    window_start: float

    @property
    def window(self) -> tuple[float, float]:
        """(window_start, window_stop); window_start < 0 means pad before the stimulus."""
        return self.window_start, self.stop


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number of seconds, got {value}")
    return value


def clip_windows(duration: float, tr: float, context: float | None = None) -> np.ndarray:
    """Windows (window_start, window_stop) of shape (n_clips, 2), one per whole TR.

    ``n_clips = floor(duration / tr)`` (a trailing partial TR has no volume to pair with);
    ``context`` (seconds, >= tr, default tr) makes each window end at its TR's end and
    reach ``context`` seconds back, so early windows start below 0.
    """
    tr = _check_positive("tr", tr)
    duration = float(duration)
    if not math.isfinite(duration) or duration < 0:
        raise ValueError(f"stimulus duration must be a finite number of seconds >= 0, got {duration}")
    context = tr if context is None else _check_positive("context", context)
    if context < tr * (1 - _EPS):
        raise ValueError(f"context ({context:g} s) must be at least one TR ({tr:g} s)")
    n_clips = math.floor(duration / tr + _EPS)
    if n_clips < 1:
        raise ValueError(f"stimulus lasts {duration:g} s, shorter than one TR ({tr:g} s)")
    stops = np.arange(1, n_clips + 1, dtype=np.float64) * tr
    return np.stack([stops - context, stops], axis=1)


def make_clips(duration: float, tr: float, context: float | None = None) -> list[Clip]:
    """The same windows as ``clip_windows``, as ``Clip`` records with their TR interval."""
    windows = clip_windows(duration, tr, context)
    return [
        Clip(index=k, start=k * float(tr), stop=float(stop), window_start=float(start))
        for k, (start, stop) in enumerate(windows)
    ]


def frame_times(window: tuple[float, float] | np.ndarray, n_frames: int) -> np.ndarray:
    """``n_frames`` times at the centres of equal sub-intervals of the window, clipped to >= 0.

    Centres (not edges) sample each sub-interval fairly; times before the stimulus start
    are clipped to 0 so the first frame stands in for the missing past.
    """
    start, stop = (float(v) for v in window)
    if not (math.isfinite(start) and math.isfinite(stop)) or stop <= start:
        raise ValueError(f"window must be finite with start < stop, got ({start}, {stop})")
    if int(n_frames) != n_frames or n_frames < 1:
        raise ValueError(f"n_frames must be a positive integer, got {n_frames}")
    step = (stop - start) / int(n_frames)
    return np.maximum(start + (np.arange(int(n_frames)) + 0.5) * step, 0.0)


def audio_window(samples: np.ndarray, sr: int, start: float, stop: float) -> np.ndarray:
    """Samples of [start, stop) at rate ``sr``, zero-padded where the window leaves the signal.

    Always exactly ``round((stop - start) * sr)`` samples along axis 0 (further axes, e.g.
    channels, are kept), so every clip of a given length feeds the model the same shape.
    """
    samples = np.asarray(samples)
    if samples.ndim < 1:
        raise ValueError("samples must have a time axis (axis 0), got a scalar")
    if int(sr) != sr or sr <= 0:
        raise ValueError(f"sampling rate must be a positive integer, got {sr}")
    if not (math.isfinite(start) and math.isfinite(stop)) or stop <= start:
        raise ValueError(f"window must be finite with start < stop, got ({start}, {stop})")
    sr = int(sr)
    n_out = round((stop - start) * sr)
    first = round(start * sr)
    out = np.zeros((n_out, *samples.shape[1:]), dtype=samples.dtype)
    src_lo, src_hi = max(first, 0), min(first + n_out, samples.shape[0])
    if src_hi > src_lo:
        dst_lo = src_lo - first
        out[dst_lo:dst_lo + src_hi - src_lo] = samples[src_lo:src_hi]
    return out
