"""Local stand-ins for the mail and SMS providers' public APIs, on 127.0.0.1 over HTTPS with a
certificate from the test CA (``test_ca`` in tests.helpers.smtp), and an aiosmtpd server that
implements ``AUTH XOAUTH2`` the way Microsoft 365 and Gmail answer it.

Each stand-in checks the request the provider documents (path, headers, body, authentication),
keeps what it accepted in ``received``, and answers with the provider's real error shapes. The
real MSAL and google-auth talk to them; nothing here mocks a library.

Fixtures: ``entra`` (Microsoft Entra ID: OpenID discovery and the v2.0 token endpoint),
``google_tokens`` (Google's OAuth token endpoint for service accounts), ``graph`` (Microsoft
Graph ``sendMail``), ``twilio``, ``vonage``, ``cm`` (their SMS APIs), ``xoauth2_smtp``
(STARTTLS, AUTH XOAUTH2 only, tokens from ``entra`` or ``google_tokens``), ``provider_endpoints``
(an ``Endpoints`` pointing at all of them) and ``token_cache`` (a fresh ``TokenCache``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import json
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import jwt
import pytest
from aiosmtpd.smtp import SMTP as SMTPServerProtocol
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from pmdesk.core.delivery.base import DeliverySettings, Endpoints
from pmdesk.core.delivery.oauth import GOOGLE_SCOPE, GRAPH_SCOPE, SMTP_SCOPE, TokenCache
from tests.helpers.smtp import (
    LOOPBACK,
    SmtpServer,
    _BoundController,
    _listening_socket,
    _QuietServer,
    _Recorder,
)

TENANT = "3f1c2a4b-5d6e-4f70-8a9b-0c1d2e3f4a5b"
CLIENT_ID = "6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d"
CLIENT_SECRET = "test~client~secret~value"  # a test value, not a real secret
MAILBOX = "codes@workshop.example"
SERVICE_ACCOUNT = "pmdesk-codes@pmdesk-test.iam.gserviceaccount.com"
TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "twilio-test-auth-token"
TWILIO_FROM = "+3225550100"
VONAGE_KEY = "a1b2c3d4"
VONAGE_SECRET = "vonage-test-secret"
CM_TOKEN = "11111111-2222-3333-4444-555555555555"
SMS_SENDER = "Workshop"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"

_serial = itertools.count(1)


@dataclass(frozen=True)
class Received:
    """One request a stand-in accepted (it holds the code: tests only)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        assert self.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ), self.headers
        pairs = urllib.parse.parse_qs(self.body.decode("ascii"), strict_parsing=True)
        assert all(len(v) == 1 for v in pairs.values())
        return {k: v[0] for k, v in pairs.items()}

    @property
    def json(self) -> Any:
        assert self.headers.get("content-type", "").startswith("application/json"), self.headers
        return json.loads(self.body)


Answer = tuple[int, Any]  # status, JSON body (None: no body)


class StandIn:
    """An HTTPS server; ``route(method, path, request) -> (status, json)``."""

    def __init__(self, route: Callable[[Received], Answer]) -> None:
        self.route = route
        self.requests: list[Received] = []  # every request, accepted or not
        self.errors: list[str] = []  # requests that broke the stand-in's checks
        self.url = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Received(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                )
                stand_in.requests.append(request)
                try:
                    status, payload = stand_in.route(request)
                except Exception as exc:  # a check failed: the test fails at teardown
                    stand_in.errors.append(f"{type(exc).__name__}: {exc}")
                    status, payload = 500, {"error": "the stand-in's checks failed"}
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                if payload is not None:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def _serve_https(test_server_context: ssl.SSLContext) -> Iterator[Callable[[StandIn], str]]:
    servers: list[tuple[_QuietServer, threading.Thread]] = []
    stand_ins: list[StandIn] = []

    def start(stand_in: StandIn) -> str:
        stand_ins.append(stand_in)
        httpd = _QuietServer((LOOPBACK, 0), stand_in.handler())
        httpd.socket = test_server_context.wrap_socket(httpd.socket, server_side=True)
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        servers.append((httpd, thread))
        stand_in.url = f"https://{LOOPBACK}:{httpd.server_address[1]}"
        return stand_in.url

    yield start
    for httpd, thread in servers:
        httpd.shutdown()
        thread.join(5)
        httpd.server_close()
    for stand_in in stand_ins:
        assert stand_in.errors == [], "a request did not match the provider's API"


