"""Signing in on a hardened PostgreSQL (``pmdesk server init``) against a plain one.

    .venv/bin/python bench/perf_login_hardened.py [--logins 30]

Two throwaway databases on the PostgreSQL test server, set up the same way except that one is
hardened (level 5 today: the whole sign-in is one call of ``pmdesk.sign_in``, which checks the
password proof, ``docs/server-enforced.md`` §2–§4) and pmdesk connects to it as the workstation
role. One user, two-step login off, so that a sign-in
is ``LoginService.begin`` alone: read the person, check the password, start the session. Both
are timed in the same run, alternating in rounds so that load changes hit both, with the app's
argon2 parameters and with cheap ones (which leaves what the server adds in view: the salt
round trip and one bcrypt at cost 8). The statements each sign-in sends are counted too.
Results: printed, and written to ``bench/results/login_hardened.md``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import POSTGRES_ADMIN_URL, ROOT, machine, median, ms, postgres_database

LOGIN = "bench.user"
PASSWORD = "correct horse 42"  # a benchmark value, not a secret
REPORT = ROOT / "bench" / "results" / "login_hardened.md"


@contextmanager
def _hardened_url() -> Iterator[tuple[str, str]]:
    """A database set up by server init: the URLs of its workstation role and of its owner (who
    sets up the user: the workstation writes nothing without a session). Roles dropped after."""
    from sqlalchemy import create_engine, text

    from pmdesk.core.server.setup import initialise

    prefix = f"pmbench{os.getpid()}"
    with postgres_database("hardened") as owner_url:
        try:
            result = initialise(owner_url, prefix=prefix)
            url = result.login_urls[result.roles.workstation]
            yield url.render_as_string(hide_password=False), owner_url
        finally:
            admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                name = owner_url.rsplit("/", 1)[-1]
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                for kind in ("workstation", "relay", "owner"):
                    conn.execute(text(f"DROP ROLE IF EXISTS {prefix}_{kind}"))
            admin.dispose()


@contextmanager
def _plain_url() -> Iterator[str]:
    from pmdesk.core import migrate
    from pmdesk.core.db import Database

    with postgres_database("plain") as url:
        db = Database(url)
        migrate.upgrade(db)
        db.dispose()
        yield url


def _context(url: str, passwords: Any, folder: Path, owner_url: str | None = None) -> Any:
    from pmdesk.core.context import CoreContext
    from pmdesk.core.db import Database
    from pmdesk.core.models import Person
    from pmdesk.core.validation import login_key
    from pmdesk.secrets import MemoryStore

    ctx = CoreContext(Database(url), MemoryStore(), folder)
    owner = Database(owner_url) if owner_url else ctx.db
    with owner.session() as s:
        s.query(Person).delete()
        now = ctx.clock.now(s)
        s.add(
            Person(
                login=LOGIN,
                login_key=login_key(LOGIN),
                password_hash=passwords.hash(PASSWORD),  # a hardened server takes it over
                group_id=1,
                email="bench.user@example.com",
                last_name="User",
                created_at=now,
                updated_at=now,
            )
        )
    if owner is not ctx.db:
        owner.dispose()
    return ctx


def _sign_ins(ctx: Any, passwords: Any, count: int) -> list[float]:
    from pmdesk.core.auth import LoginService, SignedIn

    service = LoginService(ctx, passwords=passwords, workstation="bench")
    times = []
    for _ in range(count):
        started = time.perf_counter()
        result = service.begin(LOGIN, PASSWORD)
        times.append(time.perf_counter() - started)
        assert isinstance(result, SignedIn), result
    return times


def _statements(ctx: Any, passwords: Any) -> int:
    from sqlalchemy import event

    from pmdesk.core.auth import LoginService

    seen: list[str] = []

    def count(*_args: Any) -> None:
        seen.append("x")

    service = LoginService(ctx, passwords=passwords, workstation="bench")
    event.listen(ctx.db.engine, "before_cursor_execute", count)
    try:
        service.begin(LOGIN, PASSWORD)
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", count)
    return len(seen)


def measure(count: int, folder: Path) -> list[dict[str, Any]]:
    from argon2 import PasswordHasher

    from pmdesk.core.passwords import Passwords

    rows = []
    kinds = {
        "app's argon2id (m=64 MiB, t=3, p=4)": Passwords(),
        "cheap argon2id (m=1 MiB, t=1, p=1)": Passwords(
            PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        ),
    }
    with _plain_url() as plain_url, _hardened_url() as (hardened_url, owner_url):
        for label, passwords in kinds.items():
            plain = _context(plain_url, passwords, folder)
            hardened = _context(hardened_url, passwords, folder, owner_url)
            assert hardened.db.hardening_level >= 2
            _sign_ins(plain, passwords, 2)  # warm-ups (connections, caches)
            _sign_ins(hardened, passwords, 2)
            plain_times: list[float] = []
            hardened_times: list[float] = []
            for _ in range(5):
                plain_times += _sign_ins(plain, passwords, max(1, count // 5))
                hardened_times += _sign_ins(hardened, passwords, max(1, count // 5))
            row = {
                "hasher": label,
                "plain_ms": ms(median(plain_times)),
                "hardened_ms": ms(median(hardened_times)),
                "plain_statements": _statements(plain, passwords),
                "hardened_statements": _statements(hardened, passwords),
                "runs": len(plain_times),
            }
            row["ratio"] = row["hardened_ms"] / row["plain_ms"]
            print(
                f"{label}: plain {row['plain_ms']:.1f} ms, hardened {row['hardened_ms']:.1f} ms "
                f"({row['ratio']:.2f}x); statements {row['plain_statements']} vs "
                f"{row['hardened_statements']}",
                flush=True,
            )
            rows.append(row)
            plain.db.dispose()
            hardened.db.dispose()
    return rows


def write_report(rows: list[dict[str, Any]], info: dict[str, str]) -> None:
    lines = [
        "# Sign-in on a hardened PostgreSQL vs a plain one",
        "",
        f"Measured {info.get('date', '')} on {info.get('os', '')}, {info.get('cpu', '')}, "
        f"Python {info.get('python', '')}. `bench/perf_login_hardened.py`: "
        "`LoginService.begin` (two-step login off: read, password check, session start), "
        "median of the runs, plain and hardened alternating in 5 rounds. Load average before "
        f"the run: {info.get('load', '?')} (a shared machine: read the ratio more than the "
        "milliseconds).",
        "",
        "| argon2 parameters | plain (ms) | hardened (ms) | hardened / plain | statements "
        "plain → hardened |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['hasher']} | {r['plain_ms']:.1f} | {r['hardened_ms']:.1f} | "
            f"{r['ratio']:.2f}x | {r['plain_statements']} → {r['hardened_statements']} |"
        )
    lines += [
        "",
        "The hardened sign-in is two statements: `password_salt` before the transaction "
        "(which the login dialog could send while the password is typed), then one call of "
        "`pmdesk.sign_in`, which checks the proof (a bcrypt at cost 8 on the server), the "
        "lockout, two-step login and the trusted address, and audits, all on the server: one "
        "round trip for the step, where the client-side flow sends eight statements. argon2 "
        "is no longer verified against a stored hash but computed from the served salt: the "
        "same cost, so with the app's parameters the two are level; with cheap ones the "
        "server's bcrypt is what remains in view.",
        "",
    ]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--logins", type=int, default=30)
    parser.add_argument("--no-save", action="store_true", help="print only")
    args = parser.parse_args()
    import tempfile

    info = machine()
    with tempfile.TemporaryDirectory(prefix="pmdesk-bench-") as tmp:
        rows = measure(args.logins, Path(tmp))
    if not args.no_save:
        write_report(rows, info)
        print(f"written: {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
