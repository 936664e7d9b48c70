"""Security codes by text message through Twilio, Vonage or CM.com, each with the request its
public API documents. Numbers go out in E.164 (read with ``phone_region`` when they have no
country code), in the form each provider asks for.

- Twilio (Programmable Messaging): ``POST {api}/2010-04-01/Accounts/{AccountSid}/Messages.json``,
  form fields ``To``, ``From`` (or ``MessagingServiceSid``) and ``Body``, HTTP basic
  authentication ``AccountSid:AuthToken``; ``201`` with the message, or an error
  ``{"code", "message", "more_info", "status"}``.
- Vonage (SMS API): ``POST {api}/sms/json``, form fields ``api_key``, ``api_secret``, ``from``,
  ``to`` (digits without +), ``text``; always ``200``, each message's ``status`` in
  ``messages[]`` ("0" sent, else ``error-text``).
- CM.com (Business Messaging): ``POST {api}/v1.0/message``, JSON
  ``{"messages": {"authentication": {"producttoken"}, "msg": [{"from", "to": [{"number"}],
  "body": {"type": "auto", "content"}}]}}`` with numbers as 00…; the answer has ``details``,
  ``errorCode`` and, per message, ``messageErrorCode``.

The secret (Twilio's Auth Token, Vonage's API secret, CM's product token) is in the keyring;
the account (Account SID, API key) and the sender are settings.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import ssl
import urllib.parse
from collections.abc import Mapping
from typing import Any

from pmdesk.core.delivery.base import (
    DEFAULT_PHONE_REGION,
    CodeMessage,
    DeliveryError,
    Step,
    StoredSecret,
    redo,
    without_code,
)
from pmdesk.core.delivery.http import DEFAULT_TIMEOUT, Reply, brief, post
from pmdesk.core.delivery.message import sms_text
from pmdesk.core.delivery.sms import need_number, phone_destination
from pmdesk.core.i18n import translate
from pmdesk.core.validation import mask_phone

log = logging.getLogger(__name__)

TWILIO_SID_RE = re.compile(r"\AAC[0-9a-fA-F]{32}\Z")
TWILIO_SERVICE_RE = re.compile(r"\AMG[0-9a-fA-F]{32}\Z")
# An alphanumeric sender ID: up to 11 letters, digits and spaces, not all digits.
ALPHANUMERIC_SENDER_RE = re.compile(r"\A(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}\Z")


class ProviderSms:
    """What the three providers share: the number, the secret, posting and its errors."""

    provider = ""

    def __init__(
        self,
        *,
        secret: StoredSecret,
        sender: str,
        account: str = "",
        api_url: str,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        region: str = DEFAULT_PHONE_REGION,
    ) -> None:
        self.account = account.strip()
        self.sender = sender.strip()
        self.api_url = api_url.rstrip("/")
        self.region = region
        self.timeout = timeout
        self._secret = secret
        self._ssl_context = ssl_context

    @property
    def label(self) -> str:
        return translate("delivery", "Text message via {provider} (HTTPS, from {sender})").format(
            provider=self.provider, sender=self.sender
        )

    @property
    def encrypted(self) -> bool | None:
        return True

    def destination(self, message: CodeMessage) -> str | None:
        return phone_destination(message, self.region)

    def send(self, message: CodeMessage) -> None:
        number = need_number(self, message)
        secret = self._secret.read()
        url, body, headers = self.request(number, sms_text(message), secret)
        try:
            reply = post(
                url,
                body=body,
                headers=headers,
                service=self.provider,
                ssl_context=self._ssl_context,
                timeout=self.timeout,
            )
        except DeliveryError as exc:
            raise redo(exc, without_code(str(exc), message)) from None
        problem = self.problem(reply)
        if problem is not None:
            step, text = problem
            text = without_code(text, message)
            log.info("Security code text message via %s failed: %s", self.provider, text)
            raise DeliveryError(text, step=step)
        log.info("Security code text message sent via %s to %s", self.provider, mask_phone(number))

    def request(self, number: str, text: str, secret: str) -> tuple[str, bytes, dict[str, str]]:
        """URL, body and headers of the provider's send request."""
        raise NotImplementedError

    def problem(self, reply: Reply) -> tuple[Step, str] | None:
        """What went wrong according to the provider's answer, or None when it was accepted."""
        raise NotImplementedError


