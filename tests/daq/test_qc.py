"""Take QC: each check catches the fault it names, and a clean take passes."""

from __future__ import annotations

import numpy as np
import pytest

from daq.capture import silence_end
from daq.qc import assess
from db.schema import QcCode, QcVerdict

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
    ("audio", "verdict", "code", "reason"),
    [
        (take(level=0.0), QcVerdict.FAIL, QcCode.SILENT, "silent"),
        (np.clip(take(level=3.0), -1, 1), QcVerdict.FAIL, QcCode.CLIPPING, "clipping"),
        (take(onset=100), QcVerdict.FAIL, QcCode.EARLY_SOUND, "before the note-on"),
        (take(dc=0.05), QcVerdict.WARN, QcCode.DC_OFFSET, "dc offset"),
        (take(noise=0.004), QcVerdict.WARN, QcCode.NOISE_FLOOR, "noise floor"),
        (take(onset=NOTE_ON + 8_000), QcVerdict.WARN, QcCode.LATE_ONSET, "onset not within"),
    ],
)
def test_each_fault_is_caught_named_and_coded(audio, verdict, code, reason):
    """The kind is the first finding's (a failure before any warning), and the reason for
    people names what was seen."""
    report = assess(audio, RATE, NOTE_ON)
    assert report.verdict == verdict
    assert report.code == code and report.silent == (code is QcCode.SILENT)
    assert reason in report.findings[0].text, report.reasons


def test_an_input_problem_fails_a_good_take_first_of_all():
    report = assess(take(), RATE, NOTE_ON).with_problems(("audio input reported 'overflow'",))
    assert (report.verdict, report.code) == (QcVerdict.FAIL, QcCode.INPUT_PROBLEM)
    assert report.reasons == ["audio input reported 'overflow'"]


def test_tail_is_cut_after_the_last_audible_frame_but_never_inside_the_hold():
    audio = np.zeros((RATE, 1), np.float32)
    audio[:30_000] = 0.1
    end = silence_end(audio, not_before=10_000, silence_db=-60, sample_rate=RATE)
    assert 30_000 < end <= 30_000 + int(0.02 * RATE) + 1
    assert silence_end(np.zeros((RATE, 1), np.float32), 10_000, -60, RATE) >= 10_000
