"""Lanes: ``takes.lane``, which board of its rig made a take.

A rig may capture on several boards at once (a Super JX's two, or N single-board synths on
one audio interface); each take records its lane (1-based). Takes made before are lane 1,
the only board their rig had.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("takes", sa.Column("lane", sa.SmallInteger(), nullable=False, server_default="1"))


def downgrade() -> None:
    op.drop_column("takes", "lane")
