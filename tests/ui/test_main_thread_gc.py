"""Qt objects in garbage cycles are destroyed on the GUI thread, never on a worker.

A worker that allocates enough to trigger Python's cycle collector used to run it, destroying
GUI objects there; with the main window building a page at that moment, both threads waited
for each other for ever (a CI run hung on it)."""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from pmdesk.ui.application import configure_application


class Holder:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cycle collector frees it
        self.qobject = QObject()


def test_cycles_holding_qt_objects_die_on_the_gui_thread(qtbot: QtBot, qapp: QApplication) -> None:
    configure_application(qapp)
    assert not gc.isenabled()
    destroyed_on: list[str] = []
    holder = Holder()
    holder.qobject.destroyed.connect(lambda: destroyed_on.append(threading.current_thread().name))
    del holder

    def allocate() -> None:  # enough to cross every collection threshold many times
        junk = [[i] for i in range(300_000)]
        del junk

    # Thresholds of 1: left to itself, any allocation would start a collection at once.
    thresholds = gc.get_threshold()
    gc.set_threshold(1, 1, 1)
    try:
        worker = threading.Thread(target=allocate, name="worker")
        worker.start()
        worker.join()
        assert destroyed_on == [], "the worker ran no collection"
        qtbot.waitUntil(lambda: bool(destroyed_on), timeout=5_000)
    finally:
        gc.set_threshold(*thresholds)
    assert destroyed_on == [threading.main_thread().name]
