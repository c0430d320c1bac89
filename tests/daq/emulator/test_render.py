"""The batch renderer and the streaming voice bank: real tones, determinism, block equivalence."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from daq.emulator.render import Note, render
from daq.emulator.voices import BoardEffects, VoiceBank
from firmware_protocol.parameters import BY_NAME, TONE_PARAMETERS, lookup
from firmware_protocol.sysex import parse_syx
from firmware_protocol.tone import INIT_TONE, Tone

FS = 44100


def _switch(name: str, label: str) -> int:
    parameter = BY_NAME[name]
    return parameter.canonical(parameter.labels.index(label))


def _bank_tones(banks: list[Path]) -> list[Tone]:
    return [entry.item for path in banks for entry in parse_syx(path.read_bytes()).tones]


def _rms_db(y: np.ndarray) -> float:
    return 10 * np.log10(np.mean(y.astype(np.float64) ** 2) + 1e-30)


def _silent_by_level(tone: Tone) -> bool:
    """A tone whose own levels shut it: VCA at 0, or nothing into the mixer."""
    no_mixer_input = tone["MIX DCO1"] == 0 and tone["MIX DCO2"] == 0 and tone["MIX ENV"] == 0
    return tone["VCA LEVEL"] == 0 or no_mixer_input


def test_every_real_tone_renders_finite_bounded_and_audible(jx8p_banks: list[Path]) -> None:
    tones = _bank_tones(jx8p_banks)
    assert len(tones) == 416
    audio = render(tones, 60, hold_s=1.0, release_s=0.5)
    assert audio.dtype == np.float32 and audio.shape == (416, round(1.5 * FS))
    assert np.isfinite(audio).all()
    assert np.abs(audio).max() <= 1.0
    for tone, y in zip(tones, audio, strict=True):
        if not _silent_by_level(tone):
            assert _rms_db(y) > -60.0, f"{tone.name!r} is inaudible: {tone.labels()}"


def test_a_loud_chord_of_resonant_tones_stays_inside_full_scale() -> None:
    screamer = INIT_TONE.replace(vcf_res=127, vcf_freq=60, mix_dco2=127, chorus=64)
    chord = [Note(k, 127) for k in (36, 48, 55, 60, 64, 67, 72, 79, 84, 91, 96, 103)]
    (y,) = render([screamer], chord, hold_s=1.0, release_s=0.2)
    assert np.abs(y).max() <= 1.0
    assert _rms_db(y) > -20.0


# -- every parameter is audible -----------------------------------------------------------
_ON = {"lfo_wf": _switch("LFO WF", "triangle"), "lfo_rate": 100}
#: For each parameter: (context that lets it act, value A, value B, key, velocity).
#: Contexts follow the panel: DYNA needs a soft key and an amount, KEY follow a far key, etc.
_CONTEXTS: dict[str, tuple[dict[str, int], int, int, int, int]] = {
    "DCO1 RANGE": ({}, 0, 96, 60, 100),
    "DCO1 WF": ({}, 0, 96, 60, 100),
    "DCO1 TUNE": ({}, 40, 90, 60, 100),
    "DCO1 LFO": (_ON, 0, 100, 60, 100),
    "DCO1 ENV": ({"env1_decay": 60, "env1_sustain": 0}, 0, 100, 60, 100),
    "DCO2 RANGE": ({"mix_dco1": 0, "mix_dco2": 127}, 0, 96, 60, 100),
    "DCO2 WF": ({"mix_dco1": 0, "mix_dco2": 127}, 0, 96, 60, 100),
    "DCO XMOD": ({"mix_dco1": 0, "mix_dco2": 127, "dco2_tune": 99}, 0, 96, 60, 100),
    "DCO2 TUNE": ({"mix_dco1": 0, "mix_dco2": 127}, 40, 90, 60, 100),
    "DCO2 FTUNE": ({"mix_dco2": 127}, 64, 90, 60, 100),
    "DCO2 LFO": ({"mix_dco1": 0, "mix_dco2": 127, **_ON}, 0, 100, 60, 100),
    "DCO2 ENV": (
        {"mix_dco1": 0, "mix_dco2": 127, "env1_decay": 60, "env1_sustain": 0},
        0,
        100,
        60,
        100,
    ),
    "DCO DYNA": ({"dco1_env": 110, "env1_decay": 60, "env1_sustain": 0}, 0, 96, 60, 20),
    "DCO ENV MODE": ({"dco1_env": 100, "env1_decay": 60, "env1_sustain": 0}, 0, 96, 60, 100),
    "MIX DCO1": ({}, 0, 127, 60, 100),
    "MIX DCO2": ({}, 0, 127, 60, 100),
    "MIX ENV": ({"dco2_tune": 99, "env1_sustain": 100}, 0, 127, 60, 100),
    "MIX DYNA": (
        {"dco2_tune": 99, "mix_env": 127, "env1_sustain": 100},
        0,
        96,
        60,
        20,
    ),
    "MIX MODE": (
        {"dco2_tune": 99, "mix_dco2": 64, "mix_env": 100, "env1_decay": 60},
        0,
        96,
        60,
        100,
    ),
    "HPF FREQ": ({"dco1_range": 0}, 0, 96, 48, 100),
    "VCF FREQ": ({}, 60, 100, 60, 100),
    "VCF RES": ({"vcf_freq": 70}, 0, 110, 60, 100),
    "VCF LFO": ({"vcf_freq": 70, **_ON}, 0, 110, 60, 100),
    "VCF ENV": ({"vcf_freq": 40, "env1_decay": 70, "env1_sustain": 0}, 0, 110, 60, 100),
    "VCF KEY": ({"vcf_freq": 60}, 0, 127, 96, 100),
    "VCF DYNA": ({"vcf_freq": 40, "vcf_env": 110}, 0, 96, 60, 20),
    "VCF MODE": ({"vcf_freq": 60, "vcf_env": 60, "env1_decay": 70}, 0, 96, 60, 100),
    "VCA LEVEL": ({}, 40, 127, 60, 100),
    "VCA DYNA": ({}, 0, 96, 60, 20),
    "CHORUS": ({}, 0, 64, 60, 100),
    "LFO WF": ({"dco1_lfo": 100, "lfo_rate": 100}, 0, 64, 60, 100),
    "LFO DELAY": ({"dco1_lfo": 100, **_ON}, 0, 100, 60, 100),
    "LFO RATE": ({"dco1_lfo": 100, "lfo_wf": 64}, 60, 110, 60, 100),
    "ENV1 ATTACK": ({"dco1_env": 100}, 0, 100, 60, 100),
    "ENV1 DECAY": ({"dco1_env": 100, "env1_sustain": 0}, 30, 90, 60, 100),
    "ENV1 SUSTAIN": ({"dco1_env": 100, "env1_decay": 40}, 0, 127, 60, 100),
    "ENV1 RELEASE": ({"vcf_freq": 40, "vcf_env": 110, "env2_release": 100}, 10, 100, 60, 100),
    "ENV1 KEY": ({"dco1_env": 100, "env1_decay": 80, "env1_sustain": 0}, 0, 96, 96, 100),
    "ENV2 ATTACK": ({}, 0, 100, 60, 100),
    "ENV2 DECAY": ({"env2_sustain": 0}, 30, 90, 60, 100),
    "ENV2 SUSTAIN": ({"env2_decay": 40}, 0, 127, 60, 100),
    "ENV2 RELEASE": ({}, 10, 100, 60, 100),
    "ENV2 KEY": ({"env2_decay": 80, "env2_sustain": 0}, 0, 96, 96, 100),
    "VCA MODE": ({"env2_attack": 90}, 0, 64, 60, 100),
}


def test_the_context_table_covers_every_tone_parameter() -> None:
    assert {lookup(name) for name in _CONTEXTS} == set(TONE_PARAMETERS)


def _third_octaves(y: np.ndarray) -> np.ndarray:
    """Level in dB of each third-octave band (31 Hz .. 16 kHz) in each 46 ms frame.

    Bands weigh each octave equally, as hearing does; the -80 dB floor ignores what nobody
    would hear anyway.
    """
    freqs, _, z = signal.stft(y.astype(np.float64), FS, nperseg=2048, noverlap=1024)
    power = np.abs(z) ** 2
    edges = 31.25 * 2 ** (np.arange(28) / 3)
    bands = [power[(freqs >= lo) & (freqs < hi)].sum(axis=0) for lo, hi in pairwise(edges)]
    return 10 * np.log10(np.array(bands) + 1e-8)


@pytest.mark.parametrize("name", list(_CONTEXTS))
def test_every_parameter_audibly_changes_the_output(name: str) -> None:
    context, a, b, key, velocity = _CONTEXTS[name]
    base = INIT_TONE.replace(**context)
    tones = [Tone.from_values({name: v}, base=base) for v in (a, b)]
    y_a, y_b = render(tones, Note(key, velocity), hold_s=1.5, release_s=1.0)
    # the moment they differ most, averaged over the bands: > 3 dB is plainly audible
    difference = np.abs(_third_octaves(y_a) - _third_octaves(y_b)).mean(axis=0).max()
    assert difference > 3.0, f"{name}: {a} vs {b} differ by only {difference:.2f} dB"


# -- determinism and seeds ------------------------------------------------------------------
NOISY = INIT_TONE.replace(dco1_wf=_switch("DCO1 WF", "noise"), lfo_wf=0, dco2_lfo=80)


def test_same_seed_same_audio_other_seed_other_noise() -> None:
    first, again, other = (render([NOISY], 60, 0.3, 0.1, seed=s)[0] for s in (7, 7, 8))
    assert np.array_equal(first, again)
    assert not np.allclose(first, other)


def test_a_seed_per_item_equals_items_rendered_alone() -> None:
    batch = render([NOISY, NOISY, INIT_TONE], 60, 0.3, 0.1, seed=[1, 2, 3])
    for row, seed, tone in zip(batch, (1, 2, 3), (NOISY, NOISY, INIT_TONE), strict=True):
        assert np.array_equal(row, render([tone], 60, 0.3, 0.1, seed=seed)[0])


def test_melody_length_and_note_timing() -> None:
    melody = [Note(60, start_s=0.0, duration_s=0.2), Note(67, 90, start_s=0.5)]
    y = render([INIT_TONE.replace(vca_mode=0)], melody, hold_s=0.3, release_s=0.25)
    assert y.shape == (1, round((0.8 + 0.25) * FS))
    gap = y[0, int(0.25 * FS) : int(0.5 * FS)]  # gate VCA: silent between the two notes
    assert np.abs(gap).max() < 1e-4
    assert np.abs(y[0, int(0.55 * FS) : int(0.75 * FS)]).max() > 0.05


def test_48_khz_renders_the_same_durations() -> None:
    y = render([INIT_TONE], 60, hold_s=0.5, release_s=0.25, sample_rate=48000)
    assert y.shape == (1, 36000)


# -- streaming equals batch ---------------------------------------------------------------
def _stream(tone: Tone, events: list[tuple[int, str, int, int, int]], total: int, block: int):
    """Play ``(sample, 'on'/'off', voice, key, velocity)`` events through a bank, in blocks."""
    bank = VoiceBank(3, seed=5)
    effects = BoardEffects(seed=5)
    bank.set_tone(range(3), tone)
    out, done = [], 0
    cuts = sorted({e[0] for e in events} | set(range(0, total, block)) | {total})
    for cut in cuts:
        if cut > done:
            voices = bank.process(cut - done)
            out.append(effects.process(voices.sum(axis=0), tone))
            done = cut
        for sample, kind, voice, key, velocity in events:
            if sample == cut:
                bank.note_on(voice, key, velocity) if kind == "on" else bank.note_off(voice)
    return np.concatenate(out)


@pytest.mark.parametrize("block", [64, 256, 1000])
def test_blocks_equal_one_batch_render(block: int) -> None:
    tone = INIT_TONE.replace(
        chorus=64, hpf_freq=32, vcf_freq=70, vcf_res=80, vcf_env=60, dco1_lfo=30, lfo_wf=0
    )
    melody = [Note(60, 100, 0.0, 0.3), Note(64, 70, 0.1, 0.3), Note(67, 127, 0.25, 0.2)]
    batch = render([tone], melody, hold_s=0.3, release_s=0.3, seed=5)[0]
    events = []
    for voice, note in enumerate(melody):
        on = round(note.start_s * FS)
        events.append((on, "on", voice, note.key, note.velocity))
        events.append((round((note.start_s + note.duration_s) * FS), "off", voice, 0, 0))
    streamed = _stream(tone, events, batch.shape[0], block)
    np.testing.assert_allclose(streamed, batch, atol=2e-6)


# -- the live bank --------------------------------------------------------------------------
def test_hold_pedal_defers_release() -> None:
    bank = VoiceBank(1)
    bank.set_tone(0, INIT_TONE.replace(vca_mode=0))
    bank.set_controls(bend=0.0, modulation=0.0, hold=True)
    bank.note_on(0, 60, 100)
    bank.process(4410)
    bank.note_off(0)
    assert np.abs(bank.process(4410)).max() > 0.05  # still sounding under the pedal
    bank.set_controls(bend=0.0, modulation=0.0, hold=False)
    bank.process(441)
    assert np.abs(bank.process(4410)).max() < 1e-4
    assert not bank.sounding()[0]


def test_a_voice_that_fell_silent_plays_its_next_note_as_a_fresh_voice() -> None:
    noisy = INIT_TONE.replace(dco1_wf=0, vcf_res=110, lfo_wf=0, dco1_lfo=50, env1_release=40)
    plain = INIT_TONE.replace(dco2_range=96, vcf_freq=60, env2_attack=30)
    bank = VoiceBank(1, seed=7)
    bank.set_tone(0, noisy)
    bank.note_on(0, 40, 127)
    bank.process(FS // 4)
    bank.note_off(0)
    while bank.sounding()[0]:
        bank.process(512)
    bank.set_tone(0, plain)
    bank.note_on(0, 72, 80)
    again = bank.process(FS // 4)[0]
    fresh = VoiceBank(1, seed=7)
    fresh.set_tone(0, plain)
    fresh.note_on(0, 72, 80)
    np.testing.assert_array_equal(again, fresh.process(FS // 4)[0])


def test_bend_moves_pitch_by_the_bend_range() -> None:
    def pitch(bend: float) -> float:
        bank = VoiceBank(1)
        bank.set_tone(0, INIT_TONE.replace(mix_dco2=0))
        bank.set_controls(bend=bend, modulation=0.0, hold=False)
        bank.note_on(0, 69, 100)
        y = bank.process(FS)[0, FS // 4 :]
        crossings = np.flatnonzero((y[:-1] < 0) & (y[1:] >= 0))
        return FS / np.mean(np.diff(crossings))

    assert 12 * np.log2(pitch(1.0) / pitch(0.0)) == pytest.approx(2.0, abs=0.05)


def test_a_live_parameter_change_is_heard_and_kept() -> None:
    bank = VoiceBank(2)
    bank.set_tone([0, 1], INIT_TONE)
    bank.note_on(0, 60, 100)
    bank.note_on(1, 60, 100)
    bank.process(2205)
    code = BY_NAME["VCF FREQ"].code
    bank.set_parameter(1, code, 30)
    after = bank.process(4410)
    assert _rms_db(after[1]) < _rms_db(after[0]) - 6.0
    assert bank.tone(1)["VCF FREQ"] == 30 and bank.tone(0)["VCF FREQ"] == 127


def test_a_non_tone_code_is_kept_but_silent() -> None:
    bank = VoiceBank(1)
    bank.set_parameter(0, 0x8C, 99)  # aftertouch vibrato depth: patch level, not a tone sound
    assert bank.tone(0).data[23] == 99


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda b: b.note_on(6, 60, 100), "voice 6"),
        (lambda b: b.note_on(0, 128, 100), "key 128"),
        (lambda b: b.note_on(0, 60, -1), "velocity -1"),
        (lambda b: b.set_parameter(0, 0xB2, 1), "0xB2"),
        (lambda b: b.set_parameter(0, 0x97, 200), "200"),
        (lambda b: b.set_controls(bend=2.0, modulation=0.0, hold=False), "bend"),
        (lambda b: b.process(-1), "frames"),
    ],
)
def test_bad_events_name_what_was_wrong(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(VoiceBank(6))


def test_render_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        render([INIT_TONE], sample_rate=22050)
    with pytest.raises(ValueError, match="2 seeds for 1 tones"):
        render([INIT_TONE], seed=[1, 2])
    with pytest.raises(ValueError, match="velocity"):
        Note(60, 128)
    with pytest.raises(ValueError, match="at least one tone"):
        render([])
