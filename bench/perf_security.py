"""System → Security with 1,000,000 trusted IPs: first page, next page, filter by user.

    .venv/bin/python bench/perf_security.py [--trusted-ips 1000000] [--engines sqlite,postgresql]

For each engine a database with 100,000 people and 1,000,000 trusted addresses
(``bench/datagen.py``, 10 % expired) is made; the measurement runs in a child process that
starts as the app does (``open_database`` on the GUI path, the administrator's ``MainWindow``
offscreen) and opens the real ``SecurityPage``. Each time is from the request, as the screen
makes it, to the page in the view's model (``TrustedIpModel.loaded``) and to the table's next
paint:

- first page: ``model.load_first()`` (what opening the screen and clearing the filter do);
- next page: a click on Next (keyset cursor), 15 pages in a row;
- filter by user: a whole login typed into the filter box, then Enter (no debounce wait).

Baseline: the raw SQL of the same page (20 rows + 1 of lookahead, newest first, joined to the
person) through the same engine, median of 15. On PostgreSQL the data is analysed after the
bulk load (as autovacuum does within a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    ADMIN_LOGIN,
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
    timed,
)

RAW_PAGE = """
SELECT t.id, t.address, t.created_at, t.last_used_at, t.person_id,
       p.first_name, p.last_name, p.login
