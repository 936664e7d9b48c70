"""Security codes by e-mail over SMTP: STARTTLS or TLS with certificate checks, never a
plaintext fallback. Plain SMTP is allowed only to a server on this machine (a local relay).

The login is a user name and password from the keyring (``smtp``), or OAuth 2.0 (SASL XOAUTH2,
``m365`` and ``google``): the From mailbox signs in with a bearer token from ``oauth``.
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
    Step,
    StoredSecret,
    is_loopback_host,
    redo,
    without_code,
)
from pmdesk.core.delivery.message import email_destination, email_message, need_email
from pmdesk.core.delivery.oauth import TokenSource
from pmdesk.core.errors import message_of
from pmdesk.core.i18n import translate
from pmdesk.core.validation import FieldInvalid, clean_email, mail_address, mask_email

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


def mailbox_of(sender: str) -> str:
    """The bare From address in the form mail servers take (IDNA domain): the mailbox that
    signs in (XOAUTH2), is impersonated (Google) or sends (Graph)."""
    address = sender_address(sender)
    try:
        return mail_address(address)
    except FieldInvalid:
        return address


def check_smtp_settings(host: str, port: int, security: str, sender: str) -> None:
    """Raise DeliveryError when these settings cannot work (or would send in plaintext)."""
    if not host.strip():
        raise DeliveryError(translate("delivery", "Enter the mail server (SMTP host)."))
    if any(ch.isspace() or ch in "/@" for ch in host.strip()):
        raise DeliveryError(
            translate("delivery", "'{host}' is not a valid mail server name.").format(host=host)
        )
    if not 1 <= port <= 65535:
        raise DeliveryError(
            translate(
                "delivery", "The mail server port must be between 1 and 65535, not {port}."
            ).format(port=port)
        )
    if security not in _SECURITY_NAMES:
        raise DeliveryError(
            translate("delivery", "The mail security must be STARTTLS, TLS or none.")
        )
    if security == "none" and not is_loopback_host(host):
        raise DeliveryError(
            translate(
                "delivery",
                "Unencrypted SMTP is allowed only to a mail server on this computer (localhost), "
                "not to {host}: choose STARTTLS or TLS.",
            ).format(host=host)
        )
    if not sender.strip():
        raise DeliveryError(
            translate("delivery", "Enter the From address for security-code e-mails.")
        )
    try:
        clean_email(sender_address(sender), required=True)
    except FieldInvalid as exc:
        why = message_of(exc)
        raise DeliveryError(translate("delivery", "From address: {why}").format(why=why)) from None


class SmtpDelivery:
    """Sends each code as one e-mail. Blocking; never call on the GUI thread."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: SmtpSecurity,
        sender: str,
        username: str = "",
        password: StoredSecret | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        oauth: TokenSource | None = None,
        provider: str = "",
    ) -> None:
        """``password``: sign in as ``username`` with this secret (none: no login);
        ``oauth``: sign in with XOAUTH2 as the From mailbox instead; ``provider``
        ("Microsoft 365", "Google Workspace") names the service in messages."""
        check_smtp_settings(host, port, security, sender)
        self.oauth = oauth
        self.provider = provider
        self.host = host.strip()
        self.port = port
        self.security: SmtpSecurity = security
        self.sender = sender.strip()
        self.username = username.strip()
        self.timeout = timeout
        self._password = password
        self._ssl_context = ssl_context

    @property
    def label(self) -> str:
        where = f"{self.host}:{self.port} ({_SECURITY_NAMES[self.security]})"
        if self.provider:
            return translate(
                "delivery", "E-mail via {provider} ({where}, OAuth as {mailbox})"
            ).format(provider=self.provider, where=where, mailbox=self.mailbox)
        return translate("delivery", "E-mail via {where}").format(where=where)

    @property
    def mailbox(self) -> str:
        """The mailbox that signs in with XOAUTH2: the From address (ASCII form)."""
        return mailbox_of(self.sender)

    @property
    def encrypted(self) -> bool | None:
        return self.security != "none"

    def destination(self, message: CodeMessage) -> str | None:
        return email_destination(message)

    def send(self, message: CodeMessage) -> None:
        recipient = need_email(message)
        password = self._password.read() if self._password is not None else None
        token = self.oauth.token() if self.oauth is not None else None
        mail = email_message(message, sender=self.sender, recipient=recipient)
        context = self._ssl_context or ssl.create_default_context()
        phase: list[Step] = ["connect"]
        try:
            self._deliver(mail.as_bytes(), recipient, password, token, context, phase)
        except DeliveryError as exc:
            raise redo(exc, without_code(str(exc), message)) from None
        except (smtplib.SMTPException, OSError) as exc:
            step = _step_of(exc, phase[0])
            if step == "authenticate" and self.oauth is not None:
                self.oauth.forget()  # the next try asks for a new token
            text = without_code(self._explain(exc, recipient), message)
            log.info("Security code e-mail via %s:%s failed: %s", self.host, self.port, text)
            raise DeliveryError(text, step=step) from None
        log.info(
            "Security code e-mail sent via %s:%s to %s",
            self.host,
            self.port,
            mask_email(recipient),
        )

    def _deliver(
        self,
        mail: bytes,
        recipient: str,
        password: str | None,
        token: str | None,
        context: ssl.SSLContext,
        phase: list[Step],
    ) -> None:
        """Connect, sign in and send; ``phase[0]`` follows along, for the error's step."""
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
                        "TLS from the start) or the security setting.",
                        step="connect",
                    )
                client.starttls(context=context)
                client.ehlo()
            phase[0] = "authenticate"
            if token is not None:
                self._xoauth2(client, token)
            elif password is not None:
                try:
                    client.login(self.username, password)
                except smtplib.SMTPNotSupportedError:
                    raise DeliveryError(
                        f"The mail server {self.host} does not offer login (SMTP AUTH) on this "
                        "connection. Remove the username, or check the security setting.",
                        step="authenticate",
                    ) from None
            phase[0] = "send"
            client.sendmail(sender_address(self.sender), [recipient], mail)
            # The message was accepted; a rude goodbye changes nothing.
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
        finally:
            if client is not None:
                client.close()

    def _xoauth2(self, client: smtplib.SMTP, token: str) -> None:
        """AUTH XOAUTH2 as the From mailbox (Microsoft's and Google's SASL mechanism)."""
        offered = str(client.esmtp_features.get("auth", "")).upper().split()
        if "XOAUTH2" not in offered:
            raise DeliveryError(
                f"The mail server {self.host} does not offer OAuth sign-in (AUTH XOAUTH2) on "
                "this connection. Check the server name and port.",
                step="authenticate",
            )
        initial = f"user={self.mailbox}\x01auth=Bearer {token}\x01\x01"

        def respond(challenge: bytes | None = None) -> str:
            # A challenge after the token is the server's error report (JSON, Google);
            # an empty answer ends the exchange and the server says 535.
            return initial if challenge is None else ""

        client.auth("XOAUTH2", respond, initial_response_ok=True)

    def _explain(self, exc: BaseException, recipient: str) -> str:
        where = f"{self.host}:{self.port}"
        match exc:
            case smtplib.SMTPAuthenticationError() if "5.7.139" in _reply(exc):
                return self._auth_switched_off(exc)
            case smtplib.SMTPAuthenticationError() if self.oauth is not None:
                return self._token_refused(exc)
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

    def _auth_switched_off(self, exc: smtplib.SMTPResponseException) -> str:
        if self.oauth is None:
            return (
                f"The mail server {self.host} no longer accepts a password (basic "
                "authentication is switched off, as Microsoft 365 does from December 2026): "
                f"choose the Microsoft 365 (OAuth) or Microsoft Graph method ({_reply(exc)})."
            )
        return (
            f"SMTP AUTH is switched off for the mailbox {self.mailbox} or the whole tenant: "
            "in Exchange Online turn on Authenticated SMTP for it (Set-CASMailbox "
            "-SmtpClientAuthenticationDisabled $false), or choose the Microsoft Graph method "
            f"({_reply(exc)})."
        )

    def _token_refused(self, exc: smtplib.SMTPResponseException) -> str:
        if "Google" in self.provider:
            return (
                f"Google refused the token for {self.mailbox}: check that the From address is "
                "a user of your Workspace domain and that domain-wide delegation grants "
                f"https://mail.google.com/ ({_reply(exc)})."
            )
        return (
            f"Microsoft 365 refused the token for {self.mailbox}: register the app's service "
            "principal in Exchange Online (New-ServicePrincipal), give it FullAccess to this "
            "mailbox (Add-MailboxPermission), and grant the app SMTP.SendAsApp with admin "
            f"consent ({_reply(exc)})."
        )

    def _timed_out(self, where: str) -> str:
        return f"The mail server {where} did not answer within {self.timeout:g} seconds."


def _step_of(exc: BaseException, phase: Step) -> Step:
    """The step an SMTP failure belongs to; ``phase`` is how far the exchange had got."""
    match exc:
        case smtplib.SMTPAuthenticationError():
            return "authenticate"
        case smtplib.SMTPSenderRefused() if exc.smtp_code == 530:
            return "authenticate"
        case smtplib.SMTPRecipientsRefused() | smtplib.SMTPSenderRefused():
            return "send"
        case smtplib.SMTPDataError():
            return "send"
        case smtplib.SMTPConnectError() | ssl.SSLError() | ConnectionRefusedError():
            return "connect"
        case socket.gaierror():
            return "connect"
    return phase


def _text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return " ".join(text.split())[:200]


def _reply(exc: smtplib.SMTPResponseException) -> str:
    return f"{exc.smtp_code} {_text(exc.smtp_error)}"
