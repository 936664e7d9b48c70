"""Security codes by text message through an HTTPS gateway.

The gateway gets ``POST <url>`` with the JSON body ``{"to": "+32470123456", "message": "..."}``
and ``Authorization: Bearer <token>``; any 2xx answer means accepted. The token lives in the
keyring under ``sms_key(url)``. Plain http:// is allowed only to a gateway on this machine.
Redirects are refused: following one could hand the token to another server.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import IO

from pmdesk.core.delivery.base import CodeMessage, DeliveryError, is_loopback_host, without_code
from pmdesk.core.delivery.message import sms_text
from pmdesk.core.validation import FieldInvalid, clean_phone, mask_phone
from pmdesk.secrets import SecretStore, SecretStoreError, sms_key

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 15.0


def check_sms_url(url: str) -> urllib.parse.SplitResult:
    """The parsed gateway URL, or DeliveryError when it is unusable or unencrypted."""
    if not url.strip():
        raise DeliveryError("Enter the address (URL) of the SMS gateway.")
    try:
        parts = urllib.parse.urlsplit(url.strip())
        _ = parts.port
    except ValueError:
        raise DeliveryError(f"'{url}' is not a valid SMS gateway address.") from None
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise DeliveryError(
            "The SMS gateway address must start with https:// and name a server, e.g. "
            "https://sms.example.com/send."
        )
    if parts.username or parts.password:
        raise DeliveryError(
            "Do not put a user name or password in the SMS gateway address; the token is kept "
            "in the keyring."
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise DeliveryError(
            f"The SMS gateway {parts.hostname} must be reached over https://; plain http:// is "
            "allowed only to a gateway on this computer."
        )
    return parts


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


class SmsDelivery:
    """Sends each code as one text message. Blocking; never call on the GUI thread."""

    def __init__(
        self,
        *,
        url: str,
        secrets: SecretStore,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        parts = check_sms_url(url)
        self.url = url.strip()
        self.timeout = timeout
        self._where = f"{parts.scheme}://{parts.netloc}"
        self._host = parts.hostname or ""
        self._https = parts.scheme == "https"
        self._secrets = secrets
        self._ssl_context = ssl_context

    @property
    def label(self) -> str:
        how = "HTTPS" if self._https else "HTTP, local gateway only"
        return f"Text message via the SMS gateway {self._where} ({how})"

    @property
    def encrypted(self) -> bool | None:
        return self._https

    def destination(self, message: CodeMessage) -> str | None:
        try:
            return clean_phone(message.phone) or None
        except FieldInvalid:
            return None

    def send(self, message: CodeMessage) -> None:
        number = self.destination(message)
        if number is None:
            who = message.person_name or "This person"
            raise DeliveryError(
                f"{who} has no usable mobile number, so no code can be sent by text message."
            )
        token = self._token()
        body = json.dumps({"to": number, "message": sms_text(message)}).encode("utf-8")
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in check_sms_url
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Accept": "application/json",
                "Authorization": f"Bearer {token}",
                "User-Agent": "pmdesk",
            },
        )
        context = self._ssl_context or ssl.create_default_context()
        opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context), _NoRedirect()
        )
        try:
            with opener.open(request, timeout=self.timeout) as response:
                status = response.status
                response.read(65536)
        except urllib.error.HTTPError as exc:
            status = exc.code
            reason = exc.reason
            exc.close()
            text = without_code(
                f"The SMS gateway {self._where} refused the message (HTTP {status} {reason}).",
                message,
            )
            log.info("%s", text)
            raise DeliveryError(text) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            text = without_code(self._explain(exc), message)
            log.info("%s", text)
            raise DeliveryError(text) from None
        if not 200 <= status < 300:
            raise DeliveryError(
                f"The SMS gateway {self._where} did not accept the message (HTTP {status})."
            )
        log.info("Security code text message sent via %s to %s", self._where, mask_phone(number))

    def _token(self) -> str:
        try:
            token = self._secrets.get(sms_key(self.url))
        except SecretStoreError as exc:
            raise DeliveryError(f"The SMS gateway token cannot be read: {exc}") from None
        if not token:
            raise DeliveryError(
                f"No token for the SMS gateway {self._where} is stored in this computer's "
                "keyring. Enter it in System → Security, or run: pmdesk mail configure "
                "--method sms --url ... --token-stdin"
            )
        if any(ch in token for ch in "\r\n"):
            raise DeliveryError("The SMS gateway token in the keyring contains a line break.")
        return token

    def _explain(self, exc: BaseException) -> str:
        reason: object = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        where = self._where
        match reason:
            case ssl.SSLCertVerificationError():
                detail = reason.verify_message or reason.reason or "unknown reason"
                return f"The certificate of the SMS gateway {self._host} is not trusted ({detail})."
            case ssl.SSLError():
                return f"The encrypted connection to the SMS gateway {where} failed ({reason})."
            case ConnectionRefusedError():
                return f"Could not connect to the SMS gateway {where}: connection refused."
            case TimeoutError():
                return f"The SMS gateway {where} did not answer within {self.timeout:g} seconds."
            case socket.gaierror():
                return f"The SMS gateway name '{self._host}' could not be found. Check it."
            case OSError():
                return f"Could not connect to the SMS gateway {where}: {reason.strerror or reason}."
            case http.client.HTTPException():
                return f"The SMS gateway {where} sent an answer pmdesk cannot read."
        return f"Could not reach the SMS gateway {where}: {reason}."
