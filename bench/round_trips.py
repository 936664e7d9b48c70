"""Round trips per user action (issue 18), and what they cost over a slow line.

    scripts/with-test-env .venv/bin/python bench/round_trips.py [--engines mariadb,hardened]

Each action of ``tests/helpers/trip_actions.py`` (the start, the two sign-in steps, opening
Personnel and Security, saving a person, removing a trusted address, one sweep chunk) runs
through the real core services against a throwaway database on the test servers, reached
through a TCP proxy (``tests/helpers/latency_proxy.py``) that holds every byte back 0, 10 and
30 ms each way and counts the round trips on the wire. For each action and engine: the round
trips (the proxy's count, after the connections are open; the in-process counter of
``tests/helpers/round_trips.py`` must agree), the issue's goal, the median time at each delay,
and whether the time at 30 ms stays within ``trips × one round trip + 1.5 × the loopback
time``, one round trip being what a ``SELECT 1`` takes through the proxy at 30 ms each way
(60 ms, and the proxy's timers: about a millisecond more each way), measured in the same run.

Engines: ``postgresql`` and ``mariadb`` (the test servers, ``PMDESK_TEST_POSTGRES_URL`` /
``PMDESK_TEST_MARIADB_URL``), and ``hardened``: a PostgreSQL database set up by
``pmdesk server init``, used as its workstation role with real server sessions and a running
relay (as the test suite's ``--pg-hardened`` leg does; ``tests/helpers/acting.py``).

Results: printed, and written to ``bench/results/round_trips.md`` and the "Round trips per
action" section of ``bench/README.md`` (``--no-save``: print only).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from common import README, ROOT, describe_machine, machine

sys.path.insert(0, str(ROOT))  # tests.helpers: the actions, the proxy, the counter

REPORT = ROOT / "bench" / "results" / "round_trips.md"
BEGIN, END = "<!-- round_trips:begin -->", "<!-- round_trips:end -->"
DELAYS_MS = (0, 10, 30)
ENGINES = ("postgresql", "mariadb", "hardened")


@dataclass
class Line:
    """One action on one engine."""

    action: str
    engine: str
    trips: int | None = None  # on the wire (the proxy)
    counted: int | None = None  # in-process (statements, BEGIN/COMMIT, pre-ping)
    connecting: int = 0  # the handshakes of connections the action opened (the start)
    explained: str = ""  # the in-process counter's list, last run
    seen: set[int] = field(default_factory=set)  # the trips of every run: one value, or a note
    ms: dict[int, list[float]] = field(default_factory=dict)
    note: str = ""

    def median(self, delay: int) -> float | None:
        values = self.ms.get(delay)
        return statistics.median(values) if values else None

    def per_trip(self) -> float | None:
        """What each round trip added at 30 ms each way over loopback, ms."""
        slow, loopback = self.median(30), self.median(0)
        if slow is None or loopback is None or not self.trips:
            return None
        return (slow - loopback) / (self.trips + self.connecting)

    def holds(self, round_trip_ms: float) -> bool | None:
        """Whether the time at 30 ms each way is within one ``round_trip_ms`` (a round trip
        through the proxy at that delay, measured) per trip plus 1.5 × the loopback time."""
        slow, loopback = self.median(30), self.median(0)
        if slow is None or loopback is None or self.trips is None:
            return None
        return slow <= (self.trips + self.connecting) * round_trip_ms + 1.5 * loopback


def one_round_trip_ms(url: str, delay_ms: int, repeat: int = 15) -> float:
    """The median time of one ``SELECT 1`` on an open bare connection through a proxy
    ``delay_ms`` each way: the line's real round trip, the proxy's own cost (its timers wake
    up to a millisecond late each way) included."""
    import time

    from pmdesk.core.probe import driver_target
    from tests.helpers.latency_proxy import proxied

    with proxied(url, delay_ms / 1000) as (_proxy, through):
        found = driver_target(through.render_as_string(hide_password=False), Path("unused"))
        assert found is not None
        if found.backend == "postgresql":
            import psycopg

            connection: Any = psycopg.connect(**found.params, autocommit=True)
        else:
            import pymysql

            connection = pymysql.connect(**found.params, autocommit=True)
        try:
            cursor = connection.cursor()
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                cursor.execute("SELECT 1")
                cursor.fetchall()
                times.append((time.perf_counter() - started) * 1000)
        finally:
            connection.close()
    return statistics.median(times)


@dataclass
class Target:
    """A database to measure on: the workstation's URL, the owner's (sets the stage)."""

    engine: str
    url: str
    owner_url: str
    relay_url: str | None = None


@contextmanager
def target(engine: str) -> Iterator[Target]:
    from pmdesk.core import migrate
    from pmdesk.core.db import Database
    from tests.helpers.databases import hardened_server_database, throwaway_server_database
    from tests.helpers.trip_actions import probe_url

    if engine == "hardened":
        with hardened_server_database() as made:
            yield Target(
                engine,
                probe_url(made.workstation_url),
                probe_url(made.owner_url),
                probe_url(made.relay_url),
            )
        return
    with throwaway_server_database(engine) as url:
        db = Database(url)
        migrate.upgrade(db)
        db.dispose()
        yield Target(engine, probe_url(url), probe_url(url))


@contextmanager
def hardened_plumbing(workstation: object, owner: object, relay_url: str) -> Iterator[None]:
    """Real server sessions for the actors, and the relay's codes for the code step."""
    import pytest
    from sqlalchemy.engine import make_url

    from tests.helpers.acting import acting_on_hardened
    from tests.helpers.relay import running_relay
    from tests.helpers.relay_codes import RelayCodes, codes_from_the_relay

    patch = pytest.MonkeyPatch()
    folder = Path(tempfile.mkdtemp(prefix="pmdesk-bench-relay-"))
    try:
        with running_relay(make_url(relay_url), folder) as relay:
            codes_from_the_relay(patch, RelayCodes(Path(relay.outbox), owner))  # type: ignore[arg-type]
            with acting_on_hardened(patch, workstation, owner):  # type: ignore[arg-type]
                yield
    finally:
        patch.undo()


