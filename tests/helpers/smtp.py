"""Real mail servers (aiosmtpd) and a local HTTPS SMS gateway on 127.0.0.1 for tests.

Registered for every test in ``tests/conftest.py``. Each server listens on a free port of its
own and keeps what it received in ``received``, so a test can read the code out of the mail:

    def test_x(smtp_starttls_server): ...
        mail = smtp_starttls_server.received[0]
        code = extract_code(mail.text)

Fixtures: ``smtp_plain_server`` (no TLS at all), ``smtp_no_starttls_server`` (the same: it does
not offer STARTTLS), ``smtp_starttls_server`` and ``smtp_tls_server`` (certificate from a test CA;
``server.client_context`` trusts that CA), ``smtp_self_signed_server`` (STARTTLS with a
self-signed certificate nobody trusts), ``smtp_auth_server`` (STARTTLS, AUTH required;
``server.username`` / ``server.password``), ``smtp_hanging_server`` (accepts TCP, never answers),
``closed_port`` (nothing listens there), ``sms_gateway`` (HTTPS, checks the bearer token).
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import json
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServerProtocol
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pmdesk.core.delivery.base import DeliverySettings, SmtpSecurity

LOOPBACK = "127.0.0.1"
SENDER = "security@workshop.example"
SMTP_USERNAME = "mailer"
SMTP_PASSWORD = "correct horse battery staple"  # a test value, not a real secret
SMS_TOKEN = "test-gateway-token-7f3a"


def extract_code(text: str) -> str:
    """The 6-digit security code in a message text (e-mail body or SMS)."""
    match = re.search(r"^\s+([0-9]{6})\s*$", text, re.MULTILINE) or re.search(
        r"code:?\s*([0-9]{6})\b", text
    )
    if match is None:
        raise AssertionError(f"no security code in the message:\n{text}")
    return match.group(1)


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    secure: bool  # the message came over TLS

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None, "the mail has no text/plain part"
        content = part.get_content()
        assert isinstance(content, str)
        return content

    @property
    def code(self) -> str:
        return extract_code(self.text)


@dataclass
class SmtpServer:
    host: str
    port: int
    received: list[ReceivedMail] = field(default_factory=list)
    client_context: ssl.SSLContext | None = None
    username: str = ""
    password: str = ""
    refused_recipients: set[str] = field(default_factory=set)  # RCPT answered 550
    reject_data_quoting_code: bool = False  # DATA answered 554, quoting the code

    def settings(self, security: SmtpSecurity, *, username: str = "") -> DeliverySettings:
        return DeliverySettings(
            method="smtp",
            smtp_host=self.host,
            smtp_port=self.port,
            smtp_security=security,
            smtp_username=username,
            smtp_from=SENDER,
        )


class _Recorder:
    """aiosmtpd handler: keeps every accepted message, refuses what the test asks it to."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self,
        server: SMTPServerProtocol,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.server.refused_recipients:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(
        self, server: SMTPServerProtocol, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        if self.server.reject_data_quoting_code:
            # Like a content filter that quotes what it disliked.
            quoted = re.search(rb"^\s+([0-9]{6})\s*$", raw, re.MULTILINE)
            return "554 5.7.1 Refused, suspicious content: " + (
                quoted.group(1).decode() if quoted else "?"
            )
        self.server.received.append(
            ReceivedMail(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                raw=raw,
                secure=session.ssl is not None or _over_tls(server),
            )
        )
        return "250 Message accepted"


def _over_tls(server: SMTPServerProtocol) -> bool:
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


class _BoundController(Controller):
    """A Controller serving on a socket we bound ourselves (port 0: no race for a port)."""

    def __init__(self, handler: object, sock: socket.socket, **kwargs: Any) -> None:
        self._sock = sock
        super().__init__(
            handler,
            hostname=LOOPBACK,
            port=sock.getsockname()[1],
            server_hostname="mail.test",
            **kwargs,
        )

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOOPBACK, 0))
    sock.listen(16)
    return sock


@pytest.fixture
def _run_smtp() -> Iterator[Any]:
    """Starts aiosmtpd servers for a test and stops them afterwards."""
    controllers: list[Controller] = []

    def start(**kwargs: Any) -> SmtpServer:
        sock = _listening_socket()
        server = SmtpServer(host=LOOPBACK, port=sock.getsockname()[1])
        controller = _BoundController(_Recorder(server), sock, **kwargs)
        controller.start()
        controllers.append(controller)
        return server

    yield start
    for controller in controllers:
        controller.stop()


# --- certificates -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def test_ca() -> trustme.CA:
    return trustme.CA(organization_name="pmdesk test CA")


