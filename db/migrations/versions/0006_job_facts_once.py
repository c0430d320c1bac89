"""A job's name, count, seed, priority and rigs are stored once: as its row's columns.

Until now the spec (``job_specs.spec``) and its summary (``jobs.spec``) held them too, and a
change of priority reached only the column, so the spec read back disagreed with the job.
The upgrade drops them from both JSON documents (``Catalog.get_job_spec`` puts the columns'
values back in); the downgrade writes the columns' values into both again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
#: Frozen at this revision: spec key -> the jobs column that holds it.
FACTS = {
    "name": "name",
    "count": "sample_count",
    "seed": "seed",
    "priority": "priority",
    "rigs": "rigs",
}

jobs = sa.table(
    "jobs",
    sa.column("id", sa.Integer()),
    sa.column("spec", JSON),
    sa.column("name", sa.String(200)),
    sa.column("sample_count", sa.Integer()),
    sa.column("seed", sa.BigInteger()),
    sa.column("priority", sa.Integer()),
    sa.column("rigs", JSON),
)
job_specs = sa.table("job_specs", sa.column("job_id", sa.Integer()), sa.column("spec", JSON))


def _without_facts(spec: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in spec.items() if key not in FACTS}


def _with_facts(spec: dict[str, Any], row: Any) -> dict[str, Any]:
    facts = {key: getattr(row, column) for key, column in FACTS.items()}
    if facts["rigs"] is None:
        facts["rigs"] = "any"
    return {**spec, **facts}


def _rewrite(change: Any) -> None:
    connection = op.get_bind()
    rows = {row.id: row for row in connection.execute(sa.select(jobs))}
    for row in rows.values():
        spec = change(row.spec, row)
        connection.execute(sa.update(jobs).where(jobs.c.id == row.id).values(spec=spec))
    for job_id, spec in connection.execute(sa.select(job_specs.c.job_id, job_specs.c.spec)).all():
        spec = change(spec, rows[job_id])
        connection.execute(
            sa.update(job_specs).where(job_specs.c.job_id == job_id).values(spec=spec)
        )


def upgrade() -> None:
    _rewrite(lambda spec, _row: _without_facts(spec))


def downgrade() -> None:
    _rewrite(_with_facts)
