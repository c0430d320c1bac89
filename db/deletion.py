"""Deleting a job (an admin's act), and the audio only its takes held.

A job's takes hang on its row (``takes.job_id``, ``takes.sample_id``: the job's seed and spec
are their provenance). ``takes="remove"`` deletes the job with its takes. ``takes="keep"``
leaves a tombstone: the job row stays only as its takes' provenance (name, seed, spec
summary, marked ``deleted_at``/``deleted_by``); its whole spec (``job_specs``, which can be
megabytes) and its samples that hold no take are deleted. From then on the job is gone from
every view of jobs (lists, ``get_job``: :class:`db.records.JobDeleted`, metrics, claims)
while its takes stay in take queries, datasets and exports. A tombstone cannot be deleted
again with ``keep``; ``remove`` removes it with its takes like any job. Datasets stay
consistent: they are frozen queries, so a removal that would take takes out of a frozen
dataset is refused, naming the datasets. Only a job that is over (completed, failed,
cancelled) can be deleted: cancel it first, so no rig is still recording for it.

The catalog rows go in one transaction (with a ``job_deleted`` event, which outlives the job's
own history); the audio files afterwards, each only when no take references its sha256 any
more. A crash between the two leaves unreferenced files, which ``jxdaq catalog verify``
reports and ``--repair`` quarantines: never a take without its audio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.engine import Connection

from db.access import dataset_info
from db.reads import Reads
from db.records import CatalogError, InvalidTransition, JobDeleted, NotFound
from db.schema import FINAL_JOB_STATES, Dataset, Job, JobSpecRow, Sample, Take, utcnow
from db.store import AudioStore, key_for
from db.unit import insert_event

TakeChoice = Literal["keep", "remove"]
TAKE_CHOICES: tuple[TakeChoice, ...] = ("keep", "remove")


class DeletionRefused(CatalogError):
    """The job cannot be deleted as asked; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class JobDeletion:
    """What deleting a job removed."""

    job_id: int
    name: str
    takes_removed: int
    #: Takes left in the catalog with the job as their provenance (``takes="keep"``).
    takes_kept: int
    #: Store keys of audio no take references any more (removed from the store by
    #: :func:`delete_job`).
    audio_removed: tuple[str, ...]


class Deletion(Reads):
    def delete_job_rows(self, job_id: int, takes: TakeChoice, *, by: str | None) -> JobDeletion:
        """Delete the job's rows (samples, takes, counters, history go with it), or leave its
        tombstone (``takes="keep"``), in one transaction; the audio keys it returns are for
        the caller to remove from the store."""
        if takes not in TAKE_CHOICES:
            raise ValueError(f"takes must be one of {', '.join(TAKE_CHOICES)}, not {takes!r}")
        with self._write() as connection:
            job = connection.execute(
                select(Job.name, Job.state, Job.deleted_at, Job.deleted_by).where(Job.id == job_id)
            ).first()
            if job is None:
                raise NotFound(f"job {job_id} does not exist")
            if job.deleted_at is not None and takes == "keep":
                gone = JobDeleted.of(job_id, job.deleted_at, job.deleted_by)
                raise DeletionRefused(f"{gone} (takes=remove removes them too)")
            if job.state not in FINAL_JOB_STATES:
                raise InvalidTransition(
                    f"job {job_id} is {job.state}: cancel it first, so that no rig records "
                    "for it while it is deleted"
                )
            shas = sorted(
                connection.execute(select(Take.sha256).where(Take.job_id == job_id)).scalars()
            )
            if takes == "keep":
                self._leave_tombstone(connection, job_id, job.name, len(shas), by)
                return JobDeletion(job_id, job.name, 0, len(shas), ())
            holding = [
                info.name
                for info in map(dataset_info, connection.execute(select(Dataset)).all())
                if connection.execute(
                    select(func.count())
                    .select_from(Take)
                    .where(Take.job_id == job_id, *self._conditions(connection, info.filter))
                ).scalar_one()
            ]
            if holding:
                raise DeletionRefused(
                    f"job {job_id}'s takes are in the frozen datasets {', '.join(holding)}: "
                    "deleting them would change those datasets"
                )
            connection.execute(delete(Job).where(Job.id == job_id))
            still_used = set(
                connection.execute(
                    select(Take.sha256).where(Take.sha256.in_(set(shas))).distinct()
                ).scalars()
            )
            unreferenced = tuple(key_for(s) for s in sorted(set(shas) - still_used))
            insert_event(
                connection,
                utcnow(),
                "job_deleted",
                f"job {job_id} ({job.name!r}) deleted with its {len(shas)} takes"
                + (f" by {by}" if by else ""),
                data=_event_data(job_id, len(shas), kept=False, audio=len(unreferenced), by=by),
            )
        return JobDeletion(job_id, job.name, len(shas), 0, unreferenced)

    @staticmethod
    def _leave_tombstone(
        connection: Connection, job_id: int, name: str, takes: int, by: str | None
    ) -> None:
        """Keep of the job only what its takes need: the row (name, seed, spec summary) and
        the samples they were taken of (their tones)."""
        now = utcnow()
        connection.execute(delete(JobSpecRow).where(JobSpecRow.job_id == job_id))
        connection.execute(
            delete(Sample).where(
                Sample.job_id == job_id, ~exists().where(Take.sample_id == Sample.id)
            )
        )
        connection.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(deleted_at=now, deleted_by=by, updated_at=now)
        )
        insert_event(
            connection,
            now,
            "job_deleted",
            f"job {job_id} ({name!r}) deleted, its {takes} takes kept"
            + (f" by {by}" if by else ""),
            data=_event_data(job_id, takes, kept=True, audio=0, by=by),
        )


def _event_data(job_id: int, takes: int, *, kept: bool, audio: int, by: str | None) -> dict:
    """The ``job_deleted`` event's data: the job's takes, and whether they were kept."""
    return {"job_id": job_id, "takes": takes, "kept": kept, "audio": audio, "by": by}


def delete_job(
    catalog: Deletion, store: AudioStore, job_id: int, takes: TakeChoice, *, by: str | None
) -> JobDeletion:
    """Delete the job, then the audio files no other take shares."""
    deletion = catalog.delete_job_rows(job_id, takes, by=by)
    for key in deletion.audio_removed:
        store.remove(key)
    return deletion