@pytest.fixture(scope="session")
def test_server_context(test_ca: trustme.CA) -> ssl.SSLContext:
    """A server-side context with a certificate for 127.0.0.1 and localhost from test_ca."""
    cert = test_ca.issue_cert(LOOPBACK, "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


@pytest.fixture(scope="session")
def test_client_context(test_ca: trustme.CA) -> ssl.SSLContext:
    """The system's default client context, plus trust in test_ca (hostname checks stay on)."""
    context = ssl.create_default_context()
    test_ca.configure_trust(context)
    return context


@pytest.fixture(scope="session")
def self_signed_context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server context whose certificate for 127.0.0.1 is signed by its own key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-signed mail server")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(LOOPBACK)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder: Path = tmp_path_factory.mktemp("self-signed")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


# --- mail servers -----------------------------------------------------------------------


@pytest.fixture
def smtp_plain_server(_run_smtp: Any) -> SmtpServer:
    """No TLS at all (STARTTLS is not offered)."""
    server: SmtpServer = _run_smtp()
    return server


@pytest.fixture
def smtp_no_starttls_server(_run_smtp: Any) -> SmtpServer:
    """A server that does not offer STARTTLS (but would take mail in plaintext)."""
    server: SmtpServer = _run_smtp()
    return server


@pytest.fixture
def smtp_starttls_server(
    _run_smtp: Any, test_server_context: ssl.SSLContext, test_client_context: ssl.SSLContext
) -> SmtpServer:
    """STARTTLS required before MAIL; certificate from the test CA."""
    server: SmtpServer = _run_smtp(tls_context=test_server_context, require_starttls=True)
    server.client_context = test_client_context
    return server


@pytest.fixture
def smtp_tls_server(
    _run_smtp: Any, test_server_context: ssl.SSLContext, test_client_context: ssl.SSLContext
) -> SmtpServer:
    """Implicit TLS (as on port 465); certificate from the test CA."""
    server: SmtpServer = _run_smtp(ssl_context=test_server_context)
    server.client_context = test_client_context
    return server


@pytest.fixture
def smtp_self_signed_server(
    _run_smtp: Any, self_signed_context: ssl.SSLContext, test_client_context: ssl.SSLContext
) -> SmtpServer:
    """STARTTLS with a self-signed certificate; ``client_context`` (the test CA) rejects it."""
    server: SmtpServer = _run_smtp(tls_context=self_signed_context, require_starttls=True)
    server.client_context = test_client_context
    return server


def _authenticator(
    server: SMTPServerProtocol,
    session: Session,
    envelope: Envelope,
    mechanism: str,
    auth_data: object,
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USERNAME.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    # handled=False: aiosmtpd then answers 535 itself (True would leave the client waiting).
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_auth_server(
    _run_smtp: Any, test_server_context: ssl.SSLContext, test_client_context: ssl.SSLContext
) -> SmtpServer:
    """STARTTLS, then AUTH (LOGIN/PLAIN) with ``username``/``password`` before any mail."""
    server: SmtpServer = _run_smtp(
        tls_context=test_server_context,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=_authenticator,
    )
    server.client_context = test_client_context
    server.username = SMTP_USERNAME
    server.password = SMTP_PASSWORD
    return server


@pytest.fixture
def smtp_hanging_server() -> Iterator[SmtpServer]:
    """Completes the TCP handshake (the kernel does, from the backlog) and never says a word."""
    sock = _listening_socket()
    try:
        yield SmtpServer(host=LOOPBACK, port=sock.getsockname()[1])
    finally:
        sock.close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port where nothing listens: connecting is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOOPBACK, 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


# --- SMS gateway ------------------------------------------------------------------------


@dataclass(frozen=True)
class SmsRequest:
    path: str
    authorization: str
    content_type: str
    body: dict[str, Any]


@dataclass
class SmsGateway:
    url: str
    token: str
    client_context: ssl.SSLContext
    received: list[SmsRequest] = field(default_factory=list)
    status: int = 200  # what the gateway answers to a well-formed, authorised request


def _gateway_handler(gateway: SmsGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            authorization = self.headers.get("Authorization") or ""
            if authorization != f"Bearer {gateway.token}":
                self._answer(401, {"error": "bad token"})
                return
            try:
                body = json.loads(raw)
            except ValueError:
                self._answer(400, {"error": "not JSON"})
                return
            gateway.received.append(
                SmsRequest(
                    path=self.path,
                    authorization=authorization,
                    content_type=self.headers.get("Content-Type") or "",
                    body=body,
                )
            )
            if 300 <= gateway.status < 400:
                self._answer(gateway.status, {}, location=gateway.url + "/elsewhere")
            elif gateway.status >= 400:
                # Echo the request, as some gateways do: pmdesk must not repeat it in errors.
                self._answer(gateway.status, {"error": "refused", "request": body})
            else:
                self._answer(gateway.status, {"id": len(gateway.received)})

        def _answer(self, status: int, payload: dict[str, Any], location: str = "") -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # e.g. a client that refused our certificate


@pytest.fixture
def sms_gateway(
    test_server_context: ssl.SSLContext, test_client_context: ssl.SSLContext
) -> Iterator[SmsGateway]:
    """An HTTPS gateway at https://127.0.0.1:PORT/send with a certificate from the test CA."""
    httpd = _QuietServer((LOOPBACK, 0), BaseHTTPRequestHandler)
    httpd.socket = test_server_context.wrap_socket(httpd.socket, server_side=True)
    port = httpd.server_address[1]
    gateway = SmsGateway(
        url=f"https://{LOOPBACK}:{port}/send", token=SMS_TOKEN, client_context=test_client_context
    )
    httpd.RequestHandlerClass = _gateway_handler(gateway)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield gateway
    finally:
        httpd.shutdown()
        thread.join(5)
        httpd.server_close()