def _started(serve: Callable[[StandIn], str], make: Callable[..., Any], *args: Any) -> Any:
    """A stand-in ``make(stand_in, *args)`` whose ``route`` serves its HTTPS server."""
    holder: list[Any] = []
    stand_in = StandIn(lambda request: holder[0].route(request))
    serve(stand_in)
    holder.append(make(stand_in, *args))
    return holder[0]


def _bearer(request: Received) -> str:
    value = request.headers.get("authorization", "")
    return value[len("Bearer ") :] if value.startswith("Bearer ") else ""


# ----- keys and certificates -------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    public_key: Any
    certificate_der: bytes

    @property
    def thumbprint(self) -> str:
        """The certificate's SHA-1 thumbprint, as the Entra admin center shows it."""
        return hashlib.sha1(self.certificate_der).hexdigest().upper()


def make_key_pair(name: str) -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return KeyPair(pem, key.public_key(), cert.public_bytes(serialization.Encoding.DER))


@pytest.fixture(scope="session")
def app_certificate() -> KeyPair:
    """The certificate uploaded to the Entra app registration, and its private key."""
    return make_key_pair("pmdesk codes app")


@pytest.fixture(scope="session")
def service_account_key() -> KeyPair:
    return make_key_pair("pmdesk service account")


def service_account_json(key: KeyPair, email: str = SERVICE_ACCOUNT) -> str:
    """A service-account key file as the Google Cloud console downloads it."""
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "pmdesk-test",
            "private_key_id": "0123456789abcdef0123456789abcdef01234567",
            "private_key": key.private_pem,
            "client_email": email,
            "client_id": "109876543210987654321",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/x",
            "universe_domain": "googleapis.com",
        }
    )


# ----- Microsoft Entra ID ------------------------------------------------------------------------


def _entra_error(error: str, code: int, description: str) -> dict[str, Any]:
    """The shape of an Entra ID token-endpoint error."""
    trace = "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
    return {
        "error": error,
        "error_description": (
            f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {trace} "
            "Timestamp: 2026-12-02 09:15:00Z"
        ),
        "error_codes": [code],
        "timestamp": "2026-12-02 09:15:00Z",
        "trace_id": trace,
        "correlation_id": trace,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }


@dataclass
class Entra:
    """Microsoft Entra ID for one tenant and one app (secret and certificate)."""

    stand_in: StandIn
    tenant: str = TENANT
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    certificate: KeyPair | None = None
    consented: bool = True  # admin consent granted for the app's permissions
    expires_in: int = 3599
    issued: dict[str, str] = field(default_factory=dict)  # token -> scope
    token_requests: list[dict[str, str]] = field(default_factory=list)

    @property
    def authority_host(self) -> str:
        return self.stand_in.url

    def token_endpoint(self) -> str:
        return f"{self.stand_in.url}/{self.tenant}/oauth2/v2.0/token"

    def valid(self, token: str, scope: str) -> bool:
        return self.issued.get(token) == scope

    def route(self, request: Received) -> Answer:
        parts = request.path.split("?", 1)[0].strip("/").split("/")
        tenant = parts[0]
        if tenant != self.tenant:
            return 400, _entra_error(
                "invalid_tenant",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant "
                "ID and are signing into the correct cloud.",
            )
        if request.method == "GET" and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            base = f"{self.stand_in.url}/{tenant}"
            return 200, {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "issuer": f"https://login.microsoftonline.com/{tenant}/v2.0",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
            }
        if request.method == "POST" and parts[1:] == ["oauth2", "v2.0", "token"]:
            return self._token(request)
        return 404, {"error": "not_found"}

    def _token(self, request: Received) -> Answer:
        form = request.form
        self.token_requests.append(form)
        assert form["grant_type"] == "client_credentials"
        scope = form["scope"]
        assert scope in {SMTP_SCOPE, GRAPH_SCOPE}, scope
        if form.get("client_id") != self.client_id:
            return 400, _entra_error(
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id')}' was not found in the "
                f"directory '{self.tenant}'. This can happen if the application has not been "
                "installed by the administrator of the tenant.",
            )
        if "client_assertion" in form:
            if not self._assertion_ok(form):
                return 401, _entra_error(
                    "invalid_client",
                    700027,
                    "Client assertion failed signature validation.",
                )
        elif form.get("client_secret") != self.client_secret:
            return 401, _entra_error(
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request "
                "is the client secret value, not the client secret ID, for a secret added to "
                f"app '{self.client_id}'.",
            )
        if not self.consented:
            return 400, _entra_error(
                "invalid_grant",
                65001,
                f"The user or administrator has not consented to use the application with ID "
                f"'{self.client_id}' named 'pmdesk codes'.",
            )
        token = f"entra-{next(_serial)}"
        self.issued[token] = scope
        return 200, {
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "ext_expires_in": self.expires_in,
            "access_token": token,
        }

    def _assertion_ok(self, form: dict[str, str]) -> bool:
        assert form["client_assertion_type"] == (
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        )
        if self.certificate is None:
            return False
        assertion = form["client_assertion"]
        header = jwt.get_unverified_header(assertion)
        x5t = base64.urlsafe_b64encode(bytes.fromhex(self.certificate.thumbprint)).rstrip(b"=")
        # base64url of the SHA-1 thumbprint (MSAL keeps the padding)
        if header.get("x5t", "").rstrip("=").encode() != x5t:
            return False
        try:
            claims = jwt.decode(
                assertion,
                self.certificate.public_key,
                algorithms=[header["alg"]],
                audience=self.token_endpoint(),
            )
        except jwt.InvalidTokenError:
            return False
        return bool(claims["iss"] == claims["sub"] == self.client_id)


