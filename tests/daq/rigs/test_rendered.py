"""End to end on the accelerated emulated rig: spec -> claims -> render -> QC -> FLAC -> catalog."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from catalog_support import all_takes
from paths import EXAMPLES

from daq.capture import RenderedCapture, render_seed
from daq.emulator.render import Note, render
from daq.jobs import submit_job
from daq.rigs import EMULATED
from daq.spec import JobSpec, load_spec
from daq.worker import Worker
from db.engine import open_catalog
from db.schema import JobState, QcVerdict, SampleState
from db.store import AudioStore
from firmware_protocol.tone import Tone

EXAMPLE = EXAMPLES / "job-prior.toml"
#: FLAC stores 24-bit integers: one step is 2**-23 of full scale.
QUANTUM = 2.0**-23


@pytest.fixture
def services(tmp_path):
    catalog = open_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    yield catalog, AudioStore(tmp_path / "audio")
    catalog.close()


def test_a_200_take_prior_job_is_captured_and_every_take_re_renders_exactly(services):
    catalog, store = services
    spec = load_spec(EXAMPLE)
    assert spec.count == 200 and spec.source.kind == "prior"
    job = submit_job(catalog, spec)
    stats = Worker(catalog, store, EMULATED).run(job_id=job.id)

    finished = catalog.get_job(job.id)
    assert finished.state == JobState.COMPLETED
    assert finished.captured + finished.failed == 200
    assert finished.captured >= 190  # only tones whose levels make them silent may fail
    takes = all_takes(catalog, job.id)
    assert len(takes) == finished.captured == stats.submitted
    assert len({t.sample_index for t in takes}) == len(takes)  # each sample once

    capture = spec.capture
    pre_roll = round(capture.pre_roll_s * capture.sample_rate)
    melody = [Note(n.key, n.velocity, n.start_s, n.duration_s) for n in capture.notes]
    for take in takes[::10]:
        audio, rate = store.read(take.audio.key)
        audio = audio.reshape(audio.shape[0], -1)
        tone = Tone(take.tone)
        expected = render(
            [tone], melody, capture.hold_s, capture.tail.max_s, rate,
            render_seed(spec.seed, take.sample_index),
        )[0]  # fmt: skip
        expected = np.concatenate([np.zeros(pre_roll, np.float32), expected])
        assert rate == capture.sample_rate and take.qc_verdict != QcVerdict.FAIL
        assert audio.shape[0] <= expected.shape[0]
        np.testing.assert_allclose(audio[:, 0], expected[: audio.shape[0]], atol=QUANTUM)
        assert take.onset_latency_s is not None and abs(take.onset_latency_s) < 0.01


def test_failed_samples_are_final_and_say_why(services):
    catalog, store = services
    silent = {"VCA LEVEL": 0}
    spec = JobSpec.model_validate(
        {"source": {"kind": "list", "tones": [silent, {"VCA LEVEL": 127}]}, "seed": 3}
    )
    job = submit_job(catalog, spec)
    Worker(catalog, store, EMULATED).run(job_id=job.id)
    samples = {s.index: s for s in catalog.list_samples(job.id)}
    assert samples[0].state == SampleState.FAILED
    assert "silent" in samples[0].last_error and samples[0].last_error_code == "silent"
    assert samples[1].state == SampleState.CAPTURED
    assert catalog.get_job(job.id).state == JobState.COMPLETED


def test_stop_finishes_the_batch_in_hand_and_gives_nothing_half_done(services):
    catalog, store = services
    spec = load_spec(EXAMPLE).model_copy(update={"count": 200})
    job = submit_job(catalog, spec)
    stop = threading.Event()
    worker = Worker(catalog, store, EMULATED, batch=4)
    worker.on_take = lambda n: stop.set() if n >= 10 else None
    worker.stop = stop
    worker.run()
    progress = catalog.job_progress(job.id)
    assert 10 <= progress.captured < 200
    assert len(all_takes(catalog, job.id)) == progress.captured  # recorded before return
    # The rest is still there for the next worker.
    Worker(catalog, store, EMULATED).run(job_id=job.id)
    assert catalog.get_job(job.id).state == JobState.COMPLETED


def test_the_emulated_rig_refuses_rates_it_cannot_render():
    spec = JobSpec.model_validate(
        {"source": {"kind": "uniform"}, "count": 1, "capture": {"sample_rate": 96000}}
    )
    with pytest.raises(ValueError, match="96000"):
        RenderedCapture(spec.capture)


def test_a_worker_for_one_job_captures_that_job_only(services):
    """``jxdaq worker --job N`` used to take a higher-priority job's samples as well."""
    catalog, store = services
    other = submit_job(catalog, load_spec(EXAMPLE).model_copy(update={"count": 8, "priority": 5}))
    mine = submit_job(catalog, load_spec(EXAMPLE).model_copy(update={"count": 4}))
    Worker(catalog, store, EMULATED).run(job_id=mine.id)
    assert catalog.get_job(mine.id).state == JobState.COMPLETED
    assert catalog.list_samples(other.id) == []
    assert catalog.get_job(other.id).state == JobState.QUEUED
