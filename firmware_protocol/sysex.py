"""Roland SysEx for the JX-8P (0x21) and JX-10/MKS-70 (0x24): IPR, APR, PGR and BLD.

Messages are frozen values that encode themselves; :func:`parse_syx` decodes a whole file
(any mix of messages) or raises one :class:`SysExError` naming the byte offset, the message
type and what was expected. Decoding accepts only what the encoder writes back identically,
so ``parse_syx(data).to_bytes() == data`` whenever parsing succeeds.

Choices made here, once (PROTOCOL.md section 3):

* Messages are framed by their header, not by scanning for F7: each (operation, level) has a
  fixed length, and the byte at that length must be F7.
* Tone and patch APR bodies keep any data byte 0x00..0xEF: real JX-8P bank files hold 0x80
  inside APR bodies (what such a tone byte means: ``Tone.from_dump``). A byte 0xF0..0xFF
  inside a body means the message was cut short.
* Bank positions: in a JX-8P bank each tone APR is followed by a PGR (mode 02 = write) that
  names its memory; on the MKS-70 a PGR comes before the APR it places. BLD messages carry
  their own number (tt / pp).
* Vecoven OS4 (JX-10/MKS-70 only) has its own operation codes beside the stock ones
  (:class:`Firmware`): tone APR 0x38 (101 data bytes), patch APR 0x38 (the stock body),
  IPR 0x39, BLD 0x3A (tone: 78 bytes; patch: 49 bytes packed in 56) and the edit-buffer
  request 0x3D. Their layouts and sources are in :mod:`firmware_protocol.parameters`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from firmware_protocol import os4
from firmware_protocol.parameters import (
    APR_TONE_LENGTH,
    OS4_APR_TONE_LENGTH,
    OS4_BULK_TONE_LENGTH,
    OS4_PATCH_BULK_LENGTH,
    PATCH_APR_LENGTH,
    PATCH_BULK_LENGTH,
)
from firmware_protocol.patch import Patch, PatchLayout
from firmware_protocol.tone import Tone

ROLAND_ID = 0x41
SOX, EOX = 0xF0, 0xF7


class Operation(IntEnum):
    PGR = 0x34
    APR = 0x35
    IPR = 0x36
    BLD = 0x37
    OS4_APR = 0x38
    OS4_IPR = 0x39
    OS4_BLD = 0x3A
    OS4_REQUEST = 0x3D


class Firmware(IntEnum):
    """Which tone format a message speaks: the stock one or Vecoven OS4's."""

    STOCK = 0
    OS4 = 4


#: (stock operation, firmware) -> the operation code on the wire.
_OPERATION_OF = {
    (Operation.APR, Firmware.STOCK): Operation.APR,
    (Operation.APR, Firmware.OS4): Operation.OS4_APR,
    (Operation.IPR, Firmware.STOCK): Operation.IPR,
    (Operation.IPR, Firmware.OS4): Operation.OS4_IPR,
    (Operation.BLD, Firmware.STOCK): Operation.BLD,
    (Operation.BLD, Firmware.OS4): Operation.OS4_BLD,
}
#: The edit-buffer request's fixed bytes after the channel (firmware 4.19 and up; the
#: M4L_MKS-70 wiki: ``F0 41 3D 0n 24 02 01 07 F7``, meaning of 02 01 07 not documented).
OS4_REQUEST_BODY = bytes((0x24, 0x02, 0x01, 0x07))


class Device(IntEnum):
    JX8P = 0x21
    MKS70 = 0x24  # also the JX-10

    @property
    def label(self) -> str:
        return "JX-8P" if self is Device.JX8P else "JX-10/MKS-70"


class Level(IntEnum):
    TONE = 0x20
    PATCH = 0x30


#: APR/IPR/PGR group: tone A (upper; always 01 on the JX-8P) and tone B (lower).
TONE_A, TONE_B = 0x01, 0x02
#: BLD memory byte: internal or cartridge.
INTERNAL, CARTRIDGE = 0x01, 0x02
#: JX-8P PGR mode byte that stores the edit buffer into memory ``nn``.
PGR_WRITE = 0x02


