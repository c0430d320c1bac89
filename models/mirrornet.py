"""MirrorNet: learning the JX's controls from sound alone, with the synth in the loop.

After Siriwardena, Marion & Shamma, "The Mirrornet: Learning Audio Synthesizer Controls
Inspired by Sensorimotor Interaction" (ICASSP 2022). An encoder (a TCN over the auditory
spectrogram of a melody) proposes tone parameters; a decoder (a TCN over the latent and the
melody's note timing) learns to predict the auditory spectrogram the synth makes for a
proposal. Training alternates:

* decoder phase: the *plant* (the emulator's batch renderer, or a rig through capture jobs)
  plays the encoder's current proposals plus exploration noise, and the decoder is fitted to
  the spectrograms the plant actually produced (a replay buffer of every round's proposals);
  round 0 "babbles": uniform random proposals, before the encoder knows anything;
* encoder phase: the decoder is frozen and the encoder is trained so that
  ``decoder(encoder(x))`` reconstructs the input spectrogram ``x``. No parameter labels are
  used anywhere; the plant is the only source of knowledge about the synth.

Choices made here, once:

* The latent is per note (``[batch, notes, width]``) and the decoder plays each note from
  its own latent, but the encoder *ties* the notes of a melody to one tone (the mean of its
  per-note pooled features): a capture job programs one tone per take, so the JX plays the
  whole melody with one tone.
* The latent's layout follows a :class:`~models.targets.TargetSpec`: continuous parameters
  as sigmoids in [0, 1], each switch as a softmax over its positions. The plant plays the
  argmax; the decoder is fitted on the one-hot of what was played.
* The melody (keys and timing) is known to both networks, as in the paper; only the tone is
  inferred. The decoder is built like the synth: one voice per note (a TCN over that note's
  timeline: when it started, when it was released, its key) that scales the note's harmonic
  template (the auditory spectrogram of a flat harmonic comb at its key) channel by channel
  (a source-filter shape) and adds a free level for noise; the voices add up. The encoder
  sees the spectrogram and, beside it, a pitch-aligned copy (each frame shifted by its
  note's key), so that a waveform's harmonic pattern looks the same on every note.
* Spectrograms are compressed with ``log1p(x / SPECTROGRAM_REFERENCE)`` and scaled to about
  [0, 1] before any loss: the raw auditory spectrogram spans four decades.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveInt
from torch import nn

from daq.capture import render_seed
from daq.emulator.render import Note, render
from daq.jobs import submit_job
from daq.spec import JobSpec
from db.catalog import Catalog
from db.records import TakeFilter, TakeInfo
from db.schema import FINAL_JOB_STATES, JobState, QcCode, SampleState
from db.store import AudioStore
from firmware_protocol.tone import Tone
from models.features import AuditoryFeatures
from models.targets import TargetSpec

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

#: The learnable subset used by default: the filter, its envelope and the amplitude
#: envelope (what changes a short note's colour and shape) and the oscillator waveform.
DEFAULT_PARAMETERS: tuple[str, ...] = (
    "DCO1 WF", "VCF FREQ", "VCF RES", "VCF ENV",
    "ENV1 DECAY", "ENV2 ATTACK", "ENV2 SUSTAIN", "ENV2 RELEASE",
)  # fmt: skip
#: The rest of the tone: INIT, with a plucked filter envelope (ENV1 decays to 0, so VCF ENV
#: and ENV1 DECAY are audible) and an amplitude envelope that decays to ENV2 SUSTAIN.
DEFAULT_BASE_VALUES: dict[str, int] = {"ENV1 SUSTAIN": 0, "ENV2 DECAY": 50}
DEFAULT_BASE = Tone.from_values(DEFAULT_BASE_VALUES)


# -- melodies ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Melody:
    """Notes, each with an explicit length, then ``release_s`` after the last one ends.

    The hold (what a capture job calls ``hold_s``) ends with the last note, so a render of
    the melody and a rig's take of it have the same length.
    """

    notes: tuple[Note, ...]
    release_s: float

    def __post_init__(self) -> None:
        if not self.notes:
            raise ValueError("a melody needs at least one note")
        if self.release_s < 0:
            raise ValueError(f"release_s ({self.release_s}) must be >= 0")
        starts = [n.start_s for n in self.notes]
        if starts != sorted(starts):
            raise ValueError(f"melody notes must be in start order, got starts {starts}")
        for i, note in enumerate(self.notes):
            if note.duration_s is None or note.duration_s <= 0:
                raise ValueError(f"melody note {i} needs a positive duration_s")

    @property
    def hold_s(self) -> float:
        """When the last note ends."""
        return max(n.start_s + n.duration_s for n in self.notes)  # type: ignore[operator]

    @property
    def duration_s(self) -> float:
        return self.hold_s + self.release_s

    def samples(self, sample_rate: int) -> int:
        """Length of a render of this melody (the batch renderer's rule)."""
        return round(self.duration_s * sample_rate)


def random_melody(
    rng: np.random.Generator,
    notes: int = 5,
    keys: tuple[int, int] = (57, 81),
    hold_s: float = 1.2,
    release_s: float = 0.3,
    min_slot_s: float = 0.12,
    velocity: int = 100,
) -> Melody:
    """A melody as in the paper: ``notes`` random keys (inclusive range), random lengths.

    ``hold_s`` is cut into ``notes`` consecutive slots of random length (at least
    ``min_slot_s``); each note starts its slot and sounds for 60-100 % of it, except the
    last, which fills its slot, so that every melody lasts ``hold_s + release_s``.
    """
    if notes * min_slot_s > hold_s:
        raise ValueError(f"{notes} slots of at least {min_slot_s} s do not fit in {hold_s} s")
    spare = hold_s - notes * min_slot_s
    slots = min_slot_s + spare * rng.dirichlet(np.full(notes, 2.0))
    starts = np.concatenate([[0.0], np.cumsum(slots)[:-1]])
    lengths = slots * rng.uniform(0.6, 1.0, notes)
    lengths[-1] = hold_s - starts[-1]
    chosen = rng.integers(keys[0], keys[1] + 1, notes)
    return Melody(
        tuple(
            Note(int(k), velocity, float(s), float(d))
            for k, s, d in zip(chosen, starts, lengths, strict=True)
        ),
        release_s,
    )


# -- the plant -----------------------------------------------------------------------------
class PlantError(RuntimeError):
    """The plant could not play what was asked (a failed job, a take that never came)."""


class Plant(Protocol):
    """Whatever turns tones into sound: the emulator, or a rig through the capture service."""

    sample_rate: int

    def render(self, tones: Sequence[Tone], melody: Melody, seed: int = 0) -> np.ndarray:
        """float32 [len(tones), melody.samples(sample_rate)]: each tone playing ``melody``.

        Item ``i`` uses noise seed ``render_seed(seed, i)``, the capture service's rule for
        sample ``i`` of a job with that seed, so an emulated rig plays the same audio.
        """
        ...


@dataclass(frozen=True)
class EmulatorPlant:
    """The emulator's batch renderer: the plant without any I/O, thousands of takes a second."""

    sample_rate: int = 44100

    def render(self, tones: Sequence[Tone], melody: Melody, seed: int = 0) -> np.ndarray:
        seeds = [render_seed(seed, i) for i in range(len(tones))]
        return render(tones, melody.notes, melody.hold_s, melody.release_s, self.sample_rate, seeds)


class RigPlant:
    """A rig through the capture service: each call is one capture job, waited for.

    The job has an explicit-list source (the tones, every parameter spelled out), the
    melody as its notes, the whole release recorded (``tail.silence_db = None``) and
    ``seed`` as its seed; whichever worker serves ``rigs`` captures it (this class starts
    none). Takes come back from the store with the pre-roll cut, so an emulated rig returns
    the :class:`EmulatorPlant`'s audio to within FLAC's 24-bit step. A take that failed QC as
    silent comes back as silence (what the synth did); any other failure is a
    :class:`PlantError`.
    """

    def __init__(
        self,
        catalog: Catalog,
        store: AudioStore,
        *,
        rigs: str | list[str] = "any",
        sample_rate: int = 44100,
        pre_roll_s: float = 0.1,
        timeout_s: float = 600.0,
        poll_s: float = 0.1,
    ) -> None:
        self.catalog, self.store = catalog, store
        self.rigs, self.sample_rate, self.pre_roll_s = rigs, sample_rate, pre_roll_s
        self.timeout_s, self.poll_s = timeout_s, poll_s

    def job_spec(self, tones: Sequence[Tone], melody: Melody, seed: int) -> JobSpec:
        return JobSpec.model_validate(
            {
                "name": f"mirrornet: {len(tones)} proposals",
                "source": {"kind": "list", "tones": [tone.values() for tone in tones]},
                "count": len(tones),
                "seed": seed,
                "rigs": self.rigs,
                "capture": {
                    "sample_rate": self.sample_rate,
                    "channels": 1,
                    "pre_roll_s": self.pre_roll_s,
                    "hold_s": melody.hold_s,
                    "tail": {"silence_db": None, "max_s": melody.release_s},
                    "notes": [
                        {
                            "key": n.key,
                            "velocity": n.velocity,
                            "start_s": n.start_s,
                            "duration_s": n.duration_s,
                        }
                        for n in melody.notes
                    ],
                },
            }
        )

    def render(self, tones: Sequence[Tone], melody: Melody, seed: int = 0) -> np.ndarray:
        job = submit_job(self.catalog, self.job_spec(tones, melody, seed), "mirrornet")
        self._wait(job.id)
        samples = melody.samples(self.sample_rate)
        pre_roll = round(self.pre_roll_s * self.sample_rate)
        out = np.zeros((len(tones), samples), np.float32)
        captured = set()
        for take in self._takes(job.id):
            audio, rate = self.store.read(take.audio.key)
            if rate != self.sample_rate:
                raise PlantError(
                    f"job {job.id}: take {take.id} is at {rate} Hz, not {self.sample_rate}"
                )
            clip = audio.reshape(audio.shape[0], -1)[pre_roll : pre_roll + samples, 0]
            out[take.sample_index, : len(clip)] = clip
            captured.add(take.sample_index)
        for sample in self.catalog.list_samples(job.id, SampleState.FAILED, limit=len(tones)):
            if sample.last_error_code != QcCode.SILENT:
                raise PlantError(f"job {job.id}: sample {sample.index} failed: {sample.last_error}")
            captured.add(sample.index)
        missing = sorted(set(range(len(tones))) - captured)
        if missing:
            raise PlantError(f"job {job.id}: no take of samples {missing[:10]}")
        return out

    def _wait(self, job_id: int) -> None:
        deadline = time.monotonic() + self.timeout_s
        while (state := self.catalog.get_job(job_id).state) not in FINAL_JOB_STATES:
            if time.monotonic() > deadline:
                self.catalog.set_job_state(
                    job_id, JobState.CANCELLED, "mirrornet timed out", by="mirrornet"
                )
                raise PlantError(
                    f"job {job_id}: not captured within {self.timeout_s:g} s; "
                    f"is a worker running for rigs {self.rigs!r}?"
                )
            time.sleep(self.poll_s)
        if state != JobState.COMPLETED:
            raise PlantError(f"job {job_id} ended {state}, not completed")

    def _takes(self, job_id: int) -> Iterable[TakeInfo]:
        cursor = None
        while True:
            page = self.catalog.query_takes(TakeFilter(job_id=job_id), after=cursor, limit=100)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor


# -- latent layout ---------------------------------------------------------------------------
class LatentCodec:
    """The latent of a :class:`TargetSpec`: continuous values first, then one softmax per switch.

    Converts between latents (what the networks exchange), target vectors (what
    :mod:`models.targets` and the metrics use) and tones (what the plant plays).
    """

    def __init__(self, spec: TargetSpec) -> None:
        self.spec = spec
        self.continuous = list(spec.continuous_index)
        self.switches = list(zip(spec.switch_index, spec.switch_ways, strict=True))
        self.width = len(self.continuous) + sum(ways for _, ways in self.switches)

    def _groups(self) -> Iterable[tuple[int, int, int]]:
        """(target index, first latent column, ways) of each switch."""
        column = len(self.continuous)
        for index, ways in self.switches:
            yield index, column, ways
            column += ways

    def activate(self, raw: torch.Tensor) -> torch.Tensor:
        """Network outputs [..., width] -> latent: sigmoids and per-switch softmaxes."""
        parts = [torch.sigmoid(raw[..., : len(self.continuous)])]
        parts += [raw[..., c : c + w].softmax(-1) for _, c, w in self._groups()]
        return torch.cat(parts, -1)

    def to_vectors(self, latent: np.ndarray) -> np.ndarray:
        """Latents [n, width] -> target vectors [n, params] (switches at their argmax)."""
        latent = np.asarray(latent, dtype=np.float32)
        vectors = np.zeros((latent.shape[0], len(self.spec)), np.float32)
        vectors[:, self.continuous] = latent[:, : len(self.continuous)]
        for index, column, ways in self._groups():
            vectors[:, index] = latent[:, column : column + ways].argmax(-1)
        return vectors

    def from_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """Target vectors [n, params] -> latents [n, width] (switches one-hot)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        latent = np.zeros((vectors.shape[0], self.width), np.float32)
        latent[:, : len(self.continuous)] = vectors[:, self.continuous]
        rows = np.arange(vectors.shape[0])
        for index, column, _ in self._groups():
            latent[rows, column + vectors[:, index].astype(np.int64)] = 1.0
        return latent

    def random_vectors(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Uniform target vectors: babbling over the whole learnable range."""
        vectors = rng.uniform(0.0, 1.0, (n, len(self.spec))).astype(np.float32)
        for index, ways in self.switches:
            vectors[:, index] = rng.integers(0, ways, n)
        return vectors

    def explore(
        self, vectors: np.ndarray, rng: np.random.Generator, sigma: float, switch_p: float
    ) -> np.ndarray:
        """Proposals near ``vectors``: Gaussian steps on continuous values (clipped to [0, 1]),
        and each switch moved to a random position with probability ``switch_p``."""
        out = np.array(vectors, dtype=np.float32)
        out[:, self.continuous] = np.clip(
            out[:, self.continuous] + rng.normal(0.0, sigma, (len(out), len(self.continuous))),
            0.0,
            1.0,
        )
        for index, ways in self.switches:
            flip = rng.random(len(out)) < switch_p
            out[flip, index] = rng.integers(0, ways, int(flip.sum()))
        return out

    def tones(self, vectors: np.ndarray, base: Tone) -> list[Tone]:
        return [self.spec.decode(v, base=base) for v in vectors]


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


# -- networks -----------------------------------------------------------------------------
class _Block(nn.Module):
    """A residual, non-causal dilated convolution over time (offline: whole melodies)."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(F.gelu(self.conv(x)))


def _tcn(inputs: int, hidden: int, blocks: int) -> nn.Sequential:
    """1x1 projection then ``blocks`` dilated blocks (dilations 1, 2, 4, ...)."""
    return nn.Sequential(
        nn.Conv1d(inputs, hidden, 1), *(_Block(hidden, 2**i) for i in range(blocks))
    )


def aligned(spec: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``spec [B, 128, F]`` with each frame moved down by ``shift [B, F]`` channels (zeros in)."""
    channels = spec.shape[1]
    index = torch.arange(channels)[None, :, None] + shift[:, None, :]
    inside = (index >= 0) & (index < channels)
    return torch.gather(spec, 1, index.clamp(0, channels - 1)) * inside


class Encoder(nn.Module):
    """Spectrogram (+ note tracks) -> one tone per melody, as a per-note latent [B, notes, W].

    A TCN over the spectrogram, its pitch-aligned view and the timeline of each frame's note;
    its features are pooled over each note's frames, then over the notes (the tie).
    """

    def __init__(self, codec: LatentCodec, hidden: int, blocks: int) -> None:
        super().__init__()
        self.codec = codec
        self.tcn = _tcn(2 * AuditoryFeatures.CHANNELS + TIMELINE, hidden, blocks)
        self.head = nn.Sequential(
            nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, codec.width)
        )

    def forward(self, spec: torch.Tensor, tracks: NoteTracks) -> torch.Tensor:
        assign = tracks.assign
        timeline = torch.einsum("bntf,bnf->btf", tracks.timeline, assign)
        h = self.tcn(torch.cat([spec, aligned(spec, tracks.shift), timeline], 1))
        weights = assign / assign.sum(-1, keepdim=True).clamp(min=1.0)
        per_note = torch.einsum("bnf,bhf->bnh", weights, h)
        tone = self.codec.activate(self.head(per_note.mean(1)))  # tied: one tone per melody
        return tone[:, None, :].expand(-1, assign.shape[1], -1)


