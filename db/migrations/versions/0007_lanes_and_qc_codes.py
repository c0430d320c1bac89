"""Lanes and QC codes: ``takes.lane`` and ``samples.last_error_code``.

A rig may capture on several boards at once (a Super JX's two, or N single-board synths on
one audio interface); each take records its lane (1-based). Takes made before are lane 1,
the only board their rig had.

A failed attempt stores the kind of its failure (``silent``, ``clipping``, ...: QcCode in
db.schema) beside its reason, so readers ask for a kind instead of matching words. Failures
recorded before get the kind their reason's first word gives.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

samples = sa.table(
    "samples", sa.column("last_error", sa.Text()), sa.column("last_error_code", sa.String(32))
)
#: How reasons written before this revision begin, by the kind they name (frozen here).
OLD_REASONS = {
    "silent": "silent:%",
    "clipping": "clipping:%",
    "early_sound": "sound before the note-on%",
    "input_problem": "audio input reported%",
    "capture_failed": "capture failed:%",
}


def upgrade() -> None:
    op.add_column(
        "takes", sa.Column("lane", sa.SmallInteger(), nullable=False, server_default="1")
    )
    op.add_column("samples", sa.Column("last_error_code", sa.String(32), nullable=True))
    for code, pattern in OLD_REASONS.items():
        op.execute(
            sa.update(samples)
            .where(samples.c.last_error.like(pattern))
            .values(last_error_code=code)
        )


def downgrade() -> None:
    op.drop_column("samples", "last_error_code")
    op.drop_column("takes", "lane")
