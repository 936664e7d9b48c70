"""Security codes by e-mail over SMTP: STARTTLS or TLS with certificate checks, never a
plaintext fallback. Plain SMTP is allowed only to a server on this machine (a local relay).
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import smtplib
import socket
import ssl

from pmdesk.core.delivery.base import (
    CodeMessage,
    DeliveryError,
    SmtpSecurity,
    is_loopback_host,
    without_code,
)
from pmdesk.core.delivery.message import email_message
from pmdesk.core.validation import FieldInvalid, clean_email, mail_address, mask_email
from pmdesk.secrets import SecretStore, SecretStoreError, smtp_key

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 15.0
DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "tls": 465, "none": 25}
_SECURITY_NAMES: dict[str, str] = {
    "starttls": "STARTTLS",
    "tls": "TLS",
    "none": "no encryption, local server only",
}


def sender_address(sender: str) -> str:
    """The bare address of a From value such as ``Workshop <noreply@example.com>``."""
    _, addr = email.utils.parseaddr(sender)
    return addr


def check_smtp_settings(host: str, port: int, security: str, sender: str) -> None:
    """Raise DeliveryError when these settings cannot work (or would send in plaintext)."""
    if not host.strip():
        raise DeliveryError("Enter the mail server (SMTP host).")
    if any(ch.isspace() or ch in "/@" for ch in host.strip()):
        raise DeliveryError(f"'{host}' is not a valid mail server name.")
    if not 1 <= port <= 65535:
        raise DeliveryError(f"The mail server port must be between 1 and 65535, not {port}.")
    if security not in _SECURITY_NAMES:
        raise DeliveryError("The mail security must be STARTTLS, TLS or none.")
    if security == "none" and not is_loopback_host(host):
        raise DeliveryError(
            f"Unencrypted SMTP is allowed only to a mail server on this computer (localhost), "
            f"not to {host}: choose STARTTLS or TLS."
        )
    if not sender.strip():
        raise DeliveryError("Enter the From address for security-code e-mails.")
    try:
        clean_email(sender_address(sender), required=True)
    except FieldInvalid as exc:
        raise DeliveryError(f"From address: {exc}") from None


class SmtpDelivery:
    """Sends each code as one e-mail. Blocking; never call on the GUI thread."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: SmtpSecurity,
        sender: str,
        secrets: SecretStore,
        username: str = "",
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        check_smtp_settings(host, port, security, sender)
        self.host = host.strip()
        self.port = port
        self.security: SmtpSecurity = security
        self.sender = sender.strip()
        self.username = username.strip()
        self.timeout = timeout
        self._secrets = secrets
        self._ssl_context = ssl_context

    @property
    def label(self) -> str:
        return f"E-mail via {self.host}:{self.port} ({_SECURITY_NAMES[self.security]})"

    @property
    def encrypted(self) -> bool | None:
        return self.security != "none"

    def destination(self, message: CodeMessage) -> str | None:
        try:
            return mail_address(message.email) if clean_email(message.email) else None
        except FieldInvalid:
            return None

    def send(self, message: CodeMessage) -> None:
        recipient = self.destination(message)
        if recipient is None:
            who = message.person_name or "This person"
            raise DeliveryError(f"{who} has no usable e-mail address, so no code can be sent.")
        password = self._password()
        mail = email_message(message, sender=self.sender, recipient=recipient)
        context = self._ssl_context or ssl.create_default_context()
        try:
            self._deliver(mail.as_bytes(), recipient, password, context)
        except DeliveryError as exc:
            raise DeliveryError(without_code(str(exc), message)) from None
        except (smtplib.SMTPException, OSError) as exc:
            text = without_code(self._explain(exc, recipient), message)
            log.info("Security code e-mail via %s:%s failed: %s", self.host, self.port, text)
            raise DeliveryError(text) from None
        log.info(
            "Security code e-mail sent via %s:%s to %s",
            self.host,
            self.port,
            mask_email(recipient),
        )

    def _password(self) -> str | None:
        if not self.username:
            return None
        try:
            password = self._secrets.get(smtp_key(self.host, self.username))
        except SecretStoreError as exc:
            raise DeliveryError(f"The mail server password cannot be read: {exc}") from None
        if not password:
            raise DeliveryError(
                f"No password for the mail account '{self.username}' on {self.host} is stored "
                "in this computer's keyring. Enter it in System → Security, or run: pmdesk mail "
                "configure --method smtp ... --username ... --password-stdin"
            )
        return password

    def _deliver(
        self, mail: bytes, recipient: str, password: str | None, context: ssl.SSLContext
    ) -> None:
        client: smtplib.SMTP | None = None
        try:
            if self.security == "tls":
                client = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=context
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            client.ehlo_or_helo_if_needed()
            if self.security == "starttls":
                if not client.has_extn("starttls"):
                    raise DeliveryError(
                        f"The mail server {self.host}:{self.port} does not offer STARTTLS, so "
                        "nothing was sent (pmdesk never falls back to an unencrypted "
                        "connection). Check the port (587 usually offers STARTTLS, 465 uses "
                        "TLS from the start) or the security setting."
                    )
                client.starttls(context=context)
                client.ehlo()
            if password is not None:
                try:
                    client.login(self.username, password)
                except smtplib.SMTPNotSupportedError:
                    raise DeliveryError(
                        f"The mail server {self.host} does not offer login (SMTP AUTH) on this "
                        "connection. Remove the username, or check the security setting."
                    ) from None
            client.sendmail(sender_address(self.sender), [recipient], mail)
            # The message was accepted; a rude goodbye changes nothing.
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
        finally:
            if client is not None:
                client.close()

    def _explain(self, exc: BaseException, recipient: str) -> str:
        where = f"{self.host}:{self.port}"
        match exc:
            case smtplib.SMTPAuthenticationError():
                return (
                    f"The mail server {self.host} refused the username or password for "
                    f"'{self.username}' ({_reply(exc)})."
                )
            case smtplib.SMTPRecipientsRefused():
                answers = "; ".join(
                    f"{code} {_text(text)}" for code, text in exc.recipients.values()
                )
                return f"The mail server refused the recipient {recipient} ({answers})."
            case smtplib.SMTPSenderRefused() if exc.smtp_code == 530:
                return (
                    f"The mail server {self.host} requires a login ({_reply(exc)}): set the "
                    "username and store its password."
                )
            case smtplib.SMTPSenderRefused():
                return (
                    f"The mail server refused the sender address "
                    f"{sender_address(self.sender)} ({_reply(exc)}). Check the From address."
                )
            case smtplib.SMTPDataError():
                return f"The mail server refused the message ({_reply(exc)})."
            case smtplib.SMTPConnectError():
                return f"The mail server {where} did not accept the connection ({_reply(exc)})."
            case smtplib.SMTPServerDisconnected() if isinstance(exc.__context__, TimeoutError):
                return self._timed_out(where)
            case smtplib.SMTPServerDisconnected():
                return (
                    f"The mail server {where} closed the connection unexpectedly. Check the "
                    "port and security setting."
                )
            case smtplib.SMTPResponseException():
                return f"The mail server {where} answered with an error ({_reply(exc)})."
            case smtplib.SMTPException():
                return f"Sending by e-mail via {where} failed: {exc}"
            case ssl.SSLCertVerificationError():
                reason = exc.verify_message or exc.reason or "unknown reason"
                return (
                    f"The certificate of the mail server {self.host} is not trusted ({reason}). "
                    "A self-signed certificate or one from an unknown authority is refused: "
                    "give the server a certificate from a trusted authority, or add that "
                    "authority to this computer's trusted certificates."
                )
            case ssl.SSLError():
                return (
                    f"The encrypted connection to the mail server {where} failed "
                    f"({exc.reason or exc}). Check the security setting: port 465 usually "
                    "uses TLS, port 587 STARTTLS."
                )
            case ConnectionRefusedError():
                return (
                    f"Could not connect to the mail server {where}: connection refused. Check "
                    "the host name and port, and that the server is running."
                )
            case TimeoutError():
                return f"The mail server {where} did not answer within {self.timeout:g} seconds."
            case socket.gaierror():
                return f"The mail server name '{self.host}' could not be found. Check it."
            case OSError():
                return f"Could not connect to the mail server {where}: {exc.strerror or exc}."
        return f"Sending by e-mail via {where} failed."  # pragma: no cover

    def _timed_out(self, where: str) -> str:
        return f"The mail server {where} did not answer within {self.timeout:g} seconds."


def _text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return " ".join(text.split())[:200]


def _reply(exc: smtplib.SMTPResponseException) -> str:
    return f"{exc.smtp_code} {_text(exc.smtp_error)}"
