"""The permission modules' names as the screens show them, in the app's language.

``pmdesk.core.modules`` marks each module's English name for translation (context "modules",
docs/i18n.md); a screen shows it through :func:`module_title`, translated at call time, so a
language change shows at the next ``retranslate()``.
"""

from __future__ import annotations

from pmdesk.core.modules import MODULES, Module
from pmdesk.ui.translation import localize

_BY_KEY = {m.key: m for m in MODULES}


def module_title(module: Module | str) -> str:
    """The name a screen shows for ``module`` (a :class:`Module` or its key) in the app's
    language; a key no module has is shown as it is."""
    found = module if isinstance(module, Module) else _BY_KEY.get(module)
    return localize(found.name) if found is not None else str(module)
