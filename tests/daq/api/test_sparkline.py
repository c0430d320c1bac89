"""Sparklines: every point inside the box, in time order; no measurements, no line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from daq.api.sparkline import sparkline

# -- sparklines ---------------------------------------------------------------------------------
START = datetime(2026, 1, 1, tzinfo=UTC)


series = st.lists(
    st.tuples(st.integers(0, 10**7), st.floats(-1e6, 1e6, allow_nan=False)), min_size=1
).map(lambda xs: [(START + timedelta(seconds=t), v) for t, v in sorted(xs)])


@given(series)
def test_a_sparkline_keeps_every_point_inside_its_box_in_time_order(values):
    line = sparkline(values, width=100, height=20, pad=2)
    assert line is not None and line.count == len(values) == len(line.points)
    xs = [x for x, _ in line.points]
    assert all(2 <= x <= 98 for x in xs) and all(2 <= y <= 18 for _, y in line.points)
    assert xs == sorted(xs)
    top = min(y for _, y in line.points)  # SVG y grows downwards: the highest value is on top
    assert all(
        y == top for (_, v), (_, y) in zip(values, line.points, strict=True) if v == line.high
    )
    assert line.last == values[-1][1] and len(line.polyline.split()) == len(values)


def test_no_measurements_draw_no_sparkline():
    assert sparkline([]) is None