FROM trusted_ips t JOIN personnel p ON p.id = t.person_id
{where}
ORDER BY t.created_at DESC, t.id DESC
LIMIT 21
"""
REPEAT = 15


def _raw(db: Any, where: str = "", params: dict[str, Any] | None = None) -> float:
    from sqlalchemy import text

    statement = text(RAW_PAGE.format(where=where))

    def once() -> None:
        with db.engine.connect() as conn:
            conn.execute(statement, params or {}).all()

    return median(timed(once, REPEAT))


def child(url: str) -> dict[str, Any]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from common import wait_until
    from PySide6.QtCore import QEvent, QObject, Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication
    from sqlalchemy import text

    from pmdesk.core.auth import SignedIn
    from pmdesk.core.context import Actor
    from pmdesk.core.personnel import PersonnelService
    from pmdesk.secrets import MemoryStore
    from pmdesk.ui.app import configure_application
    from pmdesk.ui.main_window import MainWindow, load_session
    from pmdesk.ui.startup import open_database
    from pmdesk.ui.system.security import SecurityPage
    from pmdesk.ui.tasks import TaskManager

    _qt_app = QApplication.instance() or QApplication([sys.argv[0]])
    configure_application(_qt_app)
    opened = open_database(url, MemoryStore(), check_keyring=False)
    db = opened.app.db
    admin = PersonnelService(opened.app.context).find_by_login(ADMIN_LOGIN)
    assert admin is not None
    signed = SignedIn(
        person_id=admin.id,
        login=ADMIN_LOGIN,
        display_name="Bench Admin",
        actor=Actor(name=ADMIN_LOGIN, person_id=admin.id, address="127.0.0.1"),
        trusted_address=False,
        address="127.0.0.1",
    )
    tasks = TaskManager()
    window = MainWindow(
        opened.app,
        load_session(opened.app, signed),
        tasks,
        passwords=opened.passwords,
        install=False,
    )
    window.resize(1240, 800)
    window.show()

    marks: dict[str, float | None] = {"loaded": None, "painted": None}

    class Filter(QObject):
        def eventFilter(self, watched: Any, event: Any) -> bool:
            if (
                event.type() == QEvent.Type.Paint
                and marks["loaded"] is not None
                and marks["painted"] is None
            ):
                QTimer.singleShot(0, painted)
            return False

    def painted() -> None:
        if marks["painted"] is None:
            marks["painted"] = time.perf_counter()

    def loaded() -> None:
        if marks["loaded"] is None:
            marks["loaded"] = time.perf_counter()

    started = time.perf_counter()
    page = SecurityPage(window.context)
    page.resize(1240, 760)
    paint_filter = Filter()
    page.table.viewport().installEventFilter(paint_filter)
    page.model.loaded.connect(loaded)
    page.show()
    wait_until(lambda: marks["painted"] is not None, 120)
    assert marks["loaded"] is not None and marks["painted"] is not None
    out: dict[str, Any] = {
        "open_loaded": marks["loaded"] - started,
        "open_painted": marks["painted"] - started,
        "describe": page.model.current_page.describe() if page.model.current_page else "",
    }
    wait_until(lambda: tasks.is_idle(), 60)

    def timed(action: Any) -> tuple[float, float]:
        marks["loaded"] = marks["painted"] = None
        begun = time.perf_counter()
        action()
        wait_until(lambda: marks["painted"] is not None and not page.model.loading, 60)
        assert marks["loaded"] is not None and marks["painted"] is not None
        return marks["loaded"] - begun, marks["painted"] - begun

    first = [timed(page.model.load_first) for _ in range(REPEAT)]
    following = [timed(page.next_button.click) for _ in range(REPEAT)]
    out["after_next"] = page.model.current_page.describe() if page.model.current_page else ""
    with db.engine.connect() as conn:
        logins = [
            str(r[0])
            for r in conn.execute(
                text(
                    "SELECT login FROM personnel WHERE login IS NOT NULL AND login <> :admin "
                    "ORDER BY id LIMIT :n"
                ),
                {"admin": ADMIN_LOGIN, "n": REPEAT * 7},
            )
        ][::7]

    def filter_by(login: str) -> None:
        page.filter_edit.setText(login)
        QTest.keyClick(page.filter_edit, Qt.Key.Key_Return)

    filtered = [timed(lambda login=login: filter_by(login)) for login in logins]
    out["filtered"] = page.model.current_page.describe() if page.model.current_page else ""
    page._filter_timer.stop()

    for key, values in (("first", first), ("next", following), ("filter", filtered)):
        out[f"{key}_loaded"] = median([v[0] for v in values])
        out[f"{key}_painted"] = median([v[1] for v in values])
        out[f"{key}_worst"] = max(v[1] for v in values)

    # Baselines: the same pages in raw SQL.
    out["raw_first"] = _raw(db)
    with db.engine.connect() as conn:
        row = conn.execute(
            text("SELECT created_at, id FROM trusted_ips ORDER BY created_at DESC, id DESC LIMIT 1")
        ).one()
    out["raw_next"] = _raw(
        db,
        "WHERE t.created_at <= :c AND (t.created_at < :c OR t.id < :i)",
        {"c": row[0], "i": row[1]},
    )
    out["raw_filter"] = _raw(
        db,
        "WHERE t.person_id IN (SELECT id FROM personnel WHERE login_key = :key)",
        {"key": logins[0].lower()},
    )
    page.close()
    window.close()
    tasks.shutdown()
    db.dispose()
    return out


def _child(url: str) -> dict[str, Any]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, __file__, "--child", "--database", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"child failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")][-1]
    result: dict[str, Any] = json.loads(line[len("RESULT ") :])
    return result


def make_database(url: str, people: int, trusted_ips: int) -> None:
    from datagen import add_people, add_trusted_ips

    from pmdesk.core import migrate
    from pmdesk.core.db import Database

    db = Database(url)
    migrate.upgrade(db)
    db.dispose()
    add_admin(url)
    db = Database(url)
    started = time.perf_counter()
    ids = add_people(db, people, seed=11)
    add_trusted_ips(db, ids, trusted_ips, expired_fraction=0.1)
    print(
        f"  {people} people, {trusted_ips} trusted IPs in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    if db.backend == "postgresql":
        # What autovacuum does within a minute of a bulk load: without statistics the planner
        # walks the whole date index for one person's rows (0.5 s instead of 3 ms).
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    db.dispose()


def measure(engine: str, url: str, trusted_ips: int) -> list[Result]:
    out = _child(url)
    print(f"[{engine}] {json.dumps(out)}", flush=True)
    results = []
    cases = (
        ("first", "first page", "raw_first"),
        ("next", "Next page (keyset)", "raw_next"),
        ("filter", "filter by user (a whole login, Enter)", "raw_filter"),
    )
    for key, label, raw in cases:
        value = out[f"{key}_painted"]
        results.append(
            Result(
                what=f"Security, {trusted_ips:,} trusted IPs: {label}",
                engine=engine,
                value=ms(value),
                unit="ms",
                baseline=ms(out[raw]),
                baseline_label="raw SQL of the same page",
                target="≤ 50 ms",
                met=ms(value) <= 50,
                detail=f"median of {REPEAT} to the next paint, in the model after "
                f"{ms(out[f'{key}_loaded']):.1f} ms, worst {ms(out[f'{key}_worst']):.0f} ms",
            )
        )
    return results


METHOD = (
    "child process starting as the app does, the real SecurityPage offscreen; from the request "
    "(load_first, a click on Next, a login typed into the filter box + Enter) to "
    "TrustedIpModel.loaded and to the table's next paint, median of 15; baseline: raw SQL of "
    "the same page (21 rows newest first, joined to the person) through the same engine; data: "
    "100,000 people, 1,000,000 trusted IPs (10 % expired), bench/datagen.py."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--trusted-ips", type=int, default=1_000_000)
    parser.add_argument(
        "--sqlite-file", help="reuse (or make once) this SQLite database instead of a fresh one"
    )
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--database")
    standard_arguments(parser)
    args = parser.parse_args()
    compile_sources()
    if args.child:
        print("RESULT " + json.dumps(child(args.database)), flush=True)
        return
    info = machine()
    engines = engines_to_run(args.engines.split(","))
    if "postgresql" in engines:
        info["postgresql"] = postgres_version()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="pmdesk-bench-") as tmp:
        for engine in engines:
            if engine == "sqlite" and args.sqlite_file:
                path = Path(args.sqlite_file).resolve()
                url = f"sqlite:///{path}"
                if not path.exists():
                    make_database(url, args.people, args.trusted_ips)
                results += measure(engine, url, args.trusted_ips)
                continue
            with database_url(engine, Path(tmp), "security") as url:
                make_database(url, args.people, args.trusted_ips)
                results += measure(engine, url, args.trusted_ips)
    if not args.no_save:
        save_results("security", results, info, METHOD, before=args.before)
    else:
        for r in results:
            print(r)


if __name__ == "__main__":
    main()
