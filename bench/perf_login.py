"""Two-step login: what ``LoginService`` adds on top of the argon2 password hash.

    .venv/bin/python bench/perf_login.py [--logins 25] [--engines sqlite,postgresql]

A database with two-step authentication on and the outbox delivery (a temporary folder: the
code is written there as an .eml file, in process, no network); one user with a real argon2id
hash (``Passwords()``, the app's parameters). One login is ``begin(login, password)`` (password
check, code issued and written to the outbox) then ``verify(challenge, code, trust=False)``
with the code read back from the .eml file (reading it is not timed). Baseline: the argon2
verification alone (``Passwords.verify``), in the same run; overhead = median login − median
argon2. A second estimate repeats the logins with a cheap argon2 hasher (same code path) and
subtracts that hasher's own time. The target is for SQLite; PostgreSQL is shown for comparison.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    Result,
    database_url,
    engines_to_run,
    machine,
    median,
    ms,
    postgres_version,
    save_results,
    standard_arguments,
)

LOGIN = "bench.user"
PASSWORD = "correct horse 42"  # a benchmark value, not a secret
CODE_RE = re.compile(rb"^\s+([0-9]{6})\s*$", re.MULTILINE)


def _setup(url: str, outbox: Path, passwords: Any) -> Any:
    from sqlalchemy import select

    from pmdesk.core import migrate
    from pmdesk.core.context import CoreContext
    from pmdesk.core.db import Database
    from pmdesk.core.models import Person, SecuritySettings
    from pmdesk.core.validation import login_key
    from pmdesk.secrets import MemoryStore

    db = Database(url)
    migrate.upgrade(db)
    ctx = CoreContext(db, MemoryStore(), outbox)
    with db.session() as s:
        settings = s.execute(select(SecuritySettings).order_by(SecuritySettings.id)).scalars()
        row = settings.first()
        assert row is not None
        row.two_factor_enabled = True
        row.delivery_method = "outbox"
        row.outbox_folder = str(outbox)
        now = ctx.clock.now(s)
        s.add(
            Person(
                login=LOGIN,
                login_key=login_key(LOGIN),
                password_hash=passwords.hash(PASSWORD),
                group_id=1,
                email="bench.user@example.com",
                first_name="Bench",
                last_name="User",
                created_at=now,
                updated_at=now,
            )
        )
    return ctx


def _code(outbox: Path) -> str:
    newest = max(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    found = CODE_RE.search(newest.read_bytes())
    assert found is not None, "no code in the message"
    newest.unlink()
    return found.group(1).decode()


def _logins(ctx: Any, passwords: Any, outbox: Path, count: int) -> list[float]:
    from pmdesk.core.auth import CodeNeeded, LoginService, SignedIn

    service = LoginService(ctx, passwords=passwords, workstation="bench")
    times = []
    for n in range(count + 2):  # two unrecorded warm-ups
        started = time.perf_counter()
        first = service.begin(LOGIN, PASSWORD)
        begun = time.perf_counter()
        assert isinstance(first, CodeNeeded), first
        assert first.delivery_error is None, first.delivery_error
        code = _code(outbox)
        resumed = time.perf_counter()
        done = service.verify(first.challenge_id, code, False)
        ended = time.perf_counter()
        assert isinstance(done, SignedIn), done
        if n >= 2:
            times.append((begun - started) + (ended - resumed))
    return times


def _hash_alone(passwords: Any, count: int) -> list[float]:
    stored = passwords.hash(PASSWORD)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        assert passwords.verify(stored, PASSWORD)
        times.append(time.perf_counter() - started)
    return times


def _code_hashing(count: int) -> tuple[float, float]:
    from pmdesk.core import codes

    made, checked = [], []
    for _ in range(count):
        started = time.perf_counter()
        stored = codes.hash_code("123456")
        middle = time.perf_counter()
        assert codes.code_matches("123456", stored)
        made.append(middle - started)
        checked.append(time.perf_counter() - middle)
    return median(made), median(checked)


def measure(engine: str, folder: Path, count: int) -> Result:
    from argon2 import PasswordHasher

    from pmdesk.core.passwords import Passwords

    real = Passwords()
    cheap = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    outbox = folder / f"outbox-{engine}"
    with database_url(engine, folder, "login") as url:
        ctx = _setup(url, outbox, real)
        # Alternate the login runs and the hash-alone runs, so load changes hit both.
        totals: list[float] = []
        hashes: list[float] = []
        for _ in range(5):
            totals += _logins(ctx, real, outbox, max(1, count // 5))
            hashes += _hash_alone(real, max(1, count // 5))
        ctx.db.dispose()
    with database_url(engine, folder, "login_cheap") as url:
        ctx = _setup(url, outbox, cheap)
        cheap_totals = _logins(ctx, cheap, outbox, count)
        cheap_hash = _hash_alone(cheap, count)
        ctx.db.dispose()
    code_made, code_checked = _code_hashing(9)
    overhead = median(totals) - median(hashes)
    cheap_overhead = median(cheap_totals) - median(cheap_hash)
    print(
        f"[{engine}] login {ms(median(totals)):.1f} ms, argon2 {ms(median(hashes)):.1f} ms, "
        f"overhead {ms(overhead):.1f} ms; cheap: {ms(median(cheap_totals)):.1f} - "
        f"{ms(median(cheap_hash)):.2f} = {ms(cheap_overhead):.1f} ms; code hash "
        f"{ms(code_made):.1f} + check {ms(code_checked):.1f} ms",
        flush=True,
    )
    return Result(
        what="two-step login (begin + verify), overhead over the argon2 hash",
        engine=engine,
        value=ms(overhead),
        unit="ms",
        baseline=ms(median(hashes)),
        baseline_label="argon2 verify alone",
        target="≤ 30 ms (SQLite)" if engine == "sqlite" else "(SQLite only; for comparison)",
        met=ms(overhead) <= 30 or engine != "sqlite",
        detail=f"login {ms(median(totals)):.0f} ms, median of {len(totals)}; with a cheap "
        f"hasher {ms(cheap_overhead):.1f} ms; of which the security code's hash "
        f"{ms(code_made):.1f} + check {ms(code_checked):.1f} ms",
    )


METHOD = (
    "LoginService.begin + verify in process, two-step on, outbox delivery to a temporary "
    "folder, the code read back from the .eml (not timed); real argon2id (the app's "
    "parameters); overhead = median login − median Passwords.verify alone, alternating; "
    "checked with a cheap argon2 hasher (login − that hasher's time)."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--logins", type=int, default=25)
    standard_arguments(parser)
    args = parser.parse_args()
    info = machine()
    engines = engines_to_run(args.engines.split(","))
    if "postgresql" in engines:
        info["postgresql"] = postgres_version()
    with tempfile.TemporaryDirectory(prefix="pmdesk-bench-") as tmp:
        results = [measure(engine, Path(tmp), args.logins) for engine in engines]
    if not args.no_save:
        save_results("login", results, info, METHOD, before=args.before)
    else:
        for r in results:
            print(r)


if __name__ == "__main__":
    main()
