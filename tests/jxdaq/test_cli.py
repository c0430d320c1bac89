"""`jxdaq` (jxdaq.cli): a catalog that cannot be reached is one line on stderr from every
command that opens it, naming the catalog (password hidden) and the cause; never a driver
traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

COMMANDS = [
    ["job", "list"],
    ["dataset", "list"],
    ["token", "list"],
    ["rig", "list"],
    ["serve", "--port", "8999"],  # fails before it binds
    ["worker", "--rig", "emulated"],
]


@pytest.fixture(scope="module")
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_an_unreachable_catalog_is_one_line(command, closed_port, tmp_path):
    url = f"postgresql+psycopg://lab:s3cret@127.0.0.1:{closed_port}/catalog"
    env = {
        **os.environ,
        "JXDAQ_CATALOG_URL": url,
        "JXDAQ_VAR_DIR": str(tmp_path),
        "JXDAQ_API_URL": "",
    }
    result = subprocess.run(
        [sys.executable, "-m", "jxdaq", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    where = f"postgresql+psycopg://lab:***@127.0.0.1:{closed_port}/catalog"
    assert lines[0].startswith(f"error: cannot open the catalog {where}: "), lines[0]
    assert "refused" in lines[0].lower()
    assert "s3cret" not in result.stderr
