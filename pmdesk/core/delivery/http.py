"""HTTPS requests to a provider's API (standard library only), and network failures told in
one sentence.

Redirects are never followed: following one could hand a token or an API secret to another
server. Every certificate is checked against the system's trusted authorities (or the context
a test passes in).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from pmdesk.core.delivery.base import DeliveryError

DEFAULT_TIMEOUT = 15.0
_READ_LIMIT = 65536
_TIMEOUT_NAMES = {
    "ConnectTimeout",
    "ReadTimeout",
    "Timeout",
    "ConnectTimeoutError",
    "ReadTimeoutError",
}


@dataclass(frozen=True)
class Reply:
    """A provider's answer, whatever its status."""

    status: int
    reason: str
    body: bytes
    content_type: str = ""

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None  # urllib then raises HTTPError with the 3xx status


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps (causes, contexts, ``reason``, exception args)."""
    seen: set[int] = set()
    queue: list[BaseException] = [exc]
    while queue:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked: list[object] = [getattr(current, "reason", None), current.__cause__]
        linked += [current.__context__, *current.args]
        queue += [e for e in linked if isinstance(e, BaseException)]


def network_cause(exc: BaseException) -> BaseException:
    """The most telling exception inside ``exc``: an untrusted certificate before any other
    TLS failure, before a refused connection, a time-out or an unknown name."""
    found = list(_chain(exc))
    for kind in (ssl.SSLCertVerificationError, ssl.SSLError, ConnectionRefusedError):
        for candidate in found:
            if isinstance(candidate, kind):
                return candidate
    for candidate in found:
        if isinstance(candidate, TimeoutError) or type(candidate).__name__ in _TIMEOUT_NAMES:
            return TimeoutError()
    for candidate in found:
        if isinstance(candidate, socket.gaierror):
            return candidate
    for candidate in reversed(found):
        if isinstance(candidate, OSError) and candidate.strerror:
            return candidate
    return exc


def explain_network(
    exc: BaseException, *, service: str, where: str, host: str, timeout: float
) -> str:
    """One sentence for a failed connection to ``service`` ("the SMS gateway") at ``where``
    ("https://host:port")."""
    reason = network_cause(exc)
    name = service[:1].upper() + service[1:]
    match reason:
        case ssl.SSLCertVerificationError():
            detail = reason.verify_message or reason.reason or "unknown reason"
            return f"The certificate of {service} {host} is not trusted ({detail})."
        case ssl.SSLError():
            return f"The encrypted connection to {service} {where} failed ({reason})."
        case ConnectionRefusedError():
            return f"Could not connect to {service} {where}: connection refused."
        case TimeoutError():
            return f"{name} {where} did not answer within {timeout:g} seconds."
        case socket.gaierror():
            return f"The name of {service} '{host}' could not be found. Check it."
        case OSError() if reason.strerror:
            return f"Could not connect to {service} {where}: {reason.strerror}."
        case http.client.HTTPException():
            return f"{name} {where} sent an answer pmdesk cannot read."
    return f"Could not reach {service} {where} ({type(reason).__name__})."


def origin(url: str) -> tuple[str, str]:
    """("https://host:port", "host") of ``url``, for messages (no path: it may hold an ID)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}", parts.hostname or ""


def post(
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    service: str,
    ssl_context: ssl.SSLContext | None,
    timeout: float,
) -> Reply:
    """POST ``body`` to ``url`` and return the answer, whatever its status; a failure to get
    one is a DeliveryError at the ``connect`` step."""
    request = urllib.request.Request(  # noqa: S310 - callers pass https:// (or loopback) URLs
        url, data=body, method="POST", headers={"User-Agent": "pmdesk", **headers}
    )
    context = ssl_context or ssl.create_default_context()
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context), _NoRedirect()
    )
    where, host = origin(url)
    try:
        with opener.open(request, timeout=timeout) as response:
            return Reply(
                response.status,
                response.reason,
                response.read(_READ_LIMIT),
                response.headers.get("Content-Type", ""),
            )
    except urllib.error.HTTPError as exc:
        try:
            data = exc.read(_READ_LIMIT)
        except (OSError, http.client.HTTPException):
            data = b""
        finally:
            exc.close()
        return Reply(exc.code, str(exc.reason), data, exc.headers.get("Content-Type", ""))
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        text = explain_network(exc, service=service, where=where, host=host, timeout=timeout)
        raise DeliveryError(text, step="connect") from None


def brief(text: object, limit: int = 200) -> str:
    """A provider's message on one line, shortened."""
    return " ".join(str(text).split())[:limit]
