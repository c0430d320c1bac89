"""verify [--repair]: missing and corrupt audio, orphans and debris, and their repair."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from db.records import AudioRef, NewTake
from db.schema import JobState, QcVerdict, SampleState, utcnow
from db.verify import verify
from firmware_protocol.tone import INIT_TONE
from jxdaq.commands.catalog import app


def _capture(catalog, store, count: int) -> tuple[int, list[int]]:
    catalog.upsert_rig("rig-a", "emulated")
    job = catalog.create_job("j", {}, count, seed=0)
    take_ids = []
    for i in range(count):
        claim = catalog.claim_next("rig-a", 60)
        ref: AudioRef = store.write(np.full(200, (i + 1) / 100), 44100)
        take = NewTake(claim, INIT_TONE.data, ref, QcVerdict.PASS, utcnow(), "test")
        take_ids.append(catalog.record_take(take))
    return job.id, take_ids


def test_a_consistent_catalog_is_clean(catalog, store):
    _capture(catalog, store, 4)
    report = verify(catalog, store, grace_s=0)
    assert report.clean and report.takes_checked == 4 and report.files_seen == 4


def test_problems_are_found_and_repaired(catalog, store, tmp_path: Path):
    job_id, take_ids = _capture(catalog, store, 4)
    root = tmp_path / "audio"
    missing, corrupt = (catalog.get_take(t).audio.key for t in take_ids[:2])
    (root / missing).unlink()
    (root / corrupt).write_bytes(b"not flac")
    orphan = store.write(np.full(300, 0.5), 44100).key
    debris = root / orphan.split("/")[0] / ".deadbeef.1234.tmp"
    debris.write_bytes(b"half a file")

    report = verify(catalog, store, grace_s=0)
    assert report.missing == [(take_ids[0], missing)]
    assert report.corrupt == [(take_ids[1], corrupt)]
    assert report.orphans == [orphan]
    assert report.debris == [f"{orphan.split('/')[0]}/{debris.name}"]
    assert catalog.get_job(job_id).state == JobState.COMPLETED

    repaired = verify(catalog, store, repair=True, grace_s=0)
    assert sorted(repaired.broken_takes) == take_ids[:2]
    assert len(repaired.quarantined) == 3  # corrupt file, orphan, debris
    assert all((root / q).is_file() for q in repaired.quarantined)
    job = catalog.get_job(job_id)
    assert (job.state, job.captured) == (JobState.RUNNING, 2)
    assert len(catalog.list_samples(job_id, SampleState.PENDING)) == 2

    after = verify(catalog, store, grace_s=0)
    assert after.clean and after.takes_checked == 2


def test_young_orphans_are_left_for_live_writers(catalog, store):
    _capture(catalog, store, 1)
    orphan = store.write(np.full(300, 0.5), 44100).key
    report = verify(catalog, store, repair=True, grace_s=3600)
    assert report.orphans == [orphan] and report.left_alone == [orphan]
    assert store.exists(orphan)


def test_cli_exit_codes(catalog_url, catalog, store, tmp_path: Path):
    _, take_ids = _capture(catalog, store, 2)
    (tmp_path / "audio" / catalog.get_take(take_ids[0]).audio.key).unlink()
    runner = CliRunner()
    args = ["--url", catalog_url, "--store", str(tmp_path / "audio"), "--grace", "0"]
    found = runner.invoke(app, ["verify", *args])
    assert found.exit_code == 1 and "missing audio (take, key): 1" in found.output
    fixed = runner.invoke(app, ["verify", "--repair", *args])
    assert fixed.exit_code == 0 and "1 takes requeued" in fixed.output
    clean = runner.invoke(app, ["verify", *args])
    assert clean.exit_code == 0 and "clean" in clean.output
