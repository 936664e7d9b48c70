"""Reads that are not a user's action (pmdesk.ui.query.Query): results on the GUI thread, a
restart drops every answer still to come, no error is dropped, and nothing starts once the app
is closing."""

from __future__ import annotations

import logging
import threading

import pytest
from PySide6.QtCore import QObject
from pytestqt.qtbot import QtBot

from pmdesk.ui.query import Query
from pmdesk.ui.tasks import TaskManager


def test_reads_in_flight_together_all_arrive(qtbot: QtBot, tasks: TaskManager) -> None:
    owner = QObject()
    query = Query(owner, tasks, label="list")
    seen: list[str] = []
    query.run(lambda: "first block", seen.append)
    query.run(lambda: "count", seen.append)
    assert query.running
    qtbot.waitUntil(lambda: len(seen) == 2)
    assert sorted(seen) == ["count", "first block"]
    assert not query.running


def test_a_restart_drops_the_answers_still_to_come(qtbot: QtBot, tasks: TaskManager) -> None:
    """A slow answer of the old search never lands in the new one's list."""
    owner = QObject()
    query = Query(owner, tasks, label="list")
    release = threading.Event()
    seen: list[str] = []
    failures: list[BaseException] = []

    def slow() -> str:
        release.wait(10)
        return "old search"

    def slow_failure() -> str:
        release.wait(10)
        raise ValueError("old search failed")

    query.run(slow, seen.append)
    query.run(slow_failure, seen.append, failed=failures.append)
    query.restart()
    assert not query.running
    query.run(lambda: "new search", seen.append)
    qtbot.waitUntil(lambda: seen == ["new search"])
    release.set()
    qtbot.waitUntil(tasks.is_idle)
    assert seen == ["new search"]
    assert failures == []


def test_an_error_goes_to_the_read_s_handler_else_the_query_s(
    qtbot: QtBot, tasks: TaskManager
) -> None:
    owner = QObject()
    for_query: list[BaseException] = []
    for_read: list[BaseException] = []
    query = Query(owner, tasks, label="list", failed=for_query.append)

    def boom() -> str:
        raise ValueError("database gone")

    query.run(boom)
    query.run(boom, failed=for_read.append)
    qtbot.waitUntil(lambda: len(for_query) == 1 and len(for_read) == 1)
    assert str(for_query[0]) == str(for_read[0]) == "database gone"


@pytest.mark.logs_errors
def test_an_error_without_a_handler_is_logged_not_dropped(
    qtbot: QtBot, tasks: TaskManager, caplog: pytest.LogCaptureFixture
) -> None:
    owner = QObject()
    query = Query(owner, tasks, label="delivery health")

    def boom() -> str:
        raise ValueError("database gone")

    with caplog.at_level(logging.ERROR, logger="pmdesk.ui.query"):
        query.run(boom)
        qtbot.waitUntil(tasks.is_idle)
    assert [r.getMessage() for r in caplog.records] == ["delivery health failed"]
    assert caplog.records[0].exc_info is not None


def test_nothing_starts_once_the_task_manager_is_shut_down(qtbot: QtBot) -> None:
    """A change heard as the app closes asks for a list: it is not read (and nothing raises)."""
    manager = TaskManager()
    assert manager.shutdown(timeout_ms=10_000)
    owner = QObject()
    seen: list[str] = []
    query = Query(owner, manager, label="trusted IP page", failed=lambda exc: seen.append("x"))
    query.run(lambda: "page", seen.append)
    assert not query.running
    qtbot.wait(50)
    assert seen == []


def test_an_operation_asked_after_shutdown_does_nothing(qtbot: QtBot) -> None:
    """The same for a user's action (pmdesk.ui.ops.Operation): no call, no busy indicator."""
    from pmdesk.ui.ops import Operation

    manager = TaskManager()
    assert manager.shutdown(timeout_ms=10_000)
    owner = QObject()
    busy: list[bool] = []
    op = Operation[str](owner, manager, label="reload", busy=lambda on, _text: busy.append(on))
    op.run(lambda: "page", lambda _result: busy.append(True))
    assert not op.running
    qtbot.wait(50)
    assert busy == []
