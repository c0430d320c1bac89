"""Quality control of one take: is this audio a clean, labelled example of its tone?

A bad take must never enter a dataset silently. Each check names what it saw, so an
operator reading a failed take (or a faulted rig) knows whether to look at the cable, the
gain staging or the synth, and says what kind of finding it is (a :class:`QcCode`), so that
code asks for a kind, never matches the words of a reason. Thresholds live in
:class:`QcThresholds`, one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from db.schema import QcCode, QcVerdict


@dataclass(frozen=True, slots=True)
class QcThresholds:
    """Limits for the checks; defaults suit a line-level synth into a 24-bit interface."""

    silence_dbfs: float = -60.0  # peak below this: nothing was heard
    clip_level: float = 0.999  # |sample| at or above this counts as clipped
    clip_fraction: float = 1e-4  # more clipped samples than this fails the take
    dc_offset: float = 0.02  # |mean| above this warns (a coupling or interface fault)
    noise_floor_dbfs: float = -50.0  # pre-roll RMS above this warns (hum, a noisy rig)
    onset_window_s: float = 0.05  # the onset must come within this of the note-on
    onset_rise_db: float = 20.0  # onset: first frame this far above the noise floor
    bleed_db: float = -24.0  # pre-roll peak this close to the take's peak: sound came early
    #: The end of the pre-roll left out of the floor and bleed checks: a real-time take's
    #: compensated onset lands within a few ms of the note-on, either side.
    pre_roll_guard_s: float = 0.005


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a check saw: its kind and, for people, what exactly."""

    code: QcCode
    text: str


@dataclass(frozen=True, slots=True)
class QcReport:
    verdict: QcVerdict
    findings: list[Finding] = field(default_factory=list)  # failures first, then warnings
    peak: float = 0.0
    rms: float = 0.0
    onset_s: float | None = None  # onset relative to the note-on (after compensation)

    @property
    def reasons(self) -> list[str]:
        return [f.text for f in self.findings]

    @property
    def code(self) -> QcCode | None:
        """The kind of the first (the failing, if any) finding."""
        return self.findings[0].code if self.findings else None

    @property
    def silent(self) -> bool:
        return any(f.code is QcCode.SILENT for f in self.findings)

    def with_problems(self, problems: tuple[str, ...]) -> QcReport:
        """This report failed by what went wrong while recording (e.g. an input overflow)."""
        if not problems:
            return self
        found = [Finding(QcCode.INPUT_PROBLEM, p) for p in problems]
        return QcReport(QcVerdict.FAIL, [*found, *self.findings], self.peak, self.rms, self.onset_s)


def _db(x: float) -> float:
    return 20.0 * np.log10(max(x, 1e-12))


def onset_frame(audio: np.ndarray, start: int, threshold: float) -> int | None:
    """First frame at or after ``start`` whose magnitude reaches ``threshold``."""
    magnitude = np.abs(audio[start:]).max(axis=1) if audio.ndim == 2 else np.abs(audio[start:])
    above = np.flatnonzero(magnitude >= threshold)
    return int(start + above[0]) if above.size else None


def assess(
    audio: np.ndarray,
    sample_rate: int,
    note_on_frame: int,
    thresholds: QcThresholds = QcThresholds(),
) -> QcReport:
    """Check a take ``[frames, channels]`` whose first note starts at ``note_on_frame``."""
    t = thresholds
    fails: list[Finding] = []
    warns: list[Finding] = []
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    if _db(peak) < t.silence_dbfs:
        text = f"silent: peak {_db(peak):.1f} dBFS < {t.silence_dbfs:.0f} dBFS"
        fails.append(Finding(QcCode.SILENT, text))
        return QcReport(QcVerdict.FAIL, fails, peak, rms)

    clipped = float(np.mean(np.abs(audio) >= t.clip_level))
    if clipped > t.clip_fraction:
        fails.append(Finding(QcCode.CLIPPING, f"clipping: {clipped:.2%} of samples at full scale"))
    dc = float(np.abs(audio.mean(axis=0)).max())
    if dc > t.dc_offset:
        warns.append(Finding(QcCode.DC_OFFSET, f"dc offset {dc:.3f} > {t.dc_offset}"))

    pre_roll = audio[: max(0, note_on_frame - round(t.pre_roll_guard_s * sample_rate))]
    floor = float(np.sqrt(np.mean(np.square(pre_roll, dtype=np.float64)))) if pre_roll.size else 0.0
    if pre_roll.size and _db(floor) > t.noise_floor_dbfs:
        text = f"noise floor {_db(floor):.1f} dBFS > {t.noise_floor_dbfs:.0f} dBFS"
        warns.append(Finding(QcCode.NOISE_FLOOR, text))
    ac_pre_roll = pre_roll - pre_roll.mean(axis=0) if pre_roll.size else pre_roll
    if pre_roll.size and _db(float(np.abs(ac_pre_roll).max())) > _db(peak) + t.bleed_db:
        text = (
            f"sound before the note-on (pre-roll within {-t.bleed_db:.0f} dB of the peak): "
            "latency compensation is off or the previous take is bleeding in"
        )
        fails.append(Finding(QcCode.EARLY_SOUND, text))
    threshold = max(floor * 10 ** (t.onset_rise_db / 20), peak * 10 ** (t.silence_dbfs / 20))
    search_from = max(0, note_on_frame - int(t.onset_window_s * sample_rate))
    onset = onset_frame(audio, search_from, threshold)
    onset_s = None if onset is None else (onset - note_on_frame) / sample_rate
    if onset_s is None or abs(onset_s) > t.onset_window_s:
        # A slow attack is a legitimate sound; a late onset is worth a look, not a retry.
        where = "none" if onset_s is None else f"{onset_s * 1000:+.1f} ms"
        text = f"onset not within {t.onset_window_s * 1000:.0f} ms of the note-on ({where})"
        warns.append(Finding(QcCode.LATE_ONSET, text))

    verdict = QcVerdict.FAIL if fails else QcVerdict.WARN if warns else QcVerdict.PASS
    return QcReport(verdict, fails + warns, peak, rms, onset_s)
