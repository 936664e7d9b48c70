"""Security codes by text message through an HTTPS gateway.

The gateway gets ``POST <url>`` with the JSON body ``{"to": "+32470123456", "message": "..."}``
and ``Authorization: Bearer <token>``; any 2xx answer means accepted. The token lives in the
keyring under ``sms_key(url)`` (the factory passes it in). Plain http:// is allowed only to a
gateway on this machine.
Redirects are refused: following one could hand the token to another server.
"""

from __future__ import annotations

import json
import logging
import ssl
import urllib.parse
from typing import Protocol

from pmdesk.core.delivery.base import (
    DEFAULT_PHONE_REGION,
    CodeMessage,
    DeliveryError,
    Step,
    StoredSecret,
    is_loopback_host,
    redo,
    without_code,
)
from pmdesk.core.delivery.http import DEFAULT_TIMEOUT, post
from pmdesk.core.delivery.message import sms_text
from pmdesk.core.i18n import translate
from pmdesk.core.validation import FieldInvalid, clean_phone, mask_phone

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_TIMEOUT", "SmsDelivery", "check_sms_url", "need_number"]


def check_sms_url(url: str) -> urllib.parse.SplitResult:
    """The parsed gateway URL, or DeliveryError when it is unusable or unencrypted."""
    if not url.strip():
        raise DeliveryError(
            translate("delivery", "Enter the address (URL) of the SMS gateway."), step="settings"
        )
    try:
        parts = urllib.parse.urlsplit(url.strip())
        _ = parts.port
    except ValueError:
        raise DeliveryError(
            translate("delivery", "'{url}' is not a valid SMS gateway address.").format(url=url)
        ) from None
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise DeliveryError(
            translate(
                "delivery",
                "The SMS gateway address must start with https:// and name a server, e.g. "
                "https://sms.example.com/send.",
            )
        )
    if parts.username or parts.password:
        raise DeliveryError(
            translate(
                "delivery",
                "Do not put a user name or password in the SMS gateway address; the token is "
                "kept in the keyring.",
            )
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise DeliveryError(
            translate(
                "delivery",
                "The SMS gateway {host} must be reached over https://; plain http:// is "
                "allowed only to a gateway on this computer.",
            ).format(host=parts.hostname)
        )
    return parts


class SmsDelivery:
    """Sends each code as one text message. Blocking; never call on the GUI thread."""

    def __init__(
        self,
        *,
        url: str,
        token: StoredSecret,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        region: str = DEFAULT_PHONE_REGION,
    ) -> None:
        parts = check_sms_url(url)
        self.region = region
        self.url = url.strip()
        self.timeout = timeout
        self._where = f"{parts.scheme}://{parts.netloc}"
        self._host = parts.hostname or ""
        self._https = parts.scheme == "https"
        self._token = token
        self._ssl_context = ssl_context

    @property
    def label(self) -> str:
        if self._https:
            return translate("delivery", "Text message via the SMS gateway {where} (HTTPS)").format(
                where=self._where
            )
        return translate(
            "delivery", "Text message via the SMS gateway {where} (HTTP, local gateway only)"
        ).format(where=self._where)

    @property
    def encrypted(self) -> bool | None:
        return self._https

    def destination(self, message: CodeMessage) -> str | None:
        return phone_destination(message, self.region)

    def send(self, message: CodeMessage) -> None:
        number = need_number(self, message)
        token = self._token.read()
        body = json.dumps({"to": number, "message": sms_text(message)}).encode("utf-8")
        try:
            reply = post(
                self.url,
                body=body,
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "Accept": "application/json",
                    "Authorization": f"Bearer {token}",
                },
                service="the SMS gateway",
                ssl_context=self._ssl_context,
                timeout=self.timeout,
            )
        except DeliveryError as exc:
            text = without_code(str(exc), message)
            log.info("%s", text)
            raise redo(exc, text) from None
        if not reply.ok:
            step: Step = "authenticate" if reply.status in (401, 403) else "send"
            text = without_code(
                f"The SMS gateway {self._where} refused the message (HTTP {reply.status} "
                f"{reply.reason}).",
                message,
            )
            log.info("%s", text)
            raise DeliveryError(text, step=step)
        log.info("Security code text message sent via %s to %s", self._where, mask_phone(number))


class _HasRegion(Protocol):
    region: str


def phone_destination(message: CodeMessage, region: str) -> str | None:
    """The message's number as E.164 (+32470123456), read as a number of ``region`` when it
    has no country code; None when there is no valid number."""
    try:
        return clean_phone(message.phone, region=region) or None
    except FieldInvalid:
        return None


def need_number(delivery: _HasRegion, message: CodeMessage) -> str:
    """The E.164 number to text, or DeliveryError when this person has none."""
    number = phone_destination(message, delivery.region)
    if number is None:
        text = (
            translate(
                "delivery",
                "{name} has no usable mobile number, so no code can be sent by text message.",
            ).format(name=message.person_name)
            if message.person_name
            else translate(
                "delivery",
                "This person has no usable mobile number, so no code can be sent by text message.",
            )
        )
        raise DeliveryError(text, step="send")
    return number
