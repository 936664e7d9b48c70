#!/usr/bin/env python3
"""Load test: several workstations signing in with two-step authentication and editing people
against one database, while the expiry sweep runs; then checks that nothing was lost.

    python scripts/load_test.py --server postgresql://postgres@127.0.0.1/postgres
    python scripts/load_test.py --database postgresql://pm@db/pm_load --processes 8 --seconds 60

``--server ADMIN_URL`` creates a throwaway database on that server (dropped afterwards);
``--database URL`` uses an existing one, which must be a throwaway: the test turns two-step
authentication on and adds its own users, people and trusted IPs to it.

Each of ``--processes`` worker processes (one workstation each) loops for ``--seconds``:

1. signs in as its own user: password, then the security code from an in-process delivery
   (``LoginService.begin`` / ``verify``); every third code login ticks "Trust this IP", the next
   sign-in is then by trusted address (no code), after which the worker removes its trust again;
2. adds 1 to the Hourly Cost of one person shared by all workers (``PersonnelService.update``
   with optimistic locking; on ``ConflictError`` it reads the person again and retries);
3. sets the Number of its own person to how many times it has done so.

Meanwhile a sweeper process adds expired trusted IPs and runs ``TrustedIpService.expire`` in a
loop. At the end the script checks: no unexpected error; the shared counter equals the sum of
the increments the workers reported (no lost update); each own Number equals that worker's
count; the audit trail holds exactly one row per reported login, code sent, increment, edit
and expired address; no expired address is left. Exit code 0 when every check passes.

``--cheap-hashes`` uses tiny argon2/scrypt costs (the same code paths): the database becomes the
bottleneck instead of the CPU. ``--json`` prints the figures as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from argon2 import PasswordHasher  # noqa: E402
from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402

from pmdesk.core import codes, migrate  # noqa: E402
from pmdesk.core.audit import Event  # noqa: E402
from pmdesk.core.auth import CodeNeeded, LoginService, SignedIn  # noqa: E402
from pmdesk.core.clock import DatabaseClock  # noqa: E402
from pmdesk.core.context import Actor, CoreContext  # noqa: E402
from pmdesk.core.db import Database, describe_url, parse_url  # noqa: E402
from pmdesk.core.delivery.base import CodeMessage, DeliverySettings  # noqa: E402
from pmdesk.core.errors import ConflictError  # noqa: E402
from pmdesk.core.groups import find_group  # noqa: E402
from pmdesk.core.models import AuditEvent, Person, TrustedIp  # noqa: E402
from pmdesk.core.modules import ADMINISTRATOR_GROUP  # noqa: E402
from pmdesk.core.passwords import Passwords  # noqa: E402
from pmdesk.core.personnel import PersonForm, PersonnelService  # noqa: E402
from pmdesk.core.security import SecurityService  # noqa: E402
from pmdesk.core.trusted_ips import TrustedIpService  # noqa: E402
from pmdesk.secrets import MemoryStore  # noqa: E402

PASSWORD = "Load-Test-Password-1"
START_DELAY_S = 3.0  # for every process to import and connect before the clock starts
CHILD_DATABASE = "PMDESK_LOAD_TEST_DATABASE"


# ----- pieces shared by the processes ---------------------------------------------------------


def passwords(cheap: bool) -> Passwords:
    if cheap:
        return Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    return Passwords()


def make_cheap_codes() -> None:
    codes._SCRYPT_N = 2**4  # the same scrypt code path, microseconds per code


def context(url: str) -> CoreContext:
    return CoreContext(db=Database(url), secrets=MemoryStore(), outbox_default=Path("outbox"))


class MemoryDelivery:
    """Delivers codes into this process's memory (a workstation reading its own mail)."""

    label = "in-memory load-test delivery"
    encrypted = None

    def __init__(self) -> None:
        self.last_code: str | None = None
        self.sent = 0
        self.alerts = 0  # trust alerts (a trust outside any office network), not codes

    def destination(self, message: CodeMessage) -> str | None:
        return message.email or None

    def send(self, message: CodeMessage) -> None:
        if message.alert is not None:
            self.alerts += 1
            return
        self.last_code = message.code
        self.sent += 1

    def factory(self, settings: DeliverySettings) -> MemoryDelivery:
        return self


