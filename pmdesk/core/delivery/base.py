"""The one small interface every delivery method implements."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal, Protocol

from pmdesk.core.errors import PmdeskError

Method = Literal["outbox", "smtp", "sms"]
SmtpSecurity = Literal["starttls", "tls", "none"]


@dataclass(frozen=True)
class DeliverySettings:
    """How codes are delivered (a copy of the security settings row; no secrets in it)."""

    method: Method = "outbox"
    outbox_folder: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: SmtpSecurity = "starttls"
    smtp_username: str = ""
    smtp_from: str = ""
    sms_url: str = ""


@dataclass(frozen=True)
class CodeMessage:
    """Everything a security-code message says. Never logged: it holds the code."""

    person_name: str
    email: str
    phone: str
    code: str
    valid_minutes: int
    requested_from: str | None
    workstation: str
    test: bool = False


class DeliveryError(PmdeskError):
    """The code could not be delivered; the message says why, without secrets."""


class Delivery(Protocol):
    @property
    def label(self) -> str:
        """Where codes go, for the Security screen: 'E-mail via smtp.example.com (STARTTLS)'."""
        ...

    @property
    def encrypted(self) -> bool | None:
        """Whether the link to the mail/SMS server is encrypted (None: no network involved)."""
        ...

    def destination(self, message: CodeMessage) -> str | None:
        """The address or number this message will go to, or None when this person has none."""
        ...

    def send(self, message: CodeMessage) -> None:
        """Deliver the message or raise DeliveryError. Blocking: never call on the GUI thread."""
        ...


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1): no network is crossed.

    Names are not resolved: a DNS answer could point anywhere.
    """
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def without_code(text: str, message: CodeMessage) -> str:
    """``text`` with the code blanked out, for error messages built from a server's answer."""
    return text.replace(message.code, "******") if message.code else text