class SysExError(ValueError):
    """Bad SysEx input: where (byte offset), in which message type, and what was expected."""

    def __init__(
        self, offset: int, message_type: str, expected: str, source: str | None = None
    ) -> None:
        where = f"{source}: " if source else ""
        super().__init__(f"{where}byte {offset}: {message_type}: expected {expected}")
        self.offset = offset
        self.message_type = message_type
        self.expected = expected
        self.source = source

    def in_source(self, source: str) -> SysExError:
        """The same error, naming the file it came from."""
        return type(self)(self.offset, self.message_type, self.expected, source)


class TruncatedSysExError(SysExError):
    """The data ends (or a new message starts) before the message is complete."""


def _check_7bit(name: str, value: int, low: int = 0, high: int = 0x7F) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name}: {value!r} is out of range; allowed {low}..{high}")
    return value


def _check_body(name: str, body: bytes) -> bytes:
    bad = next((i for i, b in enumerate(body) if b >= SOX), None)
    if bad is not None:
        raise ValueError(f"{name}: body byte {bad} is 0x{body[bad]:02X}; allowed 0x00..0xEF")
    return body


def _check_level(device: Device, level: Level) -> None:
    if device is Device.JX8P and level is Level.PATCH:
        raise ValueError("level: the JX-8P has no patches; allowed Level.TONE")


def _check_firmware(device: Device, firmware: Firmware) -> None:
    if firmware is Firmware.OS4 and device is not Device.MKS70:
        raise ValueError("firmware: Vecoven OS4 runs on the JX-10/MKS-70 only; allowed STOCK")


@dataclass(frozen=True, slots=True)
class _Slot:
    """What the four bulk-dump (BLD) kinds share: a memory slot and the MKS-70 header."""

    channel: int
    memory: int
    number: int

    @property
    def device(self) -> Device:
        return Device.MKS70

    def _check_slot(self) -> None:
        _check_7bit("channel", self.channel, 0, 15)
        _check_7bit("memory", self.memory, INTERNAL, CARTRIDGE)
        _check_7bit("number", self.number)

    def _frame(self, operation: Operation, level: Level, body: bytes) -> bytes:
        head = _header(operation, self.channel, Device.MKS70, level)
        return head + bytes((self.memory, 0x00, self.number)) + body + bytes((EOX,))


def _header(
    operation: Operation,
    channel: int,
    device: Device,
    level: Level,
    firmware: Firmware = Firmware.STOCK,
) -> bytes:
    wire = _OPERATION_OF.get((operation, firmware), operation)
    return bytes((SOX, ROLAND_ID, wire, channel, device, level))


@dataclass(frozen=True, slots=True)
class IPR:
    """One parameter of the edit buffer: tone parameter (APR index) or patch parameter.

    OS4 (0x39): a tone parameter is an OS4 IPR number (``Os4Parameter.ipr``).
    """

    device: Device
    channel: int
    level: Level
    group: int
    parameter: int
    value: int
    firmware: Firmware = Firmware.STOCK

    def __post_init__(self) -> None:
        _check_7bit("channel", self.channel, 0, 15)
        _check_7bit("group", self.group, TONE_A, TONE_B)
        _check_level(self.device, self.level)
        _check_firmware(self.device, self.firmware)
        _check_7bit("parameter", self.parameter)
        _check_7bit("value", self.value)

    def encode(self) -> bytes:
        head = _header(Operation.IPR, self.channel, self.device, self.level, self.firmware)
        return head + bytes((self.group, self.parameter, self.value, EOX))


