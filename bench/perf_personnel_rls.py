"""Personnel on a hardened PostgreSQL: row-level security (level 6) against no RLS, same run.

    .venv/bin/python bench/perf_personnel_rls.py [--people 100000] [--rounds 7]

One throwaway database set up by ``pmdesk server init``, with ``--people`` people
(``bench/datagen.py``) and an administrator. The same ``PersonnelService`` calls the Personnel
tab makes (the count and the first page of 256, then search as you type: the count and first
page for "s", "sm", "sme", "smet") run as the signed-in administrator through two connections
to that database:

- RLS: the workstation role presenting the administrator's session, as the desktop app does;
  every statement passes the personnel read policy (``current_person()`` and ``may()``, each an
  InitPlan once per statement);
- baseline: the owner role (which row-level security does not apply to), same data, same
  calls, same Python-side permission checks.

They alternate in rounds so that load changes hit both; medians are printed with the ratio,
and written to ``bench/results/personnel_rls.md``. docs/server-enforced.md §10 question 4 asks
for more than 20 % over the baseline before caching the person per transaction.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import ROOT, machine, median, ms

LOGIN = "bench.admin"
PASSWORD = "correct horse 42"  # a benchmark value, not a secret
SEARCHES = ("", "s", "sm", "sme", "smet")
REPORT = ROOT / "bench" / "results" / "personnel_rls.md"


@contextmanager
def _hardened(people: int) -> Iterator[tuple[Any, Any]]:
    """(workstation context signed in as the administrator, owner context)."""
    from datagen import add_people
    from perf_login_hardened import _hardened_url
    from sqlalchemy import text

    from pmdesk.core.auth import LoginService, SignedIn
    from pmdesk.core.context import CoreContext
    from pmdesk.core.db import Database
    from pmdesk.core.sessions import COMMAND_LINE
    from pmdesk.secrets import MemoryStore
    from tests.helpers.login import add_user, cheap_passwords

    folder = Path(ROOT / "bench" / "results")
    with _hardened_url() as (ws_url, owner_url):
        owner = CoreContext(Database(owner_url), MemoryStore(), folder)
        add_user(owner, LOGIN, PASSWORD)
        started = time.perf_counter()
        add_people(owner.db, people)
        with owner.db.session() as s:
            s.execute(text("ANALYZE"))
        print(f"{people} people added in {time.perf_counter() - started:.0f} s", flush=True)
        ws = CoreContext(Database(ws_url), MemoryStore(), folder)
        signed = LoginService(
            ws, passwords=cheap_passwords(), workstation="bench", session_kind=COMMAND_LINE
        ).begin(LOGIN, PASSWORD)
        assert isinstance(signed, SignedIn) and signed.session_token, signed
        assert ws.db.server_reads and ws.db.session_token == signed.session_token
        try:
            yield (ws, signed.actor), owner
        finally:
            ws.db.dispose()
            owner.db.dispose()


def _tab(service: Any, actor: Any, search: str) -> Callable[[], int]:
    """What the tab does for one search text: the count, then the first page."""

    def run() -> int:
        total = service.count(actor, search)
        rows = service.page(actor, search=search, limit=256)
        assert rows or not total
        return total

    return run


def measure(people: int, rounds: int) -> list[dict[str, Any]]:
    from pmdesk.core.personnel import PersonnelService

    results = []
    with _hardened(people) as ((ws, actor), owner):
        sides = {"rls": PersonnelService(ws), "baseline": PersonnelService(owner)}
        for search in SEARCHES:
            calls = {side: _tab(service, actor, search) for side, service in sides.items()}
            totals = {side: call() for side, call in calls.items()}  # warm-up, and equal?
            assert totals["rls"] == totals["baseline"], totals
            times: dict[str, list[float]] = {side: [] for side in calls}
            for n in range(rounds):
                order = list(calls) if n % 2 == 0 else list(reversed(calls))
                for side in order:
                    started = time.perf_counter()
                    calls[side]()
                    times[side].append(time.perf_counter() - started)
            row = {
                "search": search or "(none: first page)",
                "matches": totals["rls"],
                "baseline_ms": ms(median(times["baseline"])),
                "rls_ms": ms(median(times["rls"])),
            }
            row["ratio"] = row["rls_ms"] / row["baseline_ms"]
            print(
                f"{row['search']!s:>20}: {row['matches']:>6} matches, baseline "
                f"{row['baseline_ms']:.1f} ms, RLS {row['rls_ms']:.1f} ms ({row['ratio']:.2f}x)",
                flush=True,
            )
            results.append(row)
    return results


def write_report(rows: list[dict[str, Any]], info: dict[str, str], people: int) -> None:
    lines = [
        "# Personnel under row-level security (hardening 6) vs without, same database",
        "",
        f"Measured {info.get('date', '')} on {info.get('os', '')}, {info.get('cpu', '')}, "
        f"Python {info.get('python', '')}. `bench/perf_personnel_rls.py --people {people}`: "
        "`PersonnelService.count` then `page(limit=256)` as the Personnel tab asks them, as "
        "the signed-in administrator; RLS = the workstation role presenting the session, "
        "baseline = the owner role (RLS does not apply), alternating, median of the rounds. "
        f"Load average before the run: {info.get('load', '?')} (a shared machine: read the "
        "ratio more than the milliseconds).",
        "",
        "| search | matches | baseline (ms) | RLS (ms) | RLS / baseline |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['search']} | {r['matches']} | {r['baseline_ms']:.1f} | {r['rls_ms']:.1f} | "
            f"{r['ratio']:.2f}x |"
        )
    REPORT.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    info = machine()
    rows = measure(args.people, args.rounds)
    write_report(rows, info, args.people)
    print(f"written to {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