def login_name(run: str, n: int) -> str:
    return f"load-{run}-{n:02d}"


# ----- a worker: one workstation --------------------------------------------------------------


@dataclass
class WorkerResult:
    worker: int
    logins_with_code: int = 0
    logins_trusted: int = 0
    codes_sent: int = 0
    alerts_sent: int = 0
    trusts_removed: int = 0
    increments: int = 0
    own_edits: int = 0
    conflicts: int = 0
    max_retries: int = 0
    login_ms: list[float] = field(default_factory=list)
    edit_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def run_worker(args: argparse.Namespace) -> int:
    if args.cheap_hashes:
        make_cheap_codes()
    ctx = context(os.environ[CHILD_DATABASE])
    delivery = MemoryDelivery()
    login = LoginService(
        ctx,
        delivery_factory=delivery.factory,
        passwords=passwords(args.cheap_hashes),
        workstation=f"load-ws-{args.worker:02d}",
    )
    people = PersonnelService(ctx, passwords=passwords(args.cheap_hashes))
    ips = TrustedIpService(ctx)
    name = login_name(args.run, args.worker)
    own = people.find_by_login(name)
    assert own is not None, name
    result = WorkerResult(worker=args.worker)
    time.sleep(max(0.0, args.start_at - time.time()))
    deadline = args.start_at + args.seconds
    n = 0
    while time.time() < deadline:
        n += 1
        try:
            signed = sign_in(login, delivery, name, trust=n % 3 == 0, result=result)
            if signed is None:
                continue
            if signed.trusted_address:
                # Back to needing a code next time: the person removes their own trust.
                mine = ips.for_person(signed.actor, own.id)
                result.trusts_removed += ips.remove_for_person(
                    signed.actor, own.id, [row.id for row in mine]
                )
            increment(people, signed.actor, args.shared_id, result)
            edit_own(people, signed.actor, own.id, result)
        except Exception as exc:  # every unexpected error is reported, then the loop goes on
            result.errors.append(f"{type(exc).__name__}: {exc}"[:300])
            time.sleep(0.05)
    result.codes_sent = delivery.sent
    result.alerts_sent = delivery.alerts
    ctx.db.dispose()
    print(json.dumps(result.__dict__), flush=True)
    return 0


def sign_in(
    login: LoginService, delivery: MemoryDelivery, name: str, *, trust: bool, result: WorkerResult
) -> SignedIn | None:
    started = time.perf_counter()
    first = login.begin(name, PASSWORD)
    if isinstance(first, CodeNeeded):
        if first.delivery_error or delivery.last_code is None:
            result.errors.append(f"code not delivered: {first.delivery_error}")
            return None
        signed = login.verify(first.challenge_id, delivery.last_code, trust)
        if not isinstance(signed, SignedIn):
            result.errors.append(f"right code refused: {signed.message}")
            return None
        result.logins_with_code += 1
    elif isinstance(first, SignedIn):
        if not first.trusted_address:
            result.errors.append("signed in without a code while two-step authentication is on")
        signed = first
        result.logins_trusted += 1
    else:
        result.errors.append(f"right password refused: {first.message}")
        return None
    result.login_ms.append((time.perf_counter() - started) * 1000)
    return signed


def increment(people: PersonnelService, actor: Actor, shared_id: int, result: WorkerResult) -> None:
    """Hourly Cost + 1 on the shared person; a conflict means: read again, add again."""
    started = time.perf_counter()
    retries = 0
    while True:
        current = people.get(actor, shared_id)
        amount = Decimal(current.form.hourly_cost or "0") + 1
        try:
            people.update(
                actor, shared_id, current.version, replace(current.form, hourly_cost=f"{amount}")
            )
        except ConflictError:
            retries += 1
            result.conflicts += 1
            continue
        break
    result.increments += 1
    result.max_retries = max(result.max_retries, retries)
    result.edit_ms.append((time.perf_counter() - started) * 1000)


def edit_own(people: PersonnelService, actor: Actor, own_id: int, result: WorkerResult) -> None:
    current = people.get(actor, own_id)
    people.update(
        actor, own_id, current.version, replace(current.form, number=str(result.own_edits + 1))
    )
    result.own_edits += 1


# ----- the sweeper ------------------------------------------------------------------------------


