"""Run-wise cleaning against independent references: scipy's detrend, least-squares
residuals, hand-built trim masks, and nilearn's ``clean`` called on each run directly."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from brain.cleaning import clean_runs, trim_mask

TR = 1.5


@pytest.fixture
def runs() -> np.ndarray:
    return np.repeat([3, 1, 2], [40, 30, 50])  # unsorted labels: order must be kept


def _per_run(runs: np.ndarray) -> list[np.ndarray]:
    return [np.flatnonzero(runs == r) for r in (3, 1, 2)]


def test_trim_mask_drops_exactly_the_first_and_last_trs_of_each_run() -> None:
    runs = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0])  # the label 0 that comes back is a new run
    want = np.array([0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0], bool)
    np.testing.assert_array_equal(trim_mask(runs, 1, 2), want)
    np.testing.assert_array_equal(trim_mask(runs, 0, 0), np.ones(13, bool))
    np.testing.assert_array_equal(trim_mask(None, 2, 1, n_trs=5), [0, 0, 1, 1, 0])
    with pytest.raises(ValueError, match=r"leaves nothing of run 1 \(TRs 5..8, 4 TRs\)"):
        trim_mask(runs, 2, 2)
    with pytest.raises(ValueError, match="n_first must be a non-negative integer"):
        trim_mask(runs, -1, 0)
    with pytest.raises(ValueError, match="n_last must be"):
        trim_mask(runs, 0, 1.5)


def test_detrending_removes_a_planted_linear_drift_per_run(rng: np.random.Generator, runs: np.ndarray) -> None:
    noise = rng.standard_normal((runs.size, 4))
    Y = noise.copy()
    for rows in _per_run(runs):  # each run its own offset and slope
        t = np.arange(rows.size)
        Y[rows] += rng.normal(0, 50, 4) + np.outer(t, rng.normal(0, 2, 4))
    out = clean_runs(Y, runs, TR, detrend=True, standardize=None)
    assert out.shape == Y.shape
    for rows in _per_run(runs):
        np.testing.assert_allclose(out[rows], scipy.signal.detrend(Y[rows], axis=0, type="linear"), atol=1e-8)
        # the drift is gone: what is left is the noise less its own linear fit
        np.testing.assert_allclose(out[rows], scipy.signal.detrend(noise[rows], axis=0), atol=1e-8)


def test_confound_regression_removes_a_planted_confound(rng: np.random.Generator, runs: np.ndarray) -> None:
    conf = rng.standard_normal((runs.size, 2))
    noise = rng.standard_normal((runs.size, 5))
    Y = noise + conf @ rng.normal(0, 3, (2, 5))
    out = clean_runs(Y, runs, TR, detrend=True, confounds=conf, standardize=None)
    for rows in _per_run(runs):
        t = np.arange(rows.size)
        design = np.column_stack([np.ones(rows.size), t, conf[rows]])
        resid = Y[rows] - design @ np.linalg.lstsq(design, Y[rows], rcond=None)[0]
        np.testing.assert_allclose(out[rows], resid, atol=1e-8)  # Frisch-Waugh-Lovell
        assert np.abs(np.corrcoef(out[rows].T, conf[rows].T)[:5, 5:]).max() < 1e-8
    one = clean_runs(Y[:, :1], runs, TR, confounds=conf[:, 0], standardize=None)  # a 1-D confound
    assert one.shape == (runs.size, 1)


def test_standardisation_is_per_run(rng: np.random.Generator, runs: np.ndarray) -> None:
    Y = rng.normal(100, 1, (runs.size, 3)) * np.repeat([[1.0], [5.0], [0.2]], [40, 30, 50], axis=0)
    Y[:, 2] = 7.0  # a constant voxel becomes 0, not NaN
    out = clean_runs(Y.astype(np.float32), runs, TR, detrend=False)
    assert out.dtype == np.float32
    for rows in _per_run(runs):
        np.testing.assert_allclose(out[rows, :2].mean(0), 0, atol=1e-5)
        np.testing.assert_allclose(out[rows, :2].std(0, ddof=1), 1, atol=1e-5)
        want = (Y[rows, :2] - Y[rows, :2].mean(0)) / Y[rows, :2].std(0, ddof=1)
        np.testing.assert_allclose(out[rows, :2], want, atol=1e-4)
    np.testing.assert_array_equal(out[:, 2], 0)


def test_trimming_happens_before_cleaning(rng: np.random.Generator, runs: np.ndarray) -> None:
    Y = rng.standard_normal((runs.size, 3))
    Y[_per_run(runs)[0][:3]] += 40  # non-steady-state volumes at the start of the first run
    conf = rng.standard_normal((runs.size, 1))
    keep = trim_mask(runs, 3, 2)
    out = clean_runs(Y, runs, TR, confounds=conf, trim=(3, 2))
    assert out.shape == (keep.sum(), 3) == (120 - 3 * 5, 3)
    np.testing.assert_allclose(out, clean_runs(Y[keep], runs[keep], TR, confounds=conf[keep]), atol=1e-10)
    assert np.abs(out).max() < 6  # the outliers were dropped, not spread by the detrend


def test_matches_nilearn_clean_on_each_run(rng: np.random.Generator, runs: np.ndarray) -> None:
    """Cosine high-pass and confounds, as nilearn itself does them run by run."""
    from nilearn.signal import clean

    Y = rng.standard_normal((runs.size, 4)).cumsum(0)  # random walks: slow drifts
    conf = rng.standard_normal((runs.size, 2))
    for filt in ("cosine", "butterworth"):
        out = clean_runs(Y, runs, TR, high_pass=0.02, confounds=conf, filter=filt)
        for rows in _per_run(runs):
            want = clean(Y[rows], detrend=True, standardize="zscore_sample", confounds=conf[rows],
                         filter=filt, high_pass=0.02, t_r=TR)
            np.testing.assert_allclose(out[rows], want, atol=1e-10)


def test_high_pass_removes_slow_drift_and_keeps_fast_signal(rng: np.random.Generator) -> None:
    t = np.arange(400) * TR
    fast = np.sin(2 * np.pi * 0.08 * t)
    slow = 3 * np.cos(2 * np.pi * 0.003 * t)  # below a 1/128 Hz cutoff, not linear over the run
    Y = np.column_stack([fast + slow, fast + slow + 0.1 * rng.standard_normal(400)])
    out = clean_runs(Y, None, TR, high_pass=1 / 128)
    assert np.corrcoef(out[:, 0], fast)[0, 1] > 0.99
    kept = clean_runs(Y, None, TR)  # linear detrend alone leaves the slow wave
    assert np.corrcoef(kept[:, 0], fast)[0, 1] < 0.5


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"Y": np.full((10, 2), np.nan)}, "NaN"),
        ({"Y": np.zeros(10)}, r"\(n_trs, n_voxels\)"),
        ({"tr": 0.0}, "tr must be"),
        ({"high_pass": 0.5}, "Nyquist"),
        ({"high_pass": -0.01}, "high_pass"),
        ({"confounds": np.zeros((9, 1))}, r"confounds must be \(n_trs=10"),
        ({"confounds": np.full(10, np.inf)}, "confounds hold 10 NaN"),
        ({"standardize": "zscore"}, "standardize must be"),
        ({"filter": "fir"}, "filter must be"),
        ({"trim": (4, 4)}, "too few"),
        ({"runs": np.zeros(10)}, "integer labels"),
    ],
)
def test_bad_inputs_raise(kwargs: dict, match: str) -> None:
    args = {"Y": np.random.default_rng(0).standard_normal((10, 2)), "runs": None, "tr": TR, **kwargs}
    with pytest.raises(ValueError, match=match):
        clean_runs(**args)
