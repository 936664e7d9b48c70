"""Fixtures shared by every test: isolated paths, and a database on each engine; and turns
between the workers of a run (pytest-xdist) for the tests marked ``alone`` or ``takes_turns``."""

from __future__ import annotations

import fcntl
import gc
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Generator, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

import pytest

from pmdesk.core import migrate
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database
from pmdesk.secrets import MemoryStore
from tests.helpers.acting import acting_on_hardened
from tests.helpers.databases import (
    ENGINES,
    fresh_sqlite,
    hardened_server_database,
    reset_to_seed,
    server_reachable,
    skip_or_fail,
    sqlite_template,
    throwaway_server_database,
)
from tests.helpers.relay import running_relay
from tests.helpers.relay_codes import RelayCodes, codes_from_the_relay
from tests.helpers.server_clock import ServerShiftedClock, install_test_clock

# Mail servers, the SMS gateway, the providers' stand-ins; a private PostgreSQL to stop and
# start: for any test.
pytest_plugins = ["tests.helpers.smtp", "tests.helpers.providers", "tests.helpers.private_postgres"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--pg-hardened",
        action="store_true",
        default=os.environ.get("PMDESK_TEST_HARDENED") == "1",
        help="run the postgresql tests against a database set up by `pmdesk server init`, "
        "connected as its workstation role (also PMDESK_TEST_HARDENED=1)",
    )


# ----- several workers (pytest-xdist: `make test` runs two) ------------------------------------
#
# Every name a test makes on a shared server carries the worker's process id or a random part
# (tests/helpers/databases.py), and each worker has its own throwaway databases, so tests run
# side by side. Two markers say where that does not hold:
#   - ``alone``: the test loads the whole machine (the load test) or times itself, so it waits
#     until the other workers are between tests and runs while they wait;
#   - ``takes_turns(name)``: tests with the same name share something (a keyring entry) and
#     never run at the same time.
# (Not xdist_group: under pytest 9.2 --dist loadgroup no longer groups, pytest-xdist issue 1386.)
# Locks are files in a folder of the run's own: each test holds "room" shared, an ``alone`` test
# holds it exclusively, and "gate" keeps the other workers from slipping in a new test while an
# ``alone`` one waits for the room to empty.


