"""The background-task runner: results and errors come back on the GUI thread, shutdown waits."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
import shiboken6
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from pmdesk.ui.tasks import TaskManager


@dataclass(frozen=True)
class Answer:
    value: int
    worker: bool


def _on_gui_thread() -> bool:
    app = QApplication.instance()
    assert app is not None
    return QThread.currentThread() is app.thread()


def test_result_arrives_on_the_gui_thread(qtbot: QtBot, tasks: TaskManager) -> None:
    seen: list[tuple[Answer, bool]] = []
    tasks.run(
        lambda: Answer(42, worker=not _on_gui_thread()),
        lambda answer: seen.append((answer, _on_gui_thread())),
    )
    qtbot.waitUntil(lambda: bool(seen))
    answer, delivered_on_gui = seen[0]
    assert answer == Answer(42, worker=True)
    assert delivered_on_gui
    assert tasks.is_idle()


def test_exception_goes_to_on_error(qtbot: QtBot, tasks: TaskManager) -> None:
    errors: list[BaseException] = []

    def boom() -> None:
        raise ValueError("no such thing")

    tasks.run(boom, lambda _r: pytest.fail("no result expected"), errors.append)
    qtbot.waitUntil(lambda: bool(errors))
    assert isinstance(errors[0], ValueError)
    assert str(errors[0]) == "no such thing"


@pytest.mark.logs_errors
def test_unhandled_error_is_reported(qtbot: QtBot, tasks: TaskManager) -> None:
    def boom() -> None:
        raise RuntimeError("nobody listens")

    with qtbot.waitSignal(tasks.unhandled_error) as blocker:
        tasks.run(boom, label="lonely")
    assert blocker.args is not None
    assert blocker.args[0] == "lonely"
    assert isinstance(blocker.args[1], RuntimeError)


def test_no_callback_for_a_deleted_owner_or_a_cancelled_task(
    qtbot: QtBot, tasks: TaskManager
) -> None:
    release = threading.Event()
    seen: list[str] = []
    owner = QWidget()
    tasks.run(lambda: release.wait(10), lambda _r: seen.append("owner"), owner=owner)
    cancelled = tasks.run(lambda: release.wait(10), lambda _r: seen.append("cancelled"))
    kept = tasks.run(lambda: release.wait(10), lambda _r: seen.append("kept"))
    owner.deleteLater()
    qtbot.waitUntil(lambda: not shiboken6.isValid(owner))
    cancelled.cancel()
    release.set()
    qtbot.waitUntil(tasks.is_idle)
    assert seen == ["kept"]
    assert kept.finished


def test_shutdown_waits_for_running_work(qtbot: QtBot) -> None:
    manager = TaskManager()
    started, release = threading.Event(), threading.Event()
    finished: list[bool] = []

    def slow() -> None:
        started.set()
        release.wait(10)
        finished.append(True)

    manager.run(slow)
    assert started.wait(10)
    threading.Timer(0.2, release.set).start()
    assert manager.shutdown(timeout_ms=10_000)
    assert finished == [True]
    assert manager.active_threads() == 0
    with pytest.raises(RuntimeError):
        manager.run(lambda: None)
