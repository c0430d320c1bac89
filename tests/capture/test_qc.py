"""Take QC: each check catches the fault it names, and a clean take passes."""

from __future__ import annotations

import numpy as np
import pytest

from daq.capture import silence_end
from daq.qc import assess
from db.schema import QcVerdict

RATE = 44_100
NOTE_ON = 4_410  # 100 ms of pre-roll


def take(level=0.5, noise=1e-5, dc=0.0, onset=NOTE_ON, frames=RATE):
    rng = np.random.default_rng(0)
    audio = rng.normal(0, noise, (frames, 1)).astype(np.float32) + dc
    t = np.arange(frames - onset) / RATE
    audio[onset:, 0] += level * np.sin(2 * np.pi * 440 * t) * np.exp(-t)
    return audio


def test_a_clean_take_passes_with_its_onset_at_the_note_on():
    report = assess(take(), RATE, NOTE_ON)
    assert report.verdict == QcVerdict.PASS, report.reasons
    assert abs(report.onset_s) < 0.002
    assert 0.49 < report.peak < 0.51


@pytest.mark.parametrize(
    ("audio", "verdict", "reason"),
    [
        (take(level=0.0), QcVerdict.FAIL, "silent"),
        (np.clip(take(level=3.0), -1, 1), QcVerdict.FAIL, "clipping"),
        (take(onset=100), QcVerdict.FAIL, "before the note-on"),
        (take(dc=0.05), QcVerdict.WARN, "dc offset"),
        (take(noise=0.004), QcVerdict.WARN, "noise floor"),
        (take(onset=NOTE_ON + 8_000), QcVerdict.WARN, "onset not within"),
    ],
)
def test_each_fault_is_caught_and_named(audio, verdict, reason):
    report = assess(audio, RATE, NOTE_ON)
    assert report.verdict == verdict
    assert any(reason in r for r in report.reasons), report.reasons


def test_tail_is_cut_after_the_last_audible_frame_but_never_inside_the_hold():
    audio = np.zeros((RATE, 1), np.float32)
    audio[:30_000] = 0.1
    end = silence_end(audio, not_before=10_000, silence_db=-60, sample_rate=RATE)
    assert 30_000 < end <= 30_000 + int(0.02 * RATE) + 1
    assert silence_end(np.zeros((RATE, 1), np.float32), 10_000, -60, RATE) >= 10_000