class Turns:
    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._gate: TextIO = (folder / "gate.lock").open("a")
        self._room: TextIO = (folder / "room.lock").open("a")

    @contextmanager
    def shared(self) -> Iterator[None]:
        fcntl.flock(self._gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(self._room, fcntl.LOCK_SH)
        finally:
            fcntl.flock(self._gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(self._room, fcntl.LOCK_UN)

    @contextmanager
    def alone(self) -> Iterator[None]:
        fcntl.flock(self._gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(self._room, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._room, fcntl.LOCK_UN)
        finally:
            fcntl.flock(self._gate, fcntl.LOCK_UN)

    @contextmanager
    def taking_turns(self, names: list[str]) -> Iterator[None]:
        """Taken after the room, in name order: no two workers wait for each other."""
        with ExitStack() as held:
            for name in sorted(set(names)):
                safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
                lock = held.enter_context((self._folder / f"turns-{safe}.lock").open("a"))
                fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            yield


_TURNS_FOLDER = pytest.StashKey[Path]()
_TURNS = pytest.StashKey[Turns]()
_WORKER_KEY = "pmdesk_turns"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "not_hardened(reason): on the hardened leg (--pg-hardened) the test's postgresql variant "
        "is skipped, for this reason (what it checks does not exist on a server-enforced "
        "database, or is checked there another way)",
    )
    config.addinivalue_line(
        "markers",
        "hardened_bug(reason): on the hardened leg the test's postgresql variant is expected to "
        "fail, for this reported reason (strict: it fails the run once the bug is fixed)",
    )
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None and _WORKER_KEY in workerinput:
        config.stash[_TURNS] = Turns(Path(workerinput[_WORKER_KEY]))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """On the controller, before each worker starts: the folder of this run's locks."""
    config: pytest.Config = node.config
    if _TURNS_FOLDER not in config.stash:
        config.stash[_TURNS_FOLDER] = Path(tempfile.mkdtemp(prefix="pmdesk-turns-"))
    node.workerinput[_WORKER_KEY] = str(config.stash[_TURNS_FOLDER])


def pytest_unconfigure(config: pytest.Config) -> None:
    if _TURNS_FOLDER in config.stash:
        shutil.rmtree(config.stash[_TURNS_FOLDER], ignore_errors=True)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    """Set-up, call and teardown of each test, in its turn (on a worker of an xdist run). Outside
    pytest-timeout's wrapper: the wait for a turn is not part of the test's time."""
    turns = item.config.stash.get(_TURNS, None)
    if turns is None:
        return (yield)
    names = [str(mark.args[0]) for mark in item.iter_markers("takes_turns")]
    with (
        turns.alone() if item.get_closest_marker("alone") else turns.shared(),
        turns.taking_turns(names),
    ):
        return (yield)


def on_the_hardened_leg(item: pytest.Item) -> bool:
    """Whether the hardened leg runs the test: a screen test (its ``ui_db`` is the hardened
    PostgreSQL there) or a test's PostgreSQL variant (its ``db`` is that database)."""
    if "ui_db" in getattr(item, "fixturenames", ()):
        return True
    return "postgresql" in item.name


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The hardened leg runs the screen tests and the PostgreSQL variants, and deselects the
    rest (other engines, tests of SQLite alone). There, ``not_hardened`` tests skip, saying
    why, and ``hardened_bug`` tests are expected to fail until the bug is fixed."""
    if not config.getoption("--pg-hardened"):
        return
    kept = [item for item in items if on_the_hardened_leg(item)]
    if len(kept) != len(items):
        kept_ids = {id(item) for item in kept}
        config.hook.pytest_deselected(items=[item for item in items if id(item) not in kept_ids])
        items[:] = kept
    for item in items:
        skipped = item.get_closest_marker("not_hardened")
        if skipped is not None:
            reason = f"not on a hardened database: {skipped.args[0]}"
            item.add_marker(pytest.mark.skip(reason=reason))
        bug = item.get_closest_marker("hardened_bug")
        if bug is not None:
            reason = f"a bug on a hardened database: {bug.args[0]}"
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))


@pytest.fixture(autouse=True)
def isolated_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own config, data and log folders, never the user's."""
    for name in ("CONFIG", "DATA", "LOG"):
        folder = tmp_path / f"pmdesk-{name.lower()}"
        folder.mkdir()
        monkeypatch.setenv(f"PMDESK_{name}_DIR", str(folder))
    monkeypatch.delenv("PMDESK_DATABASE_URL", raising=False)
    return tmp_path


@pytest.fixture(autouse=True)
def _cycles_collected_between_tests() -> Iterator[None]:
    """Once a Qt test has turned automatic collection off (pmdesk.ui.main_thread_gc), cycles
    are collected here too, on the main thread, so tests without an event loop do not pile
    them up."""
    yield
    if not gc.isenabled():
        from pmdesk.ui.main_thread_gc import collect_due

        collect_due()


@pytest.fixture(autouse=True)
def _english_between_tests() -> Iterator[None]:
    """A test that switched the app's language (pmdesk.ui.translation) leaves it English for
    the next, whose texts are asserted in English."""
    yield
    translation = sys.modules.get("pmdesk.ui.translation")
    if translation is not None and translation.current_language() != "en-GB":
        translation.install_translation("en-GB")


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sqlite_template(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def pg_hardened(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--pg-hardened"))


RELAY_OUTBOX = "postgresql-relay-outbox"  # where the hardened leg's relay writes the codes


@pytest.fixture(scope="session")
def _server_databases(pg_hardened: bool) -> Iterator[dict[str, Database | str]]:
    """One migrated database per server engine for the whole run (or why it is missing). With
    --pg-hardened, PostgreSQL's is set up by `server init` and the tests connect as its
    workstation role; ``owner_db`` is then the administrator's connection to it."""
    found: dict[str, Database | str] = {}
    stack: list[AbstractContextManager[object]] = []
    for name in ("postgresql", "mariadb"):
        problem = server_reachable(name)
        if problem:
            found[name] = problem
            continue
        if name == "postgresql" and pg_hardened:
            hardened = hardened_server_database()
            made = hardened.__enter__()
            stack.append(hardened)
            install_test_clock(made.owner_url, made.prefix)
            found[name] = Database(made.workstation_url)
            found["postgresql-owner"] = Database(made.owner_url)
            # Codes leave a hardened database only through the relay: one runs for the leg.
            relay = running_relay(made.relay_url, Path(tempfile.mkdtemp(prefix="pmdesk-relay-")))
            found[RELAY_OUTBOX] = str(relay.__enter__().outbox)
            stack.append(relay)
            continue
        manager = throwaway_server_database(name)
        url = manager.__enter__()
        stack.append(manager)
        db = Database(url)
        migrate.upgrade(db)
        found[name] = db
    yield found
    for value in found.values():
        if isinstance(value, Database):
            value.dispose()
    for manager in reversed(stack):
        manager.__exit__(None, None, None)


def _database(
    engine_name: str,
    tmp_path: Path,
    template: Path,
    servers: dict[str, Database | str],
) -> Database:
    if engine_name == "sqlite":
        return fresh_sqlite(template, tmp_path / "test.sqlite3")
    value = servers[engine_name]
    if isinstance(value, str):
        skip_or_fail(value)
    assert isinstance(value, Database)
    # As the owner: on a hardened database the workstation may not empty every table.
    owner = servers.get(f"{engine_name}-owner")
    reset_to_seed(owner if isinstance(owner, Database) else value)
    return value


@pytest.fixture(params=ENGINES)
def db(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    _sqlite_template: Path,
    _server_databases: dict[str, Database | str],
) -> Iterator[Database]:
    """A migrated, seeded database on each engine in turn."""
    database = _database(request.param, tmp_path, _sqlite_template, _server_databases)
    yield database
    if database.is_sqlite:
        database.dispose()


@pytest.fixture(autouse=True)
def _actors_signed_in_on_the_server(
    request: pytest.FixtureRequest, pg_hardened: bool, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """On the hardened leg, a test's services act for their Actor through a real server session
    of that person (or, for a person-less Actor, as the owner): tests/helpers/acting.py."""
    if not pg_hardened or not _uses_a_database(request):
        yield
        return
    db = _the_database(request)
    owner: Database = request.getfixturevalue("owner_db")
    if owner is db:
        yield
        return
    outbox = request.getfixturevalue("_server_databases").get(RELAY_OUTBOX)
    if isinstance(outbox, str):
        codes_from_the_relay(monkeypatch, RelayCodes(Path(outbox), owner))
    with acting_on_hardened(monkeypatch, db, owner):
        yield
    db.use_session(None)


def _uses_a_database(request: pytest.FixtureRequest) -> bool:
    return "db" in request.fixturenames or "ui_db" in request.fixturenames


def _the_database(request: pytest.FixtureRequest) -> Database:
    """The test's database: ``db`` (an engine test) or ``ui_db`` (a screen test)."""
    name = "db" if "db" in request.fixturenames else "ui_db"
    database: Database = request.getfixturevalue(name)
    return database


@pytest.fixture
def owner_db(
    request: pytest.FixtureRequest, _server_databases: dict[str, Database | str]
) -> Database:
    """The database owner's connection to the test's database (``db`` or ``ui_db``): that
    database itself, except on a hardened PostgreSQL (--pg-hardened), where the test's is the
    workstation role."""
    db = _the_database(request)
    owner = _server_databases.get(f"{db.backend}-owner")
    return owner if isinstance(owner, Database) else db


@pytest.fixture
def sqlite_db(tmp_path: Path, _sqlite_template: Path) -> Iterator[Database]:
    """A migrated, seeded SQLite database, for tests where the engine does not matter."""
    database = fresh_sqlite(_sqlite_template, tmp_path / "test.sqlite3")
    yield database
    database.dispose()


@pytest.fixture
def ui_db(
    request: pytest.FixtureRequest,
    pg_hardened: bool,
    tmp_path: Path,
    _sqlite_template: Path,
    _server_databases: dict[str, Database | str],
) -> Iterator[Database]:
    """The screens' database: a fresh SQLite one, or on the hardened leg (--pg-hardened) the
    hardened PostgreSQL, reset to its seed, with the screens connected as the workstation."""
    if pg_hardened:
        yield _database("postgresql", tmp_path, _sqlite_template, _server_databases)
        return
    yield request.getfixturevalue("sqlite_db")


@pytest.fixture
def clock(request: pytest.FixtureRequest, pg_hardened: bool) -> Iterator[ShiftedClock]:
    """The database clock, moved by the test; on the hardened leg the server's moves with it."""
    owner = request.getfixturevalue("owner_db") if _uses_a_database(request) else None
    if not pg_hardened or owner is None or owner is _the_database(request):
        yield ShiftedClock()
        return
    shifted = ServerShiftedClock(owner)
    yield shifted
    shifted.offset = timedelta()


@pytest.fixture
def ctx(db: Database, clock: ShiftedClock, tmp_path: Path) -> CoreContext:
    return CoreContext(
        db=db, secrets=MemoryStore(), outbox_default=tmp_path / "outbox", clock=clock
    )
