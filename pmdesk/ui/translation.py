"""The app's language: Qt's translator for ``resources/i18n/pmdesk_<code>.qm``, the locale that
formats dates and numbers, and the core's sentences shown in that language (docs/i18n.md)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, QLibraryInfo, QLocale, QTranslator

from pmdesk.core.i18n import ENGLISH, I18N_DIR, Text, catalog_stem, language_code

#: A widget's texts are set in ``retranslate()``; Qt sends this event when the language changes.
LANGUAGE_CHANGE = QEvent.Type.LanguageChange
PMDESK_TRANSLATOR = "pmdeskTranslator"
QT_TRANSLATOR = "qtTranslator"
#: The application's property that holds the installed language (no module-level state).
LANGUAGE_PROPERTY = "pmdeskLanguage"


def install_translation(code: str) -> bool:
    """Show the app in ``code`` from now on, in every open window at once: Qt sends each widget
    a LanguageChange event, on which it calls its ``retranslate()``. The default QLocale follows,
    so dates and numbers are written the language's way. False when no catalogue is shipped.

    The translator is kept as a child of the application (no module-level state).
    """
    code = language_code(code)
    QLocale.setDefault(QLocale(code.replace("-", "_")))
    app = QCoreApplication.instance()
    if app is None:
        return False
    app.setProperty(LANGUAGE_PROPERTY, code)
    # Every one: a translator removed before stays a child until its deferred delete has run,
    # and would be found (and "removed") again in place of the one installed since.
    for name in (QT_TRANSLATOR, PMDESK_TRANSLATOR):
        for old in app.findChildren(QTranslator, name):
            app.removeTranslator(old)
            old.setObjectName("")
            old.deleteLater()
    if code == ENGLISH:
        return True
    # Qt's own words first (a standard button's "Cancel"), then pmdesk's, which Qt asks first.
    qt_folder = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    _install(app, QT_TRANSLATOR, f"qtbase_{code.split('-')[0]}", qt_folder)
    return _install(app, PMDESK_TRANSLATOR, catalog_stem(code), str(I18N_DIR))


def _install(app: QCoreApplication, name: str, stem: str, folder: str) -> bool:
    translator = QTranslator(app)
    translator.setObjectName(name)
    if translator.load(stem, folder):
        app.installTranslator(translator)
        return True
    translator.deleteLater()
    return False


def current_language() -> str:
    """The language the app shows now: the one ``install_translation`` last installed, else
    English (what the strings are written in, whatever the system's locale)."""
    app = QCoreApplication.instance()
    shown = app.property(LANGUAGE_PROPERTY) if app is not None else None
    return language_code(shown) if isinstance(shown, str) else ENGLISH


def localize(value: Any) -> str:
    """A sentence from the core in the app's language: a :class:`Text` is translated in its
    context with its arguments (each argument that is a Text too); anything else as ``str``."""
    if not isinstance(value, Text):
        return str(value)
    pattern = QCoreApplication.translate(value.context, value.source)
    if not value.args:
        return pattern
    args = {k: localize(v) if isinstance(v, Text) else v for k, v in value.args.items()}
    return pattern.format(**args)


def error_text(error: BaseException) -> str:
    """What an exception from the core says, in the app's language (``str(error)`` would give
    the English: Python copies a ``str`` subclass into a plain ``str``)."""
    from pmdesk.core.errors import message_of  # not before the login dialog paints

    return localize(message_of(error))


class Retranslating:
    """Mixin for a QWidget (put it first): ``retranslate()`` sets every text the widget shows;
    ``__init__`` calls it once, and it runs again whenever the language changes."""

    def retranslate(self) -> None:
        raise NotImplementedError

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == LANGUAGE_CHANGE:
            self.retranslate()
        super().changeEvent(event)  # type: ignore[misc]
