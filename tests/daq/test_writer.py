"""The writer thread: finished takes are stored and recorded; a take refused on its own is a
failed attempt of its sample while the others are kept; a store the host refuses stops
recording with a LocalFault naming it, and the takes in hand come back as claims."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from daq.capture import RawTake
from daq.qc import QcReport
from daq.writer import FinishedTake, LocalFault, TakeWriter
from db.catalog import Catalog
from db.engine import open_catalog
from db.schema import QcVerdict, SampleState
from db.store import AudioStore
from firmware_protocol.tone import INIT_TONE

RATE = 44100


@pytest.fixture
def catalog(tmp_path) -> Iterator[Catalog]:
    catalog = open_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    catalog.upsert_rig("rig-a", "emulated")
    yield catalog
    catalog.close()


def _finished(catalog: Catalog, count: int, rate: int = RATE) -> list[FinishedTake]:
    catalog.create_job("written", {}, count, seed=0)
    tone = np.sin(np.linspace(0, 400 * np.pi, RATE // 4)).astype(np.float32) * 0.5
    return [
        FinishedTake(
            claim=catalog.claim_next("rig-a", 60),
            tone=INIT_TONE.data,
            take=RawTake(tone * (i + 1) / count, rate, note_on_frame=0),
            qc=QcReport(QcVerdict.PASS, peak=0.5),
            notes=[{"key": 60, "start_s": 0.0, "duration_s": 0.2}],
        )
        for i in range(count)
    ]


def test_finished_takes_are_stored_then_recorded(catalog, tmp_path):
    store = AudioStore(tmp_path / "audio")
    writer = TakeWriter(catalog, store, batch=2)
    finished = _finished(catalog, 3)
    for take in finished:
        writer.submit(take)
    writer.flush()
    assert (writer.recorded, writer.refused, writer.lost) == (3, 0, 0)
    assert writer.close() == []
    job = catalog.get_job(finished[0].claim.job_id)
    assert job.captured == 3
    for take, row in zip(finished, catalog.query_takes().items, strict=True):
        audio, rate = store.read(row.audio.key)
        assert rate == RATE
        np.testing.assert_allclose(audio.reshape(-1), take.take.audio, atol=2.0**-22)


def test_a_take_refused_on_its_own_fails_an_attempt_and_the_rest_are_kept(catalog, tmp_path):
    writer = TakeWriter(catalog, AudioStore(tmp_path / "audio"))
    good, bad, other = _finished(catalog, 3)
    bad = FinishedTake(bad.claim, bad.tone, RawTake(bad.take.audio, 0, 0), bad.qc, bad.notes)
    for take in (good, bad, other):
        writer.submit(take)
    writer.flush()
    assert (writer.recorded, writer.refused) == (2, 1)
    (sample,) = [s for s in catalog.list_samples(good.claim.job_id) if s.index == bad.claim.index]
    assert sample.state == SampleState.PENDING and sample.attempts == 1
    assert sample.last_error.startswith("recording failed: ")
    writer.close()


def test_a_store_the_host_refuses_stops_recording_and_hands_the_claims_back(catalog, tmp_path):
    root = tmp_path / "audio"
    store = AudioStore(root)
    root.rmdir()
    root.write_text("a file where the store's folder should be")
    writer = TakeWriter(catalog, store)
    finished = _finished(catalog, 2)
    for take in finished:
        writer.submit(take)
    with pytest.raises(LocalFault) as fault:
        writer.flush()
    assert fault.value.device == f"audio store {root}"
    with pytest.raises(LocalFault):
        writer.submit(finished[0])
    assert sorted(c.index for c in writer.resume()) == [0, 1]
    assert writer.recorded == 0 and writer.close() == []