@dataclass(frozen=True, slots=True)
class ToneAPR:
    """A whole tone into the edit buffer of group A (upper) or B (lower).

    OS4 sends the tone's OS4 body (``Tone.to_os4()`` gives a stock tone one); stock sends
    ``tone.data``, which for an OS4 tone is its nearest stock tone.
    """

    device: Device
    channel: int
    group: int
    tone: Tone
    firmware: Firmware = Firmware.STOCK

    def __post_init__(self) -> None:
        _check_7bit("channel", self.channel, 0, 15)
        _check_7bit("group", self.group, TONE_A, TONE_B)
        _check_firmware(self.device, self.firmware)
        if self.firmware is Firmware.OS4 and self.tone.os4 is None:
            raise ValueError("an OS4 tone APR needs a tone with an OS4 body (Tone.to_os4())")
        _check_body("tone", self.body)

    @property
    def body(self) -> bytes:
        """The data bytes on the wire."""
        return (
            self.tone.os4
            if self.firmware is Firmware.OS4 and self.tone.os4
            else self.tone.as_dumped
        )

    def encode(self) -> bytes:
        head = _header(Operation.APR, self.channel, self.device, Level.TONE, self.firmware)
        return head + bytes((self.group,)) + self.body + bytes((EOX,))


@dataclass(frozen=True, slots=True)
class PatchAPR:
    """A whole patch (MKS-70/JX-10 only) into the patch edit buffer (same body on OS4)."""

    channel: int
    patch: Patch
    firmware: Firmware = Firmware.STOCK

    def __post_init__(self) -> None:
        _check_7bit("channel", self.channel, 0, 15)
        if self.patch.layout is not PatchLayout.APR:
            raise ValueError("a patch APR needs a patch in the APR layout")
        _check_body("patch", self.patch.data)

    @property
    def device(self) -> Device:
        return Device.MKS70

    def encode(self) -> bytes:
        head = _header(Operation.APR, self.channel, Device.MKS70, Level.PATCH, self.firmware)
        return head + bytes((TONE_A,)) + self.patch.data + bytes((EOX,))


@dataclass(frozen=True, slots=True)
class PGR:
    """Program number. JX-8P: ``... 21 20 01 00 nn mode`` (mode 02 = write the edit buffer to
    memory nn); MKS-70: ``... 24 LL GG nn mode`` (mode 00)."""

    device: Device
    channel: int
    level: Level
    group: int
    number: int
    mode: int

    def __post_init__(self) -> None:
        _check_7bit("channel", self.channel, 0, 15)
        _check_7bit("group", self.group, TONE_A, TONE_B)
        _check_level(self.device, self.level)
        _check_7bit("number", self.number)
        _check_7bit("mode", self.mode)

    @property
    def firmware(self) -> Firmware:
        """The same message on both firmwares."""
        return Firmware.STOCK

    def encode(self) -> bytes:
        head = _header(Operation.PGR, self.channel, self.device, self.level)
        middle = (0x00,) if self.device is Device.JX8P else ()
        return head + bytes((self.group, *middle, self.number, self.mode, EOX))


@dataclass(frozen=True, slots=True)
class ToneBLD(_Slot):
    """One tone of an MKS-70 bulk dump: memory (internal/cartridge) and tone number tt."""

    tone: Tone

    def __post_init__(self) -> None:
        self._check_slot()
        _check_body("tone", self.tone.as_dumped)

    @property
    def firmware(self) -> Firmware:
        return Firmware.STOCK

    def encode(self) -> bytes:
        return self._frame(Operation.BLD, Level.TONE, self.tone.as_dumped)


@dataclass(frozen=True, slots=True)
class PatchBLD(_Slot):
    """One patch of an MKS-70 bulk dump: 48 bytes sent as 96 nibbles, high nibble first."""

    patch: Patch

    def __post_init__(self) -> None:
        self._check_slot()
        if self.patch.layout is not PatchLayout.BULK:
            raise ValueError("a patch BLD needs a patch in the BULK layout")

    @property
    def firmware(self) -> Firmware:
        return Firmware.STOCK

    def encode(self) -> bytes:
        return self._frame(Operation.BLD, Level.PATCH, nibbles(self.patch.data))