def _form(fields: Mapping[str, str]) -> bytes:
    return urllib.parse.urlencode(fields).encode("ascii")


FORM = "application/x-www-form-urlencoded"


# ----- Twilio --------------------------------------------------------------------------------

# https://www.twilio.com/docs/api/errors
_TWILIO_ERRORS: dict[int, tuple[Step, str]] = {
    20003: ("authenticate", "Twilio refused the Account SID or Auth Token"),
    20404: ("authenticate", "Twilio does not know the Account SID {account}"),
    21211: ("send", "Twilio says the number is not a valid phone number"),
    21212: ("send", "Twilio says the sender {sender} is not a valid phone number or sender ID"),
    21606: ("send", "The sender {sender} is not a Twilio number of this account that can send SMS"),
    21659: ("send", "The sender {sender} is not a Twilio number of this account"),
    21408: (
        "send",
        "The Twilio account may not send text messages to this country: allow it under "
        "Messaging → Settings → Geo permissions",
    ),
    21610: ("send", "The recipient replied STOP to this sender: Twilio will not text them"),
    21612: ("send", "Twilio cannot send from {sender} to this number"),
    21614: ("send", "The number is not a mobile number that can receive text messages"),
    21703: ("send", "The Messaging Service {sender} has no sender that can reach this number"),
    30003: ("send", "The phone cannot be reached"),
    20429: ("send", "Twilio is throttling this account: try again in a moment"),
}


class TwilioSms(ProviderSms):
    provider = "Twilio"

    def request(self, number: str, text: str, secret: str) -> tuple[str, bytes, dict[str, str]]:
        sid = self.account
        fields = {"To": number, "Body": text}
        if TWILIO_SERVICE_RE.match(self.sender):
            fields["MessagingServiceSid"] = self.sender
        else:
            fields["From"] = self.sender
        basic = base64.b64encode(f"{sid}:{secret}".encode()).decode("ascii")
        url = f"{self.api_url}/2010-04-01/Accounts/{urllib.parse.quote(sid)}/Messages.json"
        headers = {
            "Authorization": f"Basic {basic}",
            "Content-Type": FORM,
            "Accept": "application/json",
        }
        return url, _form(fields), headers

    def problem(self, reply: Reply) -> tuple[Step, str] | None:
        if reply.ok:
            return None
        data = reply.json()
        data = data if isinstance(data, dict) else {}
        code = data.get("code")
        said = brief(data.get("message") or reply.reason)
        answer = f"{code}: {said}" if code else f"HTTP {reply.status}: {said}"
        if isinstance(code, int) and code in _TWILIO_ERRORS:
            step, template = _TWILIO_ERRORS[code]
            what = template.format(account=self.account, sender=self.sender)
            return step, f"{what} ({answer})."
        step = "authenticate" if reply.status in (401, 403) else "send"
        return step, f"Twilio refused the message ({answer})."


# ----- Vonage --------------------------------------------------------------------------------

# https://developer.vonage.com/en/messaging/sms/guides/troubleshooting-sms
_VONAGE_STATUS: dict[str, tuple[Step, str]] = {
    "1": ("send", "Vonage is throttling this account: try again in a moment"),
    "2": ("send", "Vonage says a field is missing"),
    "3": ("send", "Vonage refused the number or sender"),
    "4": ("authenticate", "Vonage refused the API key or API secret"),
    "5": ("send", "Vonage had an internal error: try again"),
    "6": ("send", "Vonage could not route the message to this number"),
    "7": ("send", "The number is barred at Vonage"),
    "8": ("authenticate", "The Vonage account is barred"),
    "9": ("send", "The Vonage account has no credit left: top it up"),
    "11": ("authenticate", "The Vonage account is not enabled for the SMS API over HTTP"),
    "15": ("send", "Vonage does not accept the sender {sender} for this destination"),
    "29": ("send", "The Vonage trial account may only text numbers on its test list"),
    "33": ("send", "The number is not in service"),
}


