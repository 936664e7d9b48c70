"""The app's translations: ``resources/translations/pmdesk_<code>.qm``, when shipped."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QTranslator

from pmdesk.paths import resource_dir


def install_translation(code: str) -> bool:
    """Load ``resources/translations/pmdesk_<code>.qm`` if shipped; False when there is none.

    The translator is kept as a child of the application (no module-level state).
    """
    app = QCoreApplication.instance()
    if app is None:
        return False
    old = app.findChild(QTranslator, "pmdeskTranslator")
    if old is not None:
        app.removeTranslator(old)
        old.deleteLater()
    if code == "en-GB":
        return True
    translator = QTranslator(app)
    translator.setObjectName("pmdeskTranslator")
    folder = resource_dir() / "translations"
    if translator.load(f"pmdesk_{code.replace('-', '_')}", str(folder)):
        app.installTranslator(translator)
        return True
    translator.deleteLater()
    return False