def run_sweeper(args: argparse.Namespace) -> int:
    ctx = context(os.environ[CHILD_DATABASE])
    service = TrustedIpService(ctx)
    added = removed = passes = 0
    errors: list[str] = []
    time.sleep(max(0.0, args.start_at - time.time()))
    deadline = args.start_at + args.seconds
    while time.time() < deadline:
        try:
            added += add_expired(ctx, args.sweep_owner, args.sweep_batch, added)
            removed += service.expire(chunk_size=args.sweep_chunk)
            passes += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:300])
        time.sleep(0.2)
    try:
        removed += service.expire(chunk_size=args.sweep_chunk)
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}"[:300])
    ctx.db.dispose()
    print(json.dumps({"added": added, "removed": removed, "passes": passes, "errors": errors}))
    return 0


def add_expired(ctx: CoreContext, owner: int, count: int, offset: int) -> int:
    with ctx.db.session() as s:
        now = DatabaseClock().now(s)
        s.execute(
            insert(TrustedIp),
            [
                {
                    "person_id": owner,
                    "address": f"10.{(offset + n) >> 16 & 255}.{(offset + n) >> 8 & 255}."
                    f"{(offset + n) & 255}",
                    "created_at": now - timedelta(days=91, seconds=offset + n),
                }
                for n in range(count)
            ],
        )
    return count


# ----- the conductor ----------------------------------------------------------------------------


@contextmanager
def throwaway_database(admin_url: str) -> Iterator[str]:
    admin = create_engine(parse_url(admin_url), isolation_level="AUTOCOMMIT")
    name = f"pmdesk_load_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    backend = admin.dialect.name
    quote = '"' if backend == "postgresql" else "`"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {quote}{name}{quote}"))
    try:
        yield parse_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if backend == "postgresql" else ""
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {quote}{name}{quote}{force}"))
        admin.dispose()


def set_up(url: str, run: str, workers: int, cheap: bool) -> dict[str, int]:
    db = Database(url)
    migrate.upgrade(db)
    ctx = CoreContext(db=db, secrets=MemoryStore(), outbox_default=Path("outbox"))
    cli = Actor.command_line()
    with db.session() as s:
        group = find_group(s, ADMINISTRATOR_GROUP)
        assert group is not None, "the Administrator group is missing"
        group_id = group.id
    people = PersonnelService(ctx, passwords=passwords(cheap))
    for n in range(workers):
        name = login_name(run, n)
        people.create(
            cli,
            PersonForm(
                last_name=f"Load worker {n}",
                login=name,
                email=f"{name}@load.example",
                group_id=group_id,
                password=PASSWORD,
                password_confirm=PASSWORD,
            ),
        )
    shared = people.create(cli, PersonForm(last_name=f"Shared counter {run}", hourly_cost="0"))
    owner = people.create(cli, PersonForm(last_name=f"Sweep owner {run}"))
    security = SecurityService(ctx)
    current = security.get(cli)
    security.set_two_factor(cli, True, current.version, accept_shut_out=True)
    db.dispose()
    return {"shared_id": shared.id, "sweep_owner": owner.id}


def spawn(role: list[str], common: list[str], url: str) -> subprocess.Popen[str]:
    # The URL (it may hold a password) goes by the environment, not the visible command line.
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), *role, *common],
        env={**os.environ, CHILD_DATABASE: url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def last_json(out: str) -> dict[str, Any]:
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError("no result")
    found: dict[str, Any] = json.loads(lines[-1])
    return found


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def audit_count(db: Database, event: Event, subject: Any) -> int:
    with db.session() as s:
        return int(
            s.execute(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.event == event.value, subject)
            ).scalar_one()
        )


