"""What pmdesk's modules may import: one another in one direction only (no circle, however it
is closed), and the database layer (SQLAlchemy, Alembic) from the core only, never from a screen.

Every import counts, wherever it stands: at module level, inside a function, or under
``if TYPE_CHECKING:``. A function-level import only postpones a circle to the first call, and a
type-only one still ties the two modules together.

The layers and what may import what: docs/architecture.md ("Layers").
"""

from __future__ import annotations

import ast
from collections.abc import Container, Iterator, Mapping
from pathlib import Path

import pytest

import pmdesk

PACKAGE = Path(pmdesk.__file__).resolve().parent
DATABASE_LAYER = {"sqlalchemy", "alembic"}


def module_names(root: Path) -> dict[str, Path]:
    """Every module of the package at ``root``, by dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for file in sorted(root.rglob("*.py")):
        parts = (root.name, *file.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = file
    return found


def _imported(tree: ast.AST, module: str, is_package: bool, modules: Container[str]) -> set[str]:
    """The modules of ``modules`` that the import statements in ``tree`` load: ``import a.b``
    gives ``a.b``; ``from a import b`` gives ``a.b`` when that is a module, else ``a``."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in modules else base)
    return {name for name in found if name in modules and name != module}


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports."""
    modules = module_names(root)
    graph: dict[str, set[str]] = {}
    for name, file in modules.items():
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
        graph[name] = _imported(tree, name, file.name == "__init__.py", modules)
    return graph


def trees_below(root: Path, below: str) -> Iterator[tuple[str, ast.Module]]:
    """Each module at or under the dotted name ``below``, parsed."""
    for name, file in module_names(root).items():
        if name == below or name.startswith(f"{below}."):
            yield name, ast.parse(file.read_text(encoding="utf-8"), filename=str(file))


def database_imports(root: Path, below: str) -> list[str]:
    """``module: name`` for each import of SQLAlchemy or Alembic by a module under ``below``."""
    found = []
    for name, tree in trees_below(root, below):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                targets = [node.module]
            else:
                continue
            found += [f"{name}: {t}" for t in targets if t.split(".")[0] in DATABASE_LAYER]
    return found


SESSION_CALLS = {"session", "write_session"}


def database_uses(root: Path, below: str) -> list[str]:
    """``module:line: what`` for each place a module under ``below`` opens a database session
    (``x.session(...)``, ``x.write_session(...)``) or names ``Database``: the screens reach the
    database through the core's services (pmdesk.core.screens composes them for a screen)."""
    found = []
    for name, tree in trees_below(root, below):
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SESSION_CALLS
            ):
                found.append(f"{name}:{node.lineno}: .{node.func.attr}(")
            elif isinstance(node, ast.Name) and node.id == "Database":
                found.append(f"{name}:{node.lineno}: Database")
            elif isinstance(node, ast.alias) and node.name.split(".")[-1] == "Database":
                found.append(f"{name}:{node.lineno}: import Database")
    return sorted(found, key=lambda where: (where.split(":")[0], int(where.split(":")[1])))


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def describe(graph: Mapping[str, set[str]], component: list[str]) -> str:
    members = set(component)
    ties = [f"  {a} -> {b}" for a in component for b in sorted(graph[a] & members)]
    return "\n".join([" <-> ".join(component), *ties])


def test_pmdesk_has_no_import_circle() -> None:
    graph = import_graph(PACKAGE)
    assert graph.get("pmdesk.ui.main_window"), "the imports were read"
    found = cycles(graph)
    assert not found, "import circles:\n" + "\n".join(describe(graph, c) for c in found)


def test_no_screen_imports_the_database_layer() -> None:
    """Screens call the core's services; only the core speaks SQL."""
    assert database_imports(PACKAGE, "pmdesk.core"), "the core's imports were read"
    assert database_imports(PACKAGE, "pmdesk.ui") == []


def test_no_screen_opens_a_database_session() -> None:
    assert database_uses(PACKAGE, "pmdesk.core"), "the core's code was read"
    assert database_uses(PACKAGE, "pmdesk.ui") == []


@pytest.mark.parametrize(
    ("a_imports", "b_imports", "circle"),
    [
        ("from pkg import b", "", False),
        ("from pkg import b", "from pkg.a import x", True),  # at module level
        ("import pkg.b", "def f():\n    from pkg import a", True),  # inside a function
        (
            "from pkg.b import y",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import x",
            True,  # type-only, and relative
        ),
        ("from pkg.sub import c", "", False),
        ("from pkg.sub import c", "from pkg.sub.c import z\nfrom pkg import a", True),
    ],
)
def test_the_check_sees_circles_of_every_kind(
    tmp_path: Path, a_imports: str, b_imports: str, circle: bool
) -> None:
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "sub" / "__init__.py").write_text("")
    (root / "sub" / "c.py").write_text("import pkg.b\n")
    (root / "a.py").write_text(a_imports + "\nx = 1\n")
    (root / "b.py").write_text(b_imports + "\ny = 1\n")
    assert bool(cycles(import_graph(root))) is circle


def test_the_check_sees_a_database_import_anywhere_in_a_screen(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "ui").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "ui" / "__init__.py").write_text("import alembic\n")
    (root / "ui" / "page.py").write_text("def f():\n    from sqlalchemy.orm import Session\n")
    (root / "uikit.py").write_text("import sqlalchemy\n")  # not under pkg.ui
    assert database_imports(root, "pkg.ui") == ["pkg.ui: alembic", "pkg.ui.page: sqlalchemy.orm"]


def test_the_check_sees_a_session_or_database_in_a_screen(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "ui").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "ui" / "__init__.py").write_text("")
    (root / "ui" / "page.py").write_text(
        "from pkg.db import Database\n"
        "def f(app):\n"
        "    with app.db.session() as s:\n"
        "        return s\n"
        "def g(url):\n"
        "    return Database(url).write_session()\n"
        "def h(ctx):\n"
        "    return ctx.db.describe()\n"  # asking the database's name is fine
    )
    assert database_uses(root, "pkg.ui") == [
        "pkg.ui.page:1: import Database",
        "pkg.ui.page:3: .session(",
        "pkg.ui.page:6: .write_session(",
        "pkg.ui.page:6: Database",
    ]
