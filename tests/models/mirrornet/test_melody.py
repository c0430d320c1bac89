"""Melodies: random ones have their notes in order and one length; bad ones are refused."""

from __future__ import annotations

import numpy as np
import pytest

from daq.emulator.render import Note
from models.mirrornet.melody import Melody, random_melody


def test_random_melodies_have_five_notes_in_order_and_one_length():
    rng = np.random.default_rng(0)
    melodies = [random_melody(rng) for _ in range(50)]
    for melody in melodies:
        assert len(melody.notes) == 5
        starts = [n.start_s for n in melody.notes]
        assert starts == sorted(starts) and starts[0] == 0.0
        assert all(57 <= n.key <= 81 for n in melody.notes)
        assert melody.hold_s == pytest.approx(1.2) and melody.duration_s == pytest.approx(1.5)
    assert len({m.notes for m in melodies}) == 50


def test_a_melody_rejects_notes_without_a_length_or_out_of_order():
    with pytest.raises(ValueError, match="duration_s"):
        Melody((Note(60),), 0.1)
    with pytest.raises(ValueError, match="start order"):
        Melody((Note(60, 100, 0.5, 0.1), Note(62, 100, 0.0, 0.1)), 0.1)