@dataclass(frozen=True, slots=True)
class Os4ToneBLD(_Slot):
    """One tone of an OS4 bulk dump (0x3A): the 78-byte BLD body, kept as it arrived."""

    body: bytes

    def __post_init__(self) -> None:
        self._check_slot()
        if len(self.body) != OS4_BULK_TONE_LENGTH:
            raise ValueError(f"an OS4 tone BLD body is {OS4_BULK_TONE_LENGTH} bytes")
        bad = next((i for i, b in enumerate(self.body) if b > 0x7F), None)
        if bad is not None:
            raise ValueError(f"body byte {bad} is 0x{self.body[bad]:02X}; allowed 0x00..0x7F")

    @classmethod
    def of(cls, channel: int, memory: int, number: int, tone: Tone) -> Os4ToneBLD:
        """A BLD of any tone (a stock tone is converted first, see Tone.to_os4)."""
        return cls(channel, memory, number, os4.bulk_from_apr(tone.to_os4().os4 or b""))

    @property
    def firmware(self) -> Firmware:
        return Firmware.OS4

    @property
    def tone(self) -> Tone:
        return Tone.from_os4(os4.apr_from_bulk(self.body))

    def encode(self) -> bytes:
        return self._frame(Operation.OS4_BLD, Level.TONE, self.body)


@dataclass(frozen=True, slots=True)
class Os4PatchBLD(_Slot):
    """One patch of an OS4 bulk dump (0x3A): 49 bytes packed into 56 (see os4.pack_patch)."""

    patch: Patch

    def __post_init__(self) -> None:
        self._check_slot()
        if self.patch.layout is not PatchLayout.OS4_BULK:
            raise ValueError("an OS4 patch BLD needs a patch in the OS4_BULK layout")

    @property
    def firmware(self) -> Firmware:
        return Firmware.OS4

    def encode(self) -> bytes:
        return self._frame(Operation.OS4_BLD, Level.PATCH, os4.pack_patch(self.patch.data))


@dataclass(frozen=True, slots=True)
class EditBufferRequest:
    """OS4 4.19+: asks for the edit buffer; the answer is PGR + APR for the patch and for
    each of its two tones (six messages), all decoded by :func:`decode_message`."""

    channel: int

    def __post_init__(self) -> None:
        _check_7bit("channel", self.channel, 0, 15)

    @property
    def firmware(self) -> Firmware:
        return Firmware.OS4

    @property
    def device(self) -> Device:
        return Device.MKS70

    def encode(self) -> bytes:
        head = bytes((SOX, ROLAND_ID, Operation.OS4_REQUEST, self.channel))
        return head + OS4_REQUEST_BODY + bytes((EOX,))


