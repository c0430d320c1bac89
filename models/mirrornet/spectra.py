"""Auditory spectrograms of melodies, their compression, harmonic templates and note tracks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from daq.capture import render_seed
from daq.features import AuditoryFeatures
from firmware_protocol.tone import Tone
from models.mirrornet.melody import Melody
from models.mirrornet.plant import Plant

#: Auditory-spectrogram level treated as "0 dB" by the compression (about the quietest
#: audible harmonic of a JX melody at typical levels).
SPECTROGRAM_REFERENCE = 1e-3
#: A loud JX harmonic (99.9th percentile of prior tones); compressed to about 1.
SPECTROGRAM_LOUD = 0.05
#: RMS of the dither added before the auditory model (-100 dBFS).
DITHER = 1e-5
#: Frame length (and integration time) of the auditory spectrograms MirrorNet uses: NSL's
#: 8 ms frames integrated to 16 ms, which halves the networks' cost on a CPU; the subset's
#: envelope times that matter for 0.1-0.4 s notes are longer than a frame.
FRAME_MS = 16.0
#: Times since a note's onset / release are fed to the networks as fractions of this
#: (clipped), and on a log scale from 10 ms up to it.
TIME_SCALE_S = 1.0


# -- spectrograms and note tracks --------------------------------------------------------------
def compress(spectrogram: np.ndarray) -> np.ndarray:
    """The networks' view of an auditory spectrogram: log-compressed, loud harmonics near 1."""
    scale = np.log1p(SPECTROGRAM_LOUD / SPECTROGRAM_REFERENCE)
    return (np.log1p(np.maximum(spectrogram, 0.0) / SPECTROGRAM_REFERENCE) / scale).astype(
        np.float32
    )


def auditory_features(melody: Melody, sample_rate: int) -> AuditoryFeatures:
    """The auditory spectrogram config for renders of ``melody`` (the whole render).

    The duration is rounded to the millisecond so that melodies of one length share one
    config (and its cached filter bank) despite floating-point sums of note times.
    """
    return AuditoryFeatures(
        sample_rate=sample_rate,
        duration_s=round(melody.duration_s, 3),
        frame_ms=FRAME_MS,
        integration_ms=FRAME_MS,
    )


def spectrograms(audio: np.ndarray, features: AuditoryFeatures) -> np.ndarray:
    """Compressed auditory spectrograms, channels first: [n, 128, frames] of audio [n, samples].

    A fixed dither at -100 dBFS (far below what the compression resolves) keeps the
    cochlear filters out of float32 subnormals in silent stretches, which are 1.5x slower.
    """
    audio = np.atleast_2d(audio)
    dither = np.random.default_rng(0).normal(0.0, DITHER, audio.shape[-1])
    return np.stack([compress(features.compute(a + dither)).T for a in audio])


