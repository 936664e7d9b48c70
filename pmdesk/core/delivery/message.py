"""The words of a security-code message, shared by every delivery method, in the recipient's
language (``CodeMessage.language``; the sentences' context is "mail", docs/i18n.md).

The text holds the code, so it is built only at the moment of sending and never logged.
"""

from __future__ import annotations

import email.utils
from datetime import UTC, tzinfo
from email.headerregistry import Address
from email.message import EmailMessage

from pmdesk.core.delivery.base import CodeMessage, DeliveryError, TrustAlert
from pmdesk.core.delivery.mail_dates import mail_time
from pmdesk.core.i18n import ENGLISH, Catalog, Text, load_catalog, translate
from pmdesk.core.validation import FieldInvalid, clean_email, mail_address

# The subjects in English (tests and logs compare them); the mail itself is in its language.
SUBJECT = translate("mail", "pmdesk security code")
TEST_SUBJECT = translate("mail", "pmdesk security code (test)")
DEFAULT_FROM = "pmdesk <pmdesk@localhost>"
# A trust alert's subject, before the login it is about.
ALERT_SUBJECT = "pmdesk: new trusted address for"
_ALERT_SUBJECT = translate("mail", "pmdesk: new trusted address for {login}")
SIGNATURE = ["", "-- ", "pmdesk", ""]


def _words(message: CodeMessage) -> Catalog:
    """The recipient's language's sentences (English when it has none)."""
    return load_catalog(message.language)


def subject(message: CodeMessage) -> str:
    words = _words(message)
    if message.alert is not None:
        return words.text(_ALERT_SUBJECT.format(login=message.alert.login))
    return words.text(TEST_SUBJECT if message.test else SUBJECT)


def _minutes(n: int) -> Text:
    if n == 1:
        return translate("mail", "1 minute")
    return translate("mail", "{n} minutes").format(n=n)


def _address(message: CodeMessage) -> Text | str:
    return message.requested_from or translate("mail", "an unknown address")


def _workstation(message: CodeMessage) -> Text | str:
    return message.workstation or translate("mail", "an unknown workstation")


def _lines(words: Catalog, text: Text) -> list[str]:
    return words.text(text).split("\n")


def body(message: CodeMessage) -> str:
    """The e-mail text (plain text, short lines), in the recipient's language."""
    words = _words(message)
    greeting = (
        translate("mail", "Hello {name},").format(name=message.person_name)
        if message.person_name
        else translate("mail", "Hello,")
    )
    lines = [words.text(greeting), ""]
    if message.alert is not None:
        return "\n".join(lines + alert_body(message.alert, language=message.language))
    if message.test:
        return "\n".join(lines + _test_body(message, words))
    lines += [
        words.text(translate("mail", "Your pmdesk security code is:")),
        "",
        f"    {message.code}",
        "",
        *_lines(
            words,
            translate(
                "mail",
                "It is valid for {minutes} and can be used only once.\n"
                "It was requested from the address {address} on the workstation {workstation}.",
            ).format(
                minutes=_minutes(message.valid_minutes),
                address=_address(message),
                workstation=_workstation(message),
            ),
        ),
        "",
        *_lines(
            words,
            translate(
                "mail",
                "If this was not you:\n"
                "  - do not share this code with anyone, not even someone who says they are\n"
                "    from IT support: nobody will ever ask you for it;\n"
                "  - tell your administrator;\n"
                "  - change your password.",
            ),
        ),
        *SIGNATURE,
    ]
    return "\n".join(lines)


def _test_body(message: CodeMessage, words: Catalog) -> list[str]:
    """A test message: it says so, and its code, if any, is an example that signs nobody in
    (the relay's test messages have none: no code leaves a hardened database but a real one)."""
    example = (
        [
            words.text(translate("mail", "Example code (a test: it signs nobody in):")),
            "",
            f"    {message.code}",
            "",
        ]
        if message.code
        else []
    )
    return [
        *_lines(
            words,
            translate(
                "mail",
                "THIS IS A TEST. An administrator sent this message from pmdesk to check that\n"
                "security codes reach you. You do not need to do anything.",
            ),
        ),
        "",
        *example,
        *_lines(
            words,
            translate(
                "mail",
                "Real security codes come in a message like this one when someone signs in\n"
                "from an address that is not trusted.\n"
                "This test was sent from the address {address} on the workstation {workstation}.",
            ).format(address=_address(message), workstation=_workstation(message)),
        ),
        "",
        *_lines(
            words,
            translate(
                "mail",
                "Never share a real code with anyone, not even someone who says they are\n"
                "from IT support: nobody will ever ask you for it.",
            ),
        ),
        *SIGNATURE,
    ]


def alert_body(
    alert: TrustAlert, tz: tzinfo | None = None, *, language: str = ENGLISH
) -> list[str]:
    """The lines of a trust alert: what was trusted, when (UTC and the sender's local time,
    or ``tz``), from which workstation, and the reference to give the helpdesk; in
    ``language``, its dates too (``mail_time``)."""
    words = load_catalog(language)
    moment = alert.trusted_at.replace(tzinfo=UTC)
    local = moment.astimezone(tz)
    labels = [
        words.text(translate("mail", "Address:")),
        words.text(translate("mail", "When:")),
        words.text(translate("mail", "Workstation:")),
    ]
    width = max(len(label) for label in labels) + 2
    zone = local.tzname() or words.text(translate("mail", "local time"))
    values = [
        alert.address,
        f"{mail_time(moment, language, seconds=True)} UTC "
        f"({mail_time(local, language, seconds=True)} {zone})",
        alert.workstation or words.text(translate("mail", "unknown")),
    ]
    return [
        *_lines(
            words,
            translate(
                "mail",
                "The address {address} was trusted for the pmdesk login {login}:\n"
                "signing in from there no longer asks for a security code.",
            ).format(address=alert.address, login=alert.login),
        ),
        "",
        *(f"    {label.ljust(width)}{value}" for label, value in zip(labels, values, strict=True)),
        "",
        words.text(translate("mail", "This address is outside the office networks.")),
        "",
        words.text(
            translate("mail", "Not you? Call the helpdesk (reference #{reference}).").format(
                reference=alert.reference
            )
        ),
        *SIGNATURE,
    ]


def sms_text(message: CodeMessage) -> str:
    """The text message: short, the code first so phones can offer to copy it; in the
    recipient's language."""
    words = _words(message)
    if message.test:
        text = (
            translate(
                "mail",
                "TEST - pmdesk security code: {code} (an example: it signs nobody in). "
                "Codes reach this phone. Sent from {address} ({workstation}).",
            )
            if message.code
            else translate(
                "mail",
                "TEST - pmdesk security code. Codes reach this phone. "
                "Sent from {address} ({workstation}).",
            )
        )
    else:
        text = translate(
            "mail",
            "pmdesk security code: {code}. Valid {minutes}, once. "
            "Asked from {address} ({workstation}). "
            "Not you? Do not share it, tell your administrator and change your password.",
        )
    return words.text(
        text.format(
            code=message.code,
            minutes=_minutes(message.valid_minutes),
            address=_address(message),
            workstation=message.workstation or translate("mail", "unknown workstation"),
        )
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
        text = (
            translate(
                "delivery", "{name} has no usable e-mail address, so no code can be sent."
            ).format(name=message.person_name)
            if message.person_name
            else translate(
                "delivery", "This person has no usable e-mail address, so no code can be sent."
            )
        )
        raise DeliveryError(text, step="send")
    return recipient
