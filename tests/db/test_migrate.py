"""Migrations: from empty and from every earlier revision to head, down again, and the CLI.

They walk whatever revisions exist, so each new revision is tested the day it is added; a
revision that moves data gets a test of its own.
"""

from __future__ import annotations

import dataclasses
import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text, update
from sqlalchemy.exc import IntegrityError

from daq.spec import JobSpec
from db.engine import open_catalog
from db.migrate import (
    current_revision,
    downgrade,
    head_revision,
    include_object_for,
    revisions_oldest_first,
    upgrade,
)
from db.records import NotFound, job_facts
from db.schema import Base, Job, JobSpecRow, JobState
from firmware_protocol import parameters
from firmware_protocol.parameters import TONE_PARAMETERS
from firmware_protocol.sysex import jx8p_bank
from firmware_protocol.tone import INIT_TONE


def _schema_diff(engine: Engine) -> list:
    with engine.connect() as connection:
        opts = {
            "compare_type": True,
            "include_object": include_object_for(connection.dialect.name),
        }
        context = MigrationContext.configure(connection, opts=opts)
        return compare_metadata(context, Base.metadata)


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_from_empty_matches_the_models(bare_engine: Engine):
    assert current_revision(bare_engine) is None
    upgrade(bare_engine)
    assert current_revision(bare_engine) == head_revision()
    assert _schema_diff(bare_engine) == []
    assert _tables(bare_engine) == set(Base.metadata.tables)


def test_upgrade_from_every_earlier_revision(bare_engine: Engine):
    revisions = revisions_oldest_first()
    assert revisions[-1] == head_revision()
    for revision in revisions:
        downgrade(bare_engine, "base")
        upgrade(bare_engine, revision)
        assert current_revision(bare_engine) == revision
        upgrade(bare_engine)
        assert current_revision(bare_engine) == head_revision()
        assert _schema_diff(bare_engine) == []


def test_every_step_downgrades_and_upgrades_again(bare_engine: Engine):
    """The stairway: each revision's downgrade undoes exactly its upgrade."""
    previous = "base"
    for revision in revisions_oldest_first():
        upgrade(bare_engine, revision)
        downgrade(bare_engine, previous)
        assert current_revision(bare_engine) == (None if previous == "base" else previous)
        upgrade(bare_engine, revision)
        previous = revision
    downgrade(bare_engine, "base")
    assert _tables(bare_engine) == set()


def _describe(engine: Engine) -> dict[str, dict]:
    """What a migration created, as reflection sees it: columns, checks, indexes, keys."""
    schema = inspect(engine)
    return {
        table: {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in schema.get_columns(table)
            ],
            "checks": sorted(
                (c["name"], str(c["sqltext"])) for c in schema.get_check_constraints(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), i["unique"])
                for i in schema.get_indexes(table)
            ),
            "foreign_keys": sorted(
                (tuple(k["constrained_columns"]), k["referred_table"])
                for k in schema.get_foreign_keys(table)
            ),
        }
        for table in sorted(_tables(engine))
    }


def test_the_first_revision_is_frozen_against_the_parameter_table(
    bare_engine: Engine, monkeypatch: pytest.MonkeyPatch
):
    """Editing firmware_protocol's parameter table (a key renamed, one dropped, a new range, a
    longer tone) cannot change what revision 0001 creates: it carries its own column list.
    Alembic loads each revision file afresh, so a live import would see the edit."""
    upgrade(bare_engine, "0001")
    created = _describe(bare_engine)
    parameter_columns = [c for c, _, _ in created["takes"]["columns"] if c.startswith("p_")]
    assert len(parameter_columns) == 44
    downgrade(bare_engine, "base")

    edited = (dataclasses.replace(TONE_PARAMETERS[0], name="Renamed"), *TONE_PARAMETERS[1:-1])
    monkeypatch.setattr(parameters, "TONE_PARAMETERS", edited)
    monkeypatch.setattr(parameters, "MAX_VALUE", 99)
    monkeypatch.setattr(parameters, "APR_TONE_LENGTH", 60)
    upgrade(bare_engine, "0001")
    assert _describe(bare_engine) == created


