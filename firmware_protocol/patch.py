"""The ``Patch`` value type: a JX-10/MKS-70 patch's bytes, in the layout it arrived in.

A patch travels in two layouts (APR body, de-nibbled BLD body) whose byte positions differ
and are only partly documented (see the patch section of :mod:`firmware_protocol.parameters`).
Keeping the bytes as they arrived makes a dump round trip byte-identical; names and values
are views read through the parameter table, for whichever layout holds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from firmware_protocol.parameters import (
    OS4_PATCH_BULK_LENGTH,
    PATCH_APR_LENGTH,
    PATCH_BULK_LENGTH,
    PATCH_NAME_LENGTH,
    PATCH_PARAMETERS,
    PatchParameter,
    lookup_patch,
)
from firmware_protocol.tone import decode_name


class PatchLayout(Enum):
    """Where a patch's bytes came from; the value is the body length.

    OS4_BULK is the unpacked Vecoven OS4 patch BLD: the BULK layout plus one byte.
    """

    APR = PATCH_APR_LENGTH
    BULK = PATCH_BULK_LENGTH
    OS4_BULK = OS4_PATCH_BULK_LENGTH


@dataclass(frozen=True, slots=True)
class Patch:
    """An immutable patch body (name, play controls, the two tone numbers, unknown bytes)."""

    data: bytes
    layout: PatchLayout

    def __post_init__(self) -> None:
        if len(self.data) != self.layout.value:
            expected, got = self.layout.value, len(self.data)
            raise ValueError(f"a patch {self.layout.name} body is {expected} bytes, got {got}")

    @property
    def name(self) -> str:
        """The 18-character name; stock firmware stores digits as 0x00..0x09."""
        return decode_name(self.data[:PATCH_NAME_LENGTH])

    def value(self, parameter: PatchParameter | str) -> int | None:
        """The parameter's number in this layout, or None where its place is unknown."""
        if isinstance(parameter, str):
            parameter = lookup_patch(parameter)
        fields = parameter.apr if self.layout is PatchLayout.APR else parameter.bulk
        if not fields:
            return None
        value, bits = 0, 0
        for field in fields:
            value |= field.read(self.data) << bits
            bits += field.width
        return value

    def values(self) -> dict[str, int]:
        """``{parameter name: number}`` for the parameters known in this layout."""
        out = {p.name: self.value(p) for p in PATCH_PARAMETERS}
        return {name: value for name, value in out.items() if value is not None}

    def labels(self) -> dict[str, str]:
        """``{parameter name: readable value}`` for the parameters known in this layout."""
        return {p.name: p.label(v) for p in PATCH_PARAMETERS if (v := self.value(p)) is not None}

    @property
    def upper_tone(self) -> int:
        """Tone number of the upper (A) tone: 0..49 user memory, 50..99 ROM."""
        return self._known("UPPER TONE")

    @property
    def lower_tone(self) -> int:
        """Tone number of the lower (B) tone."""
        return self._known("LOWER TONE")

    def _known(self, name: str) -> int:
        value = self.value(name)
        if value is None:  # the table places both tone numbers in both layouts
            raise LookupError(f"{name} has no place in the {self.layout.name} layout")
        return value
