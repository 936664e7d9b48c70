"""Personnel at small scale: what the list fetches, and the queries a search makes."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from pmdesk.bootstrap import App
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import Database
from pmdesk.core.personnel import PersonnelService
from pmdesk.secrets import MemoryStore
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.personnel import PersonnelPage
from pmdesk.ui.personnel.view import SEARCH_DELAY_MS
from pmdesk.ui.startup import open_database
from tests.helpers.qt import personnel_idle

REPOSITORY = Path(__file__).resolve().parents[2]
SYSTEM = Actor.system("test")


def _datagen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("datagen", REPOSITORY / "bench" / "datagen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _counting(obj: Any, name: str) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    original: Callable[..., Any] = getattr(obj, name)

    def wrapper(*args: Any) -> Any:
        calls.append(args)
        return original(*args)

    setattr(obj, name, wrapper)
    return calls


@pytest.fixture
def crowded(ui_app: App, admin_id: int) -> int:
    """1,000 people more than the administrator."""
    _datagen().add_people(ui_app.db, 1000, seed=3)
    return 1001


def test_the_list_fetches_only_its_first_block(
    qtbot: QtBot, crowded: int, main_window: MainWindow
) -> None:
    page = main_window.show_page("personnel")
    assert isinstance(page, PersonnelPage)
    qtbot.waitUntil(lambda: personnel_idle(page) and page.model.total == crowded, timeout=20_000)
    model = page.model
    assert model.rowCount() == crowded
    assert list(model._blocks) == [0]  # the first 256 rows, nothing else
    assert model.queries == 0  # no further block was asked for
    assert model.data(model.index(0, 0)) not in (None, "…")


def test_a_search_makes_one_query_per_debounced_keystroke(
    qtbot: QtBot, crowded: int, main_window: MainWindow
) -> None:
    page = main_window.show_page("personnel")
    assert isinstance(page, PersonnelPage)
    qtbot.waitUntil(lambda: personnel_idle(page) and page.model.total == crowded, timeout=20_000)
    source = page.model._source
    firsts = _counting(source, "first")
    counts = _counting(source, "count")
    blocks = _counting(source, "block")

    qtbot.keyClicks(page.search_edit, "peet")  # faster than the debounce
    qtbot.waitUntil(lambda: page.model.search == "peet" and personnel_idle(page), timeout=20_000)
    assert [call[0] for call in firsts] == ["peet"]
    # The count came with the first page: no count query, no block query.
    assert counts == [] and blocks == []
    assert page.model.total == PersonnelService(page.app.context).count(SYSTEM, "peet")

    qtbot.keyClicks(page.search_edit, "e")
    qtbot.waitUntil(lambda: page.model.search == "peete" and personnel_idle(page), timeout=20_000)
    assert [call[0] for call in firsts] == ["peet", "peete"]
    assert SEARCH_DELAY_MS >= 100  # the delay the benchmark leaves out


@pytest.mark.parametrize("term", ["e", "j", "pe", "jan s", "e0000012", "zz"])
def test_the_first_page_is_the_same_whichever_plan_finds_it(ctx: CoreContext, term: str) -> None:
    _datagen().add_people(ctx.db, 400, seed=5)
    service = PersonnelService(ctx)
    limit = 8  # "e" matches everyone: at least 16 x 8 and a tenth of them (the dense plan)
    for sort in ("name", "first_name", "number", "login", "email", "group"):
        for descending in (False, True):
            first = service.first_page(
                SYSTEM, search=term, sort=sort, descending=descending, limit=limit
            )
            expected = service.page(
                SYSTEM, search=term, sort=sort, descending=descending, limit=limit
            )
            assert first.rows == expected
            assert first.total == service.count(SYSTEM, term)


def test_the_whole_list_comes_without_its_count_when_a_block_is_full(ctx: CoreContext) -> None:
    _datagen().add_people(ctx.db, 30, seed=6)
    service = PersonnelService(ctx)
    assert service.first_page(SYSTEM, limit=10).total is None  # counted afterwards
    assert service.first_page(SYSTEM, limit=100).total == 30


def test_planner_statistics_follow_the_list_on_the_gui_path(tmp_path: Path) -> None:
    """A database analysed while small is analysed again at start once it has grown."""
    url = f"sqlite:///{tmp_path / 'grown.sqlite3'}"
    datagen = _datagen()

    def analysed_rows(db: Database) -> int:
        with db.engine.connect() as conn:
            stat = conn.exec_driver_sql(
                "SELECT stat FROM sqlite_stat1 WHERE idx = 'ix_personnel_name_keys'"
            ).scalar()
        return int(str(stat).split()[0])

    from pmdesk.core import migrate

    db = Database(url)
    migrate.upgrade(db)
    datagen.add_people(db, 10, seed=7)
    db.dispose()
    opened = open_database(url, MemoryStore(), check_keyring=False)  # as the app starts
    assert analysed_rows(opened.app.db) == 10
    opened.app.db.dispose()

    db = Database(url)
    datagen.add_people(db, 3000, seed=8)
    db.dispose()
    opened = open_database(url, MemoryStore(), check_keyring=False)
    assert analysed_rows(opened.app.db) > 1500  # an estimate (ANALYZE reads a sample)
    with opened.app.db.engine.connect() as conn:
        plan = " ".join(
            str(row[-1])
            for row in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM personnel WHERE number_key >= 'e0000012' "
                "AND number_key < 'e0000013' ORDER BY last_name_key, first_name_key, id "
                "LIMIT 256"
            )
        )
    assert "ix_personnel_number_key" in plan  # the search index, not a walk of the list
    opened.app.db.dispose()
