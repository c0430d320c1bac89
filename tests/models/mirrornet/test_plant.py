"""The plant contract: the emulator (the batch renderer) and a real capture job on the
emulated rig, which gives up and cancels its job when no worker takes it."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from mirrornet_support import QUANTUM, RATE, TINY, short_melody

from daq.capture import render_seed
from daq.emulator.render import render
from daq.rigs import EMULATED
from daq.worker import Worker
from db.engine import open_catalog
from db.schema import JobState
from db.store import AudioStore
from models.mirrornet.latent import DEFAULT_BASE, LatentCodec
from models.mirrornet.plant import EmulatorPlant, PlantError, RigPlant
from models.targets import TargetSpec


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
