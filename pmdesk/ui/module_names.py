"""The permission modules' names as the screens show them, in the app's language.

``pmdesk.core.modules`` keeps each module's English name (the seed, the command line, the audit
log); a screen shows it through :func:`module_title`, translated at call time in the context
"Modules" (docs/i18n.md), so a language change shows at the next ``retranslate()``.
"""

from __future__ import annotations

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication

from pmdesk.core.modules import Module

translate = QCoreApplication.translate

#: Module key -> its English name, marked for lupdate (context "Modules").
_TITLES: dict[str, str] = {
    "job": str(QT_TRANSLATE_NOOP("Modules", "Job")),
    "invoicing": str(QT_TRANSLATE_NOOP("Modules", "Invoicing")),
    "workshop": str(QT_TRANSLATE_NOOP("Modules", "Workshop")),
    "maintenance": str(QT_TRANSLATE_NOOP("Modules", "Maintenance")),
    "planning": str(QT_TRANSLATE_NOOP("Modules", "Planning")),
    "car_fleet": str(QT_TRANSLATE_NOOP("Modules", "Car Fleet")),
    "report": str(QT_TRANSLATE_NOOP("Modules", "Report")),
    "system": str(QT_TRANSLATE_NOOP("Modules", "System")),
    "system.custom_fields": str(QT_TRANSLATE_NOOP("Modules", "System → Custom Fields")),
    "system.log": str(QT_TRANSLATE_NOOP("Modules", "System → Log")),
    "system.shortcut": str(QT_TRANSLATE_NOOP("Modules", "System → Shortcut")),
    "system.vault": str(QT_TRANSLATE_NOOP("Modules", "System → Vault")),
    "system.security": str(QT_TRANSLATE_NOOP("Modules", "System → Security")),
}


def module_title(module: Module | str) -> str:
    """The name a screen shows for ``module`` (a :class:`Module` or its key) in the app's
    language; a module this table does not know shows its English name."""
    if isinstance(module, Module):
        key, english = module.key, module.name
    else:
        key = english = module
    source = _TITLES.get(key)
    if source is None:
        return english
    return translate("Modules", source)
