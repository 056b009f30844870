"""One clip per TR: counts, context windows reaching into the past, padding and frame times."""

from __future__ import annotations

import numpy as np
import pytest

from brain.features.clips import (
    Clip,
    audio_window,
    clip_windows,
    frame_times,
    make_clips,
)


@pytest.mark.parametrize(
    ("duration", "tr", "n_clips"),
    [(10.0, 2.0, 5), (10.5, 2.0, 5), (9.99, 2.0, 4), (2.0, 2.0, 1), (14.9, 1.49, 10), (300.0, 1.49, 201)],
)
def test_number_of_clips_is_whole_trs(duration: float, tr: float, n_clips: int) -> None:
    windows = clip_windows(duration, tr)
    assert windows.shape == (n_clips, 2)
    k = np.arange(n_clips)
    np.testing.assert_allclose(windows[:, 0], k * tr)
    np.testing.assert_allclose(windows[:, 1], (k + 1) * tr)


def test_context_windows_reach_into_the_past() -> None:
    windows = clip_windows(10.0, 2.0, context=5.0)
    np.testing.assert_allclose(windows[:, 1], [2, 4, 6, 8, 10])
    np.testing.assert_allclose(windows[:, 0], [-3, -1, 1, 3, 5])  # negative: pad before 0
    np.testing.assert_allclose(windows[:, 1] - windows[:, 0], 5.0)


def test_make_clips_records_tr_interval_and_window() -> None:
    clips = make_clips(6.0, 2.0, context=3.0)
    assert clips[1] == Clip(index=1, start=2.0, stop=4.0, window_start=1.0)
    assert clips[0].window == (-1.0, 2.0)
    assert [c.index for c in clips] == [0, 1, 2]


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match=r"stimulus lasts 0\.8 s, shorter than one TR \(1\.49 s\)"):
        clip_windows(0.8, 1.49)
    with pytest.raises(ValueError, match="tr must be a positive"):
        clip_windows(10.0, 0.0)
    with pytest.raises(ValueError, match="duration"):
        clip_windows(float("nan"), 2.0)
    with pytest.raises(ValueError, match=r"context \(1 s\) must be at least one TR \(2 s\)"):
        clip_windows(10.0, 2.0, context=1.0)


def test_frame_times_are_centres_clipped_at_zero() -> None:
    np.testing.assert_allclose(frame_times((2.0, 4.0), 4), [2.25, 2.75, 3.25, 3.75])
    np.testing.assert_allclose(frame_times((-1.0, 1.0), 4), [0.0, 0.0, 0.25, 0.75])
    np.testing.assert_allclose(frame_times(np.array([0.0, 3.0]), 1), [1.5])
    with pytest.raises(ValueError, match="n_frames"):
        frame_times((0.0, 1.0), 0)
    with pytest.raises(ValueError, match="start < stop"):
        frame_times((1.0, 1.0), 2)


def test_audio_window_pads_and_has_exact_length() -> None:
    sr = 10
    x = np.arange(1, 31, dtype=np.float32)  # 3 s; sample i holds i + 1
    np.testing.assert_array_equal(audio_window(x, sr, 1.0, 1.5), [11, 12, 13, 14, 15])
    front = audio_window(x, sr, -0.3, 0.5)
    np.testing.assert_array_equal(front, [0, 0, 0, 1, 2, 3, 4, 5])
    back = audio_window(x, sr, 2.5, 3.2)
    np.testing.assert_array_equal(back, [26, 27, 28, 29, 30, 0, 0])
    both = audio_window(x, sr, -1.0, 4.0)
    assert both.shape == (50,) and both.dtype == np.float32
    np.testing.assert_array_equal(both[10:40], x)
    assert not both[:10].any() and not both[40:].any()
    for start in np.linspace(-2.0, 2.5, 37):  # every window of 1.49 s has the same length
        assert audio_window(x, sr, start, start + 1.49).shape == (15,)
    stereo = np.stack([x, -x], axis=1)
    assert audio_window(stereo, sr, -0.1, 0.2).shape == (3, 2)
    with pytest.raises(ValueError, match="start < stop"):
        audio_window(x, sr, 1.0, 0.5)
