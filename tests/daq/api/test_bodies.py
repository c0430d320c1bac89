"""The body gate over a real socket (``jxdaq serve``): a body is neither read before its caller
is authorized nor beyond the cap (``JXDAQ_MAX_BODY_BYTES``).

Each request sends its head and only part of what it announces, then waits: an answer that
comes proves the server decided without reading the rest (a server that read the body first
would wait for bytes that never come, and the test times out).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import JOBS, LIST_SPEC, free_port, serve, wait_healthy
from device_support import interrupt

from db.engine import open_catalog

pytestmark = pytest.mark.timeout(120)
LIMIT = 1 << 20
ANNOUNCED = 300 * 10**6
SENT = 32 * 1024
ANSWER_WITHIN_S = 5.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    """A server capped at LIMIT bytes, and an admin token's secret."""
    var_dir: Path = tmp_path_factory.mktemp("bodies")
    catalog = open_catalog(f"sqlite:///{var_dir / 'catalog.db'}")
    _, secret = catalog.create_token("root", "admin")
    catalog.close()
    port = free_port()
    process = serve(var_dir, "127.0.0.1", port, JXDAQ_MAX_BODY_BYTES=str(LIMIT))
    try:
        wait_healthy(process, port)
        yield port, secret
    finally:
        interrupt(process)


def exchange(port: int, head: dict[str, str], body: bytes) -> tuple[int, str, float]:
    """Send a POST's head and ``body`` (part of what the head announces), then read the answer:
    (status, answer text, seconds from the last byte sent to the whole answer)."""
    lines = [f"POST {JOBS} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in head.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WITHIN_S) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        sent = time.monotonic()
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer and _complete(answer):
                    break
        except TimeoutError:
            pytest.fail(f"no answer within {ANSWER_WITHIN_S} s: the server waits for the body")
        elapsed = time.monotonic() - sent
    head_text, _, text = answer.decode("latin-1").partition("\r\n\r\n")
    return int(head_text.split()[1]), head_text + "\n" + text, elapsed


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_an_unauthenticated_body_is_refused_unread(server):
    port, _ = server
    code, text, elapsed = exchange(port, {"Content-Length": str(ANNOUNCED)}, b"x" * SENT)
    assert code == 401 and "bearer token" in text, text
    assert "connection: close" in text.lower()
    assert elapsed < ANSWER_WITHIN_S


def test_an_unknown_token_is_refused_unread(server):
    port, _ = server
    head = {"Content-Length": str(ANNOUNCED), **bearer("jxd_nope")}
    code, text, _ = exchange(port, head, b"x" * SENT)
    assert code == 401 and "unknown or revoked" in text, text


def test_an_unauthenticated_chunked_body_is_refused_unread(server):
    port, _ = server
    code, _, _ = exchange(port, {"Transfer-Encoding": "chunked"}, chunked(b"x" * SENT))
    assert code == 401


def test_an_announced_body_over_the_cap_is_413_naming_the_limit_unread(server):
    port, secret = server
    head = {"Content-Length": str(ANNOUNCED), **bearer(secret)}
    code, text, _ = exchange(port, head, b"x" * SENT)
    assert code == 413, text
    assert f"limit of {LIMIT} bytes" in text and "JXDAQ_MAX_BODY_BYTES" in text


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_cap(server):
    """The body never ends (no last chunk): the 413 comes from counting it as it streams."""
    port, secret = server
    body = b"".join(chunked(b"x" * 65536) for _ in range(LIMIT // 65536)) + chunked(b"x")
    code, text, _ = exchange(port, {"Transfer-Encoding": "chunked", **bearer(secret)}, body)
    assert code == 413 and f"limit of {LIMIT} bytes" in text, text


def test_a_body_up_to_the_cap_is_read(server):
    port, secret = server
    spec = json.dumps({**LIST_SPEC, "name": "padded"}).encode()
    body = spec + b" " * (LIMIT - len(spec))
    head = {"Content-Length": str(len(body)), **bearer(secret)}
    code, text, _ = exchange(port, head, body)
    assert code == 201, text
