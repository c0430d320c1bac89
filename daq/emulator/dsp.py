"""Numba kernels of the JX voice and of the board's common stages.

One voice, per sample: DCO1 + DCO2 (band-limited by a linear-phase BLEP table) -> mixer ->
4-pole zero-delay-feedback ladder with a saturating feedback path -> VCA. Envelopes, LFO,
pitch and cutoff run at a control rate (every ``CONTROL_PERIOD`` samples, linearly
interpolated), as the 8031 updates its CVs in software every few milliseconds.

All state lives in plain arrays owned by the caller (``VoiceBank`` or the batch renderer), so
the same kernels (``run_voices``, ``board_effects``) serve both, and rendering in blocks equals
rendering at once: events apply between samples, and the control grid, the interpolation
position and the BLEP ring are part of the state.

Speed comes from the layout, not from shortcuts in the model: per chunk of samples, each
voice first computes everything that is not the filter's recursion (``_sources``), then the
ladders of all voices advance side by side (``_ladders``, vectorised across voices), and the
batch renderer runs groups of items in parallel threads, boards' effects side by side too.

Parameter vectors are :func:`mapping.physical`; their indexes come from ``mapping.INDEX``.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
from numba import njit, prange

from daq.emulator import mapping as m


def _drop_kernels_built_on_another_mapping() -> None:
    """Forget cached kernels when mapping.py changed since they were compiled.

    numba keys its on-disk cache on this file alone, yet the kernels freeze mapping.py's
    constants and inline its functions: without this, editing a curve would keep playing
    the old one from ``__pycache__``.
    """
    cache = Path(__file__).with_name("__pycache__")
    stamp = hashlib.sha256(Path(m.__file__).read_bytes()).hexdigest()
    marker = cache / "dsp.mapping-sha256"
    try:
        if cache.is_dir() and (not marker.exists() or marker.read_text() != stamp):
            for stale in cache.glob("dsp.*.nb[ic]"):
                stale.unlink(missing_ok=True)
        cache.mkdir(exist_ok=True)
        marker.write_text(stamp)
    except OSError:  # a read-only install: numba then cannot cache here either
        pass


_drop_kernels_built_on_another_mapping()

#: Fast-math flags that keep results reproducible: no reassociation (sums stay in order).
FASTMATH = {"nsz", "arcp", "contract", "afn", "nnan", "ninf"}
#: Compile options of every kernel: cached on disk, and numpy's float error model (no
#: ZeroDivisionError checks in the hot loops; every division here has a positive divisor).
#: nogil: a kernel running in the audio callback must not hold the lock the serial thread needs
#: to stamp a command's arrival (that stamp times the note, to the sample).
KERNEL = {"cache": True, "fastmath": FASTMATH, "error_model": "numpy", "nogil": True}
#: Samples between control updates (1.45 ms at 44.1 kHz; the real board: ~10 ms).
CONTROL_PERIOD = 64
#: Half-length of the BLEP kernel in samples: 32 taps, 16 samples of latency.
BLEP_HALF = 16
BLEP_LENGTH = 2 * BLEP_HALF
BLEP_MASK = BLEP_LENGTH - 1
#: Table points per sample of the BLEP residual (linear interpolation in between).
BLEP_OVERSAMPLING = 128
#: A released voice whose VCA gain stays below this (-100 dB) stops computing.
SILENCE = 1e-5
#: Highest DCO frequency and cutoff as a fraction of the sample rate.
MAX_INCREMENT = 0.45
MIN_CUTOFF_HZ = 8.0

# -- parameter indexes (from the mapping table, never restated) ------------------------------
_I = m.INDEX
P_DCO1_RANGE, P_DCO1_WF, P_DCO1_TUNE = _I["DCO1 RANGE"], _I["DCO1 WF"], _I["DCO1 TUNE"]
P_DCO1_LFO, P_DCO1_ENV = _I["DCO1 LFO"], _I["DCO1 ENV"]
P_DCO2_RANGE, P_DCO2_WF, P_DCO2_TUNE = _I["DCO2 RANGE"], _I["DCO2 WF"], _I["DCO2 TUNE"]
P_DCO2_FTUNE, P_DCO2_LFO, P_DCO2_ENV = _I["DCO2 FTUNE"], _I["DCO2 LFO"], _I["DCO2 ENV"]
P_XMOD, P_DCO_DYNA, P_DCO_ENV_MODE = _I["DCO XMOD"], _I["DCO DYNA"], _I["DCO ENV MODE"]
P_MIX1, P_MIX2, P_MIX_ENV = _I["MIX DCO1"], _I["MIX DCO2"], _I["MIX ENV"]
P_MIX_DYNA, P_MIX_MODE = _I["MIX DYNA"], _I["MIX MODE"]
P_HPF = _I["HPF FREQ"]
P_VCF_FREQ, P_VCF_RES, P_VCF_LFO = _I["VCF FREQ"], _I["VCF RES"], _I["VCF LFO"]
P_VCF_ENV, P_VCF_KEY, P_VCF_DYNA, P_VCF_MODE = (
    _I["VCF ENV"],
    _I["VCF KEY"],
    _I["VCF DYNA"],
    _I["VCF MODE"],
)
P_VCA_LEVEL, P_VCA_DYNA, P_VCA_MODE = _I["VCA LEVEL"], _I["VCA DYNA"], _I["VCA MODE"]
P_CHORUS = _I["CHORUS"]
P_DCO1_PW, P_DCO2_PW = _I["PWM1 WIDTH"], _I["PWM2 WIDTH"]  # Vecoven OS4 (mapping.OS4_CURVES)
P_LFO_WF, P_LFO_DELAY, P_LFO_RATE = _I["LFO WF"], _I["LFO DELAY"], _I["LFO RATE"]
P_E1A, P_E1D, P_E1S, P_E1R, P_E1K = (
    _I["ENV1 ATTACK"],
    _I["ENV1 DECAY"],
    _I["ENV1 SUSTAIN"],
    _I["ENV1 RELEASE"],
    _I["ENV1 KEY"],
)
P_E2A, P_E2D, P_E2S, P_E2R, P_E2K = (
    _I["ENV2 ATTACK"],
    _I["ENV2 DECAY"],
    _I["ENV2 SUSTAIN"],
    _I["ENV2 RELEASE"],
    _I["ENV2 KEY"],
)
N_PARAMETERS = len(_I)

# Waveform and switch positions (labels in firmware_protocol.parameters).
WF_NOISE, WF_SQUARE, WF_PULSE, WF_SAW = 0, 1, 2, 3
XMOD_OFF, XMOD_SYNC1, XMOD_SYNC2, XMOD_FM = 0, 1, 2, 3
LFO_RANDOM, LFO_SQUARE, LFO_TRIANGLE = 0, 1, 2
VCA_GATE = 0
STAGE_IDLE, STAGE_ATTACK, STAGE_DECAY, STAGE_RELEASE = 0, 1, 2, 3

# -- voice state layout (float64 per voice) -------------------------------------------------
(
    S_ACTIVE,  # 1 while the voice computes
    S_GATE,  # 1 while the key is down
    S_KEY,
    S_VELOCITY,
    S_DIRTY,  # 1: recompute the per-note constants below at the next control tick
    S_TIME,  # seconds since note on (LFO delay)
    S_PHASE1,
    S_PHASE2,
    S_LFO_PHASE,
    S_LFO_HELD,  # random LFO's current value
    S_ENV1,
    S_STAGE1,
    S_ENV2,
    S_STAGE2,
    S_LADDER1,
    S_LADDER2,
    S_LADDER3,
    S_LADDER4,
    S_TICK,  # samples done in the current control period
    S_BLEP_POS,
    # control values: value at the start of the period and per-sample slope
    S_INC1,
    S_DINC1,
    S_INC2,
    S_DINC2,
    S_LEVEL1,
    S_DLEVEL1,
    S_LEVEL2,
    S_DLEVEL2,
    S_G,
    S_DG,
    S_VCA,
    S_DVCA,
    # per-note constants (recomputed when S_DIRTY)
    S_C_ATTACK1,
    S_C_DECAY1,
    S_C_RELEASE1,
    S_C_ATTACK2,
    S_C_DECAY2,
    S_C_RELEASE2,
    S_DCO_ENV_SCALE,
    S_MIX_ENV_SCALE,
    S_VCF_ENV_SCALE,
    S_VCA_SCALE,
    N_STATE,
) = range(43)

#: Performance controls shared by a bank: bend in semitones, mod wheel 0..1.
C_BEND, C_MODULATION, N_CONTROLS = 0, 1, 2


def _blep_table() -> np.ndarray:
    """A band-limited unit step over -BLEP_HALF..BLEP_HALF samples, sampled finely.

    The step is the running integral of a Kaiser-windowed sinc whose stop band starts at
    Nyquist: aliases of the DCO harmonics fold back at least ~75 dB down, while everything
    below ~0.42 fs passes. Linear phase: the voice carries BLEP_HALF samples of latency.
    """
    n = BLEP_LENGTH * BLEP_OVERSAMPLING
    x = (np.arange(n + 1) / BLEP_OVERSAMPLING) - BLEP_HALF
    cutoff = 0.42  # of fs: -6 dB point, transition band up to 0.5
    window = np.kaiser(n + 1, 8.0)
    impulse = 2 * cutoff * np.sinc(2 * cutoff * x) * window
    step = np.cumsum(impulse)
    return (step - step[0]) / (step[-1] - step[0])


BLEP_TABLE = _blep_table()


@njit(**KERNEL)
def _xorshift(x: np.uint64) -> tuple[np.uint64, float]:
    """xorshift64*: the next state and a uniform value in [-1, 1)."""
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    y = x * np.uint64(2685821657736338717)
    return x, (y >> np.uint64(11)) * (2.0 / 9007199254740992.0) - 1.0


@njit(**KERNEL)
def _blep(buf: np.ndarray, pos: int, jump: float, since: float) -> None:
    """Add the band-limiting residual of a jump that happened ``since`` samples ago."""
    if jump == 0.0:
        return
    t = since * BLEP_OVERSAMPLING
    i0 = int(t)
    f = t - i0
    for k in range(BLEP_LENGTH):
        i = k * BLEP_OVERSAMPLING + i0
        smooth = BLEP_TABLE[i] + (BLEP_TABLE[i + 1] - BLEP_TABLE[i]) * f
        # minus the ideal step, which the naive waveform already holds from tap BLEP_HALF on
        buf[(pos + k) & BLEP_MASK] += jump * (smooth - (k >= BLEP_HALF))


@njit(**KERNEL)
def _env_source(mode: float, env1: float, env2: float) -> float:
    """ENV MODE switch: position 0..3 = -ENV2, +ENV2, -ENV1, +ENV1."""
    p = int(mode)
    if p == 0:
        return -env2
    if p == 1:
        return env2
    if p == 2:
        return -env1
    return env1


@njit(**KERNEL)
def _dyna(depth: float, velocity: float) -> float:
    return 1.0 - depth * (1.0 - velocity / 127.0)


@njit(**KERNEL)
def _coefficient(tau: float, seconds: float) -> float:
    """Per-control-period step of an exponential with time constant ``tau``."""
    return 1.0 - math.exp(-seconds / max(tau, 1e-6))


@njit(**KERNEL)
def _note_constants(p: np.ndarray, s: np.ndarray, period_s: float) -> None:
    """Key- and velocity-dependent constants of the sounding note."""
    key = s[S_KEY]
    velocity = s[S_VELOCITY]
    octaves = (key - m.KEY_CENTRE) / 12.0
    scale1 = 2.0 ** (-p[P_E1K] * octaves)
    scale2 = 2.0 ** (-p[P_E2K] * octaves)
    s[S_C_ATTACK1] = _coefficient(m.attack_tau(p[P_E1A] * scale1), period_s)
    s[S_C_DECAY1] = _coefficient(m.sixty_db_tau(p[P_E1D] * scale1), period_s)
    s[S_C_RELEASE1] = _coefficient(m.sixty_db_tau(p[P_E1R] * scale1), period_s)
    s[S_C_ATTACK2] = _coefficient(m.attack_tau(p[P_E2A] * scale2), period_s)
    s[S_C_DECAY2] = _coefficient(m.sixty_db_tau(p[P_E2D] * scale2), period_s)
    s[S_C_RELEASE2] = _coefficient(m.sixty_db_tau(p[P_E2R] * scale2), period_s)
    s[S_DCO_ENV_SCALE] = _dyna(p[P_DCO_DYNA], velocity)
    s[S_MIX_ENV_SCALE] = _dyna(p[P_MIX_DYNA], velocity)
    s[S_VCF_ENV_SCALE] = _dyna(p[P_VCF_DYNA], velocity)
    vca_db = -p[P_VCA_DYNA] * (1.0 - velocity / 127.0)
    s[S_VCA_SCALE] = m.audio_taper(p[P_VCA_LEVEL]) * 10.0 ** (vca_db / 20.0)
    s[S_DIRTY] = 0.0


@njit(**KERNEL)
def _envelope(value: float, stage: float, attack: float, decay: float, sustain: float, release):
    """One control step of an exponential ADSR; returns (value, stage)."""
    if stage == STAGE_ATTACK:
        value += (m.ATTACK_TARGET - value) * attack
        if value >= 1.0:
            return 1.0, float(STAGE_DECAY)
        return value, stage
    if stage == STAGE_DECAY:
        return value + (sustain - value) * decay, stage
    if stage == STAGE_RELEASE:
        return value - value * release, stage
    return value, stage


@njit(**KERNEL)
def note_on(s: np.ndarray, key: float, velocity: float) -> None:
    """Key down: envelopes restart from where they are (no click), LFO delay restarts."""
    s[S_ACTIVE] = 1.0
    s[S_GATE] = 1.0
    s[S_KEY] = key
    s[S_VELOCITY] = velocity
    s[S_DIRTY] = 1.0
    s[S_TIME] = 0.0
    s[S_LFO_PHASE] = 0.0
    s[S_STAGE1] = STAGE_ATTACK
    s[S_STAGE2] = STAGE_ATTACK
    _settle_interpolation(s)


@njit(**KERNEL)
def _settle_interpolation(s: np.ndarray) -> None:
    """Cut the control period short: ramps stop where they are, an update comes next sample."""
    tick = s[S_TICK]
    for start in (S_INC1, S_INC2, S_LEVEL1, S_LEVEL2, S_G, S_VCA):
        s[start] += s[start + 1] * tick
    s[S_TICK] = 0.0


@njit(**KERNEL)
def note_off(s: np.ndarray) -> None:
    """Key up: both envelopes release; a gated VCA closes within one control period."""
    if s[S_GATE] == 1.0:
        s[S_GATE] = 0.0
        s[S_STAGE1] = STAGE_RELEASE
        s[S_STAGE2] = STAGE_RELEASE
        _settle_interpolation(s)


@njit(**KERNEL)
def _control(p: np.ndarray, s: np.ndarray, rng: np.ndarray, controls: np.ndarray, fs: float):
    """Advance envelopes and LFO by one control period and set the interpolation targets."""
    period_s = CONTROL_PERIOD / fs
    if s[S_DIRTY] != 0.0:
        _note_constants(p, s, period_s)
    s[S_TIME] += period_s
    s[S_ENV1], s[S_STAGE1] = _envelope(
        s[S_ENV1], s[S_STAGE1], s[S_C_ATTACK1], s[S_C_DECAY1], p[P_E1S], s[S_C_RELEASE1]
    )
    s[S_ENV2], s[S_STAGE2] = _envelope(
        s[S_ENV2], s[S_STAGE2], s[S_C_ATTACK2], s[S_C_DECAY2], p[P_E2S], s[S_C_RELEASE2]
    )
    env1, env2 = s[S_ENV1], s[S_ENV2]

    lfo_phase = s[S_LFO_PHASE] + p[P_LFO_RATE] * period_s
    if lfo_phase >= 1.0:
        lfo_phase -= math.floor(lfo_phase)
        rng[0], s[S_LFO_HELD] = _xorshift(rng[0])
    s[S_LFO_PHASE] = lfo_phase
    shape = int(p[P_LFO_WF])
    if shape == LFO_RANDOM:
        raw_lfo = s[S_LFO_HELD]
    elif shape == LFO_SQUARE:
        raw_lfo = 1.0 if lfo_phase < 0.5 else -1.0
    else:
        raw_lfo = 4.0 * abs(lfo_phase - 0.5) - 1.0
    delay = p[P_LFO_DELAY]
    lfo = raw_lfo * (min(1.0, s[S_TIME] / delay) if delay > 0.0 else 1.0)

    # pitch
    key = s[S_KEY]
    dco_env = _env_source(p[P_DCO_ENV_MODE], env1, env2) * s[S_DCO_ENV_SCALE]
    common = key - m.A4_KEY + controls[C_BEND]
    wheel = raw_lfo * controls[C_MODULATION] * m.MOD_WHEEL_SEMITONES
    semis1 = (
        common
        + p[P_DCO1_RANGE]
        + p[P_DCO1_TUNE]
        + lfo * p[P_DCO1_LFO]
        + wheel
        + dco_env * p[P_DCO1_ENV]
    )
    semis2 = (
        common
        + p[P_DCO2_RANGE]
        + p[P_DCO2_TUNE]
        + p[P_DCO2_FTUNE]
        + lfo * p[P_DCO2_LFO]
        + wheel
        + dco_env * p[P_DCO2_ENV]
    )
    inc1 = min(m.A4_HZ * 2.0 ** (semis1 / 12.0) / fs, MAX_INCREMENT)
    inc2 = min(m.A4_HZ * 2.0 ** (semis2 / 12.0) / fs, MAX_INCREMENT)

    # mixer: MIX ENV moves DCO2's level CV
    mix_env = _env_source(p[P_MIX_MODE], env1, env2) * s[S_MIX_ENV_SCALE] * p[P_MIX_ENV]
    level1 = m.MIX_GAIN * m.audio_taper(p[P_MIX1])
    level2 = m.MIX_GAIN * m.audio_taper(min(1.0, max(0.0, p[P_MIX2] + mix_env)))

    # filter
    octaves = (
        math.log2(p[P_VCF_FREQ])
        + _env_source(p[P_VCF_MODE], env1, env2) * s[S_VCF_ENV_SCALE] * p[P_VCF_ENV]
        + lfo * p[P_VCF_LFO]
        + p[P_VCF_KEY] * (key - m.KEY_CENTRE) / 12.0
    )
    cutoff = min(max(2.0**octaves, MIN_CUTOFF_HZ), MAX_INCREMENT * fs)
    g = math.tan(math.pi * cutoff / fs)
    big_g = g / (1.0 + g)

    # amplifier
    vca = s[S_VCA_SCALE] * (s[S_GATE] if int(p[P_VCA_MODE]) == VCA_GATE else env2)

    inv = 1.0 / CONTROL_PERIOD
    if s[S_INC1] == 0.0:  # first tick of a fresh voice: no glide from zero
        s[S_INC1], s[S_INC2], s[S_G] = inc1, inc2, big_g
    s[S_DINC1] = (inc1 - s[S_INC1]) * inv
    s[S_DINC2] = (inc2 - s[S_INC2]) * inv
    s[S_DLEVEL1] = (level1 - s[S_LEVEL1]) * inv
    s[S_DLEVEL2] = (level2 - s[S_LEVEL2]) * inv
    s[S_DG] = (big_g - s[S_G]) * inv
    s[S_DVCA] = (vca - s[S_VCA]) * inv
    if s[S_GATE] == 0.0 and vca < SILENCE and s[S_VCA] < SILENCE:
        s[S_ACTIVE] = 0.0


@njit(**KERNEL)
def _saturate(x: float) -> float:
    """Cubic soft clip, flat at +-1 beyond +-1.5: the ladder OTAs' limited linear range.

    A polynomial (no division) keeps the filter's loop-carried chain short, and its gentle
    third-order term keeps the aliasing it creates far below the DCOs' own.
    """
    x = min(max(x, -1.5), 1.5)
    return x - (4.0 / 27.0) * x * x * x


@njit(**KERNEL)
def _shape(shape: int, width: float) -> tuple[float, float, float, float, float]:
    """A DCO waveform as (slope, edge, high, low, noise): value = slope * phase + (high
    before ``edge``, low after) + noise * white. Edge 2.0 is never reached.

    One branch-free formula for every shape keeps the per-sample loop small; the pulse
    (duty cycle ``width``: the stock narrow pulse, or an OS4 PWM WIDTH) has its DC removed
    so that switching shapes does not thump.
    """
    if shape == WF_SAW:
        return 2.0, 2.0, -1.0, -1.0, 0.0
    if shape == WF_SQUARE:
        return 0.0, 0.5, 1.0, -1.0, 0.0
    if shape == WF_PULSE:
        dc = 1.0 - 2.0 * width
        return 0.0, width, 1.0 + dc, -1.0 + dc, 0.0
    return 0.0, 2.0, 0.0, 0.0, 1.0


@njit(**KERNEL)
def _step(phase: float, advance: float, inc: float, ago: float, edge: float):
    """Advance a DCO counter over a stretch that ends ``ago`` samples back.

    Returns (new phase, samples since the shape's edge or -1, samples since the wrap or -1).
    """
    end = phase + advance
    edge_ago = wrap_ago = -1.0
    if end >= 1.0:
        end -= 1.0
        wrap_ago = ago + end / inc
        if end >= edge:
            edge_ago = ago + (end - edge) / inc
    elif phase < edge <= end:
        edge_ago = ago + (end - edge) / inc
    return end, edge_ago, wrap_ago


#: Most BLEP edges two DCOs can make in one sample (master: edge + wrap; synced slave:
#: edge + wrap before the reset, the reset, an edge after it).
EDGES_PER_SAMPLE = 6


@njit(**KERNEL)
def _oscillators(
    master: tuple[float, ...],
    slave: tuple[float, ...],
    sync: bool,
    fm: bool,
    phases: np.ndarray,
    noise: np.uint64,
    buf: np.ndarray,
    pos: int,
    x: np.ndarray,
    tick: int,
    edges: np.ndarray,
) -> tuple[int, np.uint64]:
    """Both DCOs and the mixer over part of one control period, band-limited through ``buf``.

    ``master``/``slave``: (slope, edge, high, low, noise, inc, d_inc, level, d_level) of the
    DCO that runs free and of the one that follows it (sync) or is modulated by it (FM);
    ``phases`` [2] in the same order. Writes the mixer output, BLEP_HALF samples late, into
    ``x``; returns the ring position and noise state. Two passes: the counters first, noting
    edges in ``edges`` [3, n] (sample, samples ago, jump), then the ring with their BLEPs;
    keeping the rare BLEP calls out of the counters' loop keeps that loop in registers.
    """
    m_slope, m_edge, m_high, m_low, m_noise, m_inc, m_dinc, m_level, m_dlevel = master
    s_slope, s_edge, s_high, s_low, s_noise, s_inc, s_dinc, s_level, s_dlevel = slave
    m_jump_edge, m_jump_wrap = m_low - m_high, m_high - m_slope - m_low
    s_jump_edge, s_jump_wrap = s_low - s_high, s_high - s_slope - s_low
    phase_m, phase_s = phases[0], phases[1]
    n_edges = 0
    for i in range(x.shape[0]):
        t = tick + i
        inc = m_inc + m_dinc * t
        level = m_level + m_dlevel * t
        phase_m, edge_ago, wrap_ago = _step(phase_m, inc, inc, 0.0, m_edge)
        if edge_ago >= 0.0:
            edges[0, n_edges], edges[1, n_edges], edges[2, n_edges] = (
                i,
                edge_ago,
                m_jump_edge * level,
            )
            n_edges += 1
        if wrap_ago >= 0.0:
            edges[0, n_edges], edges[1, n_edges], edges[2, n_edges] = (
                i,
                wrap_ago,
                m_jump_wrap * level,
            )
            n_edges += 1
        value_m = m_slope * phase_m + (m_high if phase_m < m_edge else m_low)
        if m_noise != 0.0:
            noise, white = _xorshift(noise)
            value_m += white
        mix = level * value_m

        inc = s_inc + s_dinc * t
        level = s_level + s_dlevel * t
        if fm:
            inc *= 1.0 + m.XMOD_DEPTH * value_m
        if sync and wrap_ago >= 0.0:  # run to the master's wrap, jump to 0, run on
            reset = wrap_ago
            before, edge_ago, own_wrap = _step(phase_s, inc * (1.0 - reset), inc, reset, s_edge)
            if edge_ago >= 0.0:
                edges[0, n_edges], edges[1, n_edges], edges[2, n_edges] = (
                    i,
                    edge_ago,
                    s_jump_edge * level,
                )
                n_edges += 1
            if own_wrap >= 0.0:
                edges[0, n_edges], edges[1, n_edges], edges[2, n_edges] = (
                    i,
                    own_wrap,
                    s_jump_wrap * level,
                )
                n_edges += 1
            at_reset = s_slope * before + (s_high if before < s_edge else s_low)
            edges[0, n_edges], edges[1, n_edges], edges[2, n_edges] = (
                i,
                reset,
                (s_high - at_reset) * level,
            )
            n_edges += 1
            phase_s, edge_ago, wrap_ago = _step(0.0, inc * reset, inc, 0.0, s_edge)
        else:
            phase_s, edge_ago, wrap_ago = _step(phase_s, inc, inc, 0.0, s_edge)
            if wrap_ago >= 0.0:
                edges[0, n_edges], edges[1, n_edges], edges[2, n_edges] = (
                    i,
                    wrap_ago,
                    s_jump_wrap * level,
                )
                n_edges += 1
        if edge_ago >= 0.0:
            edges[0, n_edges], edges[1, n_edges], edges[2, n_edges] = (
                i,
                edge_ago,
                s_jump_edge * level,
            )
            n_edges += 1
        value_s = s_slope * phase_s + (s_high if phase_s < s_edge else s_low)
        if s_noise != 0.0:
            noise, white = _xorshift(noise)
            value_s += white
        x[i] = mix + level * value_s
    phases[0], phases[1] = phase_m, phase_s

    e = 0
    for i in range(x.shape[0]):
        while e < n_edges and edges[0, e] == i:
            _blep(buf, pos, edges[2, e], edges[1, e])
            e += 1
        buf[(pos + BLEP_HALF) & BLEP_MASK] += x[i]
        x[i] = buf[pos]
        buf[pos] = 0.0
        pos = (pos + 1) & BLEP_MASK
    return pos, noise


@njit(**KERNEL)
def _sources(
    p: np.ndarray,
    s: np.ndarray,
    rng: np.ndarray,
    buf: np.ndarray,
    controls: np.ndarray,
    x: np.ndarray,
    g: np.ndarray,
    vca: np.ndarray,
    scratch: np.ndarray,
    fs: float,
) -> int:
    """First half of a voice over one chunk: everything but the ladder's recursion.

    Fills the mixer output ``x``, the ladder coefficient ``g`` and the output gain ``vca``
    per sample, ticking the control rate on the way; returns how many
    samples the voice stayed active for (a prefix of the chunk). ``scratch``: [4,
    EDGES_PER_SAMPLE * CONTROL_PERIOD] working memory. Control values are
    ``start + slope * tick``, so any split of the samples gives the same numbers.
    """
    count = x.shape[0]
    shape1 = _shape(int(p[P_DCO1_WF]), p[P_DCO1_PW])
    shape2 = _shape(int(p[P_DCO2_WF]), p[P_DCO2_PW])
    xmod = int(p[P_XMOD])
    makeup = (1.0 + m.RES_FEEDBACK_MIN) * m.VOICE_GAIN
    phases = scratch[0, :2]
    edges = scratch[1:]
    i = 0
    while i < count and s[S_ACTIVE] != 0.0:
        tick = int(s[S_TICK])
        if tick == 0:
            _control(p, s, rng, controls, fs)
            if s[S_ACTIVE] == 0.0:
                break
        dco1 = (*shape1, s[S_INC1], s[S_DINC1], s[S_LEVEL1], s[S_DLEVEL1])
        dco2 = (*shape2, s[S_INC2], s[S_DINC2], s[S_LEVEL2], s[S_DLEVEL2])
        g_0, dg = s[S_G], s[S_DG]
        vca_0, dvca = s[S_VCA], s[S_DVCA]
        steps = min(CONTROL_PERIOD - tick, count - i)
        pos = int(s[S_BLEP_POS])
        if xmod == XMOD_SYNC2:  # DCO2 leads, DCO1 follows
            phases[0], phases[1] = s[S_PHASE2], s[S_PHASE1]
            pos, rng[0] = _oscillators(
                dco2, dco1, True, False, phases, rng[0], buf, pos, x[i : i + steps], tick, edges
            )
            s[S_PHASE2], s[S_PHASE1] = phases[0], phases[1]
        else:
            phases[0], phases[1] = s[S_PHASE1], s[S_PHASE2]
            pos, rng[0] = _oscillators(
                dco1, dco2, xmod == XMOD_SYNC1, xmod == XMOD_FM,
                phases, rng[0], buf, pos, x[i : i + steps], tick, edges,
            )  # fmt: skip
            s[S_PHASE1], s[S_PHASE2] = phases[0], phases[1]
        s[S_BLEP_POS] = pos
        for t in range(tick, tick + steps):
            g[i] = g_0 + dg * t
            vca[i] = (vca_0 + dvca * t) * makeup
            i += 1
        tick += steps
        if tick == CONTROL_PERIOD:
            tick = 0
            for first in (S_INC1, S_INC2, S_LEVEL1, S_LEVEL2, S_G, S_VCA):
                s[first] += s[first + 1] * CONTROL_PERIOD
        s[S_TICK] = tick
    return i


@njit(**KERNEL)
def _ladder(x: float, big_g: float, fb: float, a1: float, a2: float, a3: float, a4: float):
    """One sample of the 4-pole ZDF ladder: returns (y4, new states s1..s4).

    TPT one-poles (y = G*in + (1-G)*s, s' = 2y - s); the feedback is solved for the linear
    part, then limited by a saturating feedback path (mapping.LADDER_DRIVE). The work that
    does not depend on the states comes first, off the sample-to-sample recursion.
    """
    drive = m.LADDER_DRIVE
    one_minus = 1.0 - big_g
    g2 = big_g * big_g
    g4 = g2 * g2
    norm = 1.0 / ((1.0 + fb * g4) * drive)
    direct = g4 * norm * x
    b1, b2, b3 = one_minus * a1, one_minus * a2, one_minus * a3
    partial = ((b1 * big_g + b2) * big_g + b3) * big_g
    b4 = one_minus * a4
    sigma = partial + b4
    u = x - fb * drive * _saturate(direct + norm * sigma)
    y1 = big_g * u + b1
    y2 = big_g * y1 + b2
    y3 = big_g * y2 + b3
    y4 = big_g * y3 + b4
    return y4, 2.0 * y1 - a1, 2.0 * y2 - a2, 2.0 * y3 - a3, 2.0 * y4 - a4


@njit(**KERNEL)
def _ladders(
    state: np.ndarray,
    x: np.ndarray,
    g: np.ndarray,
    vca: np.ndarray,
    feedback: np.ndarray,
    active: np.ndarray,
    y: np.ndarray,
) -> None:
    """Second half: the ladders of all voices over one chunk, side by side.

    One ladder is a long chain of dependent operations per sample; running the voices side
    by side (arrays are [sample, voice]) lets the compiler vectorise across voices. Every
    voice runs the whole chunk there; a voice that was not active throughout is then redone
    alone from its saved state for its ``active`` samples (``feedback``: VCF RES's k per
    voice), so that it keeps its state and
    outputs 0 past them, whatever the chunking.
    """
    n_voices = x.shape[1]
    count = y.shape[0]
    saved = state[:, S_LADDER1 : S_LADDER4 + 1].copy()
    s1, s2, s3, s4 = saved[:, 0].copy(), saved[:, 1].copy(), saved[:, 2].copy(), saved[:, 3].copy()
    for i in range(count):
        xi, gi, vi, yi = x[i], g[i], vca[i], y[i]
        for v in range(n_voices):
            out, s1[v], s2[v], s3[v], s4[v] = _ladder(
                xi[v], gi[v], feedback[v], s1[v], s2[v], s3[v], s4[v]
            )
            yi[v] = out * vi[v]
    for v in range(n_voices):
        if active[v] < count:
            a1, a2, a3, a4 = saved[v, 0], saved[v, 1], saved[v, 2], saved[v, 3]
            for i in range(count):
                if i < active[v]:
                    out, a1, a2, a3, a4 = _ladder(x[i, v], g[i, v], feedback[v], a1, a2, a3, a4)
                    y[i, v] = out * vca[i, v]
                else:
                    y[i, v] = 0.0
            s1[v], s2[v], s3[v], s4[v] = a1, a2, a3, a4
    state[:, S_LADDER1] = s1
    state[:, S_LADDER2] = s2
    state[:, S_LADDER3] = s3
    state[:, S_LADDER4] = s4


#: Samples per chunk of the two-pass voice loop (sources, then ladders side by side).
CHUNK = 128


@njit(**KERNEL)
def run_voices(
    params: np.ndarray,
    state: np.ndarray,
    rng: np.ndarray,
    buf: np.ndarray,
    controls: np.ndarray,
    out: np.ndarray,
    fs: float,
) -> None:
    """Add the next ``out.shape[1]`` samples of each voice ``v`` into ``out[v]``.

    ``params``: physical parameters [V, len(mapping.INDEX)]; ``state``: [V, N_STATE];
    ``rng``: uint64 [V, 1]; ``buf``: BLEP rings [V, BLEP_LENGTH]. Voices that have gone
    quiet cost nothing.
    """
    n_voices, frames = out.shape
    x = np.zeros((CHUNK, n_voices))
    g = np.zeros((CHUNK, n_voices))
    vca = np.zeros((CHUNK, n_voices))
    y = np.empty((CHUNK, n_voices))
    active = np.zeros(n_voices, dtype=np.int64)
    feedback = params[:, P_VCF_RES].copy()  # parameters change only between calls
    scratch = np.empty((4, EDGES_PER_SAMPLE * CONTROL_PERIOD))
    for start in range(0, frames, CHUNK):
        count = min(CHUNK, frames - start)
        for v in range(n_voices):
            active[v] = _sources(
                params[v],
                state[v],
                rng[v],
                buf[v],
                controls,
                x[:count, v],
                g[:count, v],
                vca[:count, v],
                scratch,
                fs,
            )
        _ladders(state, x, g, vca, feedback, active, y[:count])
        for v in range(n_voices):
            if active[v] > 0:
                out[v, start : start + count] += y[:count, v]


# -- board-common stages: HPF, chorus, output limiter ----------------------------------------
E_HPF, E_CHORUS_PHASE, E_BBD, E_WRITE, N_EFFECTS = range(5)
#: Chorus delay line (power of two; holds the longest delay at 192 kHz).
CHORUS_LENGTH = 2048
CHORUS_MASK = CHORUS_LENGTH - 1


@njit(**KERNEL)
def _limit(x: float) -> float:
    """Soft limiter: identity below the threshold, a tanh knee above that never reaches 1."""
    a = abs(x)
    if a <= m.LIMITER_THRESHOLD:
        return x
    room = 1.0 - m.LIMITER_THRESHOLD
    y = m.LIMITER_THRESHOLD + room * math.tanh((a - m.LIMITER_THRESHOLD) / room)
    return y if x > 0.0 else -y


@njit(**KERNEL)
def board_effects(
    x: np.ndarray,
    e: np.ndarray,
    lines: np.ndarray,
    hpf_hz: np.ndarray,
    chorus: np.ndarray,
    fs: float,
) -> None:
    """In place on boards' mono voice sums, [sample, board]: HPF -> chorus -> limiter.

    ``e``: state [boards, N_EFFECTS]; ``lines``: chorus delay lines [boards, CHORUS_LENGTH];
    ``hpf_hz`` and ``chorus`` (position) per board. Boards run side by side so that their
    short recursions (one-pole HPF, BBD filter) overlap instead of waiting on each other.
    """
    boards = x.shape[1]
    hpf_g = np.empty(boards)
    rate = np.empty(boards)
    shortest = np.empty(boards)
    span = np.empty(boards)
    for b in range(boards):
        g = math.tan(math.pi * hpf_hz[b] / fs)
        hpf_g[b] = g / (1.0 + g)
        rate[b] = m.CHORUS_RATE_HZ[chorus[b]] / fs
        shortest[b] = m.CHORUS_DELAY_MS[chorus[b]][0] * 1e-3 * fs
        span[b] = m.CHORUS_DELAY_MS[chorus[b]][1] * 1e-3 * fs - shortest[b]
    bbd_g = 1.0 - math.exp(-2.0 * math.pi * m.CHORUS_BBD_HZ / fs)
    hpf = e[:, E_HPF].copy()
    bbd = e[:, E_BBD].copy()
    phase = e[:, E_CHORUS_PHASE].copy()
    write = int(e[0, E_WRITE])  # boards started together share the write position
    for n in range(x.shape[0]):
        for b in range(boards):
            y = x[n, b]
            if hpf_hz[b] > 0.0:  # TPT one-pole: low = G*in + (1-G)*s, s' = 2*low - s
                lowpass = hpf_g[b] * y + (1.0 - hpf_g[b]) * hpf[b]
                hpf[b] = 2.0 * lowpass - hpf[b]
                y -= lowpass
            lines[b, write] = y
            if chorus[b] > 0:
                p = phase[b] + rate[b]
                p = p - 1.0 if p >= 1.0 else p
                phase[b] = p
                delay = shortest[b] + span[b] * (1.0 - abs(2.0 * p - 1.0))
                back = write + CHORUS_LENGTH - delay  # > 0, so int() floors
                i = int(back)
                f = back - i
                j = i & CHORUS_MASK
                wet = lines[b, j] + (lines[b, (j + 1) & CHORUS_MASK] - lines[b, j]) * f
                bbd[b] += (wet - bbd[b]) * bbd_g
                y = 0.5 * (y + bbd[b])
            x[n, b] = _limit(y)
        write = (write + 1) & CHORUS_MASK
    e[:, E_HPF] = hpf
    e[:, E_BBD] = bbd
    e[:, E_CHORUS_PHASE] = phase
    e[:, E_WRITE] = write


#: Items rendered side by side by one thread of the batch renderer.
GROUP = 16


@njit(parallel=True, **KERNEL)
def render_items(
    params: np.ndarray,
    keys: np.ndarray,
    velocities: np.ndarray,
    starts: np.ndarray,
    stops: np.ndarray,
    note_seeds: np.ndarray,
    chorus_phases: np.ndarray,
    n_samples: int,
    fs: float,
) -> np.ndarray:
    """Batch: every item (a tone, ``params[i]``) plays the same notes, each on a fresh voice.

    Voices are driven exactly as a ``VoiceBank`` would drive them (note on at ``starts[j]``,
    note off at ``stops[j]``), summed per item and passed through the board's common stages,
    chunk by chunk so the working set stays in cache. ``note_seeds``: [items, notes].
    Returns float32 [items, n_samples]; groups of GROUP items run in parallel.
    """
    n_items = params.shape[0]
    n_notes = keys.shape[0]
    out = np.empty((n_items, n_samples), dtype=np.float32)
    n_groups = (n_items + GROUP - 1) // GROUP
    for group in prange(n_groups):
        first = group * GROUP
        items = min(GROUP, n_items - first)
        n_voices = items * n_notes
        voice_params = np.empty((n_voices, N_PARAMETERS))
        state = np.zeros((n_voices, N_STATE))
        rng = np.empty((n_voices, 1), dtype=np.uint64)
        for item in range(items):
            for j in range(n_notes):
                voice_params[item * n_notes + j] = params[first + item]
                rng[item * n_notes + j, 0] = note_seeds[first + item, j]
        buf = np.zeros((n_voices, BLEP_LENGTH))
        controls = np.zeros(N_CONTROLS)
        effects = np.zeros((items, N_EFFECTS))
        lines = np.zeros((items, CHORUS_LENGTH))
        hpf_hz = np.empty(items)
        chorus = np.empty(items, dtype=np.int64)
        for item in range(items):
            effects[item, E_CHORUS_PHASE] = chorus_phases[first + item]
            hpf_hz[item] = params[first + item, P_HPF]
            chorus[item] = int(params[first + item, P_CHORUS])
        n = 0
        while n < n_samples:
            end = min(n + CHUNK, n_samples)
            for j in range(n_notes):
                for item in range(items):
                    if starts[j] == n:
                        note_on(state[item * n_notes + j], keys[j], velocities[j])
                    if stops[j] == n:
                        note_off(state[item * n_notes + j])
                if n < starts[j] < end:
                    end = starts[j]
                if n < stops[j] < end:
                    end = stops[j]
            count = end - n
            voices = np.zeros((n_voices, count))
            run_voices(voice_params, state, rng, buf, controls, voices, fs)
            mix = np.zeros((count, items))
            for item in range(items):
                for j in range(n_notes):
                    mix[:, item] += voices[item * n_notes + j]
            board_effects(mix, effects, lines, hpf_hz, chorus, fs)
            for item in range(items):
                out[first + item, n : n + count] = mix[:, item]
            n = end
    return out
