"""The trusted-IP expiry sweep on a big table, with another workstation writing meanwhile.

    .venv/bin/python bench/sweep.py --rows 20000                  # a quick try
    .venv/bin/python bench/sweep.py --write          # 2,000,000 rows, 1,000,000 expired

For each engine: a throwaway database (a temporary SQLite file; a new database on the PostgreSQL
or MariaDB server of the admin URL), migrated; ``--people`` people and ``--rows`` trusted IPs
inserted in bulk (generate_series / a recursive CTE), ``--expired-fraction`` of them past the
trust period. Then:

1. baseline: a writer in another process (another workstation) runs a short write transaction in
   a loop for ``--baseline-seconds``: a login's writes (bump a person's failure counter, insert a
   trusted IP and delete it again) in ``write_session``, pausing ``--writer-pause-ms`` between;
2. the sweep: ``TrustedIpService.expire(chunk_size=--chunk-size)`` while the same writer runs.

Reported: total sweep time, chunks, the longest single chunk transaction (from its BEGIN to the
end of its COMMIT: how long it holds its locks; on SQLite the database write lock), and the
writer's latency (median, p99, worst) with and without the sweep, with ratios. ``--write``
stores the table in bench/results/sweep.md and in the "Expiry sweep" section of bench/README.md.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, event, func, insert, select, text, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from pmdesk.core import migrate
from pmdesk.core.audit import Event
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import Database
from pmdesk.core.models import AuditEvent, Person, TrustedIp
from pmdesk.core.trusted_ips import TrustedIpService
from pmdesk.secrets import MemoryStore

BENCH = Path(__file__).resolve().parent
TRUST_DAYS = 30  # the seeded setting
ADMIN_URLS = {
    "postgresql": os.environ.get(
        "PMDESK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    ),
    "mariadb": os.environ.get(
        "PMDESK_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/mysql"
    ),
}


# ----- databases ---------------------------------------------------------------------------------


@contextmanager
def throwaway(engine_name: str, workdir: Path) -> Iterator[URL]:
    if engine_name == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="pmdesk-sweep-", dir=workdir))
        path = folder / "bench.sqlite3"
        try:
            yield URL.create("sqlite+pysqlite", database=str(path))
        finally:
            for extra in ("", "-wal", "-shm"):
                Path(f"{path}{extra}").unlink(missing_ok=True)
            folder.rmdir()
        return
    name = f"pmdesk_sweep_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin_url = make_url(ADMIN_URLS[engine_name])
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    quote = '"' if engine_name == "postgresql" else "`"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {quote}{name}{quote}"))
    try:
        yield admin_url.set(database=name)
    finally:
        with admin.connect() as conn:
            force = " WITH (FORCE)" if engine_name == "postgresql" else ""
            conn.execute(text(f"DROP DATABASE IF EXISTS {quote}{name}{quote}{force}"))
        admin.dispose()


class TimedDatabase(Database):
    """Records how long each write transaction held its locks: BEGIN (after SQLite's BEGIN
    IMMEDIATE got the lock) to the end of COMMIT."""

    def __init__(self, url: URL, pause_s: float = 0.0) -> None:
        super().__init__(url)
        self.spans: list[float] = []
        self.pause_s = pause_s
        self._began: float | None = None
        self._ended = 0.0
        # Registered after db.py's own "begin" listener, so it runs once the lock is held.
        event.listen(self.engine, "begin", self._on_begin)

    def _on_begin(self, _conn: Any) -> None:
        self._began = time.perf_counter()

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        # --chunk-pause-ms: what a longer pause between chunks would do for other writers.
        rest = self._ended + self.pause_s - time.perf_counter()
        if rest > 0:
            time.sleep(rest)
        self._began = None
        with super().write_session() as session:
            yield session
        self._ended = time.perf_counter()
        if self._began is not None:
            self.spans.append(self._ended - self._began)


# ----- data -------------------------------------------------------------------------------------


def seed(db: Database, people: int, rows: int, expired: int) -> int:
    """Bulk-insert people and trusted IPs; returns the id of one person for the writer."""
    now = datetime.now(UTC)
    with db.session() as s:
        s.execute(
            insert(Person),
            [
                {
                    "last_name": f"Bench {n}",
                    "last_name_key": f"bench {n}",
                    "login": f"bench{n}",
                    "login_key": f"bench{n}",
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(people)
            ],
        )
        first = int(s.execute(select(func.min(Person.id))).scalar_one())
    naive_now = now.replace(tzinfo=None)
    expired_span = 60 * 86400  # expired rows: 31 to 91 days old
    fresh_span = (TRUST_DAYS - 1) * 86400  # valid rows: 0 to 29 days old
    params = {
        "first": first,
        "people": people,
        "rows": rows,
        "expired": expired,
        "espan": expired_span,
        "fspan": fresh_span,
        "old": (TRUST_DAYS + 1) * 86400,
    }
    started = time.perf_counter()
    if db.backend == "postgresql":
        with db.session() as s:
            s.execute(
                text(
                    """
                    INSERT INTO trusted_ips (person_id, address, created_at, last_used_at)
                    SELECT :first + n % :people,
                           '10.' || (n >> 16 & 255) || '.' || (n >> 8 & 255) || '.' || (n & 255),
                           CASE WHEN n < :expired
                                THEN :now - make_interval(secs => :old + n % :espan)
                                ELSE :now - make_interval(secs => n % :fspan) END,
                           NULL
                    FROM generate_series(0, :rows - 1) AS n
                    """
                ),
                {**params, "now": naive_now},
            )
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE trusted_ips"
            )
    elif db.backend == "sqlite":
        with db.session() as s:
            s.execute(
                text(
                    """
                    WITH RECURSIVE seq(n) AS (
                        SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < :rows - 1
                    )
                    INSERT INTO trusted_ips (person_id, address, created_at, last_used_at)
                    SELECT :first + n % :people,
                           printf('10.%d.%d.%d', n >> 16 & 255, n >> 8 & 255, n & 255),
                           strftime('%Y-%m-%d %H:%M:%S', :now, '-' || (
                               CASE WHEN n < :expired THEN :old + n % :espan
                                    ELSE n % :fspan END) || ' seconds') || '.000000',
                           NULL
                    FROM seq
                    """
                ),
                {**params, "now": naive_now.strftime("%Y-%m-%d %H:%M:%S")},
            )
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    else:  # MariaDB: executemany in batches
        batch: list[dict[str, Any]] = []
        for n in range(rows):
            age = params["old"] + n % expired_span if n < expired else n % fresh_span
            batch.append(
                {
                    "person_id": first + n % people,
                    "address": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}",
                    "created_at": now - timedelta(seconds=age),
                }
            )
            if len(batch) == 20_000 or n == rows - 1:
                with db.session() as s:
                    s.execute(insert(TrustedIp), batch)
                batch = []
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE TABLE trusted_ips")
    print(f"  seeded {rows:,} trusted IPs in {time.perf_counter() - started:.1f} s", flush=True)
    return first


# ----- the writer (another workstation) ------------------------------------------------


def writer_main(
    url: str, person_id: int, pause_s: float, ready: Any, go: Any, stop: Any, out: Any
) -> None:
    db = Database(url)
    latencies: list[tuple[float, float]] = []  # (start, seconds)
    n = 0

    def once() -> None:
        nonlocal n
        n += 1
        with db.write_session() as s:
            s.execute(
                update(Person)
                .where(Person.id == person_id)
                .values(failed_logins=(Person.failed_logins + 1) % 10)
            )
            row = TrustedIp(
                person_id=person_id,
                address=f"172.16.{n >> 8 & 255}.{n & 255}",
                created_at=datetime.now(UTC),
            )
            s.add(row)
            s.flush()
            s.execute(delete(TrustedIp).where(TrustedIp.id == row.id))

    for _ in range(20):  # warm up: connections, statement caches
        once()
    ready.set()
    go.wait()
    failures: list[str] = []
    while not stop.is_set():
        started = time.perf_counter()
        try:
            once()
        except Exception as exc:  # e.g. SQLite's "database is locked" after the busy timeout
            failures.append(str(getattr(exc, "orig", exc)).splitlines()[0])
        latencies.append((started, time.perf_counter() - started))
        time.sleep(pause_s)
    db.dispose()
    out.put((latencies, failures))


@dataclass
class WriterStats:
    count: int = 0
    median_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    failures: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, samples: list[float], failures: list[str]) -> WriterStats:
        if not samples:
            return cls(failures=failures)
        ordered = sorted(samples)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return cls(
            len(ordered),
            statistics.median(ordered) * 1000,
            p99 * 1000,
            ordered[-1] * 1000,
            failures,
        )


class Writer:
    def __init__(self, url: URL, person_id: int, pause_s: float) -> None:
        ctx = mp.get_context("spawn")
        self.ready, self.go, self.stop_event = ctx.Event(), ctx.Event(), ctx.Event()
        self.out: Any = ctx.Queue()
        self.proc = ctx.Process(
            target=writer_main,
            args=(
                url.render_as_string(hide_password=False),
                person_id,
                pause_s,
                self.ready,
                self.go,
                self.stop_event,
                self.out,
            ),
            daemon=True,
        )
        self.proc.start()
        if not self.ready.wait(120):
            raise RuntimeError("the writer process did not start")

    def start(self) -> None:
        self.go.set()

    def finish(self) -> WriterStats:
        self.stop_event.set()
        latencies, failures = self.out.get(timeout=300)
        self.proc.join(30)
        return WriterStats.of([s for _, s in latencies], failures)


# ----- one engine -------------------------------------------------------------------------------


@dataclass
class Result:
    engine: str
    rows: int
    expired: int
    removed: int
    sweep_s: float
    chunks: int
    longest_chunk_ms: float
    median_chunk_ms: float
    baseline: WriterStats
    during: WriterStats


def run_engine(engine_name: str, args: argparse.Namespace) -> Result:
    expired = int(args.rows * args.expired_fraction)
    print(f"{engine_name}: {args.rows:,} trusted IPs, {expired:,} expired", flush=True)
    with throwaway(engine_name, args.workdir) as url:
        setup = Database(url)
        migrate.upgrade(setup)
        person_id = seed(setup, args.people, args.rows, expired)
        if args.without_change_triggers and engine_name == "mariadb":
            # What-if: without migration 0002's row triggers on trusted_ips (change counters).
            with setup.engine.connect() as conn:
                for action in ("insert", "update", "delete"):
                    conn.exec_driver_sql(f"DROP TRIGGER pmdesk_count_trusted_ips_{action}")
                conn.commit()
        setup.dispose()

        writer = Writer(url, person_id, args.writer_pause_ms / 1000)
        writer.start()
        time.sleep(args.baseline_seconds)
        baseline = writer.finish()
        print(
            f"  baseline writer: {baseline.count} tx, median {baseline.median_ms:.1f} ms, "
            f"worst {baseline.max_ms:.1f} ms",
            flush=True,
        )

        db = TimedDatabase(url, args.chunk_pause_ms / 1000)
        ctx = CoreContext(db=db, secrets=MemoryStore(), outbox_default=args.workdir / "outbox")
        service = TrustedIpService(ctx)
        writer = Writer(url, person_id, args.writer_pause_ms / 1000)
        writer.start()
        time.sleep(0.5)  # the writer is in its stride before the sweep starts
        started = time.perf_counter()
        removed = service.expire(Actor.system("expiry sweep"), chunk_size=args.chunk_size)
        sweep_s = time.perf_counter() - started
        time.sleep(0.5)
        during = writer.finish()
        spans = db.spans
        print(
            f"  sweep: {removed:,} removed in {sweep_s:.1f} s, {len(spans)} transactions, "
            f"longest {max(spans) * 1000:.0f} ms; writer worst {during.max_ms:.1f} ms, "
            f"{len(during.failures)} failed {sorted(set(during.failures))}",
            flush=True,
        )
        head, tail = spans[: len(spans) // 10 or 1], spans[-(len(spans) // 10 or 1) :]
        print(
            f"  chunk tx median: first tenth {statistics.median(head) * 1000:.0f} ms, "
            f"last tenth {statistics.median(tail) * 1000:.0f} ms",
            flush=True,
        )
        with db.session() as s:
            left = s.execute(select(func.count()).select_from(TrustedIp)).scalar_one()
            audited = s.execute(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.event == Event.IP_EXPIRED.value)
            ).scalar_one()
        db.dispose()
        if removed != expired or audited != expired or left != args.rows - expired:
            raise SystemExit(
                f"{engine_name}: wrong result: removed {removed}, audited {audited}, left {left}"
            )
        return Result(
            engine_name,
            args.rows,
            expired,
            removed,
            sweep_s,
            len(spans),
            max(spans) * 1000,
            statistics.median(spans) * 1000,
            baseline,
            during,
        )


# ----- report -----------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{platform.system()} {platform.release()} {platform.machine()}, {cpu}, "
        f"{os.cpu_count()} cores{mem}, Python {platform.python_version()}"
    )


def versions(engines: list[str]) -> str:
    import sqlite3

    found = []
    for name in engines:
        if name == "sqlite":
            found.append(f"SQLite {sqlite3.sqlite_version}")
            continue
        engine = create_engine(ADMIN_URLS[name])
        with engine.connect() as conn:
            version = str(conn.execute(text("SELECT version()")).scalar())
        engine.dispose()
        found.append(
            f"PostgreSQL {version.split()[1]}" if name == "postgresql" else f"MariaDB {version}"
        )
    return ", ".join(found)


def failed(stats: WriterStats) -> str:
    if not stats.failures:
        return f"0 of {stats.count}"
    reasons = "; ".join(sorted(set(stats.failures)))
    return f"{len(stats.failures)} of {stats.count} ({reasons})"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b > 0 else "-"


def report(results: list[Result], args: argparse.Namespace) -> str:
    engines = [r.engine for r in results]
    lines = [
        "# Expiry sweep with a concurrent writer (bench/sweep.py)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}; {versions(engines)}.",
        f"{args.rows:,} trusted IPs ({args.people:,} people), "
        f"{int(args.rows * args.expired_fraction):,} expired; chunk size {args.chunk_size}; "
        f"writer pause {args.writer_pause_ms} ms; baseline {args.baseline_seconds} s"
        + (
            f"; what-if: {args.chunk_pause_ms} ms pause between the sweep's chunks."
            if args.chunk_pause_ms
            else "."
        ),
        "",
        "| engine | sweep total (s) | rows/s | transactions | longest chunk tx (ms) "
        "| median chunk tx (ms) | writer median: alone → during sweep (ms) "
        "| writer p99 (ms) | writer worst (ms) | worst / baseline worst | writer tx failed |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.engine} | {r.sweep_s:.1f} | {r.removed / r.sweep_s:,.0f} | {r.chunks} "
            f"| {r.longest_chunk_ms:.0f} | {r.median_chunk_ms:.0f} "
            f"| {r.baseline.median_ms:.1f} → {r.during.median_ms:.1f} "
            f"({ratio(r.during.median_ms, r.baseline.median_ms)}) "
            f"| {r.baseline.p99_ms:.1f} → {r.during.p99_ms:.1f} "
            f"({ratio(r.during.p99_ms, r.baseline.p99_ms)}) "
            f"| {r.baseline.max_ms:.1f} → {r.during.max_ms:.1f} "
            f"| {ratio(r.during.max_ms, r.baseline.max_ms)} "
            f"| {failed(r.during)} |"
        )
    lines += [
        "",
        "Sweep: `TrustedIpService.expire` in one process, each chunk one write transaction "
        "(select ids, DELETE … RETURNING, one audit row per deleted address). "
        "Longest/median chunk tx: from BEGIN (on SQLite once BEGIN IMMEDIATE holds the write "
        "lock) to the end of COMMIT, i.e. how long a chunk holds its locks. Writer: another "
        "process (workstation) in a loop of one `write_session` each (bump a person's failure "
        'counter, insert a trusted IP, delete it), latency per transaction; "alone" is the '
        "same writer with no sweep running.",
    ]
    return "\n".join(lines) + "\n"


def write_results(text_md: str) -> None:
    """Put the table between the sweep markers of results/sweep.md and README.md (the what-ifs
    and findings written around it stay)."""
    title, _, body = text_md.partition("\n")
    block = f"<!-- sweep:begin -->\n{body.strip()}\n<!-- sweep:end -->"
    (BENCH / "results").mkdir(exist_ok=True)
    _replace_block(BENCH / "results" / "sweep.md", block, f"{title}\n")
    _replace_block(BENCH / "README.md", block, "# Benchmarks\n\n## Expiry sweep\n")


def _replace_block(path: Path, block: str, heading: str) -> None:
    current = path.read_text(encoding="utf-8") if path.exists() else heading
    pattern = re.compile(r"<!-- sweep:begin -->.*?<!-- sweep:end -->", re.S)
    if pattern.search(current):
        updated = pattern.sub(lambda _m: block, current)
    else:
        updated = current.rstrip() + "\n\n" + block + "\n"
    path.write_text(updated, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engines", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--expired-fraction", type=float, default=0.5)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    parser.add_argument("--writer-pause-ms", type=int, default=20)
    parser.add_argument(
        "--chunk-pause-ms",
        type=int,
        default=0,
        help="an extra pause between the sweep's transactions (what-if; expire() itself "
        "pauses 0.1 s between them on SQLite, none elsewhere)",
    )
    parser.add_argument(
        "--without-change-triggers",
        action="store_true",
        help="MariaDB what-if: drop the change-counter triggers on trusted_ips first",
    )
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument(
        "--write", action="store_true", help="store the results in bench/results and README"
    )
    args = parser.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    results = [run_engine(name, args) for name in engines]
    table = report(results, args)
    print()
    print(table)
    if args.write:
        write_results(table)
        print("written to bench/results/sweep.md and bench/README.md")


if __name__ == "__main__":
    main()
