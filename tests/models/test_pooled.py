"""Time statistics: each output says what it claims about the input."""

from __future__ import annotations

import pytest
import torch

from models.pooled import TimeStatistics


def test_a_constant_clip_has_its_value_everywhere_and_no_spread():
    stats = TimeStatistics(40, 16, segments=4)
    x = torch.full((2, 40, 16), 3.0)
    y = stats(x)
    assert y.shape == (2, stats.width) == (2, 16 * (5 + 4))
    mean, std, low, high, change = y[:, : 5 * 16].reshape(2, 5, 16).unbind(dim=1)
    assert torch.allclose(mean, x[:, 0]) and torch.allclose(low, x[:, 0])
    assert torch.allclose(high, x[:, 0])
    assert torch.count_nonzero(std) == 0 and torch.count_nonzero(change) == 0


def test_statistics_follow_a_step_in_one_band():
    stats = TimeStatistics(40, 16, segments=4)
    x = torch.zeros(1, 40, 16)
    x[0, 30:, 5] = 2.0  # band 5 turns on in the last quarter
    y = stats(x)[0]
    per_band = y.reshape(9, 16)
    assert per_band[0, 5].item() == pytest.approx(0.5)  # mean
    assert per_band[1, 5].item() == pytest.approx(0.75**0.5 * 2 * 0.5)  # std of a 1/4 duty
    assert per_band[2, 5].item() == 0 and per_band[3, 5].item() == 2  # min, max
    assert per_band[4, 5].item() == pytest.approx(2 / 39)  # one jump of 2 in 39 steps
    assert per_band[5:, 5].tolist() == [0, 0, 0, 2]  # the segment means say when
    assert torch.count_nonzero(per_band[:, [b for b in range(16) if b != 5]]) == 0


def test_too_few_frames_for_the_segments_are_refused():
    with pytest.raises(ValueError, match="3 frames are too few for 8 segments"):
        TimeStatistics(3, 16)
