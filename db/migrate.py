"""Schema migrations, driven from code: ``upgrade``, ``downgrade``, ``current``.

The Alembic configuration is built here rather than read from an ``alembic.ini``, so the
migrations work the same from a checkout and from an installed wheel (the scripts ship as
package data of :mod:`db.migrations`). Each run holds the database's write lock (SQLite
``BEGIN IMMEDIATE``, a PostgreSQL advisory lock), so services starting together upgrade once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from db.engine import writer

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: Arbitrary constant naming the advisory lock that serialises concurrent upgrades.
_PG_MIGRATION_LOCK = 0x4A58_4441_51


def include_object_for(dialect_name: str) -> Callable[..., bool]:
    """Alembic ``include_object`` hook: skip schema items ``ddl_if``-ed to another dialect."""

    def include(item: Any, _name: Any, _kind: Any, _reflected: Any, _compare_to: Any) -> bool:
        condition = getattr(item, "_ddl_if", None)
        return condition is None or condition.dialect in (None, dialect_name)

    return include


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = script_directory().get_current_head()
    if head is None:
        raise RuntimeError(f"no migration revisions found in {MIGRATIONS_DIR}")
    return head


def revisions_oldest_first() -> list[str]:
    """Every revision id, from the first to the head."""
    return [r.revision for r in reversed(list(script_directory().walk_revisions()))]


def _run(engine: Engine, action: str, revision: str) -> None:
    config = alembic_config()
    with writer(engine).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
            )
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the catalog's schema up to ``revision`` (creating it in an empty database)."""
    _run(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to ``revision`` (``"base"``: drop everything)."""
    _run(engine, "downgrade", revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; ``None`` for a database never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
