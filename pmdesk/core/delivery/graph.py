"""Security codes by e-mail through Microsoft Graph ``sendMail``: works where SMTP AUTH is
switched off. The app (Entra ID client credentials, scope ``https://graph.microsoft.com/
.default``) needs the ``Mail.Send`` application permission, best limited to the sending
mailbox with an application access policy or RBAC for Applications.

Request (https://learn.microsoft.com/graph/api/user-sendmail):
``POST {graph}/v1.0/users/{from}/sendMail`` with ``Authorization: Bearer <token>`` and the JSON
``{"message": {"subject", "body": {"contentType": "Text", "content"}, "toRecipients":
[{"emailAddress": {"address"}}]}, "saveToSentItems": false}``; ``202 Accepted`` means sent.
Errors are ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import json
import logging
import ssl
import urllib.parse

from pmdesk.core.delivery.base import CodeMessage, DeliveryError, Step, redo, without_code
from pmdesk.core.delivery.http import DEFAULT_TIMEOUT, Reply, brief, post
from pmdesk.core.delivery.message import body, email_destination, need_email, subject
from pmdesk.core.delivery.oauth import TokenSource
from pmdesk.core.delivery.smtp import mailbox_of
from pmdesk.core.i18n import translate
from pmdesk.core.validation import mask_email

log = logging.getLogger(__name__)


class GraphDelivery:
    """Sends each code as one e-mail from the From mailbox. Blocking; never on the GUI thread."""

    def __init__(
        self,
        *,
        sender: str,
        tokens: TokenSource,
        graph_url: str = "https://graph.microsoft.com",
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.sender = sender.strip()
        self.mailbox = mailbox_of(self.sender)
        self.tokens = tokens
        self.graph_url = graph_url.rstrip("/")
        self.timeout = timeout
        self._ssl_context = ssl_context

    @property
    def label(self) -> str:
        return translate("delivery", "E-mail via Microsoft Graph (HTTPS, from {mailbox})").format(
            mailbox=self.mailbox
        )

    @property
    def encrypted(self) -> bool | None:
        return True

    @property
    def url(self) -> str:
        return f"{self.graph_url}/v1.0/users/{urllib.parse.quote(self.mailbox, safe='@')}/sendMail"

    def destination(self, message: CodeMessage) -> str | None:
        return email_destination(message)

    def send(self, message: CodeMessage) -> None:
        recipient = need_email(message)
        token = self.tokens.token()
        to: dict[str, str] = {"address": recipient}
        if message.person_name:
            to["name"] = message.person_name
        payload = {
            "message": {
                "subject": subject(message),
                "body": {"contentType": "Text", "content": body(message)},
                "toRecipients": [{"emailAddress": to}],
            },
            "saveToSentItems": False,
        }
        try:
            reply = post(
                self.url,
                body=json.dumps(payload).encode("utf-8"),
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                },
                service="Microsoft Graph",
                ssl_context=self._ssl_context,
                timeout=self.timeout,
            )
        except DeliveryError as exc:
            raise redo(exc, without_code(str(exc), message)) from None
        if reply.status != 202 and not reply.ok:
            if reply.status == 401:
                self.tokens.forget()
            step, text = self._explain(reply)
            text = without_code(text, message)
            log.info("Security code via Microsoft Graph failed: %s", text)
            raise DeliveryError(text, step=step)
        log.info("Security code e-mail sent via Microsoft Graph to %s", mask_email(recipient))

    def _explain(self, reply: Reply) -> tuple[Step, str]:
        data = reply.json()
        error = data.get("error") if isinstance(data, dict) else None
        code = str(error.get("code") or "") if isinstance(error, dict) else ""
        said = brief(error.get("message") or "") if isinstance(error, dict) else ""
        answer = (
            f"HTTP {reply.status} {code}: {said}".rstrip(": ")
            if code
            else (f"HTTP {reply.status} {reply.reason}")
        )
        if reply.status == 401:
            return "authenticate", (
                f"Microsoft Graph refused the app's token ({answer}). Check that the app "
                "registration is in the same tenant as the mailbox."
            )
        if reply.status == 403:
            return "authenticate", (
                f"Microsoft Graph does not let the app send as {self.mailbox} ({answer}): grant "
                "it the Mail.Send application permission with admin consent, and check that "
                "the application access policy or RBAC scope includes this mailbox."
            )
        if reply.status == 404 or code in {"ErrorInvalidUser", "MailboxNotEnabledForRESTAPI"}:
            return "send", (
                f"Microsoft Graph does not know the mailbox {self.mailbox} ({answer}): the From "
                "address must be an Exchange Online mailbox of the tenant."
            )
        if reply.status == 429:
            return "send", f"Microsoft Graph is throttling this app: try again later ({answer})."
        return "send", f"Microsoft Graph refused the message ({answer})."
