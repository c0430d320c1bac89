"""THE mapping from the tone bytes to the physical quantities the voice DSP runs on.

The 44 stock parameters come first (:data:`CURVES`), then the Vecoven OS4 additions that
have an audible effect here (:data:`OS4_CURVES`); :data:`OS4_EFFECTS` says for every
OS4-added parameter what it does in the emulator, or that it is carried but silent.

Roland never published these curves, so each one is a documented choice, made here once,
with the reason beside it; the DSP (dsp.py), the tests and any model that wants units read
them from here. Switches are decoded by position through firmware_protocol.parameters
(``ToneParameter.position``), so off-grid bytes from real dumps behave like the panel.

Conventions shared by the kernels:

* Pitch: equal temperament, A = 440 Hz at MIDI key 69 on an 8' DCO with tune 0.
* Times of exponential segments are "60 dB times": the time the remaining distance to the
  target needs to shrink by 60 dB (like RT60), except the attack, timed from 0 to the peak.
* Depths are in musical units the CV would be in: semitones for pitch, octaves for cutoff.
* DYNA (velocity): ``DYNA_DEPTH[position]`` is how much of the amount velocity can take away:
  an amount is scaled by ``1 - depth * (1 - velocity / 127)``; VCA DYNA is in dB instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba import njit

from firmware_protocol.parameters import (
    MAX_VALUE,
    OS4_ADDED,
    TONE_PARAMETERS,
    Os4Parameter,
    ToneParameter,
    lookup,
    lookup_os4,
)
from firmware_protocol.tone import Tone

# -- constants the curves below and the kernels share ---------------------------------------
A4_HZ = 440.0
A4_KEY = 69
#: Key at which key follow (VCF KEY, ENV KEY) is neutral: middle C.
KEY_CENTRE = 60
#: DCO ranges in semitones from 8' (footage halves per octave up).
RANGE_SEMITONES = (-12.0, 0.0, 12.0, 24.0)
#: Narrow pulse duty cycle: the JX "pulse" is a fixed narrow pulse, no PWM on this board.
PULSE_WIDTH = 0.25
#: Narrowest pulse an OS4 PWM WIDTH reaches (see OS4_CURVES): thinner would vanish.
PWM_MIN_WIDTH = 0.02
#: The four DYNA switch positions: off, 1, 2, 3 (share of an amount velocity controls).
DYNA_DEPTH = (0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0)
#: VCA DYNA span in dB between velocity 127 and velocity 0, per position.
VCA_DYNA_DB = (0.0, 8.0, 16.0, 24.0)
#: ENV KEY follow: octaves of time change per octave of key (higher keys are shorter).
ENV_KEY_FOLLOW = (0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0)
#: HPF positions in Hz (0 = no filtering). The JX's corner frequencies and slope are not
#: documented: one pole (6 dB/oct), corners spread over the bass to low mids, is the choice.
HPF_HZ = (0.0, 150.0, 400.0, 1000.0)
#: Attack approaches this overshoot target and stops at 1.0, like an RC charging toward a
#: rail past the comparator threshold; the segment is therefore concave, not linear.
ATTACK_TARGET = 1.5
#: Cross-mod depth: DCO2's frequency swings by this fraction of itself with DCO1's output.
XMOD_DEPTH = 0.8
#: Pitch bend range for ``bend = +-1``: the usual 2 semitones (the meaning of the board's
#: BEND.RANGE byte is unknown, so the range is fixed here).
BEND_RANGE_SEMITONES = 2.0
#: Mod wheel fully up adds this much LFO vibrato (semitones, peak) to both DCOs.
MOD_WHEEL_SEMITONES = 1.0
#: Ladder feedback at VCF RES 0. An OTA cascade's resonance VCA never shuts off completely;
#: this residue rounds the knee so that the slope from cutoff/4 to 2 x cutoff is the nominal
#: 24 dB/oct (four ideal poles with no feedback give 27 dB there).
RES_FEEDBACK_MIN = 0.5
#: Ladder feedback at VCF RES 127: above 4 the loop gain exceeds 1 and the filter sings,
#: so the top tenth of the knob self-oscillates.
RES_FEEDBACK_MAX = 4.4
#: Chorus positions 1 and 2 (index 0 = off): a BBD delay swept by a triangle LFO, with the
#: rates and delay ranges of Roland's Juno-60 chorus I / II, the family's reference design.
CHORUS_RATE_HZ = (0.0, 0.513, 0.863)
CHORUS_DELAY_MS = ((0.0, 0.0), (1.66, 5.35), (1.66, 5.35))
#: Low-pass of the BBD's reconstruction filter on the delayed signal.
CHORUS_BBD_HZ = 8000.0
#: Ladder feedback saturates at this level (DCO peak = 1 before the mixer): mild on normal
#: tones, it is what bounds self-oscillation, like the OTAs' limited linear range.
LADDER_DRIVE = 2.0
#: Voice output gain: leaves room for 6 voices and resonance peaks before the limiter.
VOICE_GAIN = 0.5
#: Mixer headroom: two full-level DCOs sum to +-1 into the filter.
MIX_GAIN = 0.5
#: Output soft limiter: linear below this magnitude, tanh knee above, never reaching 1.
LIMITER_THRESHOLD = 0.7


def _norm(raw: int) -> float:
    return min(raw, MAX_VALUE) / MAX_VALUE


def _exp_range(low: float, high: float) -> Callable[[int], float]:
    """An exponential pot law: equal steps of the knob give equal ratios."""
    return lambda raw: low * (high / low) ** _norm(raw)


def tune_semitones(raw: int) -> float:
    """Coarse tune: the panel's 25 steps -12..+12, each 128/25 raw values wide; 64 -> 0."""
    return float(min(raw, MAX_VALUE) * 25 // 128 - 12)


@njit(cache=True)
def audio_taper(position: float) -> float:
    """Gain of a level CV position 0..1: amplitude = position^2, i.e. 40*log10(position) dB.

    Level knobs on analog synths feel even in loudness, not in amplitude; a square law gives
    -12 dB at half travel and silence at 0. Applied by the kernels after envelopes are added.
    """
    return position * position


@dataclass(frozen=True, slots=True)
class Curve:
    """How one tone parameter's byte becomes the quantity the DSP uses."""

    parameter: ToneParameter | Os4Parameter
    unit: str
    convert: Callable[[int], float]
    why: str

    def __call__(self, raw: int) -> float:
        """The physical value of ``raw`` (switches decoded by position first)."""
        if self.parameter.is_switch:
            return float(self.convert(self.parameter.position(raw)))
        return float(self.convert(raw))


def _c(name: str, unit: str, convert: Callable[[int], float], why: str) -> Curve:
    return Curve(lookup(name), unit, convert, why)


def _position(p: int) -> float:
    return float(p)


_RANGE = "DCO footage: 16' is an octave below 8', which plays at concert pitch"
_WF = "waveform by switch position (see parameters.py for labels)"
_PITCH_LFO = "squared: fine vibrato in the lower half, up to +-1 octave at 127"
_PITCH_ENV = "squared: subtle blips low on the knob, up to +4 octaves sweep at 127"
_ENV_MODE = "which envelope and its sign: position 0..3 = -ENV2, +ENV2, -ENV1, +ENV1"
_ATTACK = "exponential knob law, 1 ms .. 5 s from 0 to peak"
_DECAY = "exponential knob law, 4 ms .. 20 s for a 60 dB fall toward the target"
_SUSTAIN = "sustain level, linear 0..1 of the envelope's peak"

#: The one table, in APR order; ``CURVES[i]`` belongs to ``TONE_PARAMETERS[i]``.
CURVES: tuple[Curve, ...] = (
    _c("DCO1 RANGE", "semitones", lambda p: RANGE_SEMITONES[p], _RANGE),
    _c("DCO1 WF", "position", _position, _WF),
    _c("DCO1 TUNE", "semitones", tune_semitones, "the panel's -12..+12 in 25 equal raw steps"),
    _c("DCO1 LFO", "semitones", lambda r: 12.0 * _norm(r) ** 2, _PITCH_LFO),
    _c("DCO1 ENV", "semitones", lambda r: 48.0 * _norm(r) ** 2, _PITCH_ENV),
    _c("DCO2 RANGE", "semitones", lambda p: RANGE_SEMITONES[p], _RANGE),
    _c("DCO2 WF", "position", _position, _WF),
    _c(
        "DCO XMOD",
        "position",
        _position,
        "0 off; 1 sync 1 = DCO2 hard-synced to DCO1; 2 sync 2 = the reverse, DCO1 synced "
        "to DCO2 (uncertain: sources only say the two syncs differ); 3 DCO1 FM-modulates DCO2",
    ),
    _c("DCO2 TUNE", "semitones", tune_semitones, "as DCO1 TUNE"),
    _c(
        "DCO2 FTUNE",
        "semitones",
        lambda r: (min(r, MAX_VALUE) - 64) / 128.0,
        "linear +-50 cents around 64, the detune range of Roland's fine-tune pots",
    ),
    _c("DCO2 LFO", "semitones", lambda r: 12.0 * _norm(r) ** 2, _PITCH_LFO),
    _c("DCO2 ENV", "semitones", lambda r: 48.0 * _norm(r) ** 2, _PITCH_ENV),
    _c("DCO DYNA", "depth", lambda p: DYNA_DEPTH[p], "velocity's share of the pitch-env amount"),
    _c("DCO ENV MODE", "position", _position, _ENV_MODE),
    _c("MIX DCO1", "position", _norm, "level CV 0..1; gain by audio_taper (square law)"),
    _c("MIX DCO2", "position", _norm, "level CV 0..1; gain by audio_taper (square law)"),
    _c(
        "MIX ENV",
        "position",
        _norm,
        "envelope CV added to DCO2's level position (then clipped 0..1 and tapered)",
    ),
    _c("MIX DYNA", "depth", lambda p: DYNA_DEPTH[p], "velocity's share of the MIX ENV amount"),
    _c("MIX MODE", "position", _position, _ENV_MODE),
    _c("HPF FREQ", "Hz", lambda p: HPF_HZ[p], "0 = off, then 150/400/1000 Hz, 6 dB/oct"),
    _c(
        "VCF FREQ",
        "Hz",
        _exp_range(20.0, 20000.0),
        "exponential converter: 20 Hz .. 20 kHz, ten octaves over the knob",
    ),
    _c(
        "VCF RES",
        "feedback",
        lambda r: RES_FEEDBACK_MIN + (RES_FEEDBACK_MAX - RES_FEEDBACK_MIN) * _norm(r),
        "ladder loop gain k, linear like the resonance VCA's CV; k > 4 self-oscillates",
    ),
    _c("VCF LFO", "octaves", lambda r: 4.0 * _norm(r) ** 2, "squared: up to +-4 octaves wobble"),
    _c("VCF ENV", "octaves", lambda r: 10.0 * _norm(r), "linear CV: 127 sweeps the full range"),
    _c("VCF KEY", "oct/oct", _norm, "key tracking around middle C; 127 follows the keyboard 1:1"),
    _c("VCF DYNA", "depth", lambda p: DYNA_DEPTH[p], "velocity's share of the VCF ENV amount"),
    _c("VCF MODE", "position", _position, _ENV_MODE),
    _c("VCA LEVEL", "position", _norm, "level CV 0..1; gain by audio_taper (square law)"),
    _c("VCA DYNA", "dB", lambda p: VCA_DYNA_DB[p], "loudness span over the velocity range"),
    _c("CHORUS", "position", _position, "0 off, 1 slow sweep (0.51 Hz), 2 faster (0.86 Hz)"),
    _c("LFO WF", "position", _position, "0 random (new value each cycle), 1 square, 2 triangle"),
    _c(
        "LFO DELAY",
        "s",
        lambda r: 5.0 * _norm(r) ** 2,
        "squared: the fade-in after note on lasts 0 .. 5 s, finer at short delays",
    ),
    _c("LFO RATE", "Hz", _exp_range(0.1, 20.0), "exponential: 0.1 .. 20 Hz, ~0.9 oct per 16"),
    _c("ENV1 ATTACK", "s", _exp_range(0.001, 5.0), _ATTACK),
    _c("ENV1 DECAY", "s", _exp_range(0.004, 20.0), _DECAY),
    _c("ENV1 SUSTAIN", "level", _norm, _SUSTAIN),
    _c("ENV1 RELEASE", "s", _exp_range(0.004, 20.0), _DECAY),
    _c("ENV1 KEY", "oct/oct", lambda p: ENV_KEY_FOLLOW[p], "times shrink for higher keys"),
    _c("ENV2 ATTACK", "s", _exp_range(0.001, 5.0), _ATTACK),
    _c("ENV2 DECAY", "s", _exp_range(0.004, 20.0), _DECAY),
    _c("ENV2 SUSTAIN", "level", _norm, _SUSTAIN),
    _c("ENV2 RELEASE", "s", _exp_range(0.004, 20.0), _DECAY),
    _c("ENV2 KEY", "oct/oct", lambda p: ENV_KEY_FOLLOW[p], "times shrink for higher keys"),
    _c("VCA MODE", "position", _position, "0 gate (VCA opens fully while the key is down), 1 ENV2"),
)

if tuple(c.parameter for c in CURVES) != TONE_PARAMETERS:  # pragma: no cover - import guard
    raise RuntimeError("mapping.CURVES must follow firmware_protocol.TONE_PARAMETERS order")


def pwm_width(raw: int) -> float:
    """OS4 PWM WIDTH as a duty cycle: 64 (what a stock tone converts to) is the stock
    pulse, 0 a square, 127 the narrowest. Linear; OS4's own curve is not documented."""
    return max(PWM_MIN_WIDTH, 2.0 * PULSE_WIDTH * (1.0 - min(raw, MAX_VALUE) / 128.0))


def _o(name: str, unit: str, convert: Callable[[int], float], why: str) -> Curve:
    return Curve(lookup_os4(name), unit, convert, why)


_PWM = "duty cycle of the DCO's pulse wave (WF = pulse only); see pwm_width"
#: The OS4-added parameters the voices play, after CURVES in :func:`physical`'s vector.
OS4_CURVES: tuple[Curve, ...] = (
    _o("PWM1 WIDTH", "duty", pwm_width, _PWM),
    _o("PWM2 WIDTH", "duty", pwm_width, _PWM),
)

_SILENT_MOD = "carried but silent: the voices have no pulse-width modulation input yet"
_SILENT_LFO2 = "carried but silent: the voices have one LFO (LFO1, the stock LFO)"
_SILENT_ENV = (
    "carried but silent: the voices have the two stock ADSRs (OS4's ENV3, ENV4); routings "
    "to ENV1/ENV2 play as the stock tone OS4 converts to (os4.to_stock)"
)
#: What each OS4-added parameter does in the emulator (every one of OS4_ADDED, by name).
OS4_EFFECTS: dict[str, str] = {
    "DCO1 LFO SOURCE": "carried but silent: the DCOs follow LFO1 with positive sign",
    "DCO2 LFO SOURCE": "carried but silent: the DCOs follow LFO1 with positive sign",
    "PWM1 WIDTH": "audible: " + _PWM,
    "PWM2 WIDTH": "audible: " + _PWM,
    **dict.fromkeys(
        [f"PWM{n} {what}" for n in (1, 2) for what in ("ENV", "LFO", "LFO SOURCE", "DYNA")],
        _SILENT_MOD,
    ),
    "PWM1 ENV SOURCE": _SILENT_MOD,
    "PWM2 ENV SOURCE": _SILENT_MOD,
    "VCF LFO2": _SILENT_LFO2,
    "LFO1 LFO2": _SILENT_LFO2,
    "LFO1 SYNC": "carried but silent: the LFO restarts with each note (the stock behaviour)",
    **dict.fromkeys([p.name for p in OS4_ADDED if p.name.startswith("LFO2")], _SILENT_LFO2),
    **dict.fromkeys(
        [p.name for p in OS4_ADDED if p.name.startswith(("ENV1", "ENV2"))], _SILENT_ENV
    ),
}

if set(OS4_EFFECTS) != {p.name for p in OS4_ADDED}:  # pragma: no cover - import guard
    raise RuntimeError("mapping.OS4_EFFECTS must name every OS4-added parameter once")

#: Position of each parameter in :func:`physical`'s vector, by panel name.
INDEX: dict[str, int] = {c.parameter.name: i for i, c in enumerate(CURVES + OS4_CURVES)}


def curve(name_or_key: str) -> Curve:
    """The curve of one parameter, by panel name or key."""
    return CURVES[INDEX[lookup(name_or_key).name]]


def physical(tone: Tone) -> np.ndarray:
    """float64 [44 + len(OS4_CURVES)]: every stock tone parameter in the unit of its curve,
    in APR order, then the audible OS4 additions (a stock tone's at their neutral values)."""
    stock = [c(tone.value(c.parameter)) for c in CURVES]
    os4 = [
        c(tone.os4[c.parameter.apr_index] if tone.os4 is not None else c.parameter.neutral)
        for c in OS4_CURVES
        if isinstance(c.parameter, Os4Parameter)
    ]
    return np.array(stock + os4, dtype=np.float64)


@njit(cache=True)
def key_hz(key: float) -> float:
    """Equal-tempered frequency of a (fractional) MIDI key at A = 440 Hz."""
    return A4_HZ * 2.0 ** ((key - A4_KEY) / 12.0)


@njit(cache=True)
def attack_tau(seconds: float) -> float:
    """Time constant that reaches 1.0 in ``seconds`` while heading for ATTACK_TARGET."""
    return seconds / math.log(ATTACK_TARGET / (ATTACK_TARGET - 1.0))


@njit(cache=True)
def sixty_db_tau(seconds: float) -> float:
    """Time constant of an exponential that falls 60 dB in ``seconds``."""
    return seconds / math.log(1000.0)
