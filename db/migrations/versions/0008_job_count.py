"""``jobs.sample_count`` becomes ``jobs.count``: the word the API, the CLI and the README use.

Its check follows (``ck_jobs_sample_count`` -> ``ck_jobs_count``); every row keeps its value.
Both databases rename the column in place and rewrite the checks that mention it. A check's
name is renamed in place too: PostgreSQL has ``RENAME CONSTRAINT``; SQLite has no statement
for it, and rebuilding ``jobs`` (Alembic's batch mode) would cascade-delete every job's
samples and takes (foreign keys are on, and cannot be turned off inside the migration's
transaction), so the name is edited in the table's stored SQL, as sqlite.org's "other kinds
of table schema changes" procedure allows for a check that the data satisfy already.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _rename_check(old: str, new: str) -> None:
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        op.execute(f"ALTER TABLE jobs RENAME CONSTRAINT {old} TO {new}")
        return
    version = connection.execute(sa.text("PRAGMA schema_version")).scalar_one()
    connection.execute(sa.text("PRAGMA writable_schema=ON"))
    connection.execute(
        sa.text(
            "UPDATE sqlite_schema SET sql = replace(sql, :old, :new)"
            " WHERE type = 'table' AND name = 'jobs'"
        ),
        {"old": f"CONSTRAINT {old} ", "new": f"CONSTRAINT {new} "},
    )
    connection.execute(sa.text(f"PRAGMA schema_version={version + 1}"))
    connection.execute(sa.text("PRAGMA writable_schema=OFF"))


def _rename(old: str, new: str) -> None:
    op.alter_column("jobs", old, new_column_name=new)
    _rename_check(f"ck_jobs_{old}", f"ck_jobs_{new}")


def upgrade() -> None:
    _rename("sample_count", "count")


def downgrade() -> None:
    _rename("count", "sample_count")
