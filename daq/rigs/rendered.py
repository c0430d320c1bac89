"""The accelerated emulated rig: takes rendered by the emulator's batch renderer.

It renders batches at once, as fast as the CPU allows, on every lane together (a batch is
split over the lanes, each lane keeping its own items). The same work always gives the same
take, so a failed take is final, never retried; it has no devices to lose and no latency.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Generator, Iterable, Iterator
from typing import Any

from daq.calibration import LATENCY_ATTEMPTS, LatencyResult
from daq.capture import RawTake, RenderedCapture
from daq.qc import QcReport
from daq.rigs.base import LaneDown, Rig, Taken, Work
from daq.spec import CaptureSpec
from firmware_protocol.tone import Tone


class RenderedRig(Rig):
    """The emulated board(s), rendered in-process."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._renderers: dict[str, RenderedCapture] = {}

    @property
    def verification(self) -> str:
        return "nothing to read back: each take is rendered from the tone it is given"

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def connect(self) -> None:
        """Nothing to open or probe: the latency is known (none)."""
        self.open()
        self.resolve_latency()

    def fixed_latency(self) -> float:
        return 0.0

    def measure_latency(self, attempts: int = LATENCY_ATTEMPTS) -> LatencyResult:
        return LatencyResult(0.0, 0.0, 0)

    def _renderer(self, spec: CaptureSpec) -> RenderedCapture:
        key = spec.model_dump_json()
        if key not in self._renderers:
            self._renderers[key] = RenderedCapture(spec)
        return self._renderers[key]

    def capture(
        self, batches: Iterable[Iterable[Work]], stop: threading.Event
    ) -> Generator[Taken | LaneDown, None, None]:
        lanes = self.lanes
        for batch in batches:
            items = iter(batch)
            while not stop.is_set() and (chunk := list(itertools.islice(items, self.batch))):
                yield from self._render(chunk, lanes)
            if stop.is_set():
                return

    def _render(self, chunk: list[Work], lanes: int) -> Iterator[Taken]:
        """One render for the chunk (grouped by spec); item k goes to lane k mod lanes."""
        groups: dict[str, list[tuple[int, Work]]] = {}
        for k, item in enumerate(chunk):
            groups.setdefault(item.spec.model_dump_json(), []).append((k % lanes, item))
        for group in groups.values():
            renderer = self._renderer(group[0][1].spec)
            takes = renderer.capture_many([i.tone for _, i in group], [i.seed for _, i in group])
            for (lane, item), take in zip(group, takes, strict=True):
                yield Taken(item, take, lane)

    def capture_one(self, tone: Tone, spec: CaptureSpec, lane: int = 0) -> RawTake:
        return self._renderer(spec).capture_many([tone], [0])[0]

    def probe(self, failure: str) -> None:
        """The renderer always sounds: nothing to prove."""

    def retry_failed(self, lane: int, report: QcReport) -> bool:
        """Never: the same tone and seed would fail again, and silence says something about
        the tone, not about the rig."""
        return False

    def fault_device(self, error: BaseException) -> str | None:
        """None: an error here is about the work (a spec it cannot render), not a device."""
        return None
