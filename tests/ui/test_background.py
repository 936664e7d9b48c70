"""Background services: the expiry sweep on its own thread, live refresh, clean stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import delete, select, text

from pmdesk.bootstrap import App
from pmdesk.config import Settings
from pmdesk.core.audit import Event
from pmdesk.core.changes import PERSONNEL, TOPICS, TRUSTED_IPS
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import Database, is_connection_error
from pmdesk.core.errors import DatabaseUnavailable
from pmdesk.core.models import AuditEvent, Person, TrustedIp, UserSession
from pmdesk.core.sessions import DESKTOP, DESKTOP_LEASE
from pmdesk.core.sessions import start as start_session
from pmdesk.core.trusted_ips import TrustedIpService
from pmdesk.secrets import MemoryStore
from pmdesk.ui.background import BackgroundServices
from pmdesk.ui.change_listener import ChangeListener
from pmdesk.ui.main_window import MainWindow, load_session
from pmdesk.ui.page_context import Session
from pmdesk.ui.personnel import PersonnelPage
from pmdesk.ui.reconnect import Backoff, is_lost_message, lost_message
from pmdesk.ui.sweep import SWEEP_ACTOR_JOB, StopCheck, expire_trusted_ips
from pmdesk.ui.system.security import SecurityPage
from pmdesk.ui.tasks import TaskManager
from pmdesk.ui.translation import install_translation
from tests.helpers.hardened import SWEPT_BY_RELAY
from tests.helpers.login import add_user, cheap_passwords
from tests.helpers.staff import add_person
from tests.helpers.trusted_ips import trust_addresses, trusted_addresses
from tests.ui.conftest import make_app, signed_in
from tests.ui.system_pages import open_page

FAST = Backoff(0.1, 0.4)
TRUST_DAYS = 30  # the seeded security setting


def add_ip(db: Database, person_id: int, address: str, age: timedelta) -> int:
    return trust_addresses(db, [(person_id, address, age)])[0]


addresses = trusted_addresses


def expired_audits(db: Database) -> list[tuple[str, str]]:
    with db.session() as s:
        rows = s.execute(
            select(AuditEvent.actor, AuditEvent.detail).where(
                AuditEvent.event == Event.IP_EXPIRED.value
            )
        ).all()
    return [(r[0], r[1]) for r in rows]


def plain_context(db: Database) -> CoreContext:
    """For sweeps with a stand-in job: only the database matters."""
    return CoreContext(db=db, secrets=MemoryStore(), outbox_default=Path("outbox"))


@pytest.fixture
def make_services(qtbot: QtBot, tasks: TaskManager) -> Iterator[Callable[..., BackgroundServices]]:
    """BackgroundServices on the test's task manager, always stopped (loops waited for) at
    teardown."""
    made: list[BackgroundServices] = []

    def make(ctx: CoreContext, **kwargs: Any) -> BackgroundServices:
        kwargs.setdefault("backoff", FAST)
        kwargs.setdefault("poll_interval_s", 0.1)
        kwargs.setdefault("min_gap_s", 0.05)
        services = BackgroundServices(ctx, tasks, **kwargs)
        made.append(services)
        return services

    yield make
    for services in made:
        services.stop()
        assert not services.running


def status_log(services: BackgroundServices) -> list[str]:
    seen: list[str] = []
    services.status.connect(lambda text, _ms: seen.append(text))
    return seen


# ----- the sweep --------------------------------------------------------------------------------


@SWEPT_BY_RELAY
def test_sweep_at_start_removes_expired_addresses_and_audits_them(
    ctx: CoreContext, qtbot: QtBot, make_services: Callable[..., BackgroundServices]
) -> None:
    person = add_person(ctx.db, "ann")
    add_ip(ctx.db, person, "192.0.2.1", timedelta(days=TRUST_DAYS + 1))
    add_ip(ctx.db, person, "192.0.2.2", timedelta(days=TRUST_DAYS - 1))
    services = make_services(ctx, listen=False)
    seen = status_log(services)
    with qtbot.waitSignal(services.swept, timeout=15_000) as blocker:
        services.start()
    assert blocker.args == [1]
    assert addresses(ctx.db) == ["192.0.2.2"]
    audits = expired_audits(ctx.db)
    assert len(audits) == 1
    assert audits[0][0] == "system (expiry sweep)"
    assert "192.0.2.1" in audits[0][1]
    assert seen == ["Expiry sweep: removed 1 expired trusted IP address"]
    assert services.sweep is not None and services.sweep.sweeps == 1


@SWEPT_BY_RELAY
def test_the_worker_uses_the_injected_clock_at_the_expiry_boundary(
    ctx: CoreContext,
    clock: ShiftedClock,
    qtbot: QtBot,
    make_services: Callable[..., BackgroundServices],
) -> None:
    person = add_person(ctx.db, "bert")
    add_ip(ctx.db, person, "198.51.100.7", timedelta(days=TRUST_DAYS) - timedelta(minutes=2))
    services = make_services(ctx, listen=False)
    with qtbot.waitSignal(services.swept, timeout=15_000) as first:
        services.start()
    assert first.args == [0], "two minutes before the end of its period it stays"
    assert addresses(ctx.db) == ["198.51.100.7"]
    clock.advance(timedelta(minutes=3))
    with qtbot.waitSignal(services.swept, timeout=15_000) as second:
        services.sweep_now()
    assert second.args == [1], "a minute after its period it is gone"
    assert addresses(ctx.db) == []


def test_the_sweep_repeats_on_its_timer(
    sqlite_db: Database, qtbot: QtBot, make_services: Callable[..., BackgroundServices]
) -> None:
    calls: list[str] = []

    def job(ctx: CoreContext, should_stop: StopCheck) -> int:
        calls.append(threading.current_thread().name)
        return 0

    ctx = plain_context(sqlite_db)
    services = make_services(ctx, listen=False, job=job, sweep_interval_s=0.1)
    services.start()
    qtbot.waitUntil(lambda: len(calls) >= 3, timeout=10_000)
    assert threading.main_thread().name not in calls


def test_interval_comes_from_the_settings(sqlite_db: Database, tasks: TaskManager) -> None:
    ctx = plain_context(sqlite_db)
    services = BackgroundServices.from_settings(ctx, tasks, Settings(sweep_interval_minutes=7))
    assert services.sweep is not None
    assert services.sweep.interval_s == 7 * 60
    zero = BackgroundServices.from_settings(ctx, tasks, Settings(sweep_interval_minutes=0))
    assert zero.sweep is not None
    assert zero.sweep.interval_s == 60, "at least one minute"


def test_a_lost_connection_is_reported_retried_with_backoff_and_recovered(
    sqlite_db: Database, qtbot: QtBot, make_services: Callable[..., BackgroundServices]
) -> None:
    failures = iter(range(4))

    def job(ctx: CoreContext, should_stop: StopCheck) -> int:
        if next(failures, None) is not None:
            raise DatabaseUnavailable("Cannot reach the database: connection refused")
        return 5

    ctx = plain_context(sqlite_db)
    services = make_services(ctx, listen=False, job=job)
    seen = status_log(services)
    with qtbot.waitSignal(services.swept, timeout=10_000) as blocker:
        services.start()
    assert blocker.args == [5]
    assert seen == [
        "Database connection lost — reconnecting in 0.1 s",
        "Database connection lost — reconnecting in 0.2 s",
        "Database connection lost — reconnecting in 0.4 s",
        "Database connection lost — reconnecting in 0.4 s",
        "Database connection restored",
        "Expiry sweep: removed 5 expired trusted IP addresses",
    ]


@pytest.mark.logs_errors
def test_a_failing_sweep_never_kills_its_thread(
    sqlite_db: Database, qtbot: QtBot, make_services: Callable[..., BackgroundServices]
) -> None:
    calls = []

    def job(ctx: CoreContext, should_stop: StopCheck) -> int:
        calls.append(1)
        raise ValueError("something unexpected")

    ctx = plain_context(sqlite_db)
    services = make_services(ctx, listen=False, job=job)
    seen = status_log(services)
    services.start()
    qtbot.waitUntil(lambda: len(calls) >= 2, timeout=10_000)
    assert services.running
    assert seen[0] == "Expiry sweep failed: something unexpected — retrying in 0.1 s"


def test_a_busy_database_postpones_the_sweep_without_calling_the_connection_lost(
    sqlite_db: Database, qtbot: QtBot, make_services: Callable[..., BackgroundServices]
) -> None:
    from pmdesk.core.errors import DatabaseBusy

    calls = []

    def job(ctx: CoreContext, should_stop: StopCheck) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise DatabaseBusy("The database is busy")
        return 0

    services = make_services(plain_context(sqlite_db), listen=False, job=job)
    seen = status_log(services)
    services.start()
    qtbot.waitUntil(lambda: len(calls) >= 2, timeout=10_000)
    assert seen[0].startswith("Expiry sweep postponed: the database is busy")
    assert not any(is_lost_message(text) for text in seen)
    assert not is_connection_error(DatabaseBusy("busy"))


def test_an_unreachable_server_says_so(
    qtbot: QtBot, make_services: Callable[..., BackgroundServices]
) -> None:
    ctx = plain_context(Database("postgresql://nobody@127.0.0.1:9/none"))
    services = make_services(ctx)
    seen = status_log(services)
    services.start()
    qtbot.waitUntil(lambda: seen.count(lost_message(0.1)) == 2, timeout=15_000)
    assert services.running, "both keep trying"


def test_stop_ends_a_long_sweep_at_its_next_chunk(
    sqlite_db: Database, qtbot: QtBot, make_services: Callable[..., BackgroundServices]
) -> None:
    """The real expiry, one address per chunk (one transaction each): stop ends it at the next
    chunk boundary, with every chunk either whole or not begun."""
    total = 400
    person = add_person(sqlite_db, "ann")
    old = timedelta(days=TRUST_DAYS + 1)
    trust_addresses(sqlite_db, [(person, f"10.0.{n // 250}.{n % 250}", old) for n in range(total)])
    asked: list[bool] = []
    ended = threading.Event()

    def job(ctx: CoreContext, should_stop: StopCheck) -> int:
        def between_chunks() -> bool:
            asked.append(should_stop())
            return asked[-1]

        try:
            return TrustedIpService(ctx).expire(
                Actor.system(SWEEP_ACTOR_JOB), chunk_size=1, should_stop=between_chunks
            )
        finally:
            ended.set()

    ctx = plain_context(sqlite_db)
    services = make_services(ctx, job=job, listener_wait_s=60.0)
    swept: list[int] = []
    services.swept.connect(swept.append)
    services.start()
    qtbot.waitUntil(lambda: len(asked) >= 5, timeout=10_000)
    assert services.listener is not None
    assert services.listener.connected.wait(5)
    started = time.monotonic()
    assert services.stop(timeout_ms=5_000)
    assert time.monotonic() - started < 2, "stop is prompt even with a 60 s listener wait"
    assert ended.is_set()
    assert not services.running
    assert asked[-1] is True, "the sweep ended because it was asked to stop"
    left = len(addresses(sqlite_db))
    assert 0 < left < total
    assert len(expired_audits(sqlite_db)) == total - left, "each chunk whole: removed = audited"
    assert swept == [], "a stopped sweep reports nothing"


@SWEPT_BY_RELAY
def test_the_default_sweep_purges_lapsed_sessions_unless_stopping(ctx: CoreContext) -> None:
    person = add_person(ctx.db, "ann")
    add_ip(ctx.db, person, "192.0.2.1", timedelta(days=TRUST_DAYS + 1))
    with ctx.db.session() as s:
        lapsed = ctx.clock.now(s) - DESKTOP_LEASE - timedelta(minutes=1)
        start_session(s, lapsed, s.get_one(Person, person), DESKTOP, address=None, workstation="ws")

    def sessions() -> int:
        with ctx.db.session() as s:
            return len(s.execute(select(UserSession.id)).all())

    assert expire_trusted_ips(ctx, lambda: True) == 0
    assert (addresses(ctx.db), sessions()) == (["192.0.2.1"], 1), "stopping: nothing done"
    assert expire_trusted_ips(ctx, lambda: False) == 1
    assert (addresses(ctx.db), sessions()) == ([], 0)


def test_a_stuck_sweep_does_not_hang_sign_out(
    sqlite_db: Database,
    qtbot: QtBot,
    tasks: TaskManager,
    make_services: Callable[..., BackgroundServices],
) -> None:
    """A sweep stuck outside pmdesk's control (a driver call that never returns) cannot freeze
    the window: stop gives up after its time, and the thread ends on its own later."""
    stuck = threading.Event()
    release = threading.Event()

    def job(ctx: CoreContext, should_stop: StopCheck) -> int:
        stuck.set()
        release.wait(30)  # deaf to being stopped, like a blocked driver call
        return 0

    services = make_services(plain_context(sqlite_db), job=job, listen=False)
    services.start()
    assert stuck.wait(10)
    started = time.monotonic()
    assert not services.stop(timeout_ms=300), "stop says it could not wait for the sweep"
    assert time.monotonic() - started < 2, "the GUI thread is not held"
    assert services.running and tasks.active_threads() == 1, "the sweep goes on, on its own"
    services.deleteLater()  # the window (the services' parent) goes away meanwhile...
    qtbot.wait(100)  # ...and is deleted before the stuck sweep returns
    release.set()
    # The loop's thread returns to the task manager, which waits for it when the app quits.
    qtbot.waitUntil(lambda: tasks.active_threads() == 0, timeout=10_000)


def test_stop_before_start_and_twice_is_harmless(sqlite_db: Database, tasks: TaskManager) -> None:
    ctx = plain_context(sqlite_db)
    services = BackgroundServices(ctx, tasks)
    assert services.stop()
    assert services.stop()


def test_connection_errors_are_told_apart_from_bugs() -> None:
    assert is_connection_error(DatabaseUnavailable("gone"))
    assert is_connection_error(ConnectionRefusedError())
    assert not is_connection_error(ValueError("bug"))


# ----- live refresh -------------------------------------------------------------------------------


def test_a_removal_elsewhere_announces_trusted_ips_changed(
    ctx: CoreContext, qtbot: QtBot, make_services: Callable[..., BackgroundServices]
) -> None:
    person = add_person(ctx.db, "carla")
    ip = add_ip(ctx.db, person, "203.0.113.5", timedelta(days=1))
    services = make_services(ctx, sweep=False)
    services.start()
    assert services.listener is not None
    assert services.listener.connected.wait(10)
    topics: list[frozenset[str]] = []
    services.changed.connect(topics.append)
    with (
        qtbot.waitSignal(
            services.changed, timeout=10_000, check_params_cb=lambda t: TRUSTED_IPS in t
        ),
        ctx.db.session() as s,
    ):
        s.execute(delete(TrustedIp).where(TrustedIp.id == ip))
    assert any(TRUSTED_IPS in t for t in topics)


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_the_listener_reconnects_after_its_connection_is_killed(
    ctx: CoreContext, qtbot: QtBot, make_services: Callable[..., BackgroundServices]
) -> None:
    services = make_services(ctx, sweep=False)
    seen = status_log(services)
    services.start()
    assert services.listener is not None
    assert services.listener.connected.wait(10)
    with qtbot.waitSignal(services.changed, timeout=15_000) as blocker, ctx.db.session() as s:
        s.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = 'pmdesk (changes)'"
            )
        )
    assert seen[:2] == [lost_message(0.1), "Database connection restored"]
    assert blocker.args == [TOPICS], "after a gap everything is refreshed"
    person = add_person(ctx.db, "dirk")
    with (
        qtbot.waitSignal(
            services.changed, timeout=10_000, check_params_cb=lambda t: PERSONNEL in t
        ),
        ctx.db.session() as s,
    ):
        s.execute(text("UPDATE personnel SET failed_logins = 1 WHERE id = :id"), {"id": person})


# ----- the real screens follow the database without a click ------------------------------------


@SWEPT_BY_RELAY
def test_the_security_screen_drops_rows_another_workstation_expires(
    qtbot: QtBot,
    db: Database,
    clock: ShiftedClock,
    tmp_path: Path,
    tasks: TaskManager,
    make_services: Callable[..., BackgroundServices],
) -> None:
    app = make_app(db, clock, tmp_path)
    admin = add_user(app.context, "jsmets", "correct horse 42", last_name="Smets")
    window = MainWindow(app, load_session(app, signed_in(app, admin, "jsmets", "J. Smets")), tasks)
    qtbot.addWidget(window)
    services = make_services(app.context, sweep=False)
    window.background = services
    services.start()
    assert services.listener is not None
    assert services.listener.connected.wait(10)
    for n in range(3):
        add_ip(db, admin, f"192.0.2.{n + 1}", timedelta(days=n))
    for n in range(2):
        add_ip(db, admin, f"198.51.100.{n + 1}", timedelta(days=TRUST_DAYS + 1 + n))
    window.resize(1280, 820)
    window.show()
    qtbot.waitExposed(window)
    page = open_page(qtbot, window, "security")
    assert isinstance(page, SecurityPage)
    qtbot.waitUntil(lambda: page.paging_label.text() == "Viewing items 1-5 of 5", timeout=10_000)

    other = Database(db.url)  # another workstation runs its expiry sweep
    try:
        elsewhere = CoreContext(db=other, secrets=MemoryStore(), outbox_default=tmp_path)
        assert TrustedIpService(elsewhere).expire(Actor.system("expiry sweep")) == 2
    finally:
        other.dispose()
    qtbot.waitUntil(lambda: page.paging_label.text() == "Viewing items 1-3 of 3", timeout=10_000)
    model = page.model
    shown = {model.data(model.index(r, 1)) for r in range(model.rowCount())}
    assert shown == {"192.0.2.1", "192.0.2.2", "192.0.2.3"}
    qtbot.waitUntil(tasks.is_idle, timeout=10_000)


def test_the_listener_alone_can_be_stopped_while_waiting(
    sqlite_db: Database, tasks: TaskManager
) -> None:
    listener = ChangeListener(
        CoreContext(sqlite_db, MemoryStore(), Path()),
        on_changed=lambda _topics: None,
        on_status=lambda _text, _ms: None,
        wait_s=60.0,
    )
    handle = tasks.start_loop(listener, label="live refresh")
    assert listener.connected.wait(5)
    started = time.monotonic()
    handle.stop()
    assert handle.wait(5)
    assert time.monotonic() - started < 2


def test_the_personnel_form_drops_an_address_removed_on_another_workstation(
    qtbot: QtBot,
    ui_app: App,
    admin_session: Session,
    tasks: TaskManager,
    owner_db: Database,
    make_services: Callable[..., BackgroundServices],
) -> None:
    system = Actor.system("test")
    trusted = TrustedIpService(ui_app.context)
    person = add_person(ui_app.db, "speeters", first_name="Sofie", last_name="Peeters")
    gone = trusted.trust_by_admin(system, person, "83.134.100.157")
    trusted.trust_by_admin(system, person, "192.0.2.44")

    # As App._start_background does: the services are on the window before any page is built,
    # and the Personnel page connects itself to them (the test adds no connection of its own).
    window = MainWindow(ui_app, admin_session, tasks, passwords=cheap_passwords())
    qtbot.addWidget(window)
    services = make_services(ui_app.context, sweep=False)
    window.background = services
    services.start()
    assert services.listener is not None
    assert services.listener.connected.wait(10)
    window.resize(1280, 820)
    window.show()
    qtbot.waitExposed(window)
    page = window.show_page("personnel")
    assert isinstance(page, PersonnelPage)
    page.open_person(person)
    table = page.editor.ip_table
    qtbot.waitUntil(lambda: table.rowCount() == 2, timeout=10_000)

    other = Database(owner_db.url)  # another workstation (or, on a hardened one, its relay)
    try:
        with other.session() as s:
            s.execute(delete(TrustedIp).where(TrustedIp.id == gone.id))
    finally:
        other.dispose()
    qtbot.waitUntil(lambda: table.rowCount() == 1, timeout=10_000)
    assert table.item(0, 0).text() == "192.0.2.44"
    qtbot.waitUntil(tasks.is_idle, timeout=10_000)


def test_the_status_texts_are_in_the_chosen_language(qapp: object) -> None:
    try:
        assert install_translation("nl-BE")
        lost = lost_message(2.0)
        assert lost == "Verbinding met de databank verbroken — nieuwe poging over 2 s"
        assert is_lost_message(lost)
        assert install_translation("fr-BE")
        assert lost_message(0.5) == (
            "Connexion à la base de données perdue — nouvelle tentative dans 0,5 s"
        )
    finally:
        install_translation("en-GB")
    assert lost_message(0.5) == "Database connection lost — reconnecting in 0.5 s"
    assert is_lost_message(lost_message(1.0))