@lru_cache(maxsize=512)
def harmonic_template(key: int, sample_rate: int) -> np.ndarray:
    """[128]: what the cochlear model hears of a flat harmonic comb at ``key``, peak 1.

    Every harmonic below the top channel at equal amplitude, small enough to stay on the
    linear part of the hair-cell sigmoid; averaged over the steady frames.
    """
    features = AuditoryFeatures(
        sample_rate=sample_rate, duration_s=0.25, frame_ms=FRAME_MS, integration_ms=FRAME_MS
    )
    f0 = 440.0 * 2.0 ** ((key - 69) / 12)
    top = features.centre_frequencies()[-1]
    t = np.arange(features.samples) / sample_rate
    harmonics = range(1, max(1, int(top // f0)) + 1)  # at least the fundamental
    comb = sum(np.sin(2 * np.pi * h * f0 * t) for h in harmonics)
    frames = features.compute(0.02 * np.asarray(comb))
    template = frames[frames.shape[0] // 2 :].mean(0)
    return (template / max(float(template.max()), 1e-12)).astype(np.float32)


#: Per-note timeline features: started, gate, time since onset (linear and log), time
#: since release (linear and log), note length, key.
TIMELINE = 8
#: Channels per semitone of the auditory spectrogram (24 per octave).
CHANNELS_PER_SEMITONE = 2


def _time_features(seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A time as a clipped linear fraction of ``TIME_SCALE_S`` and on a log scale (10 ms up)."""
    seconds = np.maximum(seconds, 0.0)
    log = np.log1p(seconds / 0.01) / np.log1p(TIME_SCALE_S / 0.01)
    return np.clip(seconds / TIME_SCALE_S, 0, 1), np.clip(log, 0, 1)


@dataclass
class NoteTracks:
    """A melody as the networks see it: one track per note, frame by frame (batch first).

    * ``timeline [.., notes, TIMELINE, frames]``: whether the note has started, whether it
      is held, the times since its onset and since its release, its length and key;
    * ``templates [.., notes, 128]``: :func:`harmonic_template` of its key;
    * ``assign [.., notes, frames]``: which note each frame belongs to (from its onset to
      the next onset; frames before the first note belong to it);
    * ``shift [.., frames]``: channels to move each frame by so that its note's pitch lands
      where A4's would (2 per semitone): a pitch-aligned view for the encoder.
    """

    timeline: torch.Tensor
    templates: torch.Tensor
    assign: torch.Tensor
    shift: torch.Tensor

    def __getitem__(self, items) -> NoteTracks:
        return NoteTracks(
            self.timeline[items], self.templates[items], self.assign[items], self.shift[items]
        )

    @classmethod
    def of(cls, melodies: Sequence[Melody], features: AuditoryFeatures) -> NoteTracks:
        tracks = [_tracks(m, features) for m in melodies]
        return cls(*(torch.from_numpy(np.stack(part)) for part in zip(*tracks, strict=True)))


def _tracks(melody: Melody, features: AuditoryFeatures) -> tuple[np.ndarray, ...]:
    frames = features.shape[0]
    t = (np.arange(frames) + 1) * features.frame_ms / 1000.0  # a frame ends at its sample
    starts = np.array([n.start_s for n in melody.notes])
    timeline = np.zeros((len(melody.notes), TIMELINE, frames), np.float32)
    for j, note in enumerate(melody.notes):
        end = note.start_s + note.duration_s
        on_lin, on_log = _time_features(t - note.start_s)
        off_lin, off_log = _time_features(t - end)
        timeline[j] = np.stack(
            [
                t >= note.start_s,
                (t >= note.start_s) & (t < end),
                on_lin,
                on_log,
                off_lin,
                off_log,
                np.full(frames, min(note.duration_s / TIME_SCALE_S, 1.0)),
                np.full(frames, (note.key - 69) / 12.0),
            ]
        )
    templates = np.stack([harmonic_template(n.key, features.sample_rate) for n in melody.notes])
    latest = np.maximum(np.searchsorted(starts, t, side="right") - 1, 0)
    assign = np.zeros((len(melody.notes), frames), np.float32)
    assign[latest, np.arange(frames)] = 1.0
    keys = np.array([n.key for n in melody.notes])
    shift = (CHANNELS_PER_SEMITONE * (keys[latest] - 69)).astype(np.int64)
    return timeline, templates, assign, shift


@dataclass
class MelodySet:
    """Melodies with their spectrograms and note tracks, as tensors of one shape."""

    melodies: list[Melody]
    spectrograms: torch.Tensor  # [n, 128, frames]
    tracks: NoteTracks

    def __len__(self) -> int:
        return len(self.melodies)

    @classmethod
    def from_audio(
        cls, audio: np.ndarray, melodies: Sequence[Melody], sample_rate: int
    ) -> MelodySet:
        """Audio [n, samples] of melodies that share their note count and duration."""
        melodies = list(melodies)
        if len(audio) != len(melodies) or not melodies:
            raise ValueError(f"{len(audio)} clips for {len(melodies)} melodies")
        shapes = {(len(m.notes), round(m.duration_s, 3)) for m in melodies}
        if len(shapes) > 1:
            raise ValueError(
                f"melodies of one set must share their note count and duration; "
                f"got (notes, seconds) {sorted(shapes)}"
            )
        features = auditory_features(melodies[0], sample_rate)
        return cls(
            melodies,
            torch.from_numpy(spectrograms(audio, features)),
            NoteTracks.of(melodies, features),
        )


def plant_spectrograms(
    plant: Plant, tones: Sequence[Tone], melodies: Sequence[Melody], seed: int
) -> np.ndarray:
    """[n, 128, frames]: what the plant makes of tone ``i`` playing melody ``i``.

    Tones that share a melody go to the plant together (one batch render, or one job).
    """
    features = auditory_features(melodies[0], plant.sample_rate)
    out = np.zeros((len(tones), AuditoryFeatures.CHANNELS, features.shape[0]), np.float32)
    groups: dict[Melody, list[int]] = defaultdict(list)
    for i, melody in enumerate(melodies):
        groups[melody].append(i)
    for g, (melody, items) in enumerate(groups.items()):
        audio = plant.render([tones[i] for i in items], melody, render_seed(seed, g))
        out[items] = spectrograms(audio, features)
    return out
