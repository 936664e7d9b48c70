"""The user actions of issue 18, driven through the real core services, for counting their
round trips (``tests/perf/test_round_trips.py``) and timing them over a slow line
(``bench/round_trips.py``).

``TripStage`` sets up one database (an administrator, 30 people, two-step sign-in on, trusted
and long-expired addresses) and runs each action as the app does:

- start: the launcher's probe (``pmdesk.ui.startup.probe_database``: the bare driver, after which
  Login is enabled) and, behind it, the full open (``open_database``: a new ``Database``, the
  migration check, ``has_users``, the Administrators group). Both open connections of their own:
  they are counted by a proxy (``tests.helpers.latency_proxy``), less the driver's handshake;
- the password step, a code sent (``LoginService.begin``), then the code step with "Trust this
  IP" (``verify``), then the password step again, now recognised by the trusted address;
- open Personnel: the first rows, the count, the database clock (``PersonnelSource``);
- open Security: ``security_state`` and the first page of trusted addresses;
- save a person (``PersonnelService.update``), remove a trusted address, one sweep chunk.

Before each action the pool is emptied and one connection made (``settle``), so every action
starts the same way: one open, pooled connection (taking it pings it) that has never prepared a
statement (psycopg prepares a statement the fifth time a connection runs it: one more trip).

The services' database address is loopback, which a shared database never trusts: the client
address the core reads (the same query, the same trip) is reported as an office address, so that
trust is given and recognised as on a real network. A hardened database reads the address
itself and refuses loopback: there the code step trusts nothing and the second password step
asks for a code again (said in the results).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import literal
from sqlalchemy.engine import URL, make_url

from pmdesk.core.afterwards import Collected
from pmdesk.core.auth import LoginService
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import Database
from pmdesk.core.login_results import CodeNeeded, Refused, SignedIn
from pmdesk.core.personnel import PersonnelService, PersonRecord
from pmdesk.core.screens import security_state
from pmdesk.core.trusted_ip_row import TrustedIpRow
from pmdesk.core.trusted_ips import TrustedIpService
from tests.helpers.latency_proxy import LatencyProxy
from tests.helpers.login import (
    ROUTABLE_ADDRESS,
    CollectingDelivery,
    add_user,
    cheap_passwords,
    enable_two_factor,
    service,
)
from tests.helpers.round_trips import Counter, count_round_trips
from tests.helpers.trusted_ips import trust_addresses

ADMIN_LOGIN = "trips.admin"
PASSWORD = "correct horse 42"  # a test value, not a secret
PEOPLE = 30
TRUSTED = 5  # the administrator's trusted addresses (page of Security, one removed)
EXPIRED = 3  # long expired: one sweep chunk removes them
LIST_BLOCK = 256  # PersonnelModel.BLOCK_SIZE
TRUST_PAGE = 50  # a page of trusted addresses


# The actions, in the order they run (each leaves what the next needs), with the goal
# (None: not a row of the table, measured so that no round trip goes unseen).
@dataclass(frozen=True)
class Action:
    key: str
    label: str
    goal: int | None


ACTIONS = (
    Action("start_probe", "start, until Login is enabled (probe)", 2),
    # Behind the enabled Login, while the password is typed: a Login clicked before it ends
    # waits for it.
    Action("start_open", "start, opening behind the enabled Login (until a login can run)", None),
    Action("password_code_sent", "password step, a code is sent", 2),
    Action("code_trust", "code step, trust included", 2),
    # Not in the table: sent after the code step returned (nobody waits for it).
    Action("trust_alert", "trust alert, after the code step (nobody waits for it)", None),
    Action("password_trusted", "password step, trusted address recognised", 2),
    Action("open_personnel", "open Personnel (first rows and count)", 2),
    Action("open_security", "open Security (settings, first page of trusted addresses)", 2),
    Action("save_person", "save a person", 2),
    Action("remove_trusted", "remove a trusted address", 1),
    Action("sweep_chunk", "one sweep chunk", 2),
)
BY_KEY = {action.key: action for action in ACTIONS}


def settle(db: Database) -> None:
    """Empty the pool, then make one connection and put it back: the next unit of work takes
    an open, never-used connection, as every measured action does (however long the user
    paused before it: an idle connection is not pinged, ``pmdesk.core.db._ping_if_idle``)."""
    db.engine.dispose()
    with db.engine.connect():
        pass


@contextmanager
def office_address(db: Database, guessed: str = ROUTABLE_ADDRESS) -> Iterator[None]:
    """The client address the core reads (its own query, unchanged) reported as an office one,
    and the server's own guess at it (``client_address_guess_column``) the same, as a server
    reached from an office address guesses it (tests/reliability/test_address_guess.py)."""
    if db.is_sqlite:
        yield
        return
    read = db.client_address

    def seen(session: Any) -> str | None:
        read(session)
        return ROUTABLE_ADDRESS

    db.client_address = seen  # type: ignore[method-assign]
    db.client_address_guess_column = lambda: literal(guessed)  # type: ignore[method-assign]
    try:
        yield
    finally:
        del db.client_address
        del db.client_address_guess_column


def probe_url(url: str | URL) -> str:
    """``url`` as the launcher's probe takes it. A MariaDB URL without a password makes the
    probe step aside (the full open reads the password from the keyring): Login then waits for
    the full open. Measured here with the password in the URL (an empty one on the test
    server), the case where the probe answers."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" and parsed.password is None:
        parsed = parsed.set(password="")
    return parsed.render_as_string(hide_password=False)


