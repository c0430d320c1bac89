"""Vecoven OS4 tone bodies: the BLD packing, and conversion to and from the stock tone.

Pure byte functions over the OS4 part of :mod:`firmware_protocol.parameters` (its comment
block says where each fact comes from and which choices are made). An OS4 tone is kept as
its 101-byte APR body; the 78-byte BLD body packs the same switches as positions.
Conversions return the new body and one line per setting the target cannot hold, so a
caller can say what was lost instead of losing it silently.
"""

from __future__ import annotations

from firmware_protocol.parameters import (
    APR_TONE_LENGTH,
    BY_NAME,
    NAME_LENGTH,
    OS4_APR_TONE_LENGTH,
    OS4_BULK_TONE_LENGTH,
    OS4_PATCH_BULK_LENGTH,
    OS4_TONE_PARAMETERS,
    UNUSED_TONE_INDEXES,
    BitField,
    Os4Parameter,
)

#: Bytes copied as they are between the APR and BLD bodies: name, byte 10, the continuous
#: parameters (same index in both) and the unknown bytes 62, 63.
_SHARED_BYTES = range(64)
#: Stock body bytes that are no parameter but are kept (name byte 10 carries over).
_STOCK_UNKNOWN = tuple(i for i in UNUSED_TONE_INDEXES if i != NAME_LENGTH)
_GROUP = 7  # OS4 patch BLD: 7 bytes, then one byte of their top bits
#: (APR index, BLD fields, step) of every switch: the only bytes the two bodies code apart.
_SWITCHES = tuple((p.apr_index, p.bulk, p.step) for p in OS4_TONE_PARAMETERS if p.is_switch)


def _read(fields: tuple[BitField, ...], body: bytes) -> int:
    value, bits = 0, 0
    for field in fields:
        value |= field.read(body) << bits
        bits += field.width
    return value


def _write(fields: tuple[BitField, ...], body: bytearray, value: int) -> None:
    for field in fields:
        mask = (1 << field.width) - 1
        body[field.index] &= ~(mask << field.shift) & 0x7F
        body[field.index] |= (value & mask) << field.shift
        value >>= field.width


def apr_from_bulk(bulk: bytes) -> bytes:
    """The APR body of a BLD body: switch positions become their canonical bytes.

    A position past the last label (the dump holds CHORUS 3 once) is kept as its byte,
    which reads as the last label, so that it packs back. BLD byte 77 and the bits no
    parameter uses have no place in the APR body.
    """
    body = bytearray(OS4_APR_TONE_LENGTH)
    body[: len(_SHARED_BYTES)] = bulk[: len(_SHARED_BYTES)]
    for apr_index, fields, step in _SWITCHES:
        body[apr_index] = _read(fields, bulk) * step
    return bytes(body)