class Decoder(nn.Module):
    """Per-note latent + note tracks -> spectrogram, one voice per note as on the JX.

    Each note's latent and timeline go through a TCN that gives, per frame and channel, a
    gain on the note's harmonic template and a free (noise) level, in linear auditory units
    of ``SPECTROGRAM_REFERENCE``; a note is silent until it starts. The notes add up, and
    the sum is compressed as :func:`compress` does.
    """

    def __init__(self, codec: LatentCodec, hidden: int, blocks: int) -> None:
        super().__init__()
        self.tcn = _tcn(codec.width + TIMELINE, hidden, blocks)
        self.out = nn.Conv1d(hidden, 2 * AuditoryFeatures.CHANNELS, 1)

    def forward(self, latent: torch.Tensor, tracks: NoteTracks) -> torch.Tensor:
        batch, notes, _, frames = tracks.timeline.shape
        inputs = torch.cat([latent[..., None].expand(-1, -1, -1, frames), tracks.timeline], 2)
        gains = F.softplus(self.out(self.tcn(inputs.flatten(0, 1))))
        gains = gains.view(batch, notes, 2, AuditoryFeatures.CHANNELS, frames)
        started = tracks.timeline[:, :, None, 0, :]  # [B, notes, 1, frames]
        voices = (gains[:, :, 0] * tracks.templates[..., None] + gains[:, :, 1]) * started
        scale = np.log1p(SPECTROGRAM_LOUD / SPECTROGRAM_REFERENCE)
        return torch.log1p(voices.sum(1)) / scale