def connect_and_close(url: URL) -> None:
    """The bare driver's connect, with the start-up probe's parameters: its round trips are
    what a connection costs before it is open."""
    from pmdesk.core.probe import PROBE_TIMEOUT_S, connect_mariadb, driver_target

    target = driver_target(probe_url(url), Path("unused"))
    assert target is not None
    if target.backend == "postgresql":
        import psycopg

        psycopg.connect(**target.params, connect_timeout=PROBE_TIMEOUT_S, autocommit=True).close()
    else:
        connect_mariadb(target).close()


@dataclass(frozen=True)
class OnTheWire:
    """What a proxy saw of one piece of work."""

    trips: int  # after the connections were open
    connecting: int  # the handshakes of the connections it opened
    seconds: float


def proxy_trips(proxy: LatencyProxy, url: URL, work: Callable[[], object]) -> OnTheWire:
    """The round trips of ``work`` through ``proxy`` (``url`` is the proxied address). The
    handshake of each connection ``work`` opens is measured with the bare driver just before,
    and counted apart."""
    mark = proxy.mark()
    connect_and_close(url)
    per_connection = proxy.since(mark)
    mark, connections = proxy.mark(), proxy.connections
    started = time.perf_counter()
    work()
    elapsed = time.perf_counter() - started
    connecting = (proxy.connections - connections) * per_connection
    return OnTheWire(proxy.since(mark) - connecting, connecting, elapsed)


def probe(url: URL) -> bool:
    """What the launcher asks before enabling Login (``probe_database``)."""
    from pmdesk.core.probe import driver_target, ready_for_login
    from pmdesk.core.revisions import head_from_files

    target = driver_target(probe_url(url), Path("unused"))
    head = head_from_files()
    assert target is not None and head is not None
    ready = ready_for_login(target, head)
    assert ready, "the probe did not find the database ready for a login"
    return ready


def open_behind_the_dialog(url: URL, counted: list[Counter] | None = None) -> None:
    """What ``open_database`` does with the database before a login can run. ``counted`` gets
    the in-process count, which does not see what SQLAlchemy asks on a first connection (the
    server's version and settings) nor what the connection's events send: the proxy does."""
    from pmdesk.core import migrate
    from pmdesk.core.screens import administrator_group_id
    from pmdesk.secrets import MemoryStore

    db = Database(url)
    try:
        with count_round_trips(db) as counter:
            ctx = CoreContext(db, MemoryStore(), Path("outbox"))
            migrate.upgrade(db)
            assert PersonnelService(ctx, cheap_passwords()).has_users()
            administrator_group_id(ctx)
            LoginService(ctx, passwords=cheap_passwords())
        if counted is not None:
            counted.append(counter)
    finally:
        db.dispose()


