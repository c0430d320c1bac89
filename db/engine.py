"""Engines for the catalog: SQLite on one machine, PostgreSQL (psycopg 3) past one.

SQLite is tuned through connect-time listeners so that every connection, including the ones
Alembic and the tests open, behaves the same: WAL (readers never block the writer), a busy
timeout (writers queue instead of failing), foreign keys on, ``synchronous=NORMAL`` (in WAL
mode a crash of the process or the OS never corrupts the database and never loses a committed
transaction; only a power cut may lose the last few commits, whose audio files then show up
as orphans that ``jxdaq catalog verify --repair`` clears).

pysqlite's own implicit transactions are switched off and we emit BEGIN ourselves: ``BEGIN
IMMEDIATE`` on the catalog's write path (it takes the write lock up front, so a read-then-
write such as claiming a sample cannot be overtaken between its read and its write; this is
SQLite's answer to ``FOR UPDATE``), plain deferred ``BEGIN`` for reads.
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from db.records import CatalogUnreachable

if TYPE_CHECKING:
    from db.catalog import Catalog

#: Execution option that marks an engine/connection whose transactions write.
WRITE_OPTION = "jxdaq_write"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalize_url(url: str) -> str:
    """Accept ``postgres://`` / ``postgresql://`` and use psycopg 3 for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with the catalog's per-backend settings applied."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {}).setdefault("check_same_thread", False)
        engine = create_engine(url, **kwargs)
        _tune_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)
    raise ValueError(f"catalog URL {url!r}: only sqlite:// and postgresql:// are supported")


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # Two connections switching a new database to WAL at once can deadlock on the
        # exclusive lock; SQLite then fails one of them at once instead of calling the busy
        # handler, so the switch is retried like a contended BEGIN IMMEDIATE.
        _retry_while_locked(dbapi_connection, "PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA foreign_keys=ON")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        dbapi_connection = connection.connection.dbapi_connection
        if connection.get_execution_options().get(WRITE_OPTION, False):
            _begin_immediate(dbapi_connection)
        else:
            dbapi_connection.execute("BEGIN")


def _begin_immediate(dbapi_connection: Any) -> None:
    """Take the write lock, polling every millisecond or so while another writer holds it.

    SQLite's own busy handler backs off to 100 ms sleeps, which with several rig workers
    leaves the lock idle most of the time; short jittered polls keep it busy.
    """
    dbapi_connection.execute("PRAGMA busy_timeout=0")
    try:
        _retry_while_locked(dbapi_connection, "BEGIN IMMEDIATE")
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def _retry_while_locked(dbapi_connection: Any, statement: str) -> None:
    """Run ``statement``, retrying with short jittered sleeps while the database is locked.

    The overall wait is bounded by the busy timeout, after which the lock error propagates.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            dbapi_connection.execute(statement)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.0002, 0.002))


#: SQLite result codes (by name) that mean the catalog's own storage refuses to be written.
_SQLITE_REFUSALS = ("SQLITE_READONLY", "SQLITE_FULL", "SQLITE_IOERR", "SQLITE_CANTOPEN")
_SQLITE_CONTENTION = ("SQLITE_BUSY", "SQLITE_LOCKED")
#: PostgreSQL SQLSTATE classes and codes that mean the server cannot serve us for now:
#: connection exceptions (08), insufficient resources (53: disk full, too many connections),
#: operator intervention (57: shutdown, restart), a hot standby (25006: read-only).
_POSTGRES_OUTAGE = ("08", "53", "57", "25006")


def error_line(error: BaseException) -> str:
    """The first line of what the database said (no SQL, no parameters, no traceback)."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` says the catalog server is unreachable for now (it may come back);
    the same call is worth repeating later. A lost connection is one; a rejected row is not."""
    if isinstance(error, CatalogUnreachable):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate.startswith(_POSTGRES_OUTAGE)
    if isinstance(error.orig, sqlite3.Error):  # another writer held the lock too long
        return getattr(error.orig, "sqlite_errorname", "").startswith(_SQLITE_CONTENTION)
    # psycopg: a connection that failed or broke carries no SQLSTATE
    return isinstance(error, OperationalError | InterfaceError)


def storage_refusal(error: BaseException) -> str | None:
    """Why a local catalog's storage refuses writes (read-only, full, I/O error), else None."""
    if not isinstance(error, DBAPIError) or not isinstance(error.orig, sqlite3.Error):
        return None
    name = getattr(error.orig, "sqlite_errorname", "")
    return error_line(error) if name.startswith(_SQLITE_REFUSALS) else None


def writer(engine: Engine) -> Engine:
    """The same engine (same pool) whose transactions take the write lock up front."""
    return engine.execution_options(**{WRITE_OPTION: True})


def open_catalog(url: str, *, upgrade: bool = True) -> Catalog:
    """The catalog at ``url``, migrated to head if asked.

    Services call this on start so that a new release brings its schema with it. (The URL
    comes from ``daq.settings``; ``db`` depends on nothing of ours but the parameter table.)
    """
    from db.catalog import Catalog
    from db.migrate import upgrade as upgrade_to

    engine = make_engine(url)
    try:
        if upgrade:
            upgrade_to(engine)
        else:
            engine.connect().close()  # fail here, with the URL, not in the first query
    except (OperationalError, InterfaceError) as error:
        engine.dispose()
        where = make_url(normalize_url(url)).render_as_string(hide_password=True)
        cause = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise CatalogUnreachable(f"cannot open the catalog {where}: {cause}") from error
    return Catalog(engine)