@dataclass(frozen=True, slots=True)
class EditBuffer:
    """An OS4 instrument's answer to :class:`EditBufferRequest` (the M4L_MKS-70 wiki):
    patch PGR, patch APR, then for tone A (upper) and tone B (lower) a PGR naming its
    number and an OS4 tone APR. The tone APRs are what a rig compares with what it sent."""

    channel: int
    patch_number: int
    patch: Patch
    tone_numbers: tuple[int, int]
    tones: tuple[Tone, Tone]

    def __post_init__(self) -> None:
        _check_7bit("channel", self.channel, 0, 15)
        _check_7bit("patch_number", self.patch_number)
        for number in self.tone_numbers:
            _check_7bit("tone number", number)

    def messages(self) -> tuple[Message, ...]:
        """The six messages, in the order the instrument sends them."""
        out: list[Message] = [
            PGR(Device.MKS70, self.channel, Level.PATCH, TONE_A, self.patch_number, 0),
            PatchAPR(self.channel, self.patch, Firmware.OS4),
        ]
        for group, number, tone in zip(
            (TONE_A, TONE_B), self.tone_numbers, self.tones, strict=True
        ):
            out.append(PGR(Device.MKS70, self.channel, Level.TONE, group, number, 0))
            out.append(ToneAPR(Device.MKS70, self.channel, group, tone.to_os4(), Firmware.OS4))
        return tuple(out)

    def encode(self) -> bytes:
        return write_syx(self.messages())

    def tone(self, group: int) -> Tone:
        """The tone the edit buffer holds in ``group`` (TONE_A or TONE_B)."""
        return self.tones[group - TONE_A]

    @classmethod
    def decode(cls, data: bytes) -> EditBuffer:
        """The reply from its bytes; one :class:`SysExError` naming the first message out
        of place (or the first bad byte)."""
        found = tuple(iter_messages(data))
        for position, (expected, check) in enumerate(_REPLY_SHAPE):
            if position >= len(found):
                raise TruncatedSysExError(
                    len(data), "Vecoven OS4 edit-buffer reply", f"message {position + 1} of "
                    f"{len(_REPLY_SHAPE)} ({expected}), got end of data",
                )  # fmt: skip
            offset, message = found[position]
            if not check(message):
                raise SysExError(offset, "Vecoven OS4 edit-buffer reply",
                                 f"message {position + 1} to be {expected}")  # fmt: skip
        if len(found) > len(_REPLY_SHAPE):
            raise SysExError(found[len(_REPLY_SHAPE)][0], "Vecoven OS4 edit-buffer reply",
                             f"end of data after {len(_REPLY_SHAPE)} messages")  # fmt: skip
        messages = [m for _, m in found]
        patch_pgr, patch_apr, pgr_a, apr_a, pgr_b, apr_b = messages
        assert isinstance(patch_pgr, PGR) and isinstance(patch_apr, PatchAPR)
        assert isinstance(pgr_a, PGR) and isinstance(pgr_b, PGR)
        assert isinstance(apr_a, ToneAPR) and isinstance(apr_b, ToneAPR)
        return cls(patch_pgr.channel, patch_pgr.number, patch_apr.patch,
                   (pgr_a.number, pgr_b.number), (apr_a.tone, apr_b.tone))  # fmt: skip


def _pgr_of(level: Level, group: int) -> Callable[[object], bool]:
    return lambda m: (isinstance(m, PGR) and m.device is Device.MKS70 and m.level is level
                      and m.group == group)  # fmt: skip


def _os4_tone_of(group: int) -> Callable[[object], bool]:
    return lambda m: (isinstance(m, ToneAPR) and m.firmware is Firmware.OS4
                      and m.group == group)  # fmt: skip


#: What each message of an edit-buffer reply must be: (as errors name it, the check).
_REPLY_SHAPE: tuple[tuple[str, Callable[[object], bool]], ...] = (
    ("a patch PGR", _pgr_of(Level.PATCH, TONE_A)),
    ("a patch APR", lambda m: isinstance(m, PatchAPR)),
    ("a tone A PGR", _pgr_of(Level.TONE, TONE_A)),
    ("an OS4 tone A APR", _os4_tone_of(TONE_A)),
    ("a tone B PGR", _pgr_of(Level.TONE, TONE_B)),
    ("an OS4 tone B APR", _os4_tone_of(TONE_B)),
)


Message = (
    IPR | ToneAPR | PatchAPR | PGR | ToneBLD | PatchBLD | Os4ToneBLD | Os4PatchBLD
    | EditBufferRequest
)  # fmt: skip


def nibbles(data: bytes) -> bytes:
    """Each byte as two 4-bit data bytes, high nibble first (patch BLD)."""
    return bytes(n for b in data for n in (b >> 4, b & 0x0F))


def denibble(wire: bytes) -> bytes:
    """Inverse of :func:`nibbles`; the caller has checked every byte is < 0x10."""
    return bytes((wire[i] << 4) | wire[i + 1] for i in range(0, len(wire), 2))


# -- decoding -----------------------------------------------------------------------------