class TripStage:
    """One database set up for the actions, and the actions themselves."""

    def __init__(self, ctx: CoreContext) -> None:
        self.ctx = ctx
        self.db = ctx.db
        self.admin_id = add_user(ctx, ADMIN_LOGIN, PASSWORD, first_name="Trips")
        self.person_id = add_user(ctx, "person00", PASSWORD, first_name="Person 00")
        for i in range(1, PEOPLE):
            add_user(ctx, f"person{i:02}", PASSWORD, first_name=f"Person {i:02}")
        enable_two_factor(ctx)
        self.admin = Actor(name=ADMIN_LOGIN, person_id=self.admin_id)
        self.trusted_ids = trust_addresses(
            self.db,
            [(self.admin_id, f"198.51.100.{i + 1}", timedelta(days=1)) for i in range(TRUSTED)]
            + [(self.admin_id, f"203.0.113.{i + 1}", timedelta(days=3650)) for i in range(EXPIRED)],
        )
        self.delivery = CollectingDelivery()
        # What the code step leaves behind (the trust alert): run as an action of its own.
        self.afterwards = Collected()
        self.login: LoginService = service(ctx, self.delivery, afterwards=self.afterwards)
        self.challenge: str | None = None
        self.person: PersonRecord | None = None
        self.shown: TrustedIpRow | None = None  # the row removed, as the list shows it
        self.results: dict[str, object] = {}
        self.elapsed: dict[str, float] = {}
        self.wire: dict[str, int] = {}

    def move_to(self, ctx: CoreContext) -> None:
        """Run the actions on ``ctx`` from now on (another ``Database`` on the same database,
        e.g. through a latency proxy); the stage stays as it was set up."""
        self.ctx, self.db = ctx, ctx.db
        self.login = service(ctx, self.delivery, afterwards=self.afterwards)

    # ----- running -------------------------------------------------------------------------

    def measure(
        self, key: str, proxy: LatencyProxy | None = None, *, guessed: str = ROUTABLE_ADDRESS
    ) -> Counter:
        """Run one action (after ``settle``), counting its round trips in-process, and on the
        wire when ``self.db`` goes through ``proxy`` (``self.wire``). ``guessed``: what the
        server guesses the office address is (``office_address``)."""
        run = getattr(self, key)
        self.before(key)
        settle(self.db)
        mark = proxy.mark() if proxy is not None else 0
        with office_address(self.db, guessed), count_round_trips(self.db) as counter:
            started = time.perf_counter()
            self.results[key] = run()
            self.elapsed[key] = time.perf_counter() - started
        if proxy is not None:
            self.wire[key] = proxy.since(mark)
        return counter

    def before(self, key: str) -> None:
        """Act once as whoever the action acts as, outside the count: on a hardened database
        this picks the server session every connection then presents. Before a password step,
        what the login dialog does while the password is typed (``LoginService.get_ready``:
        on a hardened database the salt is fetched then)."""
        if key in {"password_code_sent", "code_trust", "password_trusted"}:
            self.db.use_session(None)
            if key != "code_trust":  # as the dialog does while the password is typed
                self.login.get_ready(ADMIN_LOGIN)
            return
        people = PersonnelService(self.ctx, cheap_passwords())
        people.get(self.admin, self.admin_id)
        if key == "save_person":  # the form on screen: read when the person was opened
            self.person = people.get(self.admin, self.person_id)
        if key == "remove_trusted":  # the list on screen: read when Security was opened
            page = TrustedIpService(self.ctx).page(self.admin, page_size=TRUST_PAGE)
            self.shown = next(r for r in page.rows if r.id == self.trusted_ids[0])

    # ----- the actions ---------------------------------------------------------------------

    def password_code_sent(self) -> CodeNeeded:
        answer = self.login.begin(ADMIN_LOGIN, PASSWORD)
        assert isinstance(answer, CodeNeeded), answer
        self.challenge = answer.challenge_id
        return answer

    def code_trust(self) -> SignedIn:
        assert self.challenge is not None
        answer = self.login.verify(self.challenge, self.delivery.last_code, trust_this_ip=True)
        assert isinstance(answer, SignedIn), answer
        return answer

    def trust_alert(self) -> int:
        """The alert about the address the code step trusted: sent, then its outcome logged.
        None on a hardened database (the server queued it; the relay sends it)."""
        before = len(self.delivery.alerts)
        self.afterwards.run()
        sent = len(self.delivery.alerts) - before
        assert sent == (0 if self.db.server_codes else 1), sent
        return sent

    def password_trusted(self) -> SignedIn | CodeNeeded | Refused:
        answer = self.login.begin(ADMIN_LOGIN, PASSWORD)
        if self.db.server_codes:
            return answer  # loopback: never trusted on a hardened database (see above)
        assert isinstance(answer, SignedIn) and answer.trusted_address, answer
        return answer

    def open_personnel(self) -> int:
        people = PersonnelService(self.ctx, cheap_passwords())
        first = people.first_page(self.admin, limit=LIST_BLOCK)
        total, _now = people.count_and_clock(self.admin)  # as PersonnelSource.count asks
        assert total == len(first.rows) == PEOPLE + 1
        return total

    def open_security(self) -> int:
        security_state(self.ctx, self.admin)
        page = TrustedIpService(self.ctx).page(self.admin, page_size=TRUST_PAGE)
        assert page.rows
        return len(page.rows)

    def save_person(self) -> None:
        people = PersonnelService(self.ctx, cheap_passwords())
        record = self.person
        assert record is not None
        people.update(self.admin, record.id, record.version, replace(record.form, city="Gent"))

    def remove_trusted(self) -> None:
        """Delete on the Security list: the row as the list shows it (``before``)."""
        assert self.shown is not None
        removed = TrustedIpService(self.ctx).remove(self.admin, [self.shown.id], [self.shown])
        assert removed == 1

    def sweep_chunk(self) -> int:
        """One chunk of the expiry sweep, as ``TrustedIpService.expire`` runs each."""
        trusted = TrustedIpService(self.ctx)
        ids, removed = trusted._expire_chunk(Actor.system("expiry sweep"), 1000)
        assert removed == EXPIRED, (ids, removed)
        return removed
