"""A rig of several lanes (boards) on the accelerated emulated rig: each lane's takes are its
own, each stored once (SIGKILL of a two-lane worker: test_worker_signals.py)."""

from __future__ import annotations

import numpy as np
from catalog_support import all_takes

from daq.capture import render_seed
from daq.emulator.render import Note, render
from daq.jobs import submit_job
from daq.rigs import LaneDefinition, RigDefinition
from daq.spec import JobSpec
from daq.worker import Worker
from db.schema import JobState
from firmware_protocol.tone import Tone

#: FLAC stores 24-bit integers: one step is 2**-23 of full scale.
QUANTUM = 2.0**-23
TWO_LANES = RigDefinition(
    name="emulated-2",
    instrument="emulated",
    channels=2,
    lanes=(LaneDefinition(input=1), LaneDefinition(input=2)),
)
#: Tones that sound nothing alike: the filter shut on even samples, open on odd ones.
SWEEP = {"kind": "sweep", "parameter": "VCF FREQ", "values": [20, 127] * 8}


def test_two_lanes_each_store_takes_of_their_own_samples(emulated_services):
    """Every take sounds as its own sample's tone renders (never as its neighbour's, whose
    filter is the other way), both lanes made takes, and each sample has one."""
    catalog, store = emulated_services
    spec = JobSpec.model_validate(
        {"source": SWEEP, "seed": 4, "capture": {"hold_s": 0.3, "tail": {"max_s": 0.2}}}
    )
    job = submit_job(catalog, spec)
    Worker(catalog, store, TWO_LANES, batch=4).run(job_id=job.id)

    assert catalog.get_job(job.id).state == JobState.COMPLETED
    takes = all_takes(catalog, job.id)
    assert sorted(t.sample_index for t in takes) == list(range(16))
    assert {t.lane for t in takes} == {1, 2}
    capture = spec.capture
    pre_roll = round(capture.pre_roll_s * capture.sample_rate)
    melody = [Note(n.key, n.velocity, n.start_s, n.duration_s) for n in capture.notes]

    def rendered(tone: Tone, index: int) -> np.ndarray:
        audio = render([tone], melody, capture.hold_s, capture.tail.max_s,
                       capture.sample_rate, render_seed(spec.seed, index))[0]  # fmt: skip
        return np.concatenate([np.zeros(pre_roll, np.float32), audio])

    for take in takes:
        audio = store.read(take.audio.key)[0].reshape(-1, 1)[:, 0]
        own = Tone(take.tone)
        assert own["VCF FREQ"] == SWEEP["values"][take.sample_index]
        np.testing.assert_allclose(audio, rendered(own, take.sample_index)[: audio.size],
                                   atol=QUANTUM)  # fmt: skip
        other = own.replace(vcf_freq=147 - own["VCF FREQ"])
        assert np.abs(audio - rendered(other, take.sample_index)[: audio.size]).max() > 0.01
