"""A live API server for tests that need real HTTP: the app served by uvicorn on a loopback
socket in a thread of the test process, over a SQLite catalog and a store under ``root``."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import uvicorn

from daq.api.app import create_app
from daq.settings import Settings
from db.engine import open_catalog
from db.store import AudioStore


class Server:
    """The API app served by uvicorn on 127.0.0.1:<free port>, in a thread."""

    def __init__(self, root: Path) -> None:
        self.catalog_url = f"sqlite:///{root / 'server.db'}"
        self.catalog = open_catalog(self.catalog_url)
        self.store = AudioStore(root / "server-audio")
        app = create_app(
            Settings(var_dir=root / "server-var"), catalog=self.catalog, store=self.store
        )
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            assert time.monotonic() < deadline, "the API server did not start"
            time.sleep(0.02)

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()
        self.catalog.close()
