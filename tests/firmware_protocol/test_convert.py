"""Stock <-> OS4 conversion of whole message lists (the CLI around it is tested in
tests/jxdaq/commands/test_syx.py): every stock setting survives the round trip, every OS4
setting the stock format cannot hold is named, and a JX-8P message is refused at its offset."""

from __future__ import annotations

import pytest

from firmware_protocol.convert import ConversionError, convert
from firmware_protocol.sysex import Firmware, iter_messages, parse_syx, read_syx, write_syx


def tone_values(messages) -> list[tuple[int, ...]]:
    return [entry.item.values() for entry in parse_syx(write_syx(messages), "converted").tones]


def test_os4_to_stock_and_back_keeps_every_stock_setting_and_names_each_loss(shared_data):
    os4 = read_syx(shared_data / "mks70" / "mks70-bulk-dump-vecoven-os4.syx")
    stock, lost = convert(os4.messages, Firmware.STOCK)
    assert len(stock) == len(os4.messages)
    assert [e.item.values() for e in os4.tones] == tone_values(stock)
    assert lost and all(line.startswith("byte ") for line in lost)
    # each line names where: the offset of the message it came from
    offsets = {offset for offset, _ in os4.messages}
    assert {int(line.split()[1].rstrip(":")) for line in lost} <= offsets

    again, lost_again = convert(list(iter_messages(write_syx(stock))), Firmware.OS4)
    assert lost_again == []  # stock fits into OS4 whole
    assert tone_values(again) == tone_values(stock)


def test_converting_to_the_same_format_changes_nothing(shared_data):
    stock = read_syx(shared_data / "mks70" / "mks70-bulk-dump-stock.syx")
    converted, lost = convert(stock.messages, Firmware.STOCK)
    assert lost == []
    assert write_syx(converted) == write_syx(m for _, m in stock.messages)


def test_a_jx8p_bank_cannot_be_converted_and_the_error_names_the_byte(jx8p_banks):
    bank = read_syx(jx8p_banks[0])
    with pytest.raises(ConversionError, match=r"^byte 0: a JX-8P message; .* JX-10/MKS-70 only"):
        convert(bank.messages, Firmware.OS4)
