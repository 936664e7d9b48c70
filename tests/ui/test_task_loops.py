"""The task manager's loops (``TaskManager.start_loop``): the one way long-lived background work
runs (the expiry sweep, live refresh), beside the screens' short calls."""

from __future__ import annotations

import threading
import time

import pytest
from pytestqt.qtbot import QtBot

from pmdesk.ui.tasks import TaskManager


class Waiting:
    """A loop that waits until it is stopped (and counts its wake-ups)."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.woken = 0
        self._wake = threading.Event()

    def run(self, stopping: threading.Event) -> None:
        self.started.set()
        while not stopping.is_set():
            self._wake.wait(60)
            self._wake.clear()

    def wake(self) -> None:
        self.woken += 1
        self._wake.set()


def test_a_loop_never_takes_the_thread_a_screens_call_waits_for(qtbot: QtBot) -> None:
    tasks = TaskManager(max_threads=1)
    loops = [Waiting(), Waiting()]
    handles = [tasks.start_loop(loop, label=f"loop {n}") for n, loop in enumerate(loops)]
    assert all(loop.started.wait(5) for loop in loops), "each loop has a thread of its own"
    answers: list[str] = []
    tasks.run(lambda: "read", answers.append)
    qtbot.waitUntil(lambda: answers == ["read"], timeout=5_000)
    assert all(handle.running for handle in handles)
    assert tasks.shutdown(timeout_ms=5_000)
    assert not any(handle.running for handle in handles)
    assert [loop.woken for loop in loops] == [1, 1], "stopping wakes a waiting loop at once"
    assert tasks.active_threads() == 0


def test_stop_is_prompt_and_wait_has_a_limit(qtbot: QtBot, tasks: TaskManager) -> None:
    deaf = threading.Event()

    class Deaf(Waiting):
        def run(self, stopping: threading.Event) -> None:
            self.started.set()
            deaf.wait(30)  # a driver call that does not listen

    listening = tasks.start_loop(waiting := Waiting(), label="listening")
    stuck = tasks.start_loop(Deaf(), label="stuck")
    assert waiting.started.wait(5)
    listening.stop()
    stuck.stop()
    started = time.monotonic()
    assert listening.wait(5) and not listening.running
    assert not stuck.wait(0.2), "a loop that does not stop is waited for no longer than asked"
    assert time.monotonic() - started < 2
    assert stuck.running
    deaf.set()
    assert stuck.wait(5)


@pytest.mark.logs_errors
def test_a_loop_that_raises_is_logged_and_ends(
    qtbot: QtBot, tasks: TaskManager, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(Waiting):
        def run(self, stopping: threading.Event) -> None:
            raise RuntimeError("a bug")

    handle = tasks.start_loop(Broken(), label="broken")
    assert handle.wait(5)
    assert "Background loop broken ended on an unexpected error" in caplog.text
    answers: list[int] = []
    tasks.run(lambda: 1, answers.append)  # the manager goes on
    qtbot.waitUntil(lambda: answers == [1], timeout=5_000)


def test_no_loop_starts_once_the_manager_is_shut_down(qtbot: QtBot) -> None:
    tasks = TaskManager()
    assert tasks.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        tasks.start_loop(Waiting(), label="late")
