"""Initial catalog schema: rigs, jobs, samples, takes, calibrations, datasets, tokens, events.

The takes table gets one SMALLINT column per tone parameter (indexed on PostgreSQL): the 44
of ``firmware_protocol.parameters`` as they stood at this revision, frozen here as literals so
that editing that table can never rewrite what this revision creates (a migration is history).
A later change to the table needs a new revision; ``tests/db/test_migrate.py``
compares the migrated database with ``db.schema`` and fails until one is written.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Frozen at this revision (firmware_protocol.parameters then): the tone parameters' keys in
# APR order, their largest raw value and the length of an APR tone (the samples.tone bytes).
TONE_KEYS = (
    "dco1_range",
    "dco1_wf",
    "dco1_tune",
    "dco1_lfo",
    "dco1_env",
    "dco2_range",
    "dco2_wf",
    "dco_xmod",
    "dco2_tune",
    "dco2_ftune",
    "dco2_lfo",
    "dco2_env",
    "dco_dyna",
    "dco_env_mode",
    "mix_dco1",
    "mix_dco2",
    "mix_env",
    "mix_dyna",
    "mix_mode",
    "hpf_freq",
    "vcf_freq",
    "vcf_res",
    "vcf_lfo",
    "vcf_env",
    "vcf_key",
    "vcf_dyna",
    "vcf_mode",
    "vca_level",
    "vca_dyna",
    "chorus",
    "lfo_wf",
    "lfo_delay",
    "lfo_rate",
    "env1_attack",
    "env1_decay",
    "env1_sustain",
    "env1_release",
    "env1_key",
    "env2_attack",
    "env2_decay",
    "env2_sustain",
    "env2_release",
    "env2_key",
    "vca_mode",
)
MAX_VALUE = 127
APR_TONE_LENGTH = 59


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _state(name: str, enum_name: str, values: tuple[str, ...]) -> sa.Column:
    kind = sa.Enum(*values, name=enum_name, native_enum=False, create_constraint=True, length=16)
    return sa.Column(name, kind, nullable=False)


def _fk(column: str, table: str, ondelete: str | None = "CASCADE") -> sa.ForeignKeyConstraint:
    """Named by the metadata's naming convention, which Alembic passes on to ``op``."""
    return sa.ForeignKeyConstraint([column], [f"{table}.id"], ondelete=ondelete)


def _index(table: str, *columns: str, unique: bool = False) -> None:
    op.create_index(op.f(f"ix_{table}_{'_'.join(columns)}"), table, list(columns), unique=unique)


def upgrade() -> None:
    op.create_table(
        "rigs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("transport", sa.String(32), nullable=False),
        sa.Column("audio_device", sa.String(255)),
        sa.Column("latency_s", sa.Float()),
        _state("status", "rig_status", ("idle", "capturing", "calibrating", "faulted", "offline")),
        sa.Column("status_reason", sa.Text()),
        _time("last_heartbeat", nullable=True),
        sa.Column("config", JSON, nullable=False),
        _time("created_at"),
        _time("updated_at"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("spec", JSON, nullable=False),
        _state(
            "state",
            "job_state",
            ("queued", "running", "paused", "completed", "failed", "cancelled"),
        ),
        sa.Column("state_reason", sa.Text()),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("sample_count", sa.Integer(), nullable=False),
        sa.Column("next_index", sa.Integer(), nullable=False),
        sa.Column("captured_count", sa.Integer(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("rigs", JSON),
        sa.Column("created_by", sa.String(200)),
        _time("created_at"),
        _time("started_at", nullable=True),
        _time("finished_at", nullable=True),
        _time("updated_at"),
        sa.CheckConstraint("sample_count >= 0", name="sample_count"),
        sa.CheckConstraint("next_index <= sample_count", name="next_index"),
    )
    _index("jobs", "state", "priority")
    op.create_table(
        "samples",
        sa.Column("id", BIGID, primary_key=True),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("tone", sa.LargeBinary(APR_TONE_LENGTH)),
        sa.Column("notes", JSON),
        _state("state", "sample_state", ("pending", "claimed", "captured", "failed")),
        sa.Column("lease_owner_id", sa.Integer()),
        _time("lease_expires_at", nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
        _time("updated_at"),
        _fk("job_id", "jobs"),
        _fk("lease_owner_id", "rigs", ondelete=None),
        sa.UniqueConstraint("job_id", "index"),
    )
    _index("samples", "job_id", "state", "lease_expires_at")
    _index("samples", "state", "lease_expires_at")
    parameter_columns = [
        sa.Column(
            f"p_{key}",
            sa.SmallInteger(),
            sa.CheckConstraint(f"p_{key} BETWEEN 0 AND {MAX_VALUE}", name=f"range_{key}"),
            nullable=False,
        )
        for key in TONE_KEYS
    ]
    op.create_table(
        "takes",
        sa.Column("id", BIGID, primary_key=True),
        sa.Column("sample_id", BIGID, nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("rig_id", sa.Integer(), nullable=False),
        sa.Column("audio_key", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("sample_rate", sa.Integer(), nullable=False),
        sa.Column("channels", sa.SmallInteger(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("onset_latency_s", sa.Float()),
        sa.Column("peak", sa.Float()),
        sa.Column("rms", sa.Float()),
        _state("qc_verdict", "qc_verdict", ("pass", "warn", "fail")),
        sa.Column("qc_reasons", JSON, nullable=False),
        sa.Column("software_version", sa.String(64), nullable=False),
        sa.Column("firmware_version", sa.String(64)),
        _time("captured_at"),
        _time("recorded_at"),
        _time("broken_at", nullable=True),
        sa.Column("broken_reason", sa.Text()),
        *parameter_columns,
        _fk("sample_id", "samples"),
        _fk("job_id", "jobs"),
        _fk("rig_id", "rigs", ondelete=None),
    )
    for columns in (("job_id", "id"), ("rig_id", "id"), ("qc_verdict", "id")):
        _index("takes", *columns)
    for column in ("recorded_at", "sha256", "sample_id"):
        _index("takes", column)
    if op.get_bind().dialect.name == "postgresql":  # see db.schema: parameter indexes
        for key in TONE_KEYS:
            _index("takes", f"p_{key}")
    op.create_table(
        "calibrations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("rig_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("value", sa.Float()),
        sa.Column("result", JSON, nullable=False),
        _time("created_at"),
        _fk("rig_id", "rigs"),
    )
    _index("calibrations", "rig_id", "kind", "created_at")
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("query", JSON, nullable=False),
        sa.Column("max_take_id", sa.BigInteger(), nullable=False),
        sa.Column("splits", JSON, nullable=False),
        sa.Column("created_by", sa.String(200)),
        _time("created_at"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        _state("role", "role", ("admin", "operator", "trainer", "rig")),
        _time("created_at"),
        _time("last_used_at", nullable=True),
        _time("revoked_at", nullable=True),
    )
    op.create_table(
        "events",
        sa.Column("id", BIGID, primary_key=True),
        _time("at"),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("job_id", sa.Integer()),
        sa.Column("rig_id", sa.Integer()),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", JSON),
        _fk("job_id", "jobs"),
        _fk("rig_id", "rigs"),
    )
    _index("events", "job_id", "id")
    _index("events", "rig_id", "id")


def downgrade() -> None:
    tables = ("events", "api_tokens", "datasets", "calibrations", "takes", "samples", "jobs", "rigs")
    for table in tables:
        op.drop_table(table)