def bulk_from_apr(apr: bytes) -> bytes:
    """The BLD body of an APR body (switches as positions; unknown bits and byte 77 zero)."""
    body = bytearray(OS4_BULK_TONE_LENGTH)
    body[: len(_SHARED_BYTES)] = apr[: len(_SHARED_BYTES)]
    for apr_index, fields, step in _SWITCHES:
        _write(fields, body, apr[apr_index] // step)
    return bytes(body)


def neutral_body() -> bytes:
    """The OS4 body a stock tone starts from: every OS4-added parameter at its neutral value."""
    body = bytearray(OS4_APR_TONE_LENGTH)
    for p in OS4_TONE_PARAMETERS:
        body[p.apr_index] = p.neutral
    return bytes(body)


def from_stock(stock: bytes) -> tuple[bytes, list[str]]:
    """The OS4 APR body of a stock 59-byte body, and what it cannot hold."""
    body = bytearray(neutral_body())
    body[: NAME_LENGTH + 1] = stock[: NAME_LENGTH + 1]
    for p in OS4_TONE_PARAMETERS:
        if p.stock is not None:
            body[p.apr_index] = p.from_stock(stock[BY_NAME[p.stock].apr_index])
    kept = [i for i in _STOCK_UNKNOWN if stock[i]]
    if not kept:
        return bytes(body), []
    indexes = ", ".join(map(str, kept))
    values = ", ".join(str(stock[i]) for i in kept)
    return bytes(body), [f"stock bytes {indexes} (no tone parameter): {values} not carried"]


def _describe(p: Os4Parameter, raw: int) -> str:
    return p.label(raw) if p.is_switch else str(raw)


def _stock_plan() -> tuple[tuple[int, int, bytes], ...]:
    """(OS4 index, stock index, OS4 byte -> stock byte) for the OS4 parameter that gives
    each stock parameter its value (the first of a split pair)."""
    plan: dict[str, tuple[int, int, bytes]] = {}
    for p in OS4_TONE_PARAMETERS:
        if p.stock is not None and p.stock not in plan:
            table = bytes(p.stock_raw(raw) for raw in range(256))
            plan[p.stock] = (p.apr_index, BY_NAME[p.stock].apr_index, table)
    return tuple(plan.values())


_STOCK_PLAN = _stock_plan()


def stock_body(apr: bytes) -> bytes:
    """The stock 59-byte body nearest an OS4 APR body (see :func:`to_stock`)."""
    body = bytearray(APR_TONE_LENGTH)
    body[: NAME_LENGTH + 1] = apr[: NAME_LENGTH + 1]
    for os4_index, stock_index, table in _STOCK_PLAN:
        body[stock_index] = table[apr[os4_index]]
    return bytes(body)


def stock_losses(apr: bytes) -> list[str]:
    """One line per setting of an OS4 APR body that the stock body cannot hold.

    A stock parameter that OS4 splits in two (DCO DYNA, DCO ENV MODE) takes DCO1's value;
    DCO2's is lost where it differs.
    """
    lost: list[str] = []
    first: dict[str, Os4Parameter] = {}
    for p in OS4_TONE_PARAMETERS:
        raw = apr[p.apr_index]
        if p.stock is None:
            if raw != p.neutral:
                neutral = _describe(p, p.neutral)
                lost.append(f"{p.name}: {_describe(p, raw)} (stock has none; as if {neutral})")
            continue
        taken = first.setdefault(p.stock, p)
        if taken is not p:
            if p.stock_raw(raw) != taken.stock_raw(apr[taken.apr_index]):
                lost.append(
                    f"{p.name}: {_describe(p, raw)} differs from {taken.name} "
                    f"{_describe(taken, apr[taken.apr_index])}; stock has one {p.stock}"
                )
        elif not p.exact(raw):
            stock = BY_NAME[p.stock]
            lost.append(
                f"{p.name}: {_describe(p, raw)} has no stock equivalent; "
                f"{p.stock} {stock.label(p.stock_raw(raw))}"
            )
    return lost


def to_stock(apr: bytes) -> tuple[bytes, list[str]]:
    """The stock 59-byte body nearest an OS4 APR body, and one line per setting lost."""
    return stock_body(apr), stock_losses(apr)


def pack_patch(data: bytes) -> bytes:
    """The 49-byte OS4 patch BLD body as 56 wire bytes: each 7 bytes, then their top bits."""
    wire = bytearray()
    for start in range(0, OS4_PATCH_BULK_LENGTH, _GROUP):
        group = data[start : start + _GROUP]
        wire += bytes(b & 0x7F for b in group)
        wire.append(sum(((b >> 7) & 1) << (_GROUP - 1 - i) for i, b in enumerate(group)))
    return bytes(wire)


def unpack_patch(wire: bytes) -> bytes:
    """Inverse of :func:`pack_patch`; the caller has checked every byte is < 0x80."""
    data = bytearray()
    for start in range(0, len(wire), _GROUP + 1):
        top = wire[start + _GROUP]
        data += bytes(
            wire[start + i] | ((top << (i + 1)) & 0x80) for i in range(_GROUP)
        )  # bit 6 - i of ``top`` moved to bit 7
    return bytes(data)
