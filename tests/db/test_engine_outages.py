"""How catalog errors are told apart (db.engine): an outage is worth waiting out, a storage
refusal faults the rig, anything else belongs to the row at hand. Real errors, real engines."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import text

from db.engine import error_line, is_outage, make_engine, storage_refusal


def error_of(engine, statement: str) -> Exception:
    with pytest.raises(Exception) as caught, engine.begin() as connection:
        connection.execute(text(statement))
    return caught.value


def test_a_server_that_is_not_there_is_an_outage():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/test")
    error = error_of(engine, "SELECT 1")
    assert is_outage(error) and storage_refusal(error) is None
    assert "\n" not in error_line(error)


def test_a_read_only_sqlite_catalog_is_a_storage_refusal(tmp_path):
    writable = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    with writable.begin() as connection:
        connection.execute(text("CREATE TABLE t (a INTEGER CHECK (a < 10))"))
    writable.dispose()
    read_only = make_engine(f"sqlite:///file:{tmp_path / 'c.db'}?mode=ro&uri=true")
    error = error_of(read_only, "INSERT INTO t VALUES (1)")
    assert storage_refusal(error) == "attempt to write a readonly database"
    assert not is_outage(error)


def test_a_rejected_row_is_neither(catalog_url):
    engine = make_engine(catalog_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (a INTEGER CHECK (a < 10))"))
    error = error_of(engine, "INSERT INTO t VALUES (128)")
    assert not is_outage(error) and storage_refusal(error) is None
    assert "check" in error_line(error).lower()
    engine.dispose()
