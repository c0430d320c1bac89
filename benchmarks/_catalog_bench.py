"""Shared by the catalog benchmarks: a throw-away catalog on each backend."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from db.catalog import Catalog
from db.engine import make_engine
from db.migrate import upgrade

PG_URL = os.environ.get("JXDAQ_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def postgres_catalog() -> Iterator[Catalog]:
    """A migrated catalog in a fresh PostgreSQL schema, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin_url = PG_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        engine = make_engine(f"{PG_URL}?options=-csearch_path%3D{schema}")
        try:
            upgrade(engine)
            yield Catalog(engine)
        finally:
            engine.dispose()
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextmanager
def sqlite_catalog() -> Iterator[Catalog]:
    with tempfile.TemporaryDirectory() as directory:
        engine = make_engine(f"sqlite:///{Path(directory) / 'catalog.db'}")
        try:
            upgrade(engine)
            yield Catalog(engine)
        finally:
            engine.dispose()