@pytest.fixture
def entra(_serve_https: Callable[[StandIn], str], app_certificate: KeyPair) -> Entra:
    entra: Entra = _started(_serve_https, Entra)
    entra.certificate = app_certificate
    return entra


# ----- Google --------------------------------------------------------------------------------


@dataclass
class GoogleTokenService:
    """Google's OAuth 2.0 token endpoint for a service account with domain-wide delegation."""

    stand_in: StandIn
    key: KeyPair
    account: str = SERVICE_ACCOUNT
    delegation: bool = True  # domain-wide delegation granted for https://mail.google.com/
    users: set[str] = field(default_factory=lambda: {MAILBOX})
    issued: dict[str, str] = field(default_factory=dict)  # token -> mailbox
    assertions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def token_uri(self) -> str:
        return f"{self.stand_in.url}/token"

    def route(self, request: Received) -> Answer:
        if request.method != "POST" or request.path != "/token":
            return 404, {"error": "not_found"}
        form = request.form
        assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        try:
            claims = jwt.decode(
                form["assertion"],
                self.key.public_key,
                algorithms=["RS256"],
                # google-auth always names Google's endpoint, wherever it posts the assertion
                audience=GOOGLE_TOKEN_AUDIENCE,
            )
        except jwt.InvalidSignatureError:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        self.assertions.append(claims)
        if claims["iss"] != self.account:
            return 401, {
                "error": "invalid_client",
                "error_description": "The OAuth client was not found.",
            }
        assert claims["scope"] == GOOGLE_SCOPE
        if not self.delegation:
            return 401, {
                "error": "unauthorized_client",
                "error_description": "Client is unauthorized to retrieve access tokens using "
                "this method, or client not authorized for any of the scopes requested.",
            }
        if claims.get("sub") not in self.users:
            return 400, {"error": "invalid_grant", "error_description": "Invalid email or User ID"}
        token = f"ya29.test-{next(_serial)}"
        self.issued[token] = claims["sub"]
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}


@pytest.fixture
def google_tokens(
    _serve_https: Callable[[StandIn], str], service_account_key: KeyPair
) -> GoogleTokenService:
    service: GoogleTokenService = _started(_serve_https, GoogleTokenService, service_account_key)
    return service


# ----- Microsoft Graph -------------------------------------------------------------------------


def _graph_error(code: str, message: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": "2026-12-02T09:15:00",
                "request-id": "5c0f2f6e-1d2b-4c3a-9e8f-7a6b5c4d3e2f",
                "client-request-id": "5c0f2f6e-1d2b-4c3a-9e8f-7a6b5c4d3e2f",
            },
        }
    }