_OPERATIONS, _DEVICES, _LEVELS = frozenset(Operation), frozenset(Device), frozenset(Level)
#: operation code on the wire -> (the stock operation it is a form of, firmware).
_FORMS = {wire: key for key, wire in _OPERATION_OF.items()} | {
    Operation.PGR: (Operation.PGR, Firmware.STOCK)
}
_OPERATION_RANGE = "0x34..0x3A or 0x3D (PGR, APR, IPR, BLD; OS4 APR, IPR, BLD, request)"
#: (operation, level) -> the message type named in errors.
_TYPE_NAMES = {
    (Operation.IPR, Level.TONE): "tone IPR",
    (Operation.IPR, Level.PATCH): "patch IPR",
    (Operation.APR, Level.TONE): "tone APR",
    (Operation.APR, Level.PATCH): "patch APR",
    (Operation.PGR, Level.TONE): "tone PGR",
    (Operation.PGR, Level.PATCH): "patch PGR",
    (Operation.BLD, Level.TONE): "tone BLD",
    (Operation.BLD, Level.PATCH): "patch BLD",
}


class _Reader:
    """Checked access to one message starting at ``start``: every miss is a SysExError."""

    def __init__(self, data: bytes, start: int) -> None:
        self.data = data
        self.start = start
        self.type = "SysEx header"

    def fail(self, at: int, expected: str, error: type[SysExError] = SysExError) -> SysExError:
        got = f"0x{self.data[at]:02X}" if at < len(self.data) else "end of data"
        return error(at, self.type, f"{expected}, got {got}")

    def byte(self, index: int, expected: str, allowed: Iterable[int]) -> int:
        at = self.start + index
        if at >= len(self.data):
            raise self.fail(at, expected, TruncatedSysExError)
        value = self.data[at]
        if value not in allowed:
            error = TruncatedSysExError if value >= 0x80 and index > 0 else SysExError
            raise self.fail(at, expected, error)
        return value

    def body(self, index: int, length: int, limit: int, expected: str) -> bytes:
        at = self.start + index
        chunk = self.data[at : at + length]
        bad = next((i for i, b in enumerate(chunk) if b >= limit), None)
        if bad is not None:
            error = TruncatedSysExError if chunk[bad] >= SOX else SysExError
            raise self.fail(at + bad, f"{length} {expected} (data byte {bad})", error)
        if len(chunk) < length:
            raise self.fail(at + len(chunk), f"{length} {expected}", TruncatedSysExError)
        return chunk

    def end(self, index: int) -> int:
        self.byte(index, "F7 (end of exclusive)", (EOX,))
        return self.start + index + 1


