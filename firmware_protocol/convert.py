"""Messages of one firmware's format as the other's: stock <-> Vecoven OS4 (JX-10/MKS-70).

Each message becomes its counterpart (tone APR 0x35 <-> 0x38, BLD 0x37 <-> 0x3A, tone IPR
0x36 <-> 0x39, patch APR/IPR by operation code only; PGR unchanged). What the target cannot
hold comes back as one line per lost setting, naming the message and the tone or patch, so
that a conversion never loses anything silently. The per-parameter mapping and its choices
are in :mod:`firmware_protocol.parameters` (OS4 section).
"""

from __future__ import annotations

from collections.abc import Iterable

from firmware_protocol.parameters import (
    BY_NAME,
    OS4_BY_IPR,
    OS4_PATCH_BULK_LENGTH,
    OS4_TONE_PARAMETERS,
    PATCH_BULK_LENGTH,
    ToneParameter,
)
from firmware_protocol.patch import Patch, PatchLayout
from firmware_protocol.sysex import (
    IPR,
    PGR,
    Device,
    EditBufferRequest,
    Firmware,
    Level,
    Message,
    Os4PatchBLD,
    Os4ToneBLD,
    PatchAPR,
    PatchBLD,
    ToneAPR,
    ToneBLD,
)
from firmware_protocol.tone import Tone

_STOCK_BY_INDEX = {p.apr_index: p for p in BY_NAME.values()}


class ConversionError(ValueError):
    """A message that has no counterpart at all in the target format (e.g. a JX-8P bank)."""


def _where(offset: int, message: Message, item: Tone | Patch | None = None) -> str:
    number = getattr(message, "number", None)
    place = f" {number + 1}" if number is not None else ""
    name = f" {item.name!r}" if item is not None and item.name else ""
    kind = "patch" if isinstance(item, Patch) else "tone"
    return f"byte {offset}: {kind}{place}{name}"


def _tone_ipr_to_os4(message: IPR) -> tuple[list[IPR], list[str]]:
    stock: ToneParameter | None = _STOCK_BY_INDEX.get(message.parameter)
    if stock is None:
        return [], [f"tone IPR {message.parameter}: no tone parameter; not carried"]
    out = [
        IPR(
            Device.MKS70,
            message.channel,
            message.level,
            message.group,
            p.ipr,
            p.from_stock(message.value),
            Firmware.OS4,
        )
        for p in OS4_TONE_PARAMETERS
        if p.stock == stock.name
    ]
    return out, []


def _tone_ipr_to_stock(message: IPR) -> tuple[list[IPR], list[str]]:
    p = OS4_BY_IPR.get(message.parameter)
    if p is None or p.stock is None:
        name = p.name if p else f"OS4 IPR {message.parameter}"
        return [], [f"{name}: {message.value} (stock has none); not carried"]
    value = p.stock_raw(message.value)
    lost = [] if p.exact(message.value) else [f"{p.name}: {p.label(message.value)} approximated"]
    stock = BY_NAME[p.stock]
    ipr = IPR(Device.MKS70, message.channel, message.level, message.group, stock.apr_index, value)
    return [ipr], lost


def _one(message: Message, firmware: Firmware, offset: int) -> tuple[list[Message], list[str]]:
    """The counterpart(s) of one message and what they lose."""
    if message.device is Device.JX8P:
        raise ConversionError(
            f"byte {offset}: a JX-8P message; Vecoven OS4 runs on the JX-10/MKS-70 only"
        )
    to_os4 = firmware is Firmware.OS4
    if isinstance(message, PGR):
        return [message], []
    if isinstance(message, EditBufferRequest):
        if to_os4:
            return [message], []
        return [], [f"byte {offset}: edit-buffer request: stock firmware has none; dropped"]
    if isinstance(message, IPR):
        if message.firmware is firmware:
            return [message], []
        if message.level is Level.PATCH:
            patch_ipr = IPR(
                Device.MKS70,
                message.channel,
                message.level,
                message.group,
                message.parameter,
                message.value,
                firmware,
            )
            return [patch_ipr], []
        converted, lost = (_tone_ipr_to_os4 if to_os4 else _tone_ipr_to_stock)(message)
        return list(converted), [f"byte {offset}: {line}" for line in lost]
    if isinstance(message, PatchAPR):
        return [PatchAPR(message.channel, message.patch, firmware)], []
    if isinstance(message, ToneAPR | ToneBLD | Os4ToneBLD):
        tone = message.tone
        if to_os4:
            lost = tone.os4_losses()
            tone = tone.to_os4()
        else:
            lost = tone.stock_losses()
            tone = Tone(tone.data)
        where = _where(offset, message, tone)
        lines = [f"{where}: {line}" for line in lost]
        if isinstance(message, ToneAPR):
            apr = ToneAPR(message.device, message.channel, message.group, tone, firmware)
            return [apr], lines
        number, memory = message.number, message.memory
        if to_os4:
            return [Os4ToneBLD.of(message.channel, memory, number, tone)], lines
        return [ToneBLD(message.channel, memory, number, tone)], lines
    if isinstance(message, PatchBLD | Os4PatchBLD):
        data = message.patch.data
        if to_os4:
            body = data + bytes(OS4_PATCH_BULK_LENGTH - PATCH_BULK_LENGTH)
            patch = Patch(body, PatchLayout.OS4_BULK)
            return [Os4PatchBLD(message.channel, message.memory, message.number, patch)], []
        lines = []
        if any(data[PATCH_BULK_LENGTH:]):
            extra = data[PATCH_BULK_LENGTH]
            where = _where(offset, message, message.patch)
            lines.append(f"{where}: OS4 patch byte 48 (meaning unknown): {extra} not carried")
        patch = Patch(data[:PATCH_BULK_LENGTH], PatchLayout.BULK)
        return [PatchBLD(message.channel, message.memory, message.number, patch)], lines
    raise ConversionError(f"byte {offset}: {type(message).__name__} cannot be converted")


def convert(
    messages: Iterable[tuple[int, Message]], firmware: Firmware
) -> tuple[list[Message], list[str]]:
    """Every message in ``firmware``'s format, and one line per setting lost on the way."""
    out: list[Message] = []
    lost: list[str] = []
    for offset, message in messages:
        converted, lines = _one(message, firmware, offset)
        out += converted
        lost += lines
    return out, lost