@dataclass
class Graph:
    stand_in: StandIn
    entra: Entra
    stand_in_context: ssl.SSLContext | None = None  # what a client needs to trust both
    mailboxes: set[str] = field(default_factory=lambda: {MAILBOX})
    mail_send: bool = True  # Mail.Send granted (and the access policy includes the mailbox)
    received: list[Received] = field(default_factory=list)

    def route(self, request: Received) -> Answer:
        token = _bearer(request)
        if not self.entra.valid(token, GRAPH_SCOPE):
            return 401, _graph_error(
                "InvalidAuthenticationToken", "Access token validation failure. Invalid audience."
            )
        prefix, _, rest = request.path.partition("/v1.0/users/")
        user, _, action = rest.partition("/")
        if request.method != "POST" or prefix or action != "sendMail":
            return 404, _graph_error("BadRequest", "Resource not found for the segment.")
        mailbox = urllib.parse.unquote(user)
        if mailbox not in self.mailboxes:
            return 404, _graph_error(
                "ErrorInvalidUser", f"The requested user '{mailbox}' is invalid."
            )
        if not self.mail_send:
            return 403, _graph_error(
                "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )
        payload = request.json
        assert set(payload) == {"message", "saveToSentItems"}, payload
        assert payload["saveToSentItems"] is False
        message = payload["message"]
        assert message["body"]["contentType"] == "Text"
        assert message["toRecipients"][0]["emailAddress"]["address"]
        self.received.append(request)
        return 202, None


@pytest.fixture
def graph(
    _serve_https: Callable[[StandIn], str], entra: Entra, test_client_context: ssl.SSLContext
) -> Graph:
    graph: Graph = _started(_serve_https, Graph, entra, test_client_context)
    return graph


# ----- SMS providers ---------------------------------------------------------------------------


def _basic(request: Received) -> tuple[str, str]:
    value = request.headers.get("authorization", "")
    if not value.startswith("Basic "):
        return "", ""
    user, _, password = base64.b64decode(value[6:]).decode().partition(":")
    return user, password


@dataclass
class Twilio:
    stand_in: StandIn
    numbers: set[str] = field(default_factory=lambda: {TWILIO_FROM})  # the account's numbers
    blocked_countries: set[str] = field(default_factory=set)  # e.g. {"+31"}
    received: list[Received] = field(default_factory=list)

    def route(self, request: Received) -> Answer:
        sid, token = _basic(request)
        path = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        if (sid, token) != (TWILIO_SID, TWILIO_TOKEN):
            return 401, {
                "code": 20003,
                "message": "Authenticate",
                "more_info": "https://www.twilio.com/docs/errors/20003",
                "status": 401,
            }
        if request.method != "POST" or request.path != path:
            return 404, {
                "code": 20404,
                "message": f"The requested resource {request.path} was not found",
                "more_info": "https://www.twilio.com/docs/errors/20404",
                "status": 404,
            }
        form = request.form
        assert set(form) in ({"To", "From", "Body"}, {"To", "MessagingServiceSid", "Body"}), form
        to = form["To"]
        if not to.startswith("+") or not to[1:].isdigit():
            return 400, _twilio(21211, f"The 'To' number {to} is not a valid phone number.")
        if "From" in form and form["From"] not in self.numbers:
            return 400, _twilio(
                21659,
                f"'From' {form['From']} is not a Twilio phone number or Short Code country "
                "mismatch",
            )
        if any(to.startswith(prefix) for prefix in self.blocked_countries):
            return 400, _twilio(
                21408,
                f"Permission to send an SMS has not been enabled for the region indicated by "
                f"the 'To' number: {to}.",
            )
        self.received.append(request)
        return 201, {
            "sid": f"SM{next(_serial):032x}",
            "account_sid": TWILIO_SID,
            "to": to,
            "from": form.get("From"),
            "body": form["Body"],
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "error_code": None,
            "error_message": None,
        }


def _twilio(code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": 400,
    }


@dataclass
class Vonage:
    stand_in: StandIn
    credit: bool = True
    received: list[Received] = field(default_factory=list)

    def route(self, request: Received) -> Answer:
        if request.method != "POST" or request.path != "/sms/json":
            return 404, None
        form = request.form
        assert {"api_key", "api_secret", "from", "to", "text"} <= set(form), form
        if (form["api_key"], form["api_secret"]) != (VONAGE_KEY, VONAGE_SECRET):
            return 200, {
                "message-count": "1",
                "messages": [{"status": "4", "error-text": "Bad Credentials"}],
            }
        if not self.credit:
            return 200, {
                "message-count": "1",
                "messages": [{"status": "9", "error-text": "Partner quota exceeded"}],
            }
        if not form["to"].isdigit():
            return 200, {
                "message-count": "1",
                "messages": [{"status": "3", "error-text": "Invalid to address"}],
            }
        self.received.append(request)
        return 200, {
            "message-count": "1",
            "messages": [
                {
                    "to": form["to"],
                    "message-id": f"{next(_serial):016X}",
                    "status": "0",
                    "remaining-balance": "3.14159265",
                    "message-price": "0.07800000",
                    "network": "20610",
                }
            ],
        }


@dataclass
class Cm:
    stand_in: StandIn
    refused_numbers: set[str] = field(default_factory=set)  # as CM writes them: 0032…
    received: list[Received] = field(default_factory=list)

    def route(self, request: Received) -> Answer:
        if request.method != "POST" or request.path != "/v1.0/message":
            return 404, None
        payload = request.json
        messages = payload["messages"]
        if messages.get("authentication", {}).get("producttoken") != CM_TOKEN:
            return 400, {
                "details": "No account found for the given authentication",
                "errorCode": 101,
                "messages": [],
            }
        [msg] = messages["msg"]
        assert msg["body"]["type"] == "auto" and msg["body"]["content"]
        assert msg["from"]
        [to] = msg["to"]
        number = to["number"]
        if not (number.startswith("00") and number[2:].isdigit()) or number in self.refused_numbers:
            return 400, {
                "details": "Created 0 message(s)",
                "errorCode": 201,
                "messages": [
                    {
                        "to": number,
                        "status": "Rejected",
                        "reference": None,
                        "parts": 0,
                        "messageDetails": f"Gsm '{number}' is not a number.",
                        "messageErrorCode": 303,
                    }
                ],
            }
        self.received.append(request)
        return 200, {
            "details": "Created 1 message(s)",
            "errorCode": 0,
            "messages": [
                {
                    "to": number,
                    "status": "Accepted",
                    "reference": None,
                    "parts": 1,
                    "messageDetails": None,
                    "messageErrorCode": 0,
                }
            ],
        }


@pytest.fixture
def twilio(_serve_https: Callable[[StandIn], str]) -> Twilio:
    return _started(_serve_https, Twilio)


@pytest.fixture
def vonage(_serve_https: Callable[[StandIn], str]) -> Vonage:
    return _started(_serve_https, Vonage)


@pytest.fixture
def cm(_serve_https: Callable[[StandIn], str]) -> Cm:
    return _started(_serve_https, Cm)


# ----- SMTP with AUTH XOAUTH2 ------------------------------------------------------------------

MICROSOFT_535 = "535 5.7.3 Authentication unsuccessful [AM0PR02CA0001.eurprd02.prod.outlook.com]"
MICROSOFT_DISABLED = (
    "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
    "Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information. "
    "[AM0PR02CA0001.eurprd02.prod.outlook.com]"
)
GOOGLE_535 = (
    "535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
    "535 5.7.8  https://support.google.com/mail/?p=BadCredentials"
)


@dataclass
class XoauthServer:
    """What the XOAUTH2 server accepts: tokens ``check(token, user)`` approves."""

    smtp: SmtpServer
    style: str = "microsoft"  # or "google": how a refusal is answered
    check: Callable[[str, str], bool] = lambda token, user: False
    smtp_auth_enabled: bool = True  # Microsoft: Authenticated SMTP on for the mailbox
    attempts: list[tuple[str, str]] = field(default_factory=list)  # (user, token)


class _XoauthHandler(_Recorder):
    def __init__(self, server: SmtpServer, xoauth: XoauthServer) -> None:
        super().__init__(server)
        self.xoauth = xoauth

    async def auth_XOAUTH2(self, server: SMTPServerProtocol, args: list[str]) -> AuthResult:
        if len(args) == 2:
            raw = base64.b64decode(args[1])
        else:
            answer = await server.challenge_auth("")
            raw = answer if isinstance(answer, bytes) else b""
        text = raw.decode("utf-8", "replace")
        assert text.endswith("\x01\x01"), "XOAUTH2 ends with ^A^A"
        fields = dict(part.split("=", 1) for part in text[:-2].split("\x01"))
        user = fields.get("user", "")
        auth = fields.get("auth", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
        self.xoauth.attempts.append((user, token))
        if self.xoauth.style == "microsoft" and not self.xoauth.smtp_auth_enabled:
            return AuthResult(success=False, handled=False, message=MICROSOFT_DISABLED)
        if self.xoauth.check(token, user):
            return AuthResult(success=True, auth_data=user)
        if self.xoauth.style == "google":
            report = json.dumps({"status": "400", "schemes": "Bearer", "scope": GOOGLE_SCOPE})
            await server.challenge_auth(report)  # the client answers with an empty line
            return AuthResult(success=False, handled=False, message=GOOGLE_535)
        return AuthResult(success=False, handled=False, message=MICROSOFT_535)


@pytest.fixture
def _run_xoauth(
    test_server_context: ssl.SSLContext, test_client_context: ssl.SSLContext
) -> Iterator[Callable[[str], XoauthServer]]:
    controllers: list[_BoundController] = []

    def start(style: str) -> XoauthServer:
        sock = _listening_socket()
        smtp = SmtpServer(host=LOOPBACK, port=sock.getsockname()[1])
        smtp.client_context = test_client_context
        xoauth = XoauthServer(smtp, style=style)
        controller = _BoundController(
            _XoauthHandler(smtp, xoauth),
            sock,
            tls_context=test_server_context,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            auth_exclude_mechanism=["LOGIN", "PLAIN"],
        )
        controller.start()
        controllers.append(controller)
        return xoauth

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def m365_smtp(_run_xoauth: Callable[[str], XoauthServer], entra: Entra) -> XoauthServer:
    """Exchange Online's SMTP submission: STARTTLS, then AUTH XOAUTH2 with an Entra token for
    the SMTP scope, as the mailbox."""
    server = _run_xoauth("microsoft")
    server.check = lambda token, user: entra.valid(token, SMTP_SCOPE) and user == MAILBOX
    return server


@pytest.fixture
def gmail_smtp(
    _run_xoauth: Callable[[str], XoauthServer], google_tokens: GoogleTokenService
) -> XoauthServer:
    """Gmail's SMTP: AUTH XOAUTH2 with a token issued for that very mailbox."""
    server = _run_xoauth("google")
    server.check = lambda token, user: google_tokens.issued.get(token) == user
    return server


# ----- settings and endpoints ------------------------------------------------------------------


@pytest.fixture
def token_cache() -> TokenCache:
    return TokenCache()


def endpoints_for(
    *,
    entra: Entra | None = None,
    graph: Graph | None = None,
    google: GoogleTokenService | None = None,
    twilio: Twilio | None = None,
    vonage: Vonage | None = None,
    cm: Cm | None = None,
) -> Endpoints:
    """Endpoints pointing at the given stand-ins (the others at an address nobody serves)."""
    nowhere = "https://127.0.0.1:9"
    return Endpoints(
        microsoft_authority=entra.authority_host if entra else nowhere,
        graph=graph.stand_in.url if graph else nowhere,
        google_token=google.token_uri if google else nowhere + "/token",
        twilio=twilio.stand_in.url if twilio else nowhere,
        vonage=vonage.stand_in.url if vonage else nowhere,
        cm=cm.stand_in.url if cm else nowhere,
    )


def m365_settings(server: XoauthServer | None = None, **changes: Any) -> DeliverySettings:
    values: dict[str, Any] = {
        "method": "m365",
        "smtp_host": server.smtp.host if server else "",
        "smtp_port": server.smtp.port if server else 587,
        "smtp_from": MAILBOX,
        "m365_tenant_id": TENANT,
        "m365_client_id": CLIENT_ID,
    }
    return DeliverySettings(**(values | changes))