def decode_message(data: bytes, offset: int = 0) -> tuple[Message, int]:
    """Decode the message starting at ``offset``; return it and the offset just past it."""
    r = _Reader(data, offset)
    r.byte(0, "F0 (start of a SysEx message)", (SOX,))
    r.byte(1, "Roland ID 0x41", (ROLAND_ID,))
    operation = r.byte(2, f"an operation code {_OPERATION_RANGE}", range(0x80))
    if operation not in _OPERATIONS:
        raise r.fail(offset + 2, f"an operation code {_OPERATION_RANGE}")
    channel = r.byte(3, "a channel 0x00..0x0F", range(16))
    if operation == Operation.OS4_REQUEST:
        r.type = "Vecoven OS4 edit-buffer request"
        for i, expected in enumerate(OS4_REQUEST_BODY):
            r.byte(4 + i, f"{expected:02X}", (expected,))
        return EditBufferRequest(channel), r.end(4 + len(OS4_REQUEST_BODY))
    op, firmware = _FORMS[Operation(operation)]
    device = Device(r.byte(4, "a device 0x21 (JX-8P) or 0x24 (JX-10/MKS-70)", _DEVICES))
    level = Level(r.byte(5, "a level 0x20 (tone) or 0x30 (patch)", _LEVELS))
    os4_prefix = "Vecoven OS4 " if firmware is Firmware.OS4 else ""
    r.type = f"{device.label} {os4_prefix}{_TYPE_NAMES[(op, level)]}"
    if device is Device.JX8P and (
        level is Level.PATCH or op is Operation.BLD or firmware is Firmware.OS4
    ):
        at = offset + 5 if level is Level.PATCH else offset + 2
        raise r.fail(at, "a JX-8P message type")
    groups = (TONE_A, TONE_B)
    if op is Operation.IPR:
        group = r.byte(6, "group 01 or 02", groups)
        parameter = r.byte(7, "a parameter number", range(0x80))
        value = r.byte(8, "a value 0..127", range(0x80))
        return IPR(device, channel, level, group, parameter, value, firmware), r.end(9)
    if op is Operation.PGR:
        group = r.byte(6, "group 01 or 02", groups)
        index = 7
        if device is Device.JX8P:
            r.byte(7, "00", (0x00,))
            index = 8
        number = r.byte(index, "a program number 0..127", range(0x80))
        mode = r.byte(index + 1, "a mode byte 0..127", range(0x80))
        return PGR(device, channel, level, group, number, mode), r.end(index + 2)
    if op is Operation.APR:
        if level is Level.TONE:
            group = r.byte(6, "group 01 or 02", groups)
            if firmware is Firmware.OS4:
                body = r.body(7, OS4_APR_TONE_LENGTH, SOX, "tone data bytes")
                tone = Tone.from_os4(body)
                end = r.end(7 + OS4_APR_TONE_LENGTH)
                return ToneAPR(device, channel, group, tone, firmware), end
            body = r.body(7, APR_TONE_LENGTH, SOX, "tone data bytes")
            return ToneAPR(device, channel, group, Tone.from_dump(body)), r.end(7 + APR_TONE_LENGTH)
        r.byte(6, "group 01", (TONE_A,))
        body = r.body(7, PATCH_APR_LENGTH, SOX, "patch data bytes")
        patch = Patch(body, PatchLayout.APR)
        return PatchAPR(channel, patch, firmware), r.end(7 + PATCH_APR_LENGTH)
    memory = r.byte(6, "memory 01 (internal) or 02 (cartridge)", (INTERNAL, CARTRIDGE))
    r.byte(7, "00", (0x00,))
    number = r.byte(8, "a memory number 0..127", range(0x80))
    if firmware is Firmware.OS4:
        if level is Level.TONE:
            body = r.body(9, OS4_BULK_TONE_LENGTH, 0x80, "tone data bytes 0x00..0x7F")
            return Os4ToneBLD(channel, memory, number, body), r.end(9 + OS4_BULK_TONE_LENGTH)
        length = OS4_PATCH_BULK_LENGTH // 7 * 8
        wire = r.body(9, length, 0x80, "packed patch bytes 0x00..0x7F")
        patch = Patch(os4.unpack_patch(wire), PatchLayout.OS4_BULK)
        return Os4PatchBLD(channel, memory, number, patch), r.end(9 + length)
    if level is Level.TONE:
        body = r.body(9, APR_TONE_LENGTH, SOX, "tone data bytes")
        return ToneBLD(channel, memory, number, Tone.from_dump(body)), r.end(9 + APR_TONE_LENGTH)
    wire = r.body(9, 2 * PATCH_BULK_LENGTH, 0x10, "nibbles 0x00..0x0F")
    patch = Patch(denibble(wire), PatchLayout.BULK)
    return PatchBLD(channel, memory, number, patch), r.end(9 + 2 * PATCH_BULK_LENGTH)


def iter_messages(data: bytes) -> Iterator[tuple[int, Message]]:
    """``(offset, message)`` for each message; raises SysExError at the first bad byte."""
    offset = 0
    while offset < len(data):
        message, end = decode_message(data, offset)
        yield offset, message
        offset = end


# -- banks --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BankEntry:
    """A tone or patch found in a SysEx file, with where it belongs and where it was read.

    ``position`` is the memory number (0-based) from the PGR or BLD; None for a lone APR.
    ``group`` is the APR group (tone A/B) or the BLD memory (internal/cartridge).
    """

    item: Tone | Patch
    position: int | None
    device: Device
    channel: int
    group: int
    offset: int
    source: str | None = None
    firmware: Firmware = Firmware.STOCK

    @property
    def kind(self) -> str:
        return "tone" if isinstance(self.item, Tone) else "patch"

    @property
    def name(self) -> str:
        return self.item.name


