"""Finite-impulse-response (FIR) delays: lagged copies of a stimulus feature matrix.

A voxel's BOLD response follows the stimulus by a few seconds; a linear model on delayed
copies of the features learns that haemodynamic response per voxel. Delay ``d`` (in TRs)
means row ``t`` of the copy holds ``X[t - d]``; rows with no source are zero (for z-scored
features, zero is the mean). Negative delays are leads. With run labels, copies never
reach across the boundary between two runs: each run starts afresh with zeros.

Shapes: ``X`` (n_trs, n_features); output (n_trs, n_features * n_delays), delay-major
(columns ``i * n_features : (i + 1) * n_features`` hold delay ``delays[i]``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def check_delays(delays: Sequence[int] | np.ndarray) -> np.ndarray:
    """Validate FIR delays (in TRs): a non-empty 1-D sequence of unique integers -> (n_delays,)."""
    arr = np.asarray(delays)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"delays must be a non-empty 1-D sequence of ints, got shape {arr.shape}")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"delays must be integers (TRs), got {list(arr)} of dtype {arr.dtype}")
    if np.unique(arr).size != arr.size:
        raise ValueError(f"delays must be unique, got {list(arr)}")
    return arr.astype(np.int64)


def run_segments(runs: Sequence[int] | np.ndarray | None, n_trs: int) -> np.ndarray:
    """Segment index (n_trs,) of each TR: a new segment starts wherever the run label changes.

    ``runs``: (n_trs,) integer run labels, or ``None`` (one segment).
    """
    if runs is None:
        return np.zeros(n_trs, dtype=np.int64)
    labels = np.asarray(runs)
    if labels.shape != (n_trs,):
        raise ValueError(f"runs must have shape (n_trs,) = ({n_trs},), got {labels.shape}")
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"runs must be integer labels, got dtype {labels.dtype}")
    return np.concatenate([[0], np.cumsum(labels[1:] != labels[:-1])]).astype(np.int64)


def make_delays(
    X: np.ndarray,
    delays: Sequence[int] | np.ndarray,
    runs: Sequence[int] | np.ndarray | None = None,
) -> np.ndarray:
    """Stack delayed copies of ``X``: (n_trs, n_features) -> (n_trs, n_features * n_delays).

    ``delays``: unique ints in TRs (``[0]`` is the identity, negative = lead).
    ``runs``: optional (n_trs,) integer run labels; shifts are zero-filled at every run start
    (and, for leads, at every run end) so no row mixes two runs.
    Raises ``ValueError`` for a non-2-D or non-finite ``X``, bad delays, or a largest delay
    that leaves no row with data (``max |d| >= n_trs``, or >= the length of every run).
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_trs, n_features), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"X holds {np.size(X) - np.isfinite(X).sum()} NaN or inf values")
    lags = check_delays(delays)
    n_trs = X.shape[0]
    segment = run_segments(runs, n_trs)
    longest_run = np.bincount(segment).max()
    largest = int(np.abs(lags).max())
    if largest >= longest_run:
        raise ValueError(
            f"too few TRs for the largest delay {largest}: n_trs={n_trs}, longest run "
            f"{longest_run} TRs; need more than {largest}"
        )
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    t = np.arange(n_trs)
    source = t[None, :] - lags[:, None]  # (n_delays, n_trs)
    clipped = np.clip(source, 0, n_trs - 1)
    valid = (source == clipped) & (segment[clipped] == segment[None, :])
    shifted = np.where(valid[:, :, None], X[clipped], 0.0).astype(X.dtype)  # (d, t, f)
    return shifted.transpose(1, 0, 2).reshape(n_trs, -1)


def delays_from_seconds(delays_s: Sequence[float] | np.ndarray, tr: float,
                        contiguous: bool = True) -> np.ndarray:
    """FIR delays in TRs (sorted, unique, int64) for delays requested in seconds.

    Each requested delay ``s`` maps to the nearest whole TR, ``floor(s / tr + 0.5)``
    (halves round up; a delay shorter than half a TR becomes 0, the undelayed copy).
    ``contiguous=True`` (default) returns every TR delay from the smallest to the largest
    of these, so the FIR window spans the requested seconds without gaps: at TR 1.49 s,
    [2, 4, 6, 8, 10] s -> [1, 2, 3, 4, 5, 6, 7] (1.49 .. 10.43 s). ``contiguous=False``
    keeps only the rounded values: the same request -> [1, 3, 4, 5, 7], which skips lags 2
    and 6 (2.98 s and 8.94 s; at this TR the SPM HRF is still at half its peak at 8.94 s).

    ``delays_s``: non-empty 1-D, finite, >= 0 (s); ``tr``: positive, finite (s).
    Raises ``ValueError`` otherwise.
    """
    if isinstance(tr, bool) or not isinstance(tr, (int, float, np.integer, np.floating)) \
            or not (np.isfinite(tr) and tr > 0):
        raise ValueError(f"tr must be a positive number of seconds, got {tr!r}")
    try:
        arr = np.asarray(delays_s, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"delays_s must be numbers of seconds, got {delays_s!r}") from exc
    if np.asarray(delays_s).dtype == bool:
        raise ValueError(f"delays_s must be numbers of seconds, got booleans {delays_s!r}")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"delays_s must be a non-empty 1-D sequence of seconds, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"delays_s must be finite, got {list(arr)}")
    if np.any(arr < 0):
        raise ValueError(f"delays_s must be >= 0 s (a stimulus cannot be answered before it is shown), "
                         f"got {list(arr)}")
    lags = np.unique(np.floor(arr / float(tr) + 0.5).astype(np.int64))
    if contiguous:
        lags = np.arange(lags[0], lags[-1] + 1, dtype=np.int64)
    return lags
