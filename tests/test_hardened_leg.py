"""The hardened leg acts through a server session for every service (tests/helpers/acting.py):
a service added to pmdesk.core without joining its list would reach the server as nobody there,
and its tests would fail on the hardened leg only, for a reason far from the cause."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers.acting import SERVICES

CORE = Path(__file__).resolve().parent.parent / "pmdesk" / "core"


def _made_from_a_context() -> set[str]:
    """Classes of pmdesk.core whose constructor takes ``ctx: CoreContext`` first."""
    found: set[str] = set()
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    params = item.args.args[1:2]
                    annotation = params[0].annotation if params else None
                    if isinstance(annotation, ast.Name) and annotation.id == "CoreContext":
                        found.add(node.name)
    return found


def test_every_service_acts_through_a_server_session_on_the_hardened_leg() -> None:
    services = _made_from_a_context()
    assert "PersonnelService" in services  # the scan finds them
    # The sign-in acts for nobody yet, and its sign-out ends the session the sign-in presented.
    services.discard("LoginService")
    assert services == {service.__name__ for service in SERVICES}
