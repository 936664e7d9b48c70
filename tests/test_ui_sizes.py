"""How large a screen's rooms may grow (issue 17, item 5; docs/architecture.md, "Layers").

- No module under pmdesk/ui above MAX_MODULE_LINES lines.
- No function or method above MAX_FUNCTION_LINES lines, except declarative layout: functions
  named ``_build*`` or ``_layout*`` (widgets made and placed, nothing decided).

The lists below held what was larger, each with its size as a ceiling (it could shrink, never
grow); both are empty now, and a module or function may not join them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pmdesk

UI = Path(pmdesk.__file__).resolve().parent / "ui"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
LAYOUT_PREFIXES = ("_build", "_layout")

# module (relative to pmdesk/ui) -> its lines today (none left: issue 17 split the last three)
LARGE_MODULES: dict[str, int] = {}

# "module:function" -> its lines today (none left: the last form constructors were split into
# _build* parts, and describe_failure into one helper per kind of failure)
LONG_FUNCTIONS: dict[str, int] = {}


def _modules() -> dict[str, Path]:
    return {f.relative_to(UI).as_posix(): f for f in sorted(UI.rglob("*.py"))}


def function_lengths(source: str) -> dict[str, int]:
    """Each function's name -> its lines (the longest where a name repeats)."""
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            found[node.name] = max(length, found.get(node.name, 0))
    return found


def too_long(source: str, module: str) -> list[str]:
    """``module:function (N lines)`` for each function over its ceiling."""
    found = []
    for name, length in function_lengths(source).items():
        if name.startswith(LAYOUT_PREFIXES):
            continue
        ceiling = LONG_FUNCTIONS.get(f"{module}:{name}", MAX_FUNCTION_LINES)
        if length > ceiling:
            found.append(f"{module}:{name} ({length} lines, at most {ceiling})")
    return found


def test_no_screen_module_grows_past_its_size() -> None:
    modules = _modules()
    assert "system/security.py" in modules, "the modules were read"
    found = []
    for module, file in modules.items():
        lines = len(file.read_text(encoding="utf-8").splitlines())
        ceiling = LARGE_MODULES.get(module, MAX_MODULE_LINES)
        if lines > ceiling:
            found.append(f"{module}: {lines} lines, at most {ceiling}")
    assert not found, "\n".join(found)


def test_no_screen_function_grows_past_its_size() -> None:
    found = []
    for module, file in _modules().items():
        found += too_long(file.read_text(encoding="utf-8"), module)
    assert not found, "\n".join(found)


def test_the_lists_name_only_what_exists() -> None:
    modules = _modules()
    assert set(LARGE_MODULES) <= set(modules)
    for key in LONG_FUNCTIONS:
        module, name = key.split(":")
        assert name in function_lengths(modules[module].read_text(encoding="utf-8")), key


def test_layout_functions_may_be_long() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(70))
    source = f"def _build_form():\n{body}\n\ndef decide():\n{body}\n"
    assert too_long(source, "m.py") == ["m.py:decide (71 lines, at most 60)"]