def conduct(args: argparse.Namespace, url: str) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    ids = set_up(url, run, args.processes, args.cheap_hashes)
    start_at = time.time() + START_DELAY_S + 0.25 * args.processes
    common = [
        "--run", run, "--start-at", repr(start_at),
        "--seconds", str(args.seconds), "--shared-id", str(ids["shared_id"]),
        "--sweep-owner", str(ids["sweep_owner"]), "--sweep-chunk", str(args.sweep_chunk),
        "--sweep-batch", str(args.sweep_batch),
    ]  # fmt: skip
    if args.cheap_hashes:
        common.append("--cheap-hashes")
    workers = [spawn(["--worker", str(n)], common, url) for n in range(args.processes)]
    sweeper = spawn(["--sweeper"], common, url) if args.sweep else None
    results: list[dict[str, Any]] = []
    problems: list[str] = []
    timeout = START_DELAY_S + 0.25 * args.processes + args.seconds + 120
    for n, proc in enumerate(workers):
        out, err = proc.communicate(timeout=timeout)
        try:
            results.append(last_json(out))
        except (RuntimeError, ValueError):
            problems.append(f"worker {n} failed (exit {proc.returncode}): {err[-1500:]}")
    sweep: dict[str, Any] = {"added": 0, "removed": 0, "passes": 0, "errors": []}
    if sweeper is not None:
        out, err = sweeper.communicate(timeout=timeout)
        try:
            sweep = last_json(out)
        except (RuntimeError, ValueError):
            problems.append(f"the sweeper failed (exit {sweeper.returncode}): {err[-1500:]}")

    db = Database(url)
    try:
        figures = check(db, run, ids, results, sweep, args, problems)
    finally:
        db.dispose()
    return figures


def check(
    db: Database,
    run: str,
    ids: dict[str, int],
    results: list[dict[str, Any]],
    sweep: dict[str, Any],
    args: argparse.Namespace,
    problems: list[str],
) -> dict[str, Any]:
    def total(key: str) -> int:
        return sum(int(r[key]) for r in results)

    errors = [e for r in results for e in r["errors"]] + list(sweep["errors"])
    with db.session() as s:
        shared = s.get(Person, ids["shared_id"])
        assert shared is not None
        counter = int(shared.hourly_cost or 0)
        shared_subject = f"Shared counter {run}"
        numbers = dict(
            s.execute(
                select(Person.login, Person.number).where(Person.login.like(f"load-{run}-%"))
            ).all()
        )
        now = DatabaseClock().now(s)
        expired_left = s.execute(
            select(func.count())
            .select_from(TrustedIp)
            .where(TrustedIp.created_at <= now - timedelta(days=90))
        ).scalar_one()
    ours = AuditEvent.subject.like(f"load-{run}-%")
    logins = total("logins_with_code") + total("logins_trusted")
    figures: dict[str, Any] = {
        "database": describe_url(db.url),
        "processes": args.processes,
        "seconds": args.seconds,
        "cheap_hashes": args.cheap_hashes,
        "logins": logins,
        "logins_with_code": total("logins_with_code"),
        "logins_trusted": total("logins_trusted"),
        "logins_per_s": round(logins / args.seconds, 1),
        "codes_sent": total("codes_sent"),
        "alerts_sent": total("alerts_sent"),
        "increments": total("increments"),
        "own_edits": total("own_edits"),
        "edits_per_s": round((total("increments") + total("own_edits")) / args.seconds, 1),
        "conflicts_retried": total("conflicts"),
        "max_retries_for_one_increment": max((int(r["max_retries"]) for r in results), default=0),
        "shared_counter": counter,
        "lost_updates": total("increments") - counter,
        "trusts_removed": total("trusts_removed"),
        "swept": int(sweep["added"]) - int(expired_left),
        "sweep_passes": int(sweep["passes"]),
        "expired_left": int(expired_left),
        "login_ms_p50": round(
            statistics.median([ms for r in results for ms in r["login_ms"]] or [0]), 1
        ),
        "login_ms_p95": round(percentile([ms for r in results for ms in r["login_ms"]], 0.95), 1),
        "increment_ms_p50": round(
            statistics.median([ms for r in results for ms in r["edit_ms"]] or [0]), 1
        ),
        "increment_ms_p95": round(
            percentile([ms for r in results for ms in r["edit_ms"]], 0.95), 1
        ),
        "unexpected_errors": len(errors),
        "error_samples": errors[:5],
    }
    audited = {
        "logins": audit_count(db, Event.LOGIN_SUCCEEDED, ours),
        "codes_sent": audit_count(db, Event.CODE_SENT, ours),
        "alerts_sent": audit_count(db, Event.ALERT_SENT, ours),
        "increments": audit_count(db, Event.PERSON_UPDATED, AuditEvent.subject == shared_subject),
        "own_edits": audit_count(db, Event.PERSON_UPDATED, ours),
        "trusts_removed": audit_count(db, Event.IP_REMOVED, ours),
        "swept": audit_count(db, Event.IP_EXPIRED, AuditEvent.subject == f"Sweep owner {run}"),
    }
    figures["audited"] = audited

    if len(results) != args.processes:
        problems.append(f"only {len(results)} of {args.processes} workers reported")
    if errors:
        problems.append(f"{len(errors)} unexpected errors, e.g. {errors[:3]}")
    if figures["lost_updates"] != 0:
        problems.append(
            f"lost updates: {total('increments')} increments reported, counter is {counter}"
        )
    for r in results:
        name = login_name(run, int(r["worker"]))
        if numbers.get(name) != (str(r["own_edits"]) if r["own_edits"] else ""):
            problems.append(f"{name}: Number {numbers.get(name)!r}, {r['own_edits']} edits")
    for key, count in audited.items():
        # A sweep that fails half-way has committed (and audited) its earlier chunks but
        # reports nothing: the expired addresses it was given are what must be audited.
        reported = sweep["added"] if key == "swept" else figures[key]
        if count != reported:
            problems.append(f"audit: {count} rows for {key}, {reported} reported")
    if expired_left:
        problems.append(f"{expired_left} expired addresses left after the last sweep")
    if logins == 0:
        problems.append("no login at all")
    figures["problems"] = problems
    figures["ok"] = not problems
    return figures