def run_once(where: Target, delay_ms: int, lines: dict[str, Line], record: bool) -> None:
    """Set the stage afresh, then every action once through a proxy ``delay_ms`` each way."""
    from pmdesk.core.clock import ShiftedClock
    from pmdesk.core.context import CoreContext
    from pmdesk.core.db import Database
    from pmdesk.secrets import MemoryStore
    from tests.helpers.databases import reset_to_seed
    from tests.helpers.latency_proxy import proxied
    from tests.helpers.round_trips import Counter
    from tests.helpers.trip_actions import (
        ACTIONS,
        TripStage,
        open_behind_the_dialog,
        probe,
        proxy_trips,
    )

    owner = Database(where.owner_url)
    direct = Database(where.url)
    folder = Path(tempfile.mkdtemp(prefix="pmdesk-bench-trips-"))
    with ExitStack() as stack:
        reset_to_seed(owner)
        clock = ShiftedClock()
        stage = TripStage(CoreContext(direct, MemoryStore(), folder, clock=clock))
        proxy, url = stack.enter_context(proxied(where.url, delay_ms / 1000))
        db = Database(url)
        stack.callback(db.dispose)
        assert db.hardening_level >= 0  # read once per Database: at start (start_open)
        if where.relay_url is not None:
            stack.enter_context(hardened_plumbing(db, owner, where.relay_url))
        stage.move_to(CoreContext(db, MemoryStore(), folder, clock=clock))
        for action in ACTIONS:
            line = lines.setdefault(action.key, Line(action.key, where.engine))
            if action.key == "sweep_chunk" and where.engine == "hardened":
                line.note = "the relay sweeps (pmdesk.expire), not the workstation"
                continue
            if action.key in {"start_probe", "start_open"}:
                inside: list[Counter] = []
                if action.key == "start_probe":
                    wire = proxy_trips(proxy, url, lambda: probe(url))
                else:
                    wire = proxy_trips(proxy, url, partial(open_behind_the_dialog, url, inside))
                trips, seconds, line.connecting = wire.trips, wire.seconds, wire.connecting
                counted = None
                if inside:
                    line.explained = inside[0].describe() + "\n  (and what the proxy alone saw)"
            else:
                counter = stage.measure(action.key, proxy)
                trips, seconds = stage.wire[action.key], stage.elapsed[action.key]
                counted = counter.total
                line.explained = counter.describe()
                if counter.connects:
                    line.note = f"{counter.connects} new connection(s) during the action"
            if not record:
                continue
            line.trips, line.counted = trips, counted
            line.seen.add(trips)
            line.ms.setdefault(delay_ms, []).append(seconds * 1000)
    owner.dispose()
    direct.dispose()


