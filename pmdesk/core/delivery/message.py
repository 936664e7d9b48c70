"""The words of a security-code message, shared by every delivery method.

The text holds the code, so it is built only at the moment of sending and never logged.
"""

from __future__ import annotations

import email.utils
from datetime import UTC, tzinfo
from email.headerregistry import Address
from email.message import EmailMessage

from pmdesk.core.delivery.base import CodeMessage, DeliveryError, TrustAlert
from pmdesk.core.validation import FieldInvalid, clean_email, mail_address

SUBJECT = "pmdesk security code"
TEST_SUBJECT = "pmdesk security code (test)"
DEFAULT_FROM = "pmdesk <pmdesk@localhost>"
#: A trust alert's subject, before the login it is about.
ALERT_SUBJECT = "pmdesk: new trusted address for"


def subject(message: CodeMessage) -> str:
    if message.alert is not None:
        return f"{ALERT_SUBJECT} {message.alert.login}"
    return TEST_SUBJECT if message.test else SUBJECT


def _minutes(n: int) -> str:
    return "1 minute" if n == 1 else f"{n} minutes"


def _origin(message: CodeMessage) -> str:
    address = message.requested_from or "an unknown address"
    workstation = message.workstation or "an unknown workstation"
    return f"the address {address} on the workstation {workstation}"


def body(message: CodeMessage) -> str:
    """The e-mail text (plain text, short lines)."""
    greeting = f"Hello {message.person_name}," if message.person_name else "Hello,"
    lines = [greeting, ""]
    if message.alert is not None:
        return "\n".join(lines + alert_body(message.alert))
    if message.test:
        return "\n".join(lines + _test_body(message))
    lines += [
        "Your pmdesk security code is:",
        "",
        f"    {message.code}",
        "",
        f"It is valid for {_minutes(message.valid_minutes)} and can be used only once.",
        f"It was requested from {_origin(message)}.",
        "",
        "If this was not you:",
        "  - do not share this code with anyone, not even someone who says they are",
        "    from IT support: nobody will ever ask you for it;",
        "  - tell your administrator;",
        "  - change your password.",
        "",
        "-- ",
        "pmdesk",
        "",
    ]
    return "\n".join(lines)


def _test_body(message: CodeMessage) -> list[str]:
    """A test message: it says so, and its code, if any, is an example that signs nobody in
    (the relay's test messages have none: no code leaves a hardened database but a real one)."""
    example = (
        ["Example code (a test: it signs nobody in):", "", f"    {message.code}", ""]
        if message.code
        else []
    )
    return [
        "THIS IS A TEST. An administrator sent this message from pmdesk to check that",
        "security codes reach you. You do not need to do anything.",
        "",
        *example,
        "Real security codes come in a message like this one when someone signs in",
        "from an address that is not trusted.",
        f"This test was sent from {_origin(message)}.",
        "",
        "Never share a real code with anyone, not even someone who says they are",
        "from IT support: nobody will ever ask you for it.",
        "",
        "-- ",
        "pmdesk",
        "",
    ]


def alert_body(alert: TrustAlert, tz: tzinfo | None = None) -> list[str]:
    """The lines of a trust alert: what was trusted, when (UTC and the sender's local time,
    or ``tz``), from which workstation, and the reference to give the helpdesk."""
    moment = alert.trusted_at.replace(tzinfo=UTC)
    local = moment.astimezone(tz)
    return [
        f"The address {alert.address} was trusted for the pmdesk login {alert.login}:",
        "signing in from there no longer asks for a security code.",
        "",
        f"    Address:      {alert.address}",
        f"    When:         {moment:%Y-%m-%d %H:%M:%S} UTC "
        f"({local:%Y-%m-%d %H:%M:%S} {local.tzname() or 'local time'})",
        f"    Workstation:  {alert.workstation or 'unknown'}",
        "",
        "This address is outside the office networks.",
        "",
        f"Not you? Call the helpdesk (reference #{alert.reference}).",
        "",
        "-- ",
        "pmdesk",
        "",
    ]


def sms_text(message: CodeMessage) -> str:
    """The text message: short, the code first so phones can offer to copy it."""
    if message.test:
        example = f": {message.code} (an example: it signs nobody in)" if message.code else ""
        return (
            f"TEST - pmdesk security code{example}. "
            "Codes reach this phone. "
            f"Sent from {message.requested_from or 'an unknown address'}"
            f" ({message.workstation or 'unknown workstation'})."
        )
    return (
        f"pmdesk security code: {message.code}. "
        f"Valid {_minutes(message.valid_minutes)}, once. "
        f"Asked from {message.requested_from or 'an unknown address'}"
        f" ({message.workstation or 'unknown workstation'}). "
        "Not you? Do not share it, tell your administrator and change your password."
    )


def email_message(message: CodeMessage, *, sender: str, recipient: str) -> EmailMessage:
    """A complete e-mail, ready for smtplib or an .eml file."""
    mail = EmailMessage()
    mail["Subject"] = subject(message)
    mail["From"] = sender or DEFAULT_FROM
    mail["To"] = (
        Address(display_name=message.person_name, addr_spec=recipient)
        if message.person_name
        else recipient
    )
    mail["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = email.utils.make_msgid(domain=_domain(sender))
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(body(message))
    return mail


def _domain(sender: str) -> str:
    _, addr = email.utils.parseaddr(sender)
    return addr.rsplit("@", 1)[1] if "@" in addr else "pmdesk.localhost"


def email_destination(message: CodeMessage) -> str | None:
    """The recipient address as mail servers take it (IDNA domain), or None when the person
    has no usable e-mail address."""
    try:
        return mail_address(message.email) if clean_email(message.email) else None
    except FieldInvalid:
        return None


def need_email(message: CodeMessage) -> str:
    """The recipient address, or DeliveryError (step "send") when there is none."""
    recipient = email_destination(message)
    if recipient is None:
        who = message.person_name or "This person"
        raise DeliveryError(
            f"{who} has no usable e-mail address, so no code can be sent.", step="send"
        )
    return recipient