def test_rig_take_counters_are_filled_from_existing_takes(catalog, make_take):
    """Revision 0002 counts the takes a catalog already holds (broken ones left out)."""
    for rig in ("rig-a", "rig-b"):
        catalog.upsert_rig(rig, "emulated")
    job = catalog.create_job("j", {}, 4, seed=0)
    claims = [catalog.claim_next(rig, 60) for rig in ("rig-a", "rig-a", "rig-b", "rig-b")]
    take_ids = catalog.record_takes([make_take(c) for c in claims])
    catalog.mark_take_broken(take_ids[2], "audio file missing")
    downgrade(catalog.engine, "0001")
    upgrade(catalog.engine)
    assert catalog.takes_by_rig(job.id) == {"rig-a": 2, "rig-b": 1}


def test_jobs_naming_bank_paths_come_to_hold_their_banks(catalog, tmp_path):
    """Revision 0003 reads, once, the banks that jobs named by path; a job whose bank is gone
    fails with the reason unless it is over already."""
    bank = tmp_path / "old.syx"
    bank.write_bytes(jx8p_bank([INIT_TONE, INIT_TONE.replace(vcf_freq=3)]))
    capture = {"hold_s": 1.0}
    old = {"source": {"kind": "bank", "banks": [str(bank)]}, "capture": capture}
    gone = {"source": {"kind": "prior", "banks": [str(tmp_path / "gone.syx")]}}
    listed = {"source": {"kind": "list", "tones": [{"vcf_freq": i} for i in range(20)]}}
    held = catalog.create_job("held", old, 2, seed=0)
    lost = catalog.create_job("lost", gone, 5, seed=0)
    over = catalog.create_job("over", gone, 0, seed=0)
    long = catalog.create_job("long", listed, 20, seed=0)
    downgrade(catalog.engine, "0002")  # jobs.spec holds the specs as the old code wrote them
    upgrade(catalog.engine)

    spec = JobSpec.model_validate(catalog.get_job_spec(held.id))  # no file is read any more
    assert [t.data for t in spec.source.banks[0].tones] == [
        INIT_TONE.data,
        INIT_TONE.replace(vcf_freq=3).data,
    ]
    summary = catalog.get_job(held.id).spec
    assert summary["source"]["banks"] == [
        {"name": "old.syx", "sha256": spec.source.banks[0].sha256, "tone_count": 2}
    ]
    assert summary["capture"] == capture
    assert catalog.get_job(long.id).spec["source"]["tones"] == "20 tones"
    failed = catalog.get_job(lost.id)
    assert failed.state == JobState.FAILED and "gone.syx" in (failed.state_reason or "")
    assert catalog.get_job(over.id).state == JobState.COMPLETED
    stored = catalog.get_job_spec(held.id)
    downgrade(catalog.engine, "0002")
    upgrade(catalog.engine)  # banks held already are kept as they are
    assert catalog.get_job_spec(held.id) == stored


def test_jobs_deleted_with_their_takes_kept_stay_jobs_below_0005(catalog, make_take):
    """Revision 0005's downgrade keeps a job deleted with its takes kept as a plain job that
    is over (its summary as its spec, the deletion in its state reason): no take loses its
    job; upgrading again leaves it so."""
    catalog.upsert_rig("rig-a", "emulated")
    job = catalog.create_job("kept", {"capture": {"hold_s": 1.0}}, 1, seed=3)
    (take,) = catalog.record_takes([make_take(catalog.claim_next("rig-a", 60))])
    catalog.delete_job_rows(job.id, "keep", by="the-admin")
    with pytest.raises(NotFound, match=r"deleted at .* by the-admin"):
        catalog.get_job(job.id)
    downgrade(catalog.engine, "0004")
    upgrade(catalog.engine)
    back = catalog.get_job(job.id)
    assert back.state == JobState.COMPLETED and back.seed == 3
    assert "by the-admin, its takes kept" in (back.state_reason or "")
    assert catalog.get_job_spec(job.id) == {"capture": {"hold_s": 1.0}, **job_facts(back)}
    assert catalog.get_take(take).job_id == job.id


