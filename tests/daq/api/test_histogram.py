"""Parameter histograms: bars fill the box from its floor, the tallest reaches the top, a
switch's bars count its positions, and coverage and takes say what the counts hold."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daq.api.histogram import histogram
from firmware_protocol.parameters import CONTINUOUS, SWITCHES, ToneParameter

COUNTS = st.lists(st.integers(0, 10_000), min_size=128, max_size=128)


def _check_box(parameter: ToneParameter, counts: list[int], width: int, height: int) -> None:
    drawn = histogram(parameter, counts, width, height)
    assert drawn.name == parameter.name and drawn.takes == sum(counts)
    for bar in drawn.bars:
        assert bar.x >= 0 and bar.x + bar.width <= width + 1e-9
        assert bar.y + bar.height == pytest.approx(height)  # standing on the floor
        assert 0 <= bar.height <= height
    assert [bar.x for bar in drawn.bars] == sorted(bar.x for bar in drawn.bars)
    tallest = max(drawn.bars, key=lambda bar: bar.count)
    assert tallest.height == (height if tallest.count else 0)
    held = sum(1 for bar in drawn.bars if bar.count) / len(drawn.bars)
    assert drawn.coverage == pytest.approx(held)


@given(counts=COUNTS, width=st.integers(64, 1024), height=st.integers(8, 200))
def test_a_continuous_parameter_has_a_bar_per_raw_value(counts, width, height):
    parameter = CONTINUOUS[0]
    _check_box(parameter, counts, width, height)
    bars = histogram(parameter, counts, width, height).bars
    assert [bar.count for bar in bars] == counts
    assert [bar.label for bar in bars] == [str(raw) for raw in range(128)]


@given(counts=COUNTS, parameter=st.sampled_from(SWITCHES))
def test_a_switch_has_a_bar_per_position_named_by_its_label(counts, parameter):
    _check_box(parameter, counts, 256, 40)
    bars = histogram(parameter, counts).bars
    assert [bar.label for bar in bars] == list(parameter.labels)
    by_position = [0] * parameter.ways
    for raw, count in enumerate(counts):
        by_position[parameter.position(raw)] += count
    assert [bar.count for bar in bars] == by_position


def test_no_takes_draw_flat_bars_and_cover_nothing():
    drawn = histogram(CONTINUOUS[0], [0] * 128)
    assert drawn.takes == 0 and drawn.coverage == 0
    assert all(bar.height == 0 for bar in drawn.bars)
