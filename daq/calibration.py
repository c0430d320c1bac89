"""Rig calibration: how late the sound comes back, and whether the synth has drifted.

Latency: a loud, instant-attack calibration tone is played a few times; each time the note-on
is stamped on the audio stream's own clock (exactly as :class:`daq.capture.RealtimeCapture`
stamps a take's note-on) and the onset is found in the input's ring buffer with the same
rule QC uses (:mod:`daq.qc`), so a take captured with the measured latency compensated has
its onset on the note-on.

Drift: analog rigs drift over days (VCF cutoff, tuning). A reference tone is re-captured every
N takes or M seconds; the level-normalised average spectrum of its held part is compared with
the first one (the baseline) as a log-spectral distance in dB. Normalising by total power and
flooring quiet bins makes the distance ignore level changes and background noise, and a fine
frequency grid (5 Hz bins) makes it see pitch and filter changes.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from daq.capture import RawTake, note_on_at
from daq.qc import QcThresholds, onset_frame
from daq.spec import CaptureSpec, Note, TailSpec
from firmware_protocol.tone import Tone

if TYPE_CHECKING:
    from daq.audio.device_input import DeviceInput
    from daq.instruments.base import Instrument

#: One square-wave oscillator through an open filter, VCA gated: full level from the first
#: sample after the note-on, no pitch or level modulation, no chorus.
CALIBRATION_TONE = Tone.from_values(
    {
        "DCO1 WF": 32,  # square: at full amplitude from its first cycle
        "MIX DCO1": 127,
        "MIX DCO2": 0,
        "HPF FREQ": 0,
        "VCF FREQ": 127,
        "VCF RES": 0,
        "VCF ENV": 0,
        "VCA LEVEL": 127,
        "VCA MODE": 0,  # gate
        "CHORUS": 0,
    },
    name="CALIBRATE",
)
#: Two oscillators through a half-closed resonant filter: its spectrum moves when the VCF
#: cutoff, the resonance or either oscillator's tuning drifts.
REFERENCE_TONE = Tone.from_values(
    {
        "DCO1 WF": 96,  # saw
        "DCO2 WF": 32,  # square
        "DCO2 RANGE": 64,  # 4': an octave above DCO1
        "MIX DCO1": 127,
        "MIX DCO2": 90,
        "HPF FREQ": 0,
        "VCF FREQ": 70,
        "VCF RES": 50,
        "VCF ENV": 0,
        "VCF KEY": 0,
        "VCA LEVEL": 127,
        "VCA MODE": 0,  # gate: steady while held
        "CHORUS": 0,
    },
    name="REFERENCE",
)
#: Key of the reference note: A3, 220 Hz, harmonics spread across the filter's range.
REFERENCE_KEY = 57

#: Longest plausible round trip (instrument -> synth -> interface -> ring buffer).
MAX_LATENCY_S = 0.5
SETTLE_S = 0.1  # after programming the calibration tone
QUIET_S = 0.25  # before each note: the previous one has died away; its floor is measured
GUARD_S = 0.02  # the onset is searched from this long before the note-on stamp
HOLD_S = 0.2  # how long each calibration note sounds

#: Spectrum grid of the drift check: bins every BIN_HZ from MIN_HZ to MAX_HZ, at any rate.
BIN_HZ = 5
MIN_HZ, MAX_HZ = 40, 15000
#: Bins this far below the loudest one are floored: noise there must not count.
DYNAMIC_RANGE_DB = 60.0
#: The held part starts this long after the note-on (past the attack) and lasts while the
#: level stays within HELD_DROP_DB of its loudest 10 ms block.
ATTACK_SKIP_S = 0.05
HELD_DROP_DB = 6.0
_BLOCK_S = 0.01


#: Notes timed per latency measurement, unless asked for more.
LATENCY_ATTEMPTS = 3


class CalibrationError(RuntimeError):
    """A calibration could not be made; the message names the instrument and the device."""


@dataclass(frozen=True)
class LatencyResult:
    """Median round-trip latency over ``attempts`` notes; ``jitter_s`` is their max - min.

    A rig of several lanes times each lane (each has its own channel path): ``lanes`` holds
    each lane's latency from lane 1 (None: not measured, the lane was out of use), and
    ``latency_s`` is their median, the rig's. Empty for one instrument.
    """

    latency_s: float
    jitter_s: float
    attempts: int
    lanes: tuple[float | None, ...] = ()


@dataclass(frozen=True)
class DriftResult:
    """Log-spectral distance (dB) of a reference take to the baseline."""

    distance: float
    exceeded: bool


# -- latency ----------------------------------------------------------------------------
def measure_latency(
    instrument: Instrument,
    audio: DeviceInput,
    *,
    sample_rate: int,
    key: int = 69,
    velocity: int = 127,
    attempts: int = LATENCY_ATTEMPTS,
    channels: Sequence[int] | None = None,
) -> LatencyResult:
    """Play :data:`CALIBRATION_TONE` ``attempts`` times and time its onsets (heard on the
    input's ``channels``, indices from 0: the instrument's lane of the stream; all if None).

    ``audio`` must be started (its stream running). Raises :class:`CalibrationError` when no
    onset comes back within :data:`MAX_LATENCY_S` (wrong audio device, cable, muted synth).
    """
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    if audio.sample_rate != sample_rate:
        raise ValueError(
            f"audio input {audio.device!r} runs at {audio.sample_rate} Hz, "
            f"calibration asked for {sample_rate} Hz"
        )
    instrument.program(CALIBRATION_TONE)
    time.sleep(SETTLE_S)
    try:
        latencies = [
            _one_latency(instrument, audio, sample_rate, key, velocity, channels)
            for _ in range(attempts)
        ]
    finally:
        instrument.all_notes_off()
    return LatencyResult(
        latency_s=statistics.median(latencies),
        jitter_s=max(latencies) - min(latencies),
        attempts=attempts,
    )


def _one_latency(
    instrument: Instrument,
    audio: DeviceInput,
    rate: int,
    key: int,
    velocity: int,
    channels: Sequence[int] | None,
) -> float:
    buffer, clock = audio.buffer, audio.clock
    time.sleep(QUIET_S)
    audio.wait_for_steady_clock()  # the note-on below is stamped on this clock
    on = clock.frame_at(note_on_at(instrument, key, velocity, audio.now))  # as a take's
    time.sleep(HOLD_S)
    instrument.note_off(key)
    begin = on - round(QUIET_S * rate)
    end = on + round(MAX_LATENCY_S * rate)
    buffer.wait_for(end, timeout_s=MAX_LATENCY_S + 5.0)
    recorded = buffer.read(max(begin, 0), end, channels)
    note_on = on - max(begin, 0)
    search_from = max(note_on - round(GUARD_S * rate), 0)
    quiet = recorded[:search_from]
    floor = float(np.sqrt(np.mean(np.square(quiet, dtype=np.float64)))) if quiet.size else 0.0
    peak = float(np.abs(recorded[search_from:]).max())
    qc = QcThresholds()
    where = f"{instrument.name}: audio input {audio.device!r}"
    if _dbfs(peak) < qc.silence_dbfs:
        raise CalibrationError(
            f"{where}: no sound came back within {MAX_LATENCY_S:.1f} s of note {key} (peak "
            f"{_dbfs(peak):.0f} dBFS); check the audio device, the cable and the synth's volume"
        )
    rise = 10 ** (qc.onset_rise_db / 20)
    if peak < floor * rise:
        raise CalibrationError(
            f"{where}: sound was already there before note {key} (floor {_dbfs(floor):.0f} dBFS, "
            f"peak {_dbfs(peak):.0f} dBFS); is something else playing into this input?"
        )
    # the same threshold rule as QC's onset check, so compensated takes start on time
    onset = onset_frame(
        recorded, search_from, max(floor * rise, peak * 10 ** (qc.silence_dbfs / 20))
    )
    assert onset is not None  # peak is above the threshold somewhere past search_from
    return (onset - note_on) / rate


def _dbfs(x: float) -> float:
    return 20.0 * math.log10(max(x, 1e-12))


# -- drift ------------------------------------------------------------------------------
def reference_capture_spec(sample_rate: int = 44100, channels: int = 1) -> CaptureSpec:
    """How the reference tone is played: one held note, a short tail."""
    return CaptureSpec(
        sample_rate=sample_rate,
        channels=channels,
        pre_roll_s=0.1,
        hold_s=1.0,
        tail=TailSpec(silence_db=-60.0, max_s=0.3),
        notes=[Note(key=REFERENCE_KEY, velocity=100)],
    )


def held_spectrum(audio: np.ndarray, sample_rate: int, note_on_frame: int) -> np.ndarray:
    """Level-normalised average power spectrum (dB) of a take's held part, on the fixed grid.

    ``audio`` is ``[frames, channels]``. Bins are :data:`BIN_HZ` apart whatever the sample
    rate, so a baseline stays comparable if a rig's rate changes.
    """
    if sample_rate % BIN_HZ or sample_rate / 2 < MAX_HZ:
        raise ValueError(f"sample rate {sample_rate} Hz does not fit the drift check's grid")
    held = _held_part(np.asarray(audio, np.float64), sample_rate, note_on_frame)
    n_fft = sample_rate // BIN_HZ
    if held.shape[0] < n_fft:
        raise CalibrationError(
            f"reference take: held part is {held.shape[0] / sample_rate:.2f} s, the drift check "
            f"needs at least {n_fft / sample_rate:.2f} s"
        )
    hop = n_fft // 2
    starts = range(0, held.shape[0] - n_fft + 1, hop)
    frames = np.stack([held[s : s + n_fft] for s in starts])  # [frames, n_fft, channels]
    window = np.hanning(n_fft)[None, :, None]
    power = np.mean(np.abs(np.fft.rfft(frames * window, axis=1)) ** 2, axis=(0, 2))
    power = power[MIN_HZ // BIN_HZ : MAX_HZ // BIN_HZ + 1]
    total = power.sum()
    if not total > 0:
        raise CalibrationError("reference take: its held part is silent")
    return 10.0 * np.log10(np.maximum(power / total, 1e-30))


def _held_part(audio: np.ndarray, sample_rate: int, note_on_frame: int) -> np.ndarray:
    start = note_on_frame + round(ATTACK_SKIP_S * sample_rate)
    body = audio[start:]
    block = round(_BLOCK_S * sample_rate)
    blocks = body.shape[0] // block
    if blocks == 0:
        return body[:0]
    rms = np.sqrt(np.mean(np.square(body[: blocks * block]).reshape(blocks, -1), axis=1))
    loud = np.flatnonzero(rms >= rms.max() * 10 ** (-HELD_DROP_DB / 20))
    first, last = int(loud[0]), int(loud[-1])
    return body[first * block : (last + 1) * block]


def spectral_distance(baseline: np.ndarray, spectrum: np.ndarray) -> float:
    """RMS difference in dB over the bins where either spectrum is within range of the top."""
    floor = max(baseline.max(), spectrum.max()) - DYNAMIC_RANGE_DB
    a, b = np.maximum(baseline, floor), np.maximum(spectrum, floor)
    considered = (a > floor) | (b > floor)
    return float(np.sqrt(np.mean(np.square(a - b)[considered]))) if considered.any() else 0.0


class DriftMonitor:
    """Decides when to re-capture the reference tone and how far it moved from the baseline."""

    def __init__(
        self,
        every_takes: int,
        every_s: float,
        threshold: float,
        baseline: np.ndarray | None = None,
    ) -> None:
        if every_takes < 1 or not every_s > 0 or not threshold > 0:
            raise ValueError(
                f"drift monitor: every_takes ({every_takes}) must be >= 1, every_s ({every_s}) "
                f"and threshold ({threshold} dB) > 0"
            )
        self.every_takes = every_takes
        self.every_s = every_s
        self.threshold = threshold
        self._baseline = None if baseline is None else np.asarray(baseline, np.float64)
        self._last: tuple[int, float] | None = None

    @property
    def baseline(self) -> np.ndarray | None:
        """The reference spectrum checks are measured against (persist it per rig)."""
        return self._baseline

    def forget_baseline(self) -> None:
        """The rig was re-tuned: the next check makes a new baseline."""
        self._baseline = None

    def due(self, takes_done: int, now_s: float) -> bool:
        """Time for a check: every N takes or M seconds since the last, whichever first.

        The first call starts the schedule and is due only when there is no baseline yet;
        while there is none, every call is due. A True answer restarts the schedule.
        """
        if self._last is None:
            self._last = (takes_done, now_s)
            return self._baseline is None
        if self._baseline is None:
            return True
        last_takes, last_s = self._last
        if takes_done - last_takes >= self.every_takes or now_s - last_s >= self.every_s:
            self._last = (takes_done, now_s)
            return True
        return False

    def check(self, take: RawTake) -> DriftResult:
        """Distance of a reference take to the baseline; the first check sets the baseline."""
        spectrum = held_spectrum(take.audio, take.sample_rate, take.note_on_frame)
        if self._baseline is None:
            self._baseline = spectrum
            return DriftResult(0.0, False)
        if self._baseline.shape != spectrum.shape:
            raise ValueError(
                f"drift baseline has {self._baseline.shape[0]} bins, this take "
                f"{spectrum.shape[0]}: the baseline was made on another grid"
            )
        distance = spectral_distance(self._baseline, spectrum)
        return DriftResult(distance, distance > self.threshold)