def test_a_jobs_facts_leave_its_spec_from_0006_and_come_back_below(catalog):
    """Revision 0006 stores a job's name, count, seed, priority and rigs once (its columns);
    below it the spec and the summary hold them again, as the columns say them now."""
    catalog.upsert_rig("rig-a", "emulated")
    capture = {"capture": {"hold_s": 1.0}}
    job = catalog.create_job("facts", capture, 4, seed=3, priority=2, rigs=["rig-a"])
    catalog.set_job_priority(job.id, 7)
    facts = {"name": "facts", "count": 4, "seed": 3, "priority": 7, "rigs": ["rig-a"]}
    assert catalog.get_job_spec(job.id) == {**capture, **facts}
    downgrade(catalog.engine, "0005")
    with catalog.engine.connect() as connection:
        whole = connection.execute(select(JobSpecRow.spec)).scalar_one()
        summary = connection.execute(select(Job.spec)).scalar_one()
    assert whole == summary == {**capture, **facts}
    upgrade(catalog.engine)
    assert catalog.get_job(job.id).spec == capture
    assert catalog.get_job_spec(job.id) == {**capture, **facts}


def _job_columns_and_checks(engine: Engine) -> tuple[list[str], list[tuple[str, str]]]:
    schema = inspect(engine)
    columns = [c["name"] for c in schema.get_columns("jobs")]
    checks = sorted(
        (c["name"], str(c["sqltext"]))
        for c in schema.get_check_constraints("jobs")
        if "count" in c["name"] or c["name"] == "ck_jobs_next_index"
    )
    return columns, checks


def test_a_jobs_count_column_is_renamed_from_sample_count_at_0008_with_its_checks(
    catalog, make_take
):
    """Revision 0008 renames ``jobs.sample_count`` to ``jobs.count`` and its check with it;
    the jobs, their samples and takes stay, down and up again, and the checks still hold."""
    catalog.upsert_rig("rig-a", "emulated")
    job = catalog.create_job("counted", {}, 3, seed=0)
    (take,) = catalog.record_takes([make_take(catalog.claim_next("rig-a", 60))])
    columns, checks = _job_columns_and_checks(catalog.engine)
    assert "count" in columns and "sample_count" not in columns
    assert checks == [
        ("ck_jobs_count", "count >= 0"),
        ("ck_jobs_next_index", "next_index <= count"),
    ]

    downgrade(catalog.engine, "0007")
    columns, checks = _job_columns_and_checks(catalog.engine)
    assert "sample_count" in columns and "count" not in columns
    assert checks == [
        ("ck_jobs_next_index", "next_index <= sample_count"),
        ("ck_jobs_sample_count", "sample_count >= 0"),
    ]
    with catalog.engine.connect() as connection:
        assert connection.execute(text("SELECT sample_count FROM jobs")).scalar_one() == 3

    upgrade(catalog.engine)
    assert catalog.get_job(job.id).count == 3
    assert catalog.job_progress(job.id).captured == 1
    assert catalog.get_take(take).job_id == job.id
    with pytest.raises(IntegrityError, match="ck_jobs_count"), catalog.engine.begin() as c:
        c.execute(update(Job).where(Job.id == job.id).values(count=-1, next_index=-2))


def test_services_starting_together_upgrade_once(catalog_url: str, bare_engine: Engine):
    errors: list[BaseException] = []

    def start() -> None:
        try:
            open_catalog(catalog_url).close()
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert current_revision(bare_engine) == head_revision()


def test_unsupported_urls_are_refused():
    with pytest.raises(ValueError, match="only sqlite:// and postgresql://"):
        open_catalog("mysql://localhost/x")
