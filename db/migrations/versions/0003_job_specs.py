"""Jobs hold their banks: the whole spec moves to ``job_specs``, banks as their bytes.

A job's spec named its ``.syx`` banks by path, and every worker read them when it met the
job: a file replaced after submit changed the tones, a deleted or relative one stopped every
worker. Now a spec holds each bank as ``{name, base64}`` of its bytes. This revision reads
the banks that the catalog's jobs name, once, and stores them so; a job whose bank cannot be
read and that is not over is failed, naming the bank, as its workers would have failed.

The spec (with its banks, and lists of up to 10,000 tones) is kept in ``job_specs``; the
``jobs`` row, which every claim updates and every list reads, keeps a summary: a bank as
its name, sha256 and tone count, a list of more than 16 tones or sweep values as its
length. Downgrading puts the whole spec (banks as bytes) back into ``jobs.spec``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from firmware_protocol.sysex import SysExError, parse_syx
from firmware_protocol.tone import Tone

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
#: The largest bank read, as at this revision.
MAX_SYX_BYTES = 64 * 1024
SUMMARY_ITEMS = 16
FINAL_STATES = ("completed", "failed", "cancelled")

jobs = sa.table(
    "jobs",
    sa.column("id", sa.Integer()),
    sa.column("spec", JSON),
    sa.column("state", sa.String(16)),
    sa.column("state_reason", sa.Text()),
    sa.column("finished_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
job_specs = sa.table("job_specs", sa.column("job_id", sa.Integer()), sa.column("spec", JSON))


class _Unreadable(Exception):
    pass


def _bank(path: object) -> dict[str, Any]:
    """A bank path as ``{name, base64}``, or _Unreadable saying why."""
    if not isinstance(path, str):
        return path  # type: ignore[return-value]  (already held as bytes)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SYX_BYTES:
            raise _Unreadable(f"bank {path}: not a regular file of at most {MAX_SYX_BYTES} bytes")
        with open(path, "rb") as file:
            data = file.read(MAX_SYX_BYTES + 1)
        parse_syx(data, path)
    except OSError as error:
        raise _Unreadable(f"bank {path}: {error.strerror or error}") from None
    except SysExError as error:
        raise _Unreadable(str(error)) from None
    return {"name": os.path.basename(path), "base64": base64.b64encode(data).decode("ascii")}


def _held(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with its bank paths replaced by the banks' bytes."""
    spec = dict(spec)
    base, source = spec.get("base"), spec.get("source")
    if isinstance(base, dict) and base.get("bank") is not None:
        spec["base"] = {**base, "bank": _bank(base["bank"])}
    if isinstance(source, dict) and isinstance(source.get("banks"), list):
        spec["source"] = {**source, "banks": [_bank(b) for b in source["banks"]]}
    return spec


def _bank_summary(bank: Any) -> Any:
    if not isinstance(bank, dict) or "base64" not in bank:
        return bank
    data = base64.b64decode(bank["base64"])
    tones = [e for e in parse_syx(data).entries if isinstance(e.item, Tone)]
    sha256 = hashlib.sha256(data).hexdigest()
    return {"name": bank.get("name"), "sha256": sha256, "tone_count": len(tones)}


def _summary(spec: dict[str, Any]) -> dict[str, Any]:
    spec = dict(spec)
    base, source = spec.get("base"), spec.get("source")
    if isinstance(base, dict) and base.get("bank") is not None:
        spec["base"] = {**base, "bank": _bank_summary(base["bank"])}
    if isinstance(source, dict):
        source = spec["source"] = dict(source)
        if isinstance(source.get("banks"), list):
            source["banks"] = [_bank_summary(b) for b in source["banks"]]
        for key, unit in (("tones", "tones"), ("values", "values")):
            if isinstance(source.get(key), list) and len(source[key]) > SUMMARY_ITEMS:
                source[key] = f"{len(source[key])} {unit}"
    return spec


def upgrade() -> None:
    op.create_table(
        "job_specs",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("spec", JSON, nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id"),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(jobs.c.id, jobs.c.spec, jobs.c.state)).all()
    now = datetime.now(UTC)
    if connection.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    for job_id, spec, state in rows:
        changes: dict[str, Any] = {}
        try:
            spec = _held(spec)
            changes["spec"] = _summary(spec)
        except _Unreadable as error:
            if state not in FINAL_STATES:
                reason = f"its bank could not be read when jobs came to hold banks: {error}"
                changes = {"state": "failed", "state_reason": reason, "finished_at": now}
        connection.execute(sa.insert(job_specs).values(job_id=job_id, spec=spec))
        if changes:
            changes["updated_at"] = now
            connection.execute(sa.update(jobs).where(jobs.c.id == job_id).values(**changes))


def downgrade() -> None:
    connection = op.get_bind()
    for job_id, spec in connection.execute(sa.select(job_specs.c.job_id, job_specs.c.spec)):
        connection.execute(sa.update(jobs).where(jobs.c.id == job_id).values(spec=spec))
    op.drop_table("job_specs")