class VonageSms(ProviderSms):
    provider = "Vonage"

    def request(self, number: str, text: str, secret: str) -> tuple[str, bytes, dict[str, str]]:
        fields = {
            "api_key": self.account,
            "api_secret": secret,
            "from": self.sender.lstrip("+"),
            "to": number.lstrip("+"),
            "text": text,
        }
        if not text.isascii():
            fields["type"] = "unicode"
        return (
            f"{self.api_url}/sms/json",
            _form(fields),
            {"Content-Type": FORM, "Accept": "application/json"},
        )

    def problem(self, reply: Reply) -> tuple[Step, str] | None:
        data = reply.json()
        messages = data.get("messages") if isinstance(data, dict) else None
        if not reply.ok or not isinstance(messages, list) or not messages:
            step: Step = "authenticate" if reply.status in (401, 403) else "send"
            return step, f"Vonage did not accept the message (HTTP {reply.status} {reply.reason})."
        for item in messages:
            status = str(item.get("status", "")) if isinstance(item, dict) else ""
            if status == "0":
                continue
            said = brief(item.get("error-text") or "") if isinstance(item, dict) else ""
            answer = f"status {status}: {said}" if said else f"status {status}"
            if status in _VONAGE_STATUS:
                step, template = _VONAGE_STATUS[status]
                return step, f"{template.format(sender=self.sender)} ({answer})."
            return "send", f"Vonage refused the message ({answer})."
        return None


# ----- CM.com --------------------------------------------------------------------------------

# The gateway's errorCode / messageErrorCode values (CM's text SDKs list them).
_CM_ERRORS: dict[int, tuple[Step, str]] = {
    101: ("authenticate", "CM.com refused the product token"),
    102: ("send", "The CM.com account has no credit left: top it up"),
    103: ("authenticate", "CM.com refused the product token"),
    202: ("send", "CM.com could not read the request"),
    301: ("send", "CM.com does not accept the sender {sender}"),
    302: ("send", "CM.com refused the number"),
    303: ("send", "CM.com refused the number"),
    304: ("send", "CM.com refused the message text"),
    401: ("send", "CM.com held the message as spam"),
    402: ("send", "The number is on CM.com's block list"),
    403: ("send", "CM.com rejected the message"),
    500: ("send", "CM.com had an internal error: try again"),
}


def cm_number(e164: str) -> str:
    """+32470123456 as CM's documented 0032470123456."""
    return "00" + e164.lstrip("+")


class CmSms(ProviderSms):
    provider = "CM.com"

    def request(self, number: str, text: str, secret: str) -> tuple[str, bytes, dict[str, str]]:
        payload: dict[str, Any] = {
            "messages": {
                "authentication": {"producttoken": secret},
                "msg": [
                    {
                        "allowedChannels": ["SMS"],
                        "from": self.sender,
                        "to": [{"number": cm_number(number)}],
                        "body": {"type": "auto", "content": text},
                    }
                ],
            }
        }
        headers = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}
        return f"{self.api_url}/v1.0/message", json.dumps(payload).encode("utf-8"), headers

    def problem(self, reply: Reply) -> tuple[Step, str] | None:
        data = reply.json()
        data = data if isinstance(data, dict) else {}
        code = data.get("errorCode")
        listed = data.get("messages")
        messages: list[Any] = listed if isinstance(listed, list) else []
        failed = [
            m
            for m in messages
            if isinstance(m, dict) and m.get("messageErrorCode") not in (0, None)
        ]
        if reply.ok and code == 0 and not failed:
            return None
        if failed:  # the message's own reason says more than "not all sent"
            code = failed[0].get("messageErrorCode")
            said = brief(failed[0].get("messageDetails") or data.get("details") or "")
        else:
            said = brief(data.get("details") or reply.reason)
        answer = f"errorCode {code}: {said}" if code is not None else f"HTTP {reply.status}"
        if isinstance(code, int) and code in _CM_ERRORS:
            step, template = _CM_ERRORS[code]
            return step, f"{template.format(sender=self.sender)} ({answer})."
        fallback: Step = "authenticate" if reply.status in (401, 403) else "send"
        return fallback, f"CM.com refused the message ({answer})."
