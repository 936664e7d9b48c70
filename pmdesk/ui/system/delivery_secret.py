"""The delivery form's secret and words: whether the keyring holds the secret, what the secret
field and the line under the form say, whether a pasted key has the right form, and the names
of the methods in the list (all without widgets, for ``mail_settings.MailSettingsBox``)."""

from __future__ import annotations

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication

from pmdesk.core.delivery.base import DeliveryError, DeliverySettings
from pmdesk.core.delivery.factory import secret_key, secret_label
from pmdesk.core.delivery.fields import METHOD_LABELS
from pmdesk.core.screens import SecretState
from pmdesk.ui.system.delivery_words import core_word
from pmdesk.ui.translation import error_text, localize

translate = QCoreApplication.translate

# Short names for the method list (the core's METHOD_LABELS is the hint under it).
METHOD_NAMES: dict[str, object] = {
    "outbox": QT_TRANSLATE_NOOP("MailSettingsBox", "Outbox folder"),
    "smtp": QT_TRANSLATE_NOOP("MailSettingsBox", "E-mail: SMTP server"),
    "m365": QT_TRANSLATE_NOOP("MailSettingsBox", "E-mail: Microsoft 365"),
    "google": QT_TRANSLATE_NOOP("MailSettingsBox", "E-mail: Google Workspace"),
    "graph": QT_TRANSLATE_NOOP("MailSettingsBox", "E-mail: Microsoft Graph"),
    "sms": QT_TRANSLATE_NOOP("MailSettingsBox", "SMS: pmdesk gateway"),
    "twilio": QT_TRANSLATE_NOOP("MailSettingsBox", "SMS: Twilio"),
    "vonage": QT_TRANSLATE_NOOP("MailSettingsBox", "SMS: Vonage"),
    "cm": QT_TRANSLATE_NOOP("MailSettingsBox", "SMS: CM.com"),
}


def method_name(method: str) -> str:
    """The method's short name in the list, in the app's language."""
    return translate("MailSettingsBox", str(METHOD_NAMES[method]))


def method_description(method: str) -> str:
    """The core's name of the method, when it says more than the list does ('' otherwise)."""
    full = METHOD_LABELS.get(method, "")
    short = str(METHOD_NAMES.get(method, ""))
    bare = [t.split(": ", 1)[-1] for t in (full, short)]
    return "" if bare[0] == bare[1] else core_word(full)


def secret_problem(settings: DeliverySettings, text: str) -> str | None:
    """What is wrong with the secret typed, for the methods whose secret has a form: a
    service account's JSON key (google) or a PEM private key (a Microsoft certificate)."""
    if not text:
        return None
    if settings.method == "google":
        from pmdesk.core.delivery.oauth import parse_service_account

        try:
            parse_service_account(text)
        except DeliveryError as exc:
            return error_text(exc)
    elif (
        settings.method in {"m365", "graph"}
        and settings.m365_auth == "certificate"
        and "PRIVATE KEY-----" not in text
    ):
        return translate(
            "MailSettingsBox",
            "Paste the certificate's PEM private key, from -----BEGIN PRIVATE KEY----- "
            "to -----END PRIVATE KEY-----.",
        )
    return None


def service_account(text: str) -> str | None:
    """The service account a pasted JSON key names (None: not a service account key)."""
    from pmdesk.core.delivery.oauth import parse_service_account

    try:
        return str(parse_service_account(text)["client_email"])
    except DeliveryError:
        return None


def secret_placeholder(settings: DeliverySettings, state: SecretState) -> str:
    """What the empty secret field says: stored in the keyring, or not yet."""
    key = secret_key(settings)
    if key is None:
        return ""
    if key == state.key and state.stored:
        return translate("MailSettingsBox", "stored in the keyring; type to replace")
    return translate("MailSettingsBox", "not stored on this computer yet")


def keyring_text(settings: DeliverySettings, state: SecretState) -> str:
    """The line under the form: where the secret is kept (or why the keyring is no help)."""
    if settings.method == "outbox":
        return ""
    key = secret_key(settings)
    if state.problem and key == state.key:
        return translate("MailSettingsBox", "The keyring could not be read: {problem}").format(
            problem=localize(state.problem)
        )
    if settings.method == "smtp" and not settings.smtp_username.strip():
        return translate("MailSettingsBox", "No user name: the server is used without a login.")
    return translate(
        "MailSettingsBox",
        "The {what} is kept in this computer's keyring, never in the database: every "
        "workstation that sends codes needs it once.",
    ).format(what=core_word(secret_label(settings)))


def breakable(path: str) -> str:
    """A path that a word-wrapped label may break after each separator (a long folder name
    would otherwise make the whole form as wide as itself)."""
    return path.replace("/", "/\u200b").replace("\\", "\\\u200b")


KEY_FILE_MAX = 64 * 1024  # a JSON key is about 2 KB, a PEM key 2-4 KB


def read_key(path: str) -> str:
    """A key file's text, for the secret field (worker thread). OSError when it cannot be
    read; ValueError for a file that cannot be a key (too large, not text)."""
    with open(path, "rb") as file:
        data = file.read(KEY_FILE_MAX + 1)
    if len(data) > KEY_FILE_MAX:
        raise ValueError(translate("MailSettingsBox", "it is too large to be a key"))
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError(
            translate("MailSettingsBox", "it is not a text file (a JSON key or a PEM key)")
        ) from None
