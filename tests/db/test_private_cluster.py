"""A PostgreSQL server of one's own: it serves on its own port (never the shared 5432), stops
and starts again with its data, and is gone after the block."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from db.private_cluster import private_cluster


@pytest.mark.postgres
def test_a_private_cluster_stops_starts_and_is_removed():
    with private_cluster() as cluster:
        assert cluster.port != 5432 and cluster.running()
        engine = create_engine(cluster.url, pool_pre_ping=True)
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE kept (value int)"))
            connection.execute(text("INSERT INTO kept VALUES (7)"))
        cluster.stop()
        assert not cluster.running()
        engine.dispose()
        with pytest.raises(OperationalError), engine.connect():
            pass
        cluster.start()
        with engine.connect() as connection:
            assert connection.execute(text("SELECT value FROM kept")).scalar_one() == 7
        engine.dispose()
        directory = cluster.directory
    assert not directory.exists()
