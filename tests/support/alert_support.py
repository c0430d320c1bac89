"""Real alert receivers for tests: an HTTP server on loopback that records the webhooks it is
sent (and can fail or hold them), and an SMTP server (aiosmtpd) that requires STARTTLS with
a self-signed certificate made here."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from daq.alerts.alerter import Alerter
from daq.settings import Alerts
from db.store import AudioStore


class WebhookReceiver:
    """Records each POST as (headers, raw body). ``fail_first`` answers 500 that many times;
    while ``hold`` is clear, every request waits for it (a receiver that hangs)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.requests: list[tuple[Any, bytes]] = []  # (headers: any case, body)
        self.attempts = 0
        self.fail_first = fail_first
        self.hold = threading.Event()
        self.hold.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.attempts += 1
                receiver.hold.wait(60)
                if receiver.attempts <= receiver.fail_first:
                    self.send_response(500)
                else:
                    receiver.requests.append((self.headers, body))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.requests]

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA: (certificate, key) PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jx-daq test SMTP")])
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.tls: list[bool] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        self.tls.append(session.ssl is not None)
        return "250 OK"


@contextmanager
def smtp_server(folder: Path) -> Iterator[tuple[_Mailbox, int, Path]]:
    """An SMTP server on loopback that refuses mail before STARTTLS: (mailbox, port, CA file)."""
    cert_file, key_file = self_signed(folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    mailbox = _Mailbox()
    port = free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
    )
    controller.start()
    try:
        yield mailbox, port, cert_file
    finally:
        controller.stop()


#: The secret the tests sign webhooks with.
SECRET = "s3cret"


def alerter(catalog, tmp_path, waits: list[float] | None = None, **settings) -> Alerter:
    """An alerter whose disk floor is 0 (the test's disks are never 'full') and whose waits
    between retries are recorded instead of slept."""
    made = Alerter(catalog, AudioStore(tmp_path / "audio"), Alerts(**settings), floor_mb=0)
    made.stop.wait = lambda seconds: waits.append(seconds) if waits is not None else None
    return made


def hook(url: str, secret: str = SECRET) -> dict:
    return {"name": "ops", "url": url, "secret": secret}
