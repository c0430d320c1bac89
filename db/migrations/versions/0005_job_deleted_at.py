"""Deleted jobs whose takes are kept: ``jobs.deleted_at`` and ``jobs.deleted_by``.

An admin may delete a job and keep its takes. The job row then stays as their provenance (its
name, seed and spec summary), marked by when and by whom it was deleted; its whole spec and
its samples that hold no take go (:mod:`db.deletion`).

Downgrading keeps such jobs as plain jobs that are over: they get back a ``job_specs`` row
(their summary: the whole spec is gone) and a state reason saying they were deleted, so no
take loses its job.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

jobs = sa.table(
    "jobs",
    sa.column("id", sa.Integer()),
    sa.column("spec", JSON),
    sa.column("state_reason", sa.Text()),
    sa.column("deleted_at", sa.DateTime(timezone=True)),
    sa.column("deleted_by", sa.String(200)),
)
job_specs = sa.table("job_specs", sa.column("job_id", sa.Integer()), sa.column("spec", JSON))


def upgrade() -> None:
    op.add_column("jobs", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("jobs", sa.Column("deleted_by", sa.String(200), nullable=True))


def downgrade() -> None:
    connection = op.get_bind()
    deleted = connection.execute(
        sa.select(jobs.c.id, jobs.c.spec, jobs.c.deleted_at, jobs.c.deleted_by).where(
            jobs.c.deleted_at.is_not(None)
        )
    ).all()
    for job_id, summary, at, by in deleted:
        connection.execute(sa.insert(job_specs).values(job_id=job_id, spec=summary))
        reason = f"deleted at {at:%Y-%m-%d %H:%M:%S}" + (f" by {by}" if by else "")
        connection.execute(
            sa.update(jobs)
            .where(jobs.c.id == job_id)
            .values(state_reason=f"{reason}, its takes kept (only its spec summary remains)")
        )
    op.drop_column("jobs", "deleted_by")
    op.drop_column("jobs", "deleted_at")
