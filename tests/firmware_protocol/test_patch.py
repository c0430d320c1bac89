"""Patches: the stock patches fit the documented ranges."""

from __future__ import annotations

from firmware_protocol.patch import PatchLayout
from firmware_protocol.sysex import (
    read_syx,
)


def test_stock_patches_fit_the_documented_ranges(stock_dump):
    patches = [e.item for e in read_syx(stock_dump).patches]
    for patch in patches:
        assert patch.layout is PatchLayout.BULK
        assert 0 <= patch.upper_tone < 100 and 0 <= patch.lower_tone < 100  # manual: 0..99
        for name in ("UPPER HOLD", "UPPER PORTA", "LOWER HOLD", "LOWER PORTA", "CHASE PLAY"):
            assert patch.value(name) in (0, 1)
    # The patch names are printable (digits come as 0x00..0x09 in stock memory).
    assert all(name.isprintable() for name in (p.name for p in patches))
