"""Cold start of ``python -m pmdesk`` to a painted login dialog, and to a working Login.

    scripts/with-test-env .venv/bin/python bench/perf_startup.py [--runs 15] [--engines sqlite]

Each run is a new process (the page cache is warm: a second start, not the first after boot),
offscreen (``QT_QPA_PLATFORM=offscreen``), alternating with the baseline: a bare PySide6 script
that shows one ``QDialog`` (a label, a line edit, a button) and exits after its first paint.
pmdesk runs the real start (``PMDESK_EXIT_AFTER_SHOWN=opened``: exits once the database is
fully open) with ``PMDESK_STARTUP_TRACE=1``, which prints monotonic timestamps for
"dialog-shown" (after the login dialog's first paint), "database-ready" (Login enabled: the
database answered at the newest schema with users) and "database-opened" (opened through
SQLAlchemy, login service loaded; a login clicked before then waits for it).
Times are from spawning the process. The database is made and migrated before the runs, with an
administrator, so a run is an ordinary start (no first-run dialog, no migration to apply).

Targets (2 cores): dialog shown ≤ 1.5x the bare dialog; database ready ≤ 3x the bare dialog.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    ROOT,
    Result,
    add_admin,
    compile_sources,
    database_url,
    engines_to_run,
    machine,
    median,
    ms,
    postgres_version,
    save_results,
    standard_arguments,
)

BARE_APP = """\
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog, QLabel, QLineEdit, QPushButton, QVBoxLayout


class Dialog(QDialog):
    def __init__(self):
        super().__init__()
        self.setWindowTitle("baseline")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Username"))
        layout.addWidget(QLineEdit())
        layout.addWidget(QPushButton("Login"))
        self._painted = False

    def paintEvent(self, event):
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            QTimer.singleShot(0, self._done)

    def _done(self):
        print(f"pmdesk-trace dialog-shown {time.monotonic():.6f}", file=sys.stderr, flush=True)
        QApplication.instance().quit()


app = QApplication(sys.argv)
dialog = Dialog()
dialog.show()
sys.exit(app.exec())
"""


def _traces(stderr: str) -> dict[str, float]:
    found = {}
    for line in stderr.splitlines():
        if line.startswith("pmdesk-trace "):
            _, event, stamp = line.split()
            found[event] = float(stamp)
    return found


def spawn(command: list[str], env: dict[str, str]) -> tuple[dict[str, float], float]:
    """Run one process; (event -> seconds since spawn, seconds to exit)."""
    started = time.monotonic()
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False, cwd=ROOT
    )
    ended = time.monotonic()
    if done.returncode != 0:
        raise RuntimeError(f"{command} exited {done.returncode}:\n{done.stderr[-3000:]}")
    events = {k: v - started for k, v in _traces(done.stderr).items()}
    return events, ended - started


def measure(engine: str, url: str, runs: int, folder: Path) -> list[Result]:
    bare = folder / "bare_dialog.py"
    bare.write_text(BARE_APP, encoding="utf-8")
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    for name in ("CONFIG", "DATA", "LOG"):
        path = folder / f"pmdesk-{name.lower()}"
        path.mkdir(exist_ok=True)
        env[f"PMDESK_{name}_DIR"] = str(path)
    env.pop("PMDESK_DATABASE_URL", None)
    pm_env = {**env, "PMDESK_EXIT_AFTER_SHOWN": "opened", "PMDESK_STARTUP_TRACE": "1"}
    pm_command = [sys.executable, "-m", "pmdesk", "--database", url]
    bare_command = [sys.executable, str(bare)]

    # One unrecorded warm-up each (page cache, .pyc files).
    spawn(bare_command, env)
    spawn(pm_command, pm_env)
    bare_shown, shown, ready, opened, exits, bare_exits = [], [], [], [], [], []
    for n in range(runs):
        order = [("bare", bare_command, env), ("pmdesk", pm_command, pm_env)]
        if n % 2:
            order.reverse()
        for label, command, run_env in order:
            events, exit_s = spawn(command, run_env)
            if label == "bare":
                bare_shown.append(events["dialog-shown"])
                bare_exits.append(exit_s)
            else:
                shown.append(events["dialog-shown"])
                ready.append(events["database-ready"])
                opened.append(events["database-opened"])
                exits.append(exit_s)
    base = median(bare_shown)
    shown_ratio, ready_ratio = median(shown) / base, median(ready) / base
    runs_text = (
        f"runs (ms) bare {', '.join(f'{ms(v):.0f}' for v in bare_shown)}; "
        f"pmdesk shown {', '.join(f'{ms(v):.0f}' for v in shown)}; "
        f"ready {', '.join(f'{ms(v):.0f}' for v in ready)}; "
        f"opened {', '.join(f'{ms(v):.0f}' for v in opened)}"
    )
    print(f"[{engine}] {runs_text}", flush=True)
    results = []
    if engine == "sqlite":
        # The dialog is painted before the database is touched: one line is enough for it.
        results.append(
            Result(
                what="cold start → login dialog painted",
                engine="-",
                value=shown_ratio,
                unit="x",
                baseline=ms(base),
                baseline_label="bare PySide6 dialog",
                target="≤ 1.5x bare",
                met=shown_ratio <= 1.5,
                detail=f"{ms(median(shown)):.0f} ms, median of {runs}",
                extra={"runs": runs_text},
            )
        )
    results.append(
        Result(
            what="cold start → database ready (Login enabled)",
            engine=engine,
            value=ready_ratio,
            unit="x",
            baseline=ms(base),
            baseline_label="bare PySide6 dialog",
            target="≤ 3x bare",
            met=ready_ratio <= 3.0,
            detail=(
                f"{ms(median(ready)):.0f} ms, median of {runs}; fully opened, login service "
                f"loaded, after {ms(median(opened)):.0f} ms = {median(opened) / base:.2f}x"
            ),
            extra={"runs": runs_text, "shown_ratio": shown_ratio},
        )
    )
    return results


METHOD = (
    "new process per run, offscreen, warm page cache, alternating with the baseline (a bare "
    "PySide6 script showing one QDialog); `python -m pmdesk --database URL` with "
    "`PMDESK_EXIT_AFTER_SHOWN=opened PMDESK_STARTUP_TRACE=1`; times from spawn to the login "
    "dialog's first paint, to Login enabled (the database driver found the newest schema and a "
    "user) and, in the detail, to the database fully opened (SQLAlchemy, login service; a login "
    "clicked earlier waits for it); "
    "ratio of medians; database made beforehand with an administrator."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    standard_arguments(parser)
    args = parser.parse_args()
    compile_sources()
    info = machine()
    engines = engines_to_run(args.engines.split(","))
    if "postgresql" in engines:
        info["postgresql"] = postgres_version()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="pmdesk-bench-") as tmp:
        folder = Path(tmp)
        for engine in engines:
            with database_url(engine, folder, "startup") as url:
                from pmdesk.core import migrate
                from pmdesk.core.db import Database

                db = Database(url)
                migrate.upgrade(db)
                db.dispose()
                add_admin(url)
                results += measure(engine, url, args.runs, folder)
    if not args.no_save:
        save_results("startup", results, info, METHOD, before=args.before)


if __name__ == "__main__":
    main()
