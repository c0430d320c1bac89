"""The ``Tone`` value type: a tone's bytes, its named values and its normalised vector.

A tone is the 59-byte body of its APR message: the name, then one 7-bit value per byte (the
44 parameters and the unused bytes). Off-grid switch values are kept as they are, so a dump
read and written back is byte-identical; everything else (names, values, switch labels,
learning vectors) is a view computed from those bytes through
:mod:`firmware_protocol.parameters`.

A value byte above 127, which real dumps hold (JX-8P ROM banks carry 0x80, e.g. BACKWARD's
DCO1 ENV in ``jx8p-3.rom.syx``), is decided once, in :meth:`Tone.from_dump`; a ``Tone``
built any other way refuses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from firmware_protocol import os4
from firmware_protocol.parameters import (
    APR_TONE_LENGTH,
    FIRST_PARAMETER_INDEX,
    MAX_VALUE,
    NAME_LENGTH,
    OS4_APR_TONE_LENGTH,
    OS4_TONE_PARAMETERS,
    SWITCHES,
    TONE_PARAMETERS,
    Os4Parameter,
    ToneParameter,
    lookup,
    lookup_os4,
)

#: The tone parameter at each APR index.
_PARAMETER_AT = {p.apr_index: p for p in TONE_PARAMETERS}


class ToneValueError(ValueError):
    """A tone value outside its parameter's range, naming the parameter and the range."""

    def __init__(self, parameter: str, value: object, allowed: str) -> None:
        super().__init__(f"{parameter}: value {value!r} is out of range; allowed {allowed}")
        self.parameter = parameter
        self.value = value
        self.allowed = allowed


def decode_name(raw: bytes) -> str:
    """Stock JX-10/MKS-70 store digits as 0x00..0x09; JX-8P stores ASCII."""
    return "".join(
        chr(0x30 + b) if b <= 9 else chr(b) if 0x20 <= b < 0x7F else "?" for b in raw
    ).rstrip()


def _encode_name(name: str) -> bytes:
    if len(name) > NAME_LENGTH:
        raise ToneValueError("name", name, f"at most {NAME_LENGTH} characters")
    if not all(0x20 <= ord(c) < 0x7F for c in name):
        raise ToneValueError("name", name, "printable ASCII")
    return name.ljust(NAME_LENGTH).encode("ascii")


