"""The application's own wiring: the thread pools its settings size."""

from __future__ import annotations

from pathlib import Path

from anyio import to_thread
from fastapi.testclient import TestClient

from daq.api.app import create_app
from daq.settings import Settings
from db.engine import open_catalog
from db.store import AudioStore


def test_the_server_answers_blocking_work_on_the_threads_its_settings_name(tmp_path: Path):
    catalog = open_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    settings = Settings(var_dir=tmp_path, api_threads=3, api_build_threads=2)
    app = create_app(settings, catalog=catalog, store=AudioStore(tmp_path / "audio"))
    try:
        with TestClient(app) as client:
            tokens = client.portal.call(
                lambda: to_thread.current_default_thread_limiter().total_tokens
            )
            assert tokens == 3
            assert app.state.builds.total_tokens == 2
            assert client.get("/health").status_code == 200
    finally:
        catalog.close()
