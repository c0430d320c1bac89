"""``jxdaq serve`` as a real process (uvicorn on a real port) and ``jxdaq token``."""

from __future__ import annotations

import time

import httpx
import pytest
from api_support import free_port, serve, wait_healthy
from device_support import interrupt
from typer.testing import CliRunner

from db.engine import open_catalog
from jxdaq.cli import app as cli
from jxdaq.commands.serve import is_loopback

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.5", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("::ffff:127.0.0.1", True), ("[::ffff:7f00:1]", True),
     ("0.0.0.0", False), ("::", False), ("[::]", False), ("192.168.1.4", False),
     ("::ffff:192.168.1.4", False), ("[fe80::1]", False), ("jx-lab", False), ("[jx-lab]", False)],
)  # fmt: skip
def test_only_loopback_addresses_count_as_loopback(host, loopback):
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_an_ipv6_loopback_literal_serves_with_or_without_brackets(tmp_path, host):
    port = free_port()
    process = serve(tmp_path, host, port)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()
            try:
                answer = httpx.get(f"http://[::1]:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not answer on [::1]"
                time.sleep(0.2)
        assert answer.json() == {"status": "ok"}
    finally:
        interrupt(process)


def test_serving_beyond_loopback_without_tokens_is_refused_and_binds_nothing(tmp_path):
    port = free_port()
    process = serve(tmp_path, "0.0.0.0", port)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert err.strip().startswith("error: refusing to serve on 0.0.0.0:")
    assert "jxdaq token create --role admin" in err and "Traceback" not in err + out
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)


def test_with_a_token_it_serves_everywhere_upgrades_the_catalog_and_guards_routes(tmp_path):
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    catalog = open_catalog(url)  # the server must find (and keep) this catalog
    _, secret = catalog.create_token("root", "admin")
    catalog.close()
    port = free_port()
    process = serve(tmp_path, "0.0.0.0", port)
    try:
        assert wait_healthy(process, port).json()["status"] == "ok"
        base = f"http://127.0.0.1:{port}/api/v1/jobs"
        assert httpx.get(base, timeout=5).status_code == 401
        answer = httpx.get(base, headers={"Authorization": f"Bearer {secret}"}, timeout=5)
        assert answer.status_code == 200 and answer.json()["items"] == []
    finally:
        interrupt(process)


def test_loopback_serves_without_tokens_on_a_fresh_catalog(tmp_path):
    port = free_port()
    process = serve(tmp_path / "fresh", "127.0.0.1", port)
    try:
        assert wait_healthy(process, port).status_code == 200
        assert (tmp_path / "fresh" / "catalog.db").is_file()  # created and upgraded on start
    finally:
        interrupt(process)


def test_token_commands_create_list_and_revoke(tmp_path):
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    runner = CliRunner()
    made = runner.invoke(
        cli, ["token", "create", "--role", "operator", "--name", "ci", "--url", url]
    )
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("jxd_")
    catalog = open_catalog(url)
    try:
        assert catalog.authenticate(secret).name == "ci"
    finally:
        catalog.close()
    listed = runner.invoke(cli, ["token", "list", "--url", url])
    assert listed.exit_code == 0 and "operator" in listed.stdout and "ci" in listed.stdout
    assert secret not in listed.stdout
    revoked = runner.invoke(cli, ["token", "revoke", "1", "--url", url])
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    missing = runner.invoke(cli, ["token", "revoke", "99", "--url", url])
    assert missing.exit_code == 1 and "token 99 does not exist" in missing.output
    bad = runner.invoke(cli, ["token", "create", "--role", "root", "--name", "x", "--url", url])
    assert bad.exit_code == 1 and "allowed: admin, operator, trainer, rig" in bad.output
