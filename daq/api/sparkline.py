"""Sparklines: a series of measurements as the points of an SVG polyline, drawn on the server.

The dashboard shows a rig's drift and latency over time as a small inline SVG, so a page needs
no chart library and no script to draw it. Points are spaced by when each value was measured,
and scaled to the series' own range (a flat series is drawn along the middle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Sparkline:
    points: tuple[tuple[float, float], ...]  # (x, y) in pixels, y downwards as in SVG
    width: int
    height: int
    low: float
    high: float
    last: float
    count: int

    @property
    def polyline(self) -> str:
        """The points as a ``<polyline points="...">`` value."""
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in self.points)


def sparkline(
    series: Sequence[tuple[datetime, float]], width: int = 160, height: int = 32, pad: int = 2
) -> Sparkline | None:
    """``series`` of (time, value), oldest first, as a polyline inside ``width`` x ``height``
    (``pad`` pixels clear of the edges); None when there is nothing to draw."""
    if not series:
        return None
    times = [t.timestamp() for t, _ in series]
    values = [v for _, v in series]
    low, high = min(values), max(values)
    t0, span = times[0], times[-1] - times[0]
    inner_w, inner_h = width - 2 * pad, height - 2 * pad
    points = []
    for index, (t, v) in enumerate(zip(times, values, strict=True)):
        # all measured at once (or one point): spread them evenly
        evenly = index / (len(values) - 1) if len(values) > 1 else 0.5
        x = (t - t0) / span if span > 0 else evenly
        y = (v - low) / (high - low) if high > low else 0.5
        points.append((pad + x * inner_w, pad + (1 - y) * inner_h))
    return Sparkline(tuple(points), width, height, low, high, values[-1], len(values))
