"""FIR delays against hand-built lagged matrices, with and without run boundaries."""

from __future__ import annotations

import numpy as np
import pytest

from brain.delays import delays_from_seconds, make_delays

# Six TRs, two features: the second is ten times the first, so every cell is traceable.
X = np.column_stack([np.arange(1.0, 7.0), 10 * np.arange(1.0, 7.0)])


def test_zero_delay_is_identity() -> None:
    np.testing.assert_array_equal(make_delays(X, [0]), X)


def test_lags_and_leads_match_hand_built_matrix() -> None:
    expected = np.array(
        [
            # d=0       d=2       d=-1
            [1, 10, 0, 0, 2, 20],
            [2, 20, 0, 0, 3, 30],
            [3, 30, 1, 10, 4, 40],
            [4, 40, 2, 20, 5, 50],
            [5, 50, 3, 30, 6, 60],
            [6, 60, 4, 40, 0, 0],
        ],
        dtype=float,
    )
    np.testing.assert_array_equal(make_delays(X, [0, 2, -1]), expected)


def test_shifts_never_cross_run_boundaries() -> None:
    runs = np.array([7, 7, 7, 3, 3, 3])
    expected = np.array(
        [
            # d=1     d=-1
            [0, 0, 2, 20],
            [1, 10, 3, 30],
            [2, 20, 0, 0],
            [0, 0, 5, 50],
            [4, 40, 6, 60],
            [5, 50, 0, 0],
        ],
        dtype=float,
    )
    np.testing.assert_array_equal(make_delays(X, [1, -1], runs=runs), expected)


def test_a_label_that_comes_back_starts_a_new_run() -> None:
    runs = np.array([0, 0, 1, 1, 0, 0])
    expected = np.array([0, 1, 0, 3, 0, 5], dtype=float)
    np.testing.assert_array_equal(make_delays(X[:, :1], [1], runs=runs)[:, 0], expected)


def test_matches_per_run_shift_on_random_data() -> None:
    rng = np.random.default_rng(0)
    data = rng.standard_normal((30, 3)).astype(np.float32)
    runs = np.repeat([0, 1, 2], [12, 10, 8])
    delays = [1, 3, 4]
    out = make_delays(data, delays, runs)
    assert out.shape == (30, 9) and out.dtype == np.float32
    for i, d in enumerate(delays):
        block = out[:, 3 * i : 3 * (i + 1)]
        for r in range(3):
            rows = np.flatnonzero(runs == r)
            np.testing.assert_array_equal(block[rows[:d]], 0.0)
            np.testing.assert_array_equal(block[rows[d:]], data[rows[:-d]])


@pytest.mark.parametrize(
    ("delays", "match"),
    [
        ([], "non-empty"),
        ([1, 1], "unique"),
        ([0.5, 1.0], "integers"),
        ([True, False], "integers"),
        ([[1, 2]], "1-D"),
    ],
)
def test_bad_delays_raise(delays: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_delays(X, delays)


def test_bad_inputs_raise_with_sizes() -> None:
    with pytest.raises(ValueError, match=r"2-D .*\(6,\)"):
        make_delays(X[:, 0], [1])
    bad = X.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="1 NaN or inf"):
        make_delays(bad, [1])
    with pytest.raises(ValueError, match=r"largest delay 6: n_trs=6"):
        make_delays(X, [1, -6])
    with pytest.raises(ValueError, match=r"largest delay 3: n_trs=6, longest run 3"):
        make_delays(X, [3], runs=[0, 0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match=r"runs must have shape \(n_trs,\) = \(6,\), got \(5,\)"):
        make_delays(X, [1], runs=[0, 0, 0, 1, 1])
    with pytest.raises(ValueError, match="integer labels"):
        make_delays(X, [1], runs=np.zeros(6))


def test_delays_from_seconds_round_to_the_nearest_tr() -> None:
    """Each requested delay maps to round(s / tr) (halves up); by default the gaps are filled."""
    np.testing.assert_array_equal(delays_from_seconds([2, 4, 6, 8, 10], 1.49, contiguous=False), [1, 3, 4, 5, 7])
    np.testing.assert_array_equal(delays_from_seconds([2, 4, 6, 8, 10], 1.49), np.arange(1, 8))
    np.testing.assert_array_equal(delays_from_seconds([10, 2, 6], 2.0), [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(delays_from_seconds([3.0, 1.0], 2.0, contiguous=False), [1, 2])  # 0.5 and 1.5 up
    np.testing.assert_array_equal(delays_from_seconds([0.4, 0.0], 1.0), [0])  # under half a TR: no delay
    rng = np.random.default_rng(3)
    for _ in range(50):  # against an independent rule: the nearest multiple of tr, computed in seconds
        tr, secs = rng.uniform(0.5, 3.0), rng.uniform(0, 20, rng.integers(1, 6))
        want = sorted({int(np.argmin(np.abs(np.arange(60) * tr - s))) for s in secs})
        got = delays_from_seconds(secs, tr, contiguous=False)
        assert got.dtype == np.int64 and got.tolist() == want
        full = delays_from_seconds(secs, tr)
        assert full.tolist() == list(range(want[0], want[-1] + 1))
        assert np.all(np.abs(full[[0, -1]] * tr - [secs.min(), secs.max()]) <= tr / 2 + 1e-9)
    make_delays(X, delays_from_seconds([2, 4], 1.49))  # usable as FIR delays


@pytest.mark.parametrize(
    ("delays_s", "tr", "match"),
    [
        ([], 1.49, "non-empty"),
        ([[2, 4]], 1.49, "1-D"),
        ([2, -1], 1.49, ">= 0"),
        ([2, np.nan], 1.49, "finite"),
        ([np.inf], 1.49, "finite"),
        (["2s"], 1.49, "seconds"),
        ([True], 1.49, "booleans"),
        ([2, 4], 0.0, "tr must be"),
        ([2, 4], -1.0, "tr must be"),
        ([2, 4], np.nan, "tr must be"),
        ([2, 4], "1.49", "tr must be"),
    ],
)
def test_delays_from_seconds_rejects_bad_input(delays_s: list, tr: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        delays_from_seconds(delays_s, tr)
