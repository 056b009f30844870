"""A generated audio stimulus for the offline demo (no speech synthesiser ships here).

A sequence of sound events of 0.15-1.2 s, separated by short gaps: vowel-like harmonic
complexes with formants and a pitch contour, tones, chirps, noise bursts and clicks. The
proportions of the event kinds drift slowly, like scenes in a film, so the stimulus has
structure on a short (event) and a long (scene) time scale.
"""

from __future__ import annotations

import numpy as np

KINDS = ("vowel", "tone", "chirp", "noise", "clicks")
_FORMANTS = ((730, 1090), (270, 2290), (300, 870), (530, 1840), (640, 1190))  # a, i, u, e, o


def _event(rng: np.random.Generator, kind: str, n: int, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    if kind == "vowel":
        f0 = rng.uniform(100, 220) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(1, 4) * t))
        phase = 2 * np.pi * np.cumsum(f0) / sr
        f1, f2 = _FORMANTS[rng.integers(len(_FORMANTS))]
        x = np.zeros(n)
        for h in range(1, 30):
            fh = h * f0.mean()
            gain = np.exp(-(((fh - f1) / 120) ** 2)) + 0.6 * np.exp(-(((fh - f2) / 180) ** 2)) + 0.02
            x += gain * np.sin(h * phase)
    elif kind == "tone":
        x = np.sin(2 * np.pi * rng.uniform(200, 3000) * t)
    elif kind == "chirp":
        f_a, f_b = rng.uniform(200, 4000, 2)
        x = np.sin(2 * np.pi * (f_a * t + (f_b - f_a) * t**2 / (2 * t[-1] + 1e-9)))
    elif kind == "noise":
        x = rng.standard_normal(n)
        k = int(rng.integers(1, 40))  # colour: moving average of k samples
        x = np.convolve(x, np.ones(k) / np.sqrt(k), mode="same")
    else:
        x = np.zeros(n)
        x[rng.integers(0, n, max(n // int(rng.integers(200, 2000)), 1))] = 1.0
    ramp = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.01)  # 10 ms on/off ramps
    return x / (np.abs(x).max() + 1e-9) * ramp


def demo_audio(duration: float, sr: int = 16000, seed: int = 0) -> np.ndarray:
    """(round(duration * sr),) float32 in [-1, 1] (see module docstring)."""
    rng = np.random.default_rng(seed)
    n_total = round(duration * sr)
    out = np.zeros(n_total)
    logits = rng.standard_normal(len(KINDS))
    pos = 0
    while pos < n_total:
        logits = 0.97 * logits + 0.25 * rng.standard_normal(len(KINDS))  # slow scene drift
        p = np.exp(2 * logits) / np.exp(2 * logits).sum()
        kind = KINDS[rng.choice(len(KINDS), p=p)]
        n = min(int(rng.uniform(0.15, 1.2) * sr), n_total - pos)
        if n > 16:
            out[pos:pos + n] = rng.uniform(0.2, 0.9) * _event(rng, kind, n, sr)
        pos += n + int(rng.uniform(0.02, 0.3) * sr)
    return out.astype(np.float32)


def write_demo_audio(path, duration: float, sr: int = 16000, seed: int = 0):
    """Write :func:`demo_audio` as a 16-bit wav file; returns the path."""
    import soundfile as sf

    sf.write(str(path), demo_audio(duration, sr, seed), sr, subtype="PCM_16")
    return path