def _check_raw(parameter: ToneParameter, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_VALUE:
        raise ToneValueError(parameter.name, value, parameter.allowed())
    return value


def _value_name(index: int) -> str:
    parameter = _PARAMETER_AT.get(index)
    return parameter.name if parameter else f"APR byte {index} (unused)"


@dataclass(frozen=True, slots=True)
class Tone:
    """An immutable tone: the APR body bytes (name, 44 parameters, unused bytes kept).

    ``dump`` is the body as a ``.syx`` file held it, where that differs from ``data`` (see
    :meth:`from_dump`); it is what a file written back holds, and no part of the sound.

    ``os4``: a Vecoven OS4 tone's 101-byte APR body, exactly as it arrived (None for a
    stock tone). ``data`` is then its nearest stock tone (:func:`os4.to_stock`), so every
    stock view (catalog, vectors, board) works on an OS4 tone too.
    """

    data: bytes
    os4: bytes | None = None
    dump: bytes | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.data) != APR_TONE_LENGTH:
            raise ValueError(f"a tone body is {APR_TONE_LENGTH} bytes, got {len(self.data)}")
        for index in range(FIRST_PARAMETER_INDEX, APR_TONE_LENGTH):
            if self.data[index] > MAX_VALUE:
                raise ToneValueError(
                    _value_name(index), self.data[index], f"0..{MAX_VALUE} (a 7-bit value)"
                )
        if self.os4 is not None and len(self.os4) != OS4_APR_TONE_LENGTH:
            raise ValueError(
                f"an OS4 tone body is {OS4_APR_TONE_LENGTH} bytes, got {len(self.os4)}"
            )

    @classmethod
    def from_os4(cls, body: bytes) -> Tone:
        """An OS4 tone from its APR body; ``data`` is its nearest stock tone, read as
        :meth:`from_dump` reads a stock body (the body itself is kept as it arrived)."""
        return cls(cls.from_dump(os4.stock_body(body)).data, bytes(body))

    def to_os4(self) -> Tone:
        """The same tone as an OS4 tone (a stock tone's OS4 equivalent, see os4.from_stock):
        what it reads back as from an OS4 message, bytes with no OS4 place dropped."""
        return self if self.os4 is not None else Tone.from_os4(os4.from_stock(self.data)[0])

    def stock_losses(self) -> list[str]:
        """What a stock instrument cannot hold of this tone, one line per setting."""
        return os4.stock_losses(self.os4) if self.os4 is not None else []

    def os4_losses(self) -> list[str]:
        """What an OS4 body cannot hold of this stock tone, one line per byte."""
        return [] if self.os4 is not None else os4.from_stock(self.data)[1]

    def os4_values(self) -> dict[str, int]:
        """``{OS4 parameter name: raw byte}`` in IPR order; empty for a stock tone."""
        if self.os4 is None:
            return {}
        return {p.name: self.os4[p.apr_index] for p in OS4_TONE_PARAMETERS}

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_dump(cls, body: bytes) -> Tone:
        """The tone a ``.syx`` body means: the one place where file bytes become values.

        Real dumps hold value bytes above 127 (JX-8P ROM banks carry 0x80). Such a byte cannot
        reach a sound board as a value: on the voice-board wire (and in MIDI) a byte >= 0x80 is
        a status byte, so the board would take it for a new command. It is read as 127, the
        largest value the wire carries: the nearest sound a board can play (masking to 7 bits
        would turn a parameter at its top into 0, the opposite sound). The bytes as dumped are
        kept in ``dump``, so the file still writes back byte-identically.
        """
        values = bytes(
            min(b, MAX_VALUE) if i >= FIRST_PARAMETER_INDEX else b for i, b in enumerate(body)
        )
        return cls(values, dump=None if values == body else bytes(body))

    @property
    def as_dumped(self) -> bytes:
        """The body to write into a ``.syx`` file: as it was read, else ``data``."""
        return self.data if self.dump is None else self.dump

    @classmethod
    def from_values(
        cls, values: Mapping[str, int], name: str | None = None, base: Tone | None = None
    ) -> Tone:
        """Build from ``{parameter name or key: raw 0..127}`` on top of ``base`` (INIT).

        On an OS4 base, stock parameters are written through to the OS4 body (to every
        OS4 parameter that holds them); OS4 parameters are set with :meth:`replace_os4`.
        """
        base = base or INIT_TONE
        body = bytearray(base.data)
        extended = bytearray(base.os4) if base.os4 is not None else None
        if name is not None:
            body[:NAME_LENGTH] = _encode_name(name)
            if extended is not None:
                extended[:NAME_LENGTH] = body[:NAME_LENGTH]
        for key, value in values.items():
            parameter = lookup(key)
            body[parameter.apr_index] = _check_raw(parameter, value)
            if extended is not None:
                for p in OS4_TONE_PARAMETERS:
                    if p.stock == parameter.name:
                        extended[p.apr_index] = p.from_stock(value)
        return cls(bytes(body), None if extended is None else bytes(extended))

    def replace_os4(self, **values: int) -> Tone:
        """A copy with OS4 parameters changed, by key: ``tone.replace_os4(pwm1_width=90)``.

        A stock tone becomes an OS4 tone first; ``data`` follows the new OS4 body.
        """
        body = bytearray(self.to_os4().os4 or b"")
        for key, value in values.items():
            parameter = lookup_os4(key)
            body[parameter.apr_index] = _check_raw(parameter, value)
        return Tone.from_os4(bytes(body))

    @classmethod
    def from_vector(
        cls,
        vector: Sequence[float],
        parameters: Sequence[ToneParameter] = TONE_PARAMETERS,
        name: str | None = None,
        base: Tone | None = None,
    ) -> Tone:
        """Inverse of :meth:`to_vector`: continuous in [0, 1], switches as positions.

        Values come back as canonical bytes (switch positions at their stock values).
        """
        if len(vector) != len(parameters):
            raise ValueError(f"vector has {len(vector)} values for {len(parameters)} parameters")
        values: dict[str, int] = {}
        for parameter, v in zip(parameters, vector, strict=True):
            x = float(v)
            if parameter.is_switch:
                position = round(x)
                if not (0 <= position < parameter.ways and abs(x - position) < 1e-6):
                    raise ToneValueError(
                        parameter.name, v, f"a switch position 0..{parameter.ways - 1}"
                    )
                values[parameter.name] = parameter.canonical(position)
            else:
                if not 0.0 <= x <= 1.0:  # also rejects NaN
                    raise ToneValueError(parameter.name, v, "0.0..1.0 (normalised)")
                values[parameter.name] = round(x * MAX_VALUE)
        return cls.from_values(values, name=name, base=base)

    # -- views --------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return decode_name(self.data[:NAME_LENGTH])

    def __getitem__(self, name_or_key: str) -> int:
        """Raw byte of a parameter, as stored (may be off-grid for a switch)."""
        return self.data[lookup(name_or_key).apr_index]

    def value(self, parameter: ToneParameter) -> int:
        return self.data[parameter.apr_index]

    def values(self) -> dict[str, int]:
        """``{parameter name: raw byte}`` for the 44 tone parameters, in APR order."""
        return {p.name: self.data[p.apr_index] for p in TONE_PARAMETERS}

    def labels(self) -> dict[str, str]:
        """``{parameter name: readable value}``: switch labels, numbers otherwise."""
        return {p.name: p.label(self.data[p.apr_index]) for p in TONE_PARAMETERS}

    def to_vector(self, parameters: Sequence[ToneParameter] = TONE_PARAMETERS) -> list[float]:
        """Normalised form for learning: continuous raw/127, switch positions."""
        out: list[float] = []
        for p in parameters:
            raw = self.data[p.apr_index]
            out.append(float(p.position(raw)) if p.is_switch else raw / MAX_VALUE)
        return out

    def canonical(self) -> Tone:
        """The same sound with switches at their stock values."""
        values = {p.name: p.canonical(p.position(self.data[p.apr_index])) for p in SWITCHES}
        return Tone.from_values(values, base=self)

    def replace(self, **values: int) -> Tone:
        """A copy with some parameters changed, by key: ``tone.replace(vcf_freq=80)``."""
        return Tone.from_values(values, base=self)

    def differing_os4(self, other: Tone | None) -> tuple[Os4Parameter, ...]:
        """OS4 parameters whose bytes differ from ``other``'s (all of them if there is none);
        a stock tone counts as the OS4 tone it converts to (:meth:`to_os4`)."""
        if other is None:
            return OS4_TONE_PARAMETERS
        mine, theirs = self.to_os4().os4 or b"", other.to_os4().os4 or b""
        return tuple(p for p in OS4_TONE_PARAMETERS if mine[p.apr_index] != theirs[p.apr_index])

    def differing(self, other: Tone | None) -> Iterable[ToneParameter]:
        """Parameters whose bytes differ from ``other`` (all of them if there is none)."""
        if other is None:
            return TONE_PARAMETERS
        return tuple(
            p for p in TONE_PARAMETERS if self.data[p.apr_index] != other.data[p.apr_index]
        )


def _init_body() -> bytes:
    """A plain, audible starting tone: one saw oscillator through an open filter."""
    body = bytearray(APR_TONE_LENGTH)
    body[:NAME_LENGTH] = _encode_name("INIT")
    init = {
        "DCO1 RANGE": 32, "DCO1 WF": 96, "DCO1 TUNE": 64,
        "DCO2 RANGE": 32, "DCO2 WF": 96, "DCO2 TUNE": 64, "DCO2 FTUNE": 64,
        "DCO ENV MODE": 96, "MIX DCO1": 127, "MIX MODE": 96,
        "VCF FREQ": 127, "VCF MODE": 96, "VCA LEVEL": 127, "VCA MODE": 64,
        "LFO WF": 64, "LFO RATE": 64,
        "ENV1 SUSTAIN": 127, "ENV1 RELEASE": 20, "ENV2 SUSTAIN": 127, "ENV2 RELEASE": 20,
    }  # fmt: skip
    for key, value in init.items():
        body[lookup(key).apr_index] = value
    return bytes(body)


#: The default tone that partial value dicts are applied to.
INIT_TONE = Tone(_init_body())
