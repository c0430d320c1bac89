"""A Super JX / JX-8P sound board driven directly over its voice-board serial line.

Any pyserial URL works (``/dev/ttyUSB0``, ``spy:///dev/ttyUSB0``, ``loop://``, a pty path),
so tests exercise the code that runs in the lab. The line runs at 31250 baud 8N1; writes
are paced at that rate even where the port itself does not pace them (a pty, a bridge with
a fast USB side), so timing on the emulator matches timing on the real board.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from daq.instruments.allocation import VoiceAllocator
from daq.instruments.base import InstrumentError
from firmware_protocol import soundboard as sb
from firmware_protocol.tone import Tone

#: 8N1: a start bit, 8 data bits and a stop bit per byte.
BITS_PER_BYTE = 10


class SerialLine:
    """One serial port shared by the boards behind it (a Super JX's two boards on one line).

    Every write names its board; the board-select byte (F1/F9/F4) goes out only when the
    line's selection changes, and a lock keeps one board's message whole. Boards open and
    close the line together: the port opens with the first and closes with the last.
    """

    def __init__(self, url: str, name: str = "voice-board", baudrate: int = 31250,
                 paced: bool = True) -> None:  # fmt: skip
        self.url = url
        self.name = name
        self.baudrate = baudrate
        self.paced = paced
        self._port: Any = None
        self._users = 0
        self._selected: sb.Board | None = None
        self._lock = threading.Lock()
        self._line_free_at = 0.0

    def open(self) -> None:
        import serial

        with self._lock:
            if self._port is None:
                try:
                    self._port = serial.serial_for_url(
                        self.url, baudrate=self.baudrate, bytesize=8, parity="N", stopbits=1,
                        write_timeout=2.0,
                    )  # fmt: skip
                except (serial.SerialException, ValueError) as error:
                    raise InstrumentError(
                        f"{self.name}: cannot open serial port {self.url}: {error}"
                    ) from error
                self._selected = None
            self._users += 1

    def close(self) -> None:
        with self._lock:
            self._users = max(0, self._users - 1)
            if self._users == 0 and self._port is not None:
                self._port.close()
                self._port = None

    def write(self, board: sb.Board | None, data: bytes, select: bool = False) -> float:
        """Write ``data`` for ``board`` (selecting it first if needed, or ``select``; None: for
        no board in particular) and wait until the bytes are on the line (paced at the baud
        rate). Returns when they were handed to the port (``time.monotonic()``)."""
        import serial

        with self._lock:
            if self._port is None:
                raise InstrumentError(f"{self.name}: serial port {self.url} is not open")
            if board is not None and (select or self._selected != board):
                data = sb.encode_select(board) + data
            if self.paced:
                wait = self._line_free_at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            try:
                self._port.write(data)
                sent = time.monotonic()
                self._port.flush()
            except (serial.SerialException, OSError) as error:
                raise InstrumentError(
                    f"{self.name}: serial port {self.url} failed: {error}"
                ) from error
            self._selected = board  # None after an init: the next write selects
            self._line_free_at = time.monotonic() + len(data) * BITS_PER_BYTE / self.baudrate
            return sent

    def line_time_s(self, data_bytes: int) -> float:
        """How long ``data_bytes`` take on the wire: a full tone is ~28 ms."""
        return data_bytes * BITS_PER_BYTE / self.baudrate

    def init(self) -> None:
        """The drivers' init (both boards' UART readers resynchronised); no board selected."""
        self.write(None, sb.encode_init())


class SerialVoiceBoard:
    """One sound board (upper, lower or both) behind a serial port, alone on its line or
    sharing it (``line``) with the other board."""

    def __init__(
        self,
        url: str,
        name: str = "voice-board",
        board: sb.Board = sb.Board.UPPER,
        baudrate: int = 31250,
        paced: bool = True,
        line: SerialLine | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.board = board
        self.line = line or SerialLine(url, name, baudrate, paced)
        self._tone: Tone | None = None
        self._voices = VoiceAllocator()

    # -- connection -----------------------------------------------------------------------
    def open(self) -> None:
        self.line.open()
        self.reset()

    def close(self) -> None:
        self.line.close()

    def _write(self, data: bytes, select: bool = False) -> float:
        return self.line.write(self.board, data, select)

    # -- instrument -----------------------------------------------------------------------
    def reset(self) -> None:
        self.line.init()
        self._write(sb.encode_all_notes_off(), select=True)
        self._tone = None
        self._voices.clear()

    def program(self, tone: Tone) -> None:
        changes = sb.encode_tone(tone, previous=self._tone)
        if changes:
            self._write(changes, select=True)
        self._tone = tone

    def note_on(self, key: int, velocity: int) -> float:
        return self._write(sb.encode_note_on(self._voices.on(key), key, velocity))

    def note_off(self, key: int) -> None:
        voice = self._voices.off(key)
        if voice is not None:
            self._write(sb.encode_note_off(voice, key))

    def all_notes_off(self) -> None:
        for key, voice in self._voices.sounding().items():
            self._write(sb.encode_note_off(voice, key))
        self._voices.clear()
        self._write(sb.encode_all_notes_off(), select=True)

    def line_time_s(self, data_bytes: int) -> float:
        """How long ``data_bytes`` take on the wire: a full tone is ~28 ms."""
        return self.line.line_time_s(data_bytes)