class MirrorConfig(BaseModel):
    """The network sizes and the alternating schedule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    parameters: tuple[str, ...] = DEFAULT_PARAMETERS
    hidden: PositiveInt = 32
    blocks: PositiveInt = 4
    rounds: PositiveInt = 6
    babble: PositiveInt = Field(2, description="random proposals per melody in round 0")
    explore_sigma: NonNegativeFloat = 0.08
    explore_switch_p: float = Field(0.2, ge=0.0, le=1.0)
    decoder_steps: PositiveInt = 300
    encoder_steps: PositiveInt = 100
    batch_size: PositiveInt = 32
    learning_rate: float = Field(2e-3, gt=0.0)
    seed: int = 0


class MirrorNet(nn.Module):
    """The encoder and the decoder of one learnable subset."""

    def __init__(self, config: MirrorConfig) -> None:
        super().__init__()
        self.config = config
        self.codec = LatentCodec(TargetSpec.of(config.parameters))
        self.encoder = Encoder(self.codec, config.hidden, config.blocks)
        self.decoder = Decoder(self.codec, config.hidden, config.blocks)

    def forward(self, spec: torch.Tensor, tracks: NoteTracks) -> torch.Tensor:
        """The mirror: ``decoder(encoder(spec))``."""
        return self.decoder(self.encoder(spec, tracks), tracks)

    @torch.no_grad()
    def infer(self, data: MelodySet, batch_size: int = 64) -> np.ndarray:
        """Target vectors [n, params] of the tones the encoder hears in ``data``."""
        self.eval()
        latents = [
            self.encoder(data.spectrograms[s], data.tracks[s])[:, 0]
            for s in _slices(len(data), batch_size)
        ]
        return self.codec.to_vectors(torch.cat(latents).numpy())


def _slices(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


# -- training ------------------------------------------------------------------------------
@dataclass
class _Buffer:
    """What the plant made of every proposal so far: (melody index, latent, spectrogram)."""

    index: list[torch.Tensor]
    latent: list[torch.Tensor]
    spec: list[torch.Tensor]

    def add(self, index: np.ndarray, latent: np.ndarray, spec: np.ndarray) -> None:
        self.index.append(torch.from_numpy(index))
        self.latent.append(torch.from_numpy(latent))
        self.spec.append(torch.from_numpy(spec).half())  # halves the buffer's memory

    def __len__(self) -> int:
        return sum(len(i) for i in self.index)


class MirrorTrainer:
    """Alternating decoder / encoder training of a :class:`MirrorNet` against a plant."""

    def __init__(
        self,
        net: MirrorNet,
        plant: Plant,
        data: MelodySet,
        base: Tone = DEFAULT_BASE,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.net, self.plant, self.data, self.base = net, plant, data, base
        self.config = net.config
        self.log = log or (lambda _: None)
        self.rng = np.random.default_rng(self.config.seed)
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self.buffer = _Buffer([], [], [])
        lr = self.config.learning_rate
        self.decoder_opt = torch.optim.Adam(net.decoder.parameters(), lr=lr)
        self.encoder_opt = torch.optim.Adam(net.encoder.parameters(), lr=lr)
        self.plant_calls = 0

    def collect(self, vectors: np.ndarray, index: np.ndarray) -> torch.Tensor:
        """Play tone ``vectors[i]`` on melody ``index[i]``; keep and return the spectrograms."""
        codec = self.net.codec
        tones = codec.tones(vectors, self.base)
        melodies = [self.data.melodies[i] for i in index]
        spec = plant_spectrograms(self.plant, tones, melodies, self.plant_calls)
        self.plant_calls += 1
        self.buffer.add(index.astype(np.int64), codec.from_vectors(vectors), spec)
        return torch.from_numpy(spec)

    def decoder_loss(self, index: torch.Tensor, latent: torch.Tensor, spec: torch.Tensor):
        d = self.data
        tracks = d.tracks[index]
        per_note = latent[:, None, :].expand(-1, tracks.assign.shape[1], -1)
        prediction = self.net.decoder(per_note, tracks)
        return F.mse_loss(prediction, spec.float())

    def fit_decoder(self, steps: int) -> float:
        """Fit the decoder on the whole buffer; the mean loss of the last quarter of steps."""
        buffer = self.buffer
        index, latent, spec = (torch.cat(x) for x in (buffer.index, buffer.latent, buffer.spec))
        self.net.decoder.train()
        return self._steps(
            steps,
            len(index),
            self.decoder_opt,
            lambda b: self.decoder_loss(index[b], latent[b], spec[b]),
        )

    def fit_encoder(self, steps: int) -> float:
        """Train the encoder through the frozen decoder to reconstruct the inputs."""
        d = self.data
        self.net.decoder.requires_grad_(False)
        self.net.encoder.train()
        try:
            return self._steps(steps, len(d), self.encoder_opt, self._reconstruction)
        finally:
            self.net.decoder.requires_grad_(True)

    def _steps(self, steps: int, n: int, optimizer, loss_of) -> float:
        size = min(self.config.batch_size, n)
        tail = []
        for step in range(steps):
            batch = torch.randint(0, n, (size,), generator=self.generator)
            loss = loss_of(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step >= steps - max(1, steps // 4):
                tail.append(loss.item())
        return float(np.mean(tail))

    @torch.no_grad()
    def mirror_loss(self) -> float:
        """Reconstruction loss of ``decoder(encoder(x))`` over the whole input set."""
        self.net.eval()
        d = self.data
        losses = [self._reconstruction(s, "sum") for s in _slices(len(d), 64)]
        return float(sum(losses) / d.spectrograms.numel())

    def _reconstruction(self, items, reduction: str = "mean") -> torch.Tensor:
        d = self.data
        mirrored = self.net(d.spectrograms[items], d.tracks[items])
        return F.mse_loss(mirrored, d.spectrograms[items], reduction=reduction)

    @torch.no_grad()
    def prediction_loss(self, index: np.ndarray, vectors: np.ndarray, spec: torch.Tensor):
        """How well the decoder predicted what the plant just did (before fitting on it)."""
        self.net.eval()
        latent = torch.from_numpy(self.net.codec.from_vectors(vectors))
        return float(self.decoder_loss(torch.from_numpy(index), latent, spec))

    def round(self, number: int) -> dict[str, float]:
        """One decoder phase and one encoder phase; round 0 babbles instead of proposing."""
        c, n = self.config, len(self.data)
        started = time.perf_counter()
        if number == 0:
            index = np.tile(np.arange(n), c.babble)
            vectors = self.net.codec.random_vectors(self.rng, len(index))
        else:
            index = np.arange(n)
            vectors = self.net.codec.explore(
                self.net.infer(self.data), self.rng, c.explore_sigma, c.explore_switch_p
            )
        spec = self.collect(vectors, index)
        predicted = self.prediction_loss(index, vectors, spec)
        decoder = self.fit_decoder(c.decoder_steps)
        self.fit_encoder(c.encoder_steps)
        row = {
            "round": number,
            "buffer": len(self.buffer),
            "decoder_prediction_loss": predicted,
            "decoder_loss": decoder,
            "encoder_loss": self.mirror_loss(),
            "seconds": time.perf_counter() - started,
        }
        self.log(
            f"round {number}: buffer {row['buffer']}, decoder predicted the plant at "
            f"{predicted:.4f} and fits it at {decoder:.4f}; mirror {row['encoder_loss']:.4f} "
            f"({row['seconds']:.0f} s)"
        )
        return row

    def train(self) -> list[dict[str, float]]:
        return [self.round(r) for r in range(self.config.rounds)]