@dataclass(frozen=True, slots=True)
class SysExFile:
    """Every message of one file, at its offset, and the tones and patches they carry."""

    messages: tuple[tuple[int, Message], ...]
    entries: tuple[BankEntry, ...]
    source: str | None = None

    @property
    def tones(self) -> tuple[BankEntry, ...]:
        return tuple(e for e in self.entries if e.kind == "tone")

    @property
    def patches(self) -> tuple[BankEntry, ...]:
        return tuple(e for e in self.entries if e.kind == "patch")

    def to_bytes(self) -> bytes:
        """The file again, byte for byte."""
        return write_syx(m for _, m in self.messages)


def _places(before: Message | None, message: Message, after: Message | None) -> PGR | None:
    """The PGR that gives an APR its memory number (see the module docstring), if any."""
    if message.device is Device.JX8P:
        pgr, level = after, Level.TONE
    else:
        pgr, level = before, Level.PATCH if isinstance(message, PatchAPR) else Level.TONE
    if (
        isinstance(pgr, PGR)
        and pgr.device is message.device
        and pgr.channel == message.channel
        and pgr.level is level
    ):
        return pgr
    return None


def _entries(messages: Sequence[tuple[int, Message]], source: str | None) -> Iterator[BankEntry]:
    for i, (offset, message) in enumerate(messages):
        if isinstance(message, ToneBLD | PatchBLD | Os4ToneBLD | Os4PatchBLD):
            item = message.tone if isinstance(message, ToneBLD | Os4ToneBLD) else message.patch
            number, group = message.number, message.memory
        elif isinstance(message, ToneAPR | PatchAPR):
            before = messages[i - 1][1] if i > 0 else None
            after = messages[i + 1][1] if i + 1 < len(messages) else None
            pgr = _places(before, message, after)
            item = message.tone if isinstance(message, ToneAPR) else message.patch
            number = pgr.number if pgr else None
            group = message.group if isinstance(message, ToneAPR) else TONE_A
        else:
            continue
        device, channel, firmware = message.device, message.channel, message.firmware
        yield BankEntry(item, number, device, channel, group, offset, source, firmware)


def parse_syx(data: bytes, source: str | None = None) -> SysExFile:
    """Decode a whole file, all or nothing: any bad byte raises one SysExError."""
    try:
        messages = tuple(iter_messages(data))
    except SysExError as error:
        raise (error.in_source(source) if source else error) from None
    if not messages:
        raise SysExError(0, "file", "at least one SysEx message, got no data", source)
    return SysExFile(messages, tuple(_entries(messages, source)), source)


def read_syx(path: str | Path) -> SysExFile:
    """Read and decode one .syx file."""
    path = Path(path)
    return parse_syx(path.read_bytes(), str(path))


def iter_bank(*sources: str | Path | bytes) -> Iterator[BankEntry]:
    """Tones and patches of any number of files (or byte strings), in order.

    Each source is decoded whole before its first entry is yielded, so a bad file never
    yields part of itself.
    """
    for source in sources:
        parsed = parse_syx(source) if isinstance(source, bytes) else read_syx(source)
        yield from parsed.entries


def write_syx(messages: Iterable[Message]) -> bytes:
    """Messages back to bytes, in order."""
    return b"".join(m.encode() for m in messages)


def jx8p_bank(tones: Sequence[Tone], channel: int = 0, first: int = 0) -> bytes:
    """A JX-8P bank file: each tone as an APR followed by a PGR writing it to memory."""
    messages: list[Message] = []
    for number, tone in enumerate(tones, start=first):
        messages.append(ToneAPR(Device.JX8P, channel, TONE_A, tone))
        messages.append(PGR(Device.JX8P, channel, Level.TONE, TONE_A, number, PGR_WRITE))
    return write_syx(messages)
