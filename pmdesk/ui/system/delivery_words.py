"""The core's words on the delivery form, marked for translation (context "DeliveryFields").

``pmdesk.core.delivery`` names each field, hint, secret, method and failed step in English
(``fields.FIELD_LABELS``, ``FIELD_HINTS``, ``SECRET_HINTS``, ``METHOD_LABELS``,
``factory.secret_label``, ``base.STEP_NAMES``); the form shows them through ``core_word``,
which translates them here, at display time. A sentence the core already made translatable
(a ``Text``) is shown through ``localize``.
"""

from __future__ import annotations

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication

from pmdesk.core.i18n import Text
from pmdesk.ui.translation import localize

CONTEXT = "DeliveryFields"


def core_word(text: object) -> str:
    """One of the core's delivery words (or any text marked in this context), translated."""
    if isinstance(text, Text):
        return localize(text)
    return QCoreApplication.translate(CONTEXT, str(text)) if text else ""


WORDS: tuple[object, ...] = (
    # fields.FIELD_LABELS
    QT_TRANSLATE_NOOP("DeliveryFields", "Outbox folder"),
    QT_TRANSLATE_NOOP("DeliveryFields", "Mail server"),
    QT_TRANSLATE_NOOP("DeliveryFields", "Port"),
    QT_TRANSLATE_NOOP("DeliveryFields", "Security"),
    QT_TRANSLATE_NOOP("DeliveryFields", "User name"),
    QT_TRANSLATE_NOOP("DeliveryFields", "From address"),
    QT_TRANSLATE_NOOP("DeliveryFields", "Gateway URL"),
    QT_TRANSLATE_NOOP("DeliveryFields", "Directory (tenant) ID"),
    QT_TRANSLATE_NOOP("DeliveryFields", "Application (client) ID"),
    QT_TRANSLATE_NOOP("DeliveryFields", "Sign in with"),
    QT_TRANSLATE_NOOP("DeliveryFields", "Certificate thumbprint"),
    QT_TRANSLATE_NOOP("DeliveryFields", "Service account"),
    QT_TRANSLATE_NOOP("DeliveryFields", "Account"),
    QT_TRANSLATE_NOOP("DeliveryFields", "Sender"),
    QT_TRANSLATE_NOOP("DeliveryFields", "Numbers without country code are in"),
    # fields.FIELD_HINTS
    QT_TRANSLATE_NOOP("DeliveryFields", "Empty: the data folder of each workstation."),
    QT_TRANSLATE_NOOP(
        "DeliveryFields", "m365 and google: leave empty for smtp.office365.com / smtp.gmail.com."
    ),
    QT_TRANSLATE_NOOP("DeliveryFields", "587 with STARTTLS, 465 with TLS."),
    QT_TRANSLATE_NOOP("DeliveryFields", "Never unencrypted, except to a relay on this computer."),
    QT_TRANSLATE_NOOP("DeliveryFields", "Only if the mail server needs a login."),
    QT_TRANSLATE_NOOP(
        "DeliveryFields", "Microsoft 365, Google, Graph: the mailbox that sends the codes."
    ),
    QT_TRANSLATE_NOOP("DeliveryFields", "The https:// address your gateway gives you."),
    QT_TRANSLATE_NOOP("DeliveryFields", "Entra admin center → Overview → Tenant ID."),
    QT_TRANSLATE_NOOP(
        "DeliveryFields",
        "Entra admin center → App registrations → your app → Application (client) ID.",
    ),
    QT_TRANSLATE_NOOP(
        "DeliveryFields", "A client secret, or a certificate uploaded to the app registration."
    ),
    QT_TRANSLATE_NOOP(
        "DeliveryFields",
        "Entra admin center → App registrations → your app → Certificates & secrets → Thumbprint.",
    ),
    QT_TRANSLATE_NOOP(
        "DeliveryFields",
        "Taken from the service account's JSON key (Google Cloud console → IAM & Admin → "
        "Service accounts → Keys).",
    ),
    QT_TRANSLATE_NOOP(
        "DeliveryFields",
        "Twilio: Console → Account Info → Account SID. Vonage: Dashboard → API key.",
    ),
    QT_TRANSLATE_NOOP(
        "DeliveryFields",
        "A number (+32…), a name of up to 11 letters and digits, or (Twilio) a Messaging "
        "Service SID (MG…).",
    ),
    QT_TRANSLATE_NOOP("DeliveryFields", "A country code such as BE or NL."),
    # fields.SECRET_HINTS
    QT_TRANSLATE_NOOP("DeliveryFields", "The mail account's password."),
    QT_TRANSLATE_NOOP(
        "DeliveryFields",
        "Client secret: Certificates & secrets → the secret's Value (not its ID). Certificate: "
        "its PEM private key.",
    ),
    QT_TRANSLATE_NOOP("DeliveryFields", "The service account's JSON key file, as downloaded."),
    QT_TRANSLATE_NOOP("DeliveryFields", "The gateway's bearer token."),
    QT_TRANSLATE_NOOP("DeliveryFields", "Twilio Console → Account Info → Auth Token."),
    QT_TRANSLATE_NOOP("DeliveryFields", "Vonage API Dashboard → API secret."),
    QT_TRANSLATE_NOOP("DeliveryFields", "CM.com portal → your messaging gateway → product token."),
    # factory.secret_label, as a label (capitalised) and inside a sentence
    QT_TRANSLATE_NOOP("DeliveryFields", "Gateway token"),
    QT_TRANSLATE_NOOP("DeliveryFields", "Auth Token"),
    QT_TRANSLATE_NOOP("DeliveryFields", "API secret"),
    QT_TRANSLATE_NOOP("DeliveryFields", "Product token"),
    QT_TRANSLATE_NOOP("DeliveryFields", "Client secret"),
    QT_TRANSLATE_NOOP("DeliveryFields", "Secret"),
    QT_TRANSLATE_NOOP("DeliveryFields", "password"),
    QT_TRANSLATE_NOOP("DeliveryFields", "gateway token"),
    QT_TRANSLATE_NOOP("DeliveryFields", "service account JSON key"),
    QT_TRANSLATE_NOOP("DeliveryFields", "product token"),
    QT_TRANSLATE_NOOP("DeliveryFields", "client secret"),
    QT_TRANSLATE_NOOP("DeliveryFields", "certificate private key (PEM)"),
    QT_TRANSLATE_NOOP("DeliveryFields", "secret"),
    # fields.METHOD_LABELS (the hint under the method list)
    QT_TRANSLATE_NOOP("DeliveryFields", "Outbox folder (for trying pmdesk out; nothing is sent)"),
    QT_TRANSLATE_NOOP("DeliveryFields", "E-mail: mail server (SMTP) with a password"),
    QT_TRANSLATE_NOOP("DeliveryFields", "E-mail: Microsoft 365 (SMTP with OAuth)"),
    QT_TRANSLATE_NOOP("DeliveryFields", "E-mail: Google Workspace (SMTP with a service account)"),
    QT_TRANSLATE_NOOP("DeliveryFields", "Text message: pmdesk SMS gateway"),
    QT_TRANSLATE_NOOP("DeliveryFields", "Text message: Twilio"),
    QT_TRANSLATE_NOOP("DeliveryFields", "Text message: Vonage"),
    QT_TRANSLATE_NOOP("DeliveryFields", "Text message: CM.com"),
    # base.STEP_NAMES (a failed test says where it failed)
    QT_TRANSLATE_NOOP("DeliveryFields", "settings"),
    QT_TRANSLATE_NOOP("DeliveryFields", "getting a token"),
    QT_TRANSLATE_NOOP("DeliveryFields", "connecting"),
    QT_TRANSLATE_NOOP("DeliveryFields", "signing in"),
    QT_TRANSLATE_NOOP("DeliveryFields", "sending"),
)
