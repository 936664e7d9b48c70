"""Module names shown in the screens: every module of the core has a translatable title."""

from __future__ import annotations

from pmdesk.core.modules import MODULES, SYSTEM_SECURITY
from pmdesk.ui import module_names
from pmdesk.ui.module_names import module_title


def test_every_module_has_its_english_name_marked() -> None:
    assert {m.key: m.name for m in MODULES} == module_names._TITLES


def test_module_title_takes_a_module_or_its_key(qapp: object) -> None:
    assert module_title(SYSTEM_SECURITY) == "System → Security"
    assert module_title("system.security") == "System → Security"
    assert module_title("unknown") == "unknown"
