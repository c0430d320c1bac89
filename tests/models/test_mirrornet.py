"""MirrorNet: shapes and latent constraints, the plant contract (emulator and a real capture
job on the emulated rig), and alternating training that lowers both losses, deterministically."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from daq.capture import render_seed
from daq.emulator.render import Note, render
from daq.rigs import EMULATED
from daq.worker import Worker
from db.engine import open_catalog
from db.schema import JobState
from db.store import AudioStore
from firmware_protocol.tone import Tone
from models.mirrornet.latent import DEFAULT_BASE, LatentCodec
from models.mirrornet.melody import Melody, random_melody
from models.mirrornet.nets import MirrorConfig, MirrorNet, aligned
from models.mirrornet.plant import EmulatorPlant, PlantError, RigPlant
from models.mirrornet.spectra import FRAME_MS, TIMELINE, MelodySet, NoteTracks
from models.mirrornet.training import MirrorTrainer
from models.targets import TargetSpec
from models.train import seed_everything

RATE = 44100
#: FLAC stores 24-bit integers: one step is 2**-23 of full scale.
QUANTUM = 2.0**-23
TINY = MirrorConfig(
    hidden=16,
    blocks=3,
    rounds=3,
    babble=2,
    decoder_steps=40,
    encoder_steps=40,
    batch_size=8,
    learning_rate=3e-3,
    seed=7,
)


def short_melody(rng: np.random.Generator) -> Melody:
    return random_melody(rng, notes=5, hold_s=0.6, release_s=0.1, min_slot_s=0.08)


@pytest.fixture(scope="module")
def tiny_set() -> MelodySet:
    """Eight short melodies, each played by its own random tone of the default subset."""
    rng = np.random.default_rng(3)
    codec = LatentCodec(TargetSpec.of(TINY.parameters))
    tones = codec.tones(codec.random_vectors(rng, 8), DEFAULT_BASE)
    melodies = [short_melody(rng) for _ in range(8)]
    plant = EmulatorPlant(RATE)
    audio = np.concatenate(
        [plant.render([t], m, i) for i, (t, m) in enumerate(zip(tones, melodies, strict=True))]
    )
    return MelodySet.from_audio(audio, melodies, RATE)


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


def test_note_tracks_follow_each_note(tiny_set):
    data = tiny_set
    tracks = data.tracks
    frames = data.spectrograms.shape[-1]
    assert tracks.timeline.shape == (8, 5, TIMELINE, frames)
    assert tracks.templates.shape == (8, 5, 128) and tracks.assign.shape == (8, 5, frames)
    assert torch.all(tracks.assign.sum(1) == 1)  # every frame belongs to exactly one note
    melody, timeline = data.melodies[0], tracks.timeline[0]
    t = (torch.arange(frames) + 1) * FRAME_MS / 1000
    for j, note in enumerate(melody.notes):
        end = note.start_s + note.duration_s
        assert torch.equal(timeline[j, 0].bool(), t >= note.start_s)  # started
        assert torch.equal(timeline[j, 1].bool(), (t >= note.start_s) & (t < end))  # held
        peak = int(tracks.templates[0, j].argmax())  # the fundamental, two channels up
        assert abs(peak - (2 * (note.key - 69) + 32)) <= 1
        held = timeline[j, 1].bool()
        assert torch.all(tracks.shift[0][held & tracks.assign[0, j].bool()] == 2 * (note.key - 69))


def test_the_aligned_view_moves_each_frame_by_its_shift():
    spec = torch.arange(2 * 128 * 3, dtype=torch.float32).view(2, 128, 3)
    shift = torch.tensor([[0, 2, -1], [127, -128, 5]])
    out = aligned(spec, shift)
    assert torch.equal(out[0, :, 0], spec[0, :, 0])
    assert torch.equal(out[0, :126, 1], spec[0, 2:, 1]) and torch.all(out[0, 126:, 1] == 0)
    assert torch.equal(out[0, 1:, 2], spec[0, :127, 2]) and out[0, 0, 2] == 0
    assert out[1, 0, 0] == spec[1, 127, 0] and torch.all(out[1, 1:, 0] == 0)
    assert torch.all(out[1, :, 1] == 0)


def test_shapes_and_latent_constraints(tiny_set):
    data = tiny_set
    seed_everything(0)
    net = MirrorNet(TINY)
    n, channels, frames = data.spectrograms.shape
    assert (n, channels) == (8, 128)
    latent = net.encoder(data.spectrograms, data.tracks)
    assert latent.shape == (8, 5, net.codec.width)
    assert torch.equal(latent[:, 0], latent[:, 4])  # one tone per melody
    codec = net.codec
    continuous = latent[..., : len(codec.continuous)]
    assert torch.all((continuous >= 0) & (continuous <= 1))
    switch_probs = latent[..., len(codec.continuous) :]
    assert torch.allclose(switch_probs.sum(-1), torch.ones(8, 5))  # DCO1 WF: one softmax
    out = net.decoder(latent, data.tracks)
    assert out.shape == (8, 128, frames) and torch.all(out >= 0)
    first = data.tracks[:1]
    late = NoteTracks(first.timeline.clone(), first.templates, first.assign, first.shift)
    late.timeline[:, :, 0, :5] = 0.0  # as if no note had started in the first 5 frames
    assert torch.all(net.decoder(latent[:1], late)[..., :5] == 0)
    assert net(data.spectrograms, data.tracks).shape == out.shape


def test_latents_decode_to_valid_tones_on_the_base():
    codec = LatentCodec(TargetSpec.of(("DCO1 WF", "VCF FREQ", "CHORUS", "ENV2 RELEASE")))
    assert codec.width == 2 + 4 + 3
    rng = np.random.default_rng(1)
    vectors = codec.random_vectors(rng, 20)
    latent = codec.from_vectors(vectors)
    np.testing.assert_array_equal(codec.to_vectors(latent), vectors)
    explored = codec.explore(vectors, rng, sigma=0.5, switch_p=0.5)
    for vector, tone in zip(explored, codec.tones(explored, DEFAULT_BASE), strict=True):
        assert isinstance(tone, Tone)
        assert tone["DCO1 WF"] == 32 * int(vector[0])  # a stock switch value
        assert tone["CHORUS"] == 32 * int(vector[2])
        assert abs(tone["VCF FREQ"] - 127 * vector[1]) <= 0.5
        assert tone["ENV1 SUSTAIN"] == 0 and tone["VCA LEVEL"] == 127  # from the base


def test_the_emulator_plant_is_the_batch_renderer_with_the_capture_seeds():
    rng = np.random.default_rng(2)
    melody = short_melody(rng)
    codec = LatentCodec(TargetSpec.of(TINY.parameters))
    tones = codec.tones(codec.random_vectors(rng, 3), DEFAULT_BASE)
    audio = EmulatorPlant(RATE).render(tones, melody, seed=11)
    seeds = [render_seed(11, i) for i in range(3)]
    direct = render(tones, melody.notes, melody.hold_s, melody.release_s, RATE, seeds)
    assert audio.shape == (3, melody.samples(RATE))
    np.testing.assert_array_equal(audio, direct)


@pytest.fixture
def services(tmp_path):
    catalog = open_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    yield catalog, AudioStore(tmp_path / "audio")
    catalog.close()


def test_a_rig_plant_gets_the_emulated_rigs_takes_through_a_capture_job(services):
    catalog, store = services
    rng = np.random.default_rng(4)
    melody = short_melody(rng)
    codec = LatentCodec(TargetSpec.of(TINY.parameters))
    tones = codec.tones(codec.random_vectors(rng, 4), DEFAULT_BASE)
    tones[2] = tones[2].replace(vca_level=0)  # silent: fails QC, comes back as silence
    stop = threading.Event()
    worker = threading.Thread(target=Worker(catalog, store, EMULATED, stop=stop).run)
    worker.start()
    try:
        audio = RigPlant(catalog, store, rigs=["emulated"], timeout_s=60).render(
            tones, melody, seed=5
        )
    finally:
        stop.set()
        worker.join()
    expected = EmulatorPlant(RATE).render(tones, melody, seed=5)
    assert audio.shape == expected.shape
    np.testing.assert_allclose(audio, expected, atol=QUANTUM)
    assert np.all(audio[2] == 0) and np.abs(audio[[0, 1, 3]]).max() > 0.01
    (job,) = catalog.list_jobs()
    assert job.state == JobState.COMPLETED and job.spec["source"]["kind"] == "list"


def test_a_rig_plant_without_a_worker_gives_up_and_cancels_its_job(services):
    catalog, store = services
    plant = RigPlant(catalog, store, timeout_s=0.3, poll_s=0.05)
    melody = short_melody(np.random.default_rng(5))
    with pytest.raises(PlantError, match="is a worker running"):
        plant.render([DEFAULT_BASE], melody)
    (job,) = catalog.list_jobs()
    assert job.state == JobState.CANCELLED


def _train(data: MelodySet) -> list[dict[str, float]]:
    # numba's first parallel render (the plant) sets OpenMP back to every core, undoing the
    # conftest's one torch thread; two threads on a shared machine make training 5x slower.
    torch.set_num_threads(1)
    seed_everything(TINY.seed)
    net = MirrorNet(TINY)
    return MirrorTrainer(net, EmulatorPlant(RATE), data).train()


def test_alternating_training_lowers_both_losses_and_repeats_exactly(tiny_set):
    data = tiny_set
    history = _train(data)
    assert [row["buffer"] for row in history] == [16, 24, 32]  # babble, then one per melody
    first, last = history[0], history[-1]
    # The decoder predicts what the plant does with new proposals better and better ...
    assert last["decoder_prediction_loss"] < first["decoder_prediction_loss"] / 2
    assert last["decoder_loss"] < first["decoder_loss"]
    # ... and the encoder, through it, reconstructs its inputs better.
    assert last["encoder_loss"] < first["encoder_loss"]
    again = _train(data)
    for a, b in zip(history, again, strict=True):
        assert {k: v for k, v in a.items() if k != "seconds"} == {
            k: v for k, v in b.items() if k != "seconds"
        }
