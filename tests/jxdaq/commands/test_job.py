"""`jxdaq job` against a live API server (its own var directory stays empty: the commands
went over HTTP) and in local mode on the catalog directly: submit, list, pause, resume,
priority, cancel, watch, delete; a bad spec is one line naming the field."""

from __future__ import annotations

import re
import tarfile
import threading
from pathlib import Path

import pytest
from client_support import SPEC, fill, jxdaq

from daq.rigs import EMULATED
from daq.worker import Worker
from db.engine import open_catalog
from db.schema import JobState


# -- jobs ------------------------------------------------------------------------------------
def test_jobs_over_http_submit_list_pause_resume_priority_cancel_watch(server, spec):
    catalog = server.catalog
    assert f"job 1 queued: 3 samples (cli test) at {server.url}" in jxdaq("job", "submit", spec)
    assert catalog.get_job(1).state == JobState.QUEUED
    assert "    1  queued        0        0/3        cli test" in jxdaq("job", "list")

    assert "[paused: lunch]" in jxdaq("job", "pause", 1, "--reason", "lunch")
    assert catalog.get_job(1).state == JobState.PAUSED
    assert "cli test" in jxdaq("job", "list", "--state", "paused")
    assert "no jobs" in jxdaq("job", "list", "--state", "running")
    jxdaq("job", "resume", 1)
    assert catalog.get_job(1).state == JobState.QUEUED
    jxdaq("job", "priority", 1, "--to", 7)
    assert catalog.get_job(1).priority == 7
    assert "0/3 captured, 0 failed, 0.0 takes/s" in jxdaq("job", "status", 1)
    jxdaq("job", "cancel", 1)
    assert catalog.get_job(1).state == JobState.CANCELLED
    assert "[cancelled]" in jxdaq("job", "watch", 1, code=1)  # over, but not completed


def test_watch_follows_a_job_to_the_end_while_a_rig_captures_it(server, spec):
    jxdaq("job", "submit", spec)
    worker = threading.Thread(
        target=Worker(server.catalog, server.store, EMULATED).run, kwargs={"job_id": 1}
    )
    worker.start()
    try:
        output = jxdaq("job", "watch", 1, "--interval", "0.1")
    finally:
        worker.join(timeout=120)
    job = server.catalog.get_job(1)
    assert job.state == JobState.COMPLETED
    assert f"{job.captured}/3 captured, {job.failed} failed" in output and "[completed]" in output


def test_jobs_over_http_delete(server):
    job = fill(server.catalog, server.store, 2)
    assert "error: DELETE /jobs/9 : 404" not in jxdaq(
        "job", "delete", 9, "--takes", "remove", code=1
    )
    out = jxdaq("job", "delete", job, "--takes", "keep")
    assert f"job {job} 'takes' deleted, its 2 takes kept" in out
    assert f"{job}" not in jxdaq("job", "list") and server.catalog.count_takes() == 2
    assert f"404 job {job} was deleted at" in jxdaq("job", "status", job, code=1)
    out = jxdaq("job", "delete", job, "--takes", "remove")
    assert f"job {job} 'takes' deleted with its 2 takes (2 audio files removed)" in out
    assert server.catalog.count_takes() == 0


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('name = "a\\u0000b"', "name: control character U+0000 at position 1 is not allowed"),
        ("count = true", "count: Input should be a valid integer (got True)"),
        ('count = "5"', "count: Input should be a valid integer (got '5')"),
        ("count = 5.0", "count: Input should be a valid integer (got 5.0)"),
    ],
)
def test_a_bad_spec_is_one_line_naming_the_field_before_anything_is_stored(
    local, tmp_path, line, says
):
    path = tmp_path / "bad.toml"
    key = line.split(" = ")[0]
    path.write_text(SPEC.replace(f'{key} = "cli test"', line).replace(f"{key} = 3", line))
    out = jxdaq("job", "submit", path, code=1)
    assert out == f"error: {path}: {says}\n"
    assert not (local / "catalog.db").exists() or "no jobs" in jxdaq("job", "list")


def test_a_sweep_of_10_12_steps_is_one_line_naming_the_field_and_the_limit(local, tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text('[source]\nkind = "sweep"\nparameter = "VCF FREQ"\nsteps = 1_000_000_000_000\n')
    out = jxdaq("job", "submit", path, code=1)
    assert out == (
        f"error: {path}: source.sweep.steps: Input should be less than or equal to 10000 "
        "(got 1000000000000)\n"
    )


# -- local mode ------------------------------------------------------------------------------
def test_local_mode_runs_the_same_commands_on_the_catalog(local, spec, tmp_path):
    assert "job 1 queued: 3 samples (cli test) at sqlite:///" in jxdaq("job", "submit", spec)
    jxdaq("job", "pause", 1)
    assert "paused" in jxdaq("job", "list")
    jxdaq("job", "resume", 1)
    jxdaq("job", "priority", 1, "--to", -3)
    assert "error: priority 101: allowed -100..100" in jxdaq(
        "job", "priority", 1, "--to", 101, code=1
    )
    jxdaq("job", "cancel", 1, "--reason", "changed my mind")
    catalog = open_catalog(f"sqlite:///{local / 'catalog.db'}")
    try:
        job = catalog.get_job(1)
        assert (job.state, job.priority) == (JobState.CANCELLED, -3)
    finally:
        catalog.close()
    assert "error: job 42 does not exist" in jxdaq("job", "status", 42, code=1)
    assert "rig 'ghost' is not registered" in jxdaq(
        "dataset", "freeze", "g", "--rig", "ghost", code=1
    )
    assert "vcf_fre" in jxdaq("dataset", "freeze", "g", "--param", "vcf_fre=1..2", code=1)
    assert "no datasets" in jxdaq("dataset", "list")  # nothing half-made

    out = jxdaq("job", "run", spec, "--rig", "emulated")
    assert re.search(r"job 2: \d/3 captured, \d failed", out), out
    jxdaq("dataset", "freeze", "mine", "--job", 2, "--split", "1")
    pulled = Path(
        jxdaq("dataset", "pull", "mine", "--out", tmp_path / "o").split(" to ")[-1].strip()
    )
    with tarfile.open(pulled) as archive:
        table = archive.extractfile("parameters.csv").read().decode().splitlines()
        assert len(table) == 1 + len([n for n in archive.getnames() if n.endswith(".flac")])
