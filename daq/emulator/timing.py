"""Sample-accurate command timing for the served emulator: a fixed delay, as a real board has.

Without it, a served emulator applies each command at the start of the next block its audio
callback computes. Output callbacks run ahead of their samples by a varying amount (the host
API's buffering, PulseAudio's in particular), so a note's sound would wander by milliseconds
against the moment it was sent: a jitter the real board, whose response to a command is a
fixed processing delay, does not have. The scheduler stamps each chunk of bytes on arrival
with the output stream's clock and applies it at the sample that plays ``delay_s`` later.
``delay_s`` must exceed how far ahead the callbacks run; a command that arrives too late for
its sample is applied at the start of the next block, as without a scheduler.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Protocol

import numpy as np


class Board(Protocol):
    """What the scheduler drives: :class:`daq.emulator.board.BoardEmulator`."""

    sample_rate: int

    def feed(self, data: bytes) -> None: ...

    def process(self, frames: int) -> np.ndarray: ...


class CommandScheduler:
    """Feeds bytes to a board at ``arrival + delay_s`` on the output stream's clock."""

    def __init__(self, board: Board, delay_s: float) -> None:
        if not delay_s > 0:
            raise ValueError(f"delay_s must be > 0, got {delay_s}")
        self.board = board
        self.delay_s = delay_s
        self.late = 0  # commands that came too late for their sample
        self._clock: Callable[[], float] | None = None
        self._pending: deque[tuple[float, bytes]] = deque()
        self._lock = threading.Lock()

    def attach(self, clock: Callable[[], float]) -> None:
        """Start stamping with ``clock`` (the output stream's time, as in its callbacks)."""
        self._clock = clock

    def feed(self, data: bytes) -> None:
        """Bytes that just arrived; before :meth:`attach` they act at once."""
        if self._clock is None:
            self.board.feed(data)
            return
        at = self._clock() + self.delay_s
        with self._lock:
            self._pending.append((at, data))

    def process(self, frames: int, first_sample_time: float) -> np.ndarray:
        """The board's next ``frames`` samples, whose first plays at ``first_sample_time``,
        with every command due within them applied at its own sample."""
        rate = self.board.sample_rate
        parts = []
        done = 0
        while True:
            with self._lock:
                if not self._pending:
                    break
                at, data = self._pending[0]
                offset = round((at - first_sample_time) * rate)
                if offset >= frames:
                    break
                self._pending.popleft()
            if offset < done:
                self.late += offset < 0
                offset = done
            if offset > done:
                parts.append(self.board.process(offset - done))
                done = offset
            self.board.feed(data)
        parts.append(self.board.process(frames - done))
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)