def report(figures: dict[str, Any]) -> None:
    hashes = "cheap (test) hashes" if figures["cheap_hashes"] else "production argon2/scrypt"
    print(
        f"{figures['processes']} workstations × {figures['seconds']} s against "
        f"{figures['database']} ({hashes})"
    )
    rows = [
        ("sign-ins", f"{figures['logins']} ({figures['logins_with_code']} with a code, "
         f"{figures['logins_trusted']} by trusted address), {figures['logins_per_s']}/s"),
        ("sign-in time", f"median {figures['login_ms_p50']} ms, p95 {figures['login_ms_p95']} ms"),
        ("edits", f"{figures['increments']} shared increments + {figures['own_edits']} own "
         f"edits, {figures['edits_per_s']}/s"),
        ("increment time", f"median {figures['increment_ms_p50']} ms, "
         f"p95 {figures['increment_ms_p95']} ms (retries included)"),
        ("conflicts retried", f"{figures['conflicts_retried']} (at most "
         f"{figures['max_retries_for_one_increment']} for one increment)"),
        ("lost updates", f"{figures['lost_updates']} (counter {figures['shared_counter']})"),
        ("sweep", f"{figures['swept']} expired addresses removed in {figures['sweep_passes']} "
         f"passes, {figures['expired_left']} left"),
        ("unexpected errors", str(figures["unexpected_errors"])),
        ("audit rows", ", ".join(f"{k} {v}" for k, v in figures["audited"].items())),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print("OK: nothing lost" if figures["ok"] else "FAILED:\n  " + "\n  ".join(figures["problems"]))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--database", help="URL of a throwaway database to load")
    where.add_argument("--server", help="admin URL: create a throwaway database there, drop it")
    parser.add_argument("--processes", type=int, default=8, help="workstations (default 8)")
    parser.add_argument("--seconds", type=float, default=60, help="duration (default 60)")
    parser.add_argument("--cheap-hashes", action="store_true", help="tiny argon2/scrypt costs")
    parser.add_argument("--no-sweep", dest="sweep", action="store_false", help="no sweeper")
    parser.add_argument("--sweep-chunk", type=int, default=200)
    parser.add_argument("--sweep-batch", type=int, default=300, help="expired IPs added per pass")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    # Internal: the roles of the child processes.
    for name in ("--worker", "--shared-id", "--sweep-owner"):
        parser.add_argument(name, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sweeper", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        return run_worker(args)
    if args.sweeper:
        return run_sweeper(args)
    if not args.database and not args.server:
        admin = os.environ.get("PMDESK_TEST_POSTGRES_URL")
        if not admin:
            print("load_test: give --database URL or --server ADMIN_URL", file=sys.stderr)
            return 2
        args.server = admin
    if args.server:
        with throwaway_database(args.server) as url:
            figures = conduct(args, url)
    else:
        figures = conduct(args, args.database)
    if args.json:
        print(json.dumps(figures))
    else:
        report(figures)
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
