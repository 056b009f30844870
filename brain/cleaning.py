"""Cleaning BOLD time series run by run: TR trimming, detrending, high-pass filtering,
confound regression and standardisation, through :func:`nilearn.signal.clean`.

Order: the first ``n_first`` and last ``n_last`` TRs of every run are dropped first
(non-steady-state volumes would otherwise bend the fitted trend), then each run is
cleaned on its own by ``nilearn.signal.clean``: linear detrend (signals and confounds),
high-pass filter, removal of the confounds (projection on their orthogonal complement,
confounds z-scored within the run), then standardisation. A run is a stretch of equal
labels (as in :func:`brain.delays.run_segments`: a label that comes back starts a new run);
nilearn's own ``runs=`` argument is not used because it groups equal labels wherever they
occur and returns the runs in sorted-label order.

Features must be trimmed identically: ``X[trim_mask(runs, n_first, n_last)]``.
Shapes: ``Y`` (n_trs, n_voxels), ``runs`` (n_trs,), ``confounds`` (n_trs, n_confounds).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from brain.delays import run_segments

STANDARDIZE = ("zscore_sample", "psc", None)
FILTERS = ("cosine", "butterworth")


def trim_mask(runs: Sequence[int] | np.ndarray | None, n_first: int = 0, n_last: int = 0,
              n_trs: int | None = None) -> np.ndarray:
    """Kept TRs (n_trs,) bool: False for the first ``n_first`` and last ``n_last`` TRs of each run.

    ``runs``: (n_trs,) integer labels, or None for one run of ``n_trs`` TRs. ValueError for
    negative or non-integer counts, or if a run would keep fewer than one TR."""
    for name, n in (("n_first", n_first), ("n_last", n_last)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"{name} must be a non-negative integer number of TRs, got {n!r}")
    if runs is None:
        if n_trs is None:
            raise ValueError("give runs or n_trs")
        segment = np.zeros(int(n_trs), np.int64)
    else:
        segment = run_segments(runs, len(np.asarray(runs)) if n_trs is None else int(n_trs))
    keep = np.zeros(segment.size, bool)
    for seg in np.unique(segment):
        rows = np.flatnonzero(segment == seg)
        if rows.size <= n_first + n_last:
            label = "" if runs is None else f" {np.asarray(runs)[rows[0]]}"
            raise ValueError(f"trimming {n_first} first and {n_last} last TRs leaves nothing of run{label} "
                             f"(TRs {rows[0]}..{rows[-1]}, {rows.size} TRs)")
        keep[rows[n_first:rows.size - n_last]] = True
    return keep


def _check_inputs(Y: np.ndarray, tr: float, high_pass: float | None, confounds: np.ndarray | None,
                  standardize: str | None, filter: str) -> tuple[np.ndarray, np.ndarray | None]:
    Y = np.asarray(Y)
    if Y.ndim != 2 or Y.size == 0 or Y.dtype.kind not in "biuf":
        raise ValueError(f"Y must be a non-empty real (n_trs, n_voxels) array, got shape {Y.shape}, "
                         f"dtype {Y.dtype}")
    if not np.all(np.isfinite(Y)):
        raise ValueError(f"Y holds {int(np.sum(~np.isfinite(Y)))} NaN or infinite values")
    if isinstance(tr, bool) or not isinstance(tr, (int, float, np.integer, np.floating)) \
            or not (np.isfinite(tr) and tr > 0):
        raise ValueError(f"tr must be a positive number of seconds, got {tr!r}")
    if high_pass is not None and not (np.isfinite(high_pass) and 0 < high_pass < 0.5 / tr):
        raise ValueError(f"high_pass must be a cutoff in Hz between 0 and the Nyquist frequency "
                         f"{0.5 / tr:.3g} Hz (TR {tr} s), got {high_pass!r}")
    if standardize not in STANDARDIZE:
        raise ValueError(f"standardize must be one of {STANDARDIZE}, got {standardize!r}")
    if filter not in FILTERS:
        raise ValueError(f"filter must be one of {FILTERS}, got {filter!r}")
    if confounds is not None:
        confounds = np.asarray(confounds, dtype=np.float64)
        if confounds.ndim == 1:
            confounds = confounds[:, None]
        if confounds.ndim != 2 or confounds.shape[0] != Y.shape[0]:
            raise ValueError(f"confounds must be (n_trs={Y.shape[0]}, n_confounds), got {confounds.shape}")
        if not np.all(np.isfinite(confounds)):
            raise ValueError(f"confounds hold {int(np.sum(~np.isfinite(confounds)))} NaN or infinite values")
    return Y, confounds


def clean_runs(
    Y: np.ndarray,
    runs: Sequence[int] | np.ndarray | None,
    tr: float,
    detrend: bool = True,
    high_pass: float | None = None,
    confounds: np.ndarray | None = None,
    standardize: str | None = "zscore_sample",
    trim: tuple[int, int] = (0, 0),
    filter: str = "cosine",
    sample_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Trimmed and cleaned BOLD, (n_kept, n_voxels), dtype of ``Y`` if floating else float64.

    ``Y`` (n_trs, n_voxels) finite; ``runs`` (n_trs,) integer labels or None (one run);
    ``tr`` in s. ``detrend``: remove a linear trend per run. ``high_pass``: cutoff in Hz
    (e.g. 1/128) or None; ``filter="cosine"`` regresses out discrete-cosine drifts below it
    (jointly with the confounds, as SPM), ``"butterworth"`` applies nilearn's 5th-order
    filter. ``confounds`` (n_trs,) or (n_trs, n_confounds), e.g. motion parameters, given
    for the untrimmed TRs. ``standardize``: ``"zscore_sample"`` (mean 0, sd 1 with ddof=1
    per run; constant voxels become 0), ``"psc"`` or None. ``trim = (n_first, n_last)`` TRs
    dropped at the start and end of every run; the kept rows are
    ``trim_mask(runs, *trim, n_trs=len(Y))``. ``sample_mask`` (n_trs,) bool, False at censored
    volumes (e.g. high-motion ones): each run is cleaned on its kept volumes only (nilearn's
    ``sample_mask``: the cosine drifts are built on the whole run, then censored; a Butterworth
    filter runs on the run with the censored volumes interpolated), and the censored rows of
    the output are 0, so the output keeps one row per kept-after-trimming TR (the FIR delays
    stay aligned) and the censored rows must be left out of any fit or score.
    """
    from nilearn.signal import clean

    Y, confounds = _check_inputs(Y, tr, high_pass, confounds, standardize, filter)
    n_trs = Y.shape[0]
    keep = trim_mask(runs, *trim, n_trs=n_trs)
    segment = (np.zeros(n_trs, np.int64) if runs is None else run_segments(runs, n_trs))[keep]
    if sample_mask is not None:
        sample_mask = np.asarray(sample_mask)
        if sample_mask.shape != (n_trs,) or sample_mask.dtype != bool:
            raise ValueError(f"sample_mask must be a ({n_trs},) bool array, got {sample_mask.shape} "
                             f"{sample_mask.dtype}")
    Yk = Y[keep].astype(np.float64)
    Ck = None if confounds is None else confounds[keep]
    Mk = np.ones(Yk.shape[0], bool) if sample_mask is None else sample_mask[keep]
    out = np.zeros_like(Yk)
    for seg in np.unique(segment):
        rows = np.flatnonzero(segment == seg)
        kept = Mk[rows]
        n_reg = int(detrend) + 1 + (0 if Ck is None else Ck.shape[1])
        if kept.sum() <= n_reg:
            raise ValueError(f"run {seg} keeps {int(kept.sum())} TRs after trimming {trim}"
                             f"{' and censoring' if not kept.all() else ''}: too few to "
                             f"remove {n_reg} regressors (mean{', trend' if detrend else ''}"
                             f"{', confounds' if Ck is not None else ''})")
        use_filter = filter if high_pass is not None else False
        with warnings.catch_warnings():
            # detrend=False with confounds: nilearn warns unless they are z-scored, which they are
            warnings.filterwarnings("ignore", message="When confounds are provided")
            out[rows[kept]] = clean(Yk[rows], detrend=detrend, standardize=standardize,
                                    confounds=None if Ck is None else Ck[rows], standardize_confounds=True,
                                    filter=use_filter, high_pass=high_pass, t_r=float(tr),
                                    sample_mask=None if kept.all() else np.flatnonzero(kept))
    return out.astype(Y.dtype if Y.dtype.kind == "f" else np.float64, copy=False)
