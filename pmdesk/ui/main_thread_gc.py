"""Python's cycle collector runs only on the GUI thread.

Left to itself, the collector runs on whichever thread happens to allocate when a threshold is
crossed, a database worker as often as not. If the garbage it finds holds a Qt object made on
the GUI thread, that object's C++ destructor then runs on the worker: it takes Qt's
signal-slot lock and waits for the GIL, while the GUI thread holds the GIL and waits for the
same lock in a connect or disconnect. Both wait for ever (seen in CI: a page built while a Log
query ran). So automatic collection is turned off, and the GUI thread collects on a timer,
generation by generation, with the thresholds the collector itself would use.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500


class MainThreadCollector(QObject):
    NAME = "pmdesk_main_thread_gc"

    def __init__(self, parent: QObject, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self.setObjectName(self.NAME)
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(collect_due)
        self._timer.start()


def collect_due() -> None:
    """Collect the oldest generation whose count passed its threshold (with the younger ones),
    as the automatic collector would have; call it on the GUI thread only."""
    counts, thresholds = gc.get_count(), gc.get_threshold()
    for generation in (2, 1, 0):
        if counts[generation] > thresholds[generation]:
            gc.collect(generation)
            return


def install(app: QObject) -> None:
    """Once per application (a second call finds the first collector)."""
    if app.findChild(QObject, MainThreadCollector.NAME) is None:
        MainThreadCollector(app)
