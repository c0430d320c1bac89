"""The one parameter table: it covers the APR body once, board codes follow the APR index
clear of the controls, switch labels decode by threshold, lookup by name or key."""

from __future__ import annotations

import pytest

from firmware_protocol.parameters import (
    APR_TONE_LENGTH,
    BOARD_CONTROLS,
    TONE_PARAMETERS,
    UNUSED_TONE_INDEXES,
    lookup,
)


def test_table_covers_the_apr_body_exactly_once():
    indexes = [p.apr_index for p in TONE_PARAMETERS] + list(UNUSED_TONE_INDEXES)
    assert sorted(indexes) == list(range(10, APR_TONE_LENGTH))
    assert len(TONE_PARAMETERS) == 44


def test_board_codes_follow_the_apr_index_and_do_not_collide_with_controls():
    assert lookup("DCO1 RANGE").code == 0x80
    assert lookup("VCA LEVEL").code == 0x9E
    assert lookup("VCA MODE").code == 0xAF
    tone_codes = {p.code for p in TONE_PARAMETERS}
    control_codes = {c.code for c in BOARD_CONTROLS}
    assert not tone_codes & control_codes
    assert tone_codes | control_codes == set(range(0x80, 0xC0))


@pytest.mark.parametrize(
    ("name", "raw", "label"),
    [
        ("DCO1 WF", 0, "noise"),
        ("DCO1 WF", 52, "square"),  # off-grid values from real dumps decode by threshold
        ("DCO1 WF", 86, "pulse"),
        ("DCO1 WF", 103, "saw"),
        ("CHORUS", 96, "2"),  # past the last label reads as the last
        ("VCA MODE", 63, "gate"),
        ("VCA MODE", 64, "ENV2"),
        ("VCF FREQ", 77, "77"),
    ],
)
def test_switch_labels_decode_by_threshold(name, raw, label):
    assert lookup(name).label(raw) == label


def test_lookup_by_key_and_unknown_name():
    assert lookup("vcf_freq") is lookup("VCF FREQ")
    with pytest.raises(KeyError, match="FILTER CUTOFF"):
        lookup("FILTER CUTOFF")
