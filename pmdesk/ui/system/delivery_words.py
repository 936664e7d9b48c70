"""The core's words on the delivery form, marked for translation (context "DeliveryFields").

``pmdesk.core.delivery`` marks its field labels, hints, method names and failed steps for
translation itself (``Text``, context "delivery"); only ``factory.secret_label``'s names are
plain English, as the command line prints them. The form shows every one through
``core_word``: a ``Text`` through ``localize``, a secret's name translated here.
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
)
