"""Module names shown in the screens, in the app's language."""

from __future__ import annotations

from pmdesk.core.modules import SYSTEM_SECURITY
from pmdesk.ui.module_names import module_title
from pmdesk.ui.translation import install_translation


def test_module_title_takes_a_module_or_its_key(qapp: object) -> None:
    assert module_title(SYSTEM_SECURITY) == "System → Security"
    assert module_title("system.security") == "System → Security"
    assert module_title("unknown") == "unknown"


def test_module_title_follows_the_language(qapp: object) -> None:
    install_translation("fr-BE")
    assert module_title(SYSTEM_SECURITY) == "Système → Sécurité"
    install_translation("nl-BE")
    assert module_title("system.security") == "Systeem → Beveiliging"
