"""Faster imports after PySide6: skip its per-module source scan (start-up of the desktop app).

Once PySide6 is loaded, every module imported afterwards is handed to
``shibokensupport.feature.feature_imported``, which reads the module's whole source file to see
whether it mentions "PySide6" (to know where ``from __feature__ import snake_case`` may apply).
For the few hundred modules the app imports after Qt (SQLAlchemy, the core, the screens) that
adds tens of milliseconds to the start. pmdesk uses no ``__feature__``: modules are classified
by name instead (pmdesk's own as PySide users, every other as not), without reading them.

Best effort: with a PySide6 whose internals differ, nothing is changed.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

log = logging.getLogger(__name__)


def skip_pyside_source_scan() -> bool:
    """Replace PySide6's import-time source scan by a lookup by name; True when done."""
    import PySide6.QtCore  # noqa: F401  (loads shibokensupport)

    feature = sys.modules.get("shibokensupport.feature")
    loader = sys.modules.get("shibokensupport.signature.loader")
    table = getattr(feature, "pyside_feature_dict", None)
    if (
        feature is None
        or loader is None
        or not isinstance(table, dict)
        or not callable(getattr(feature, "feature_imported", None))
        or not callable(getattr(loader, "feature_imported", None))
    ):
        log.debug("PySide6 internals differ: import scan left as it is")
        return False

    def feature_imported(module: Any) -> None:
        name = getattr(module, "__name__", None)
        if isinstance(name, str) and name not in table:
            # 0: uses PySide6 without features; -1: not a PySide6 user (the scan's answers).
            table[name] = 0 if name.partition(".")[0] == "pmdesk" else -1

    setattr(feature, "feature_imported", feature_imported)  # noqa: B010
    setattr(loader, "feature_imported", feature_imported)  # noqa: B010
    return True