def measure(engine: str, repeat: int, round_trips: dict[str, dict[int, float]]) -> list[Line]:
    lines: dict[str, Line] = {}
    with target(engine) as where:
        round_trips[engine] = {d: one_round_trip_ms(where.url, d) for d in DELAYS_MS}
        run_once(where, 0, lines, record=False)  # imports, caches: not a network cost
        for delay in DELAYS_MS:
            for _ in range(repeat):
                run_once(where, delay, lines, record=True)
    if engine == "hardened":
        lines[
            "password_trusted"
        ].note = "loopback is never trusted by the server: a code is asked again"
    return list(lines.values())


def render(
    lines: list[Line], info: dict[str, str], repeat: int, round_trips: dict[str, dict[int, float]]
) -> str:
    from tests.helpers.trip_actions import BY_KEY

    def fmt(value: float | None) -> str:
        return "—" if value is None else f"{value:.0f}"

    out = [
        f"Measured {describe_machine(info)}; MariaDB and PostgreSQL on the same machine "
        f"(loopback). Median of {repeat} runs per delay; the proxy adds the delay each way.",
        "",
        "One round trip through the proxy (median `SELECT 1` on an open connection), ms: "
        + "; ".join(
            f"{engine} {', '.join(f'{rtt[d]:.1f}' for d in DELAYS_MS)} at "
            f"{'/'.join(str(d) for d in DELAYS_MS)} ms each way"
            for engine, rtt in round_trips.items()
        )
        + ". The last column checks the time at 30 ms each way against "
        "(round trips, the connections' included) × that round trip at 30 ms + 1.5 × the "
        "time at 0 ms: true when the action waits for nothing but its trips. The column after "
        "it is what each trip added at 30 ms each way: one round trip (about 61 ms) when "
        "nothing else waits, a few ms more on this shared 2-core machine, where the client, "
        "the proxy's process and the servers wait for a core.",
        "",
        "| action | engine | round trips | goal | ms at 0 | ms at 10 | ms at 30 "
        "| ≤ trips × round trip + 1.5 × loopback | (ms at 30 − ms at 0) / trips | note |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | :---: | ---: | --- |",
    ]
    for line in lines:
        action = BY_KEY[line.action]
        holds = line.holds(round_trips[line.engine][30])
        note = line.note
        connecting = f" (+{line.connecting} to connect)" if line.connecting else ""
        goal = f"≤ {action.goal}" if action.goal is not None else "—"
        if len(line.seen) > 1:
            note = f"varied between runs: {sorted(line.seen)}; " + note
        if line.counted is not None and line.counted != line.trips:
            note = f"in-process counter says {line.counted}; " + note
        out.append(
            f"| {action.label} | {line.engine} | {fmt(line.trips)}{connecting} | {goal} "
            f"| {fmt(line.median(0))} | {fmt(line.median(10))} | {fmt(line.median(30))} "
            f"| {'—' if holds is None else ('yes' if holds else '**no**')} "
            f"| {fmt(line.per_trip())} | {note} |"
        )
    return "\n".join(out)


def save(table: str) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(
        "# Round trips per user action (issue 18)\n\nWritten by `bench/round_trips.py` "
        "(see `bench/README.md`).\n\n" + table + "\n",
        encoding="utf-8",
    )
    text = README.read_text(encoding="utf-8")
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _old, tail = rest.split(END, 1)
        README.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--repeat", type=int, default=5, help="runs per delay (median)")
    parser.add_argument("--no-save", action="store_true", help="print only")
    parser.add_argument(
        "--explain", action="store_true", help="also print each action's round trips, one a line"
    )
    args = parser.parse_args()
    info = machine()
    lines: list[Line] = []
    by_engine: dict[str, list[Line]] = {}
    round_trips: dict[str, dict[int, float]] = {}
    for engine in args.engines.split(","):
        print(f"measuring {engine} …", flush=True)
        by_engine[engine] = measure(engine, args.repeat, round_trips)
    keys = [line.action for line in next(iter(by_engine.values()))]
    for key in keys:  # grouped by action, engines side by side
        lines += [line for found in by_engine.values() for line in found if line.action == key]
    table = render(lines, info, args.repeat, round_trips)
    if args.explain:
        for line in lines:
            print(f"\n{line.action} [{line.engine}]: {line.explained or '(proxy only)'}")
    print(table)
    if not args.no_save:
        save(table)


if __name__ == "__main__":
    main()
