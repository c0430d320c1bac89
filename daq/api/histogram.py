"""Histograms of a tone parameter's values, as SVG bars drawn on the server (as sparklines).

A dataset's page shows, for each of the 44 parameters, how its takes spread over the raw
values: one bar per value for a continuous parameter, one per position for a switch (named
by its label), so that the gaps in the parameter space are visible at a glance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from firmware_protocol.parameters import ToneParameter


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the value or switch label it counts
    count: int


@dataclass(frozen=True, slots=True)
class Histogram:
    name: str
    bars: tuple[Bar, ...]
    width: int
    height: int
    #: Share of the values (or switch positions) that some take holds.
    coverage: float
    takes: int


def histogram(
    parameter: ToneParameter, counts: Sequence[int], width: int = 256, height: int = 40
) -> Histogram:
    """``counts`` (takes per raw value 0..127) as bars filling ``width`` x ``height``."""
    if parameter.is_switch:
        slots = [0] * parameter.ways
        for raw, count in enumerate(counts):
            slots[parameter.position(raw)] += count
        labels = list(parameter.labels)
    else:
        slots, labels = list(counts), [str(raw) for raw in range(len(counts))]
    peak = max(slots) or 1
    step = width / len(slots)
    gap = 1.0 if step > 4 else 0.0
    bars = tuple(
        Bar(
            x=index * step,
            y=height - height * count / peak,
            width=step - gap,
            height=height * count / peak,
            label=label,
            count=count,
        )
        for index, (label, count) in enumerate(zip(labels, slots, strict=True))
    )
    covered = sum(1 for count in slots if count) / len(slots)
    return Histogram(parameter.name, bars, width, height, covered, sum(slots))
