"""Time the System → Security list of trusted IPs on a big database.

    python bench/datagen.py --database URL --people 100000 --trusted-ips 1000000
    python bench/trusted_ip_paging.py --database URL

First page, Previous/Next (keyset), jumps by page number, filter by user, text filters and
the Needs review list (its cost depends on how many distinct addresses the office networks
split into flagged and fine: add a network over half of them to see the worst), each through
``TrustedIpService.page`` (count + page + the settings read, as the screen does).
Prints a Markdown table of median and worst times.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from pmdesk.core import migrate
from pmdesk.core.clock import DatabaseClock
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import Database
from pmdesk.core.trusted_ips import TrustedIpPage, TrustedIpService
from pmdesk.secrets import MemoryStore


def timed(label: str, fn: Callable[[], TrustedIpPage], repeat: int = 7) -> TrustedIpPage:
    times = []
    result = fn()  # warm up
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    print(
        f"| {label} | {statistics.median(times):.1f} | {max(times):.1f} | {result.describe()} |",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", required=True)
    args = parser.parse_args()
    db = Database(args.database)
    migrate.upgrade(db)
    ctx = CoreContext(db, MemoryStore(), Path("outbox"), DatabaseClock())
    service = TrustedIpService(ctx)
    admin = Actor.system("bench")
    print(f"Engine: {db.backend}\n")
    print("| case | median ms | max ms | result |\n| --- | ---: | ---: | --- |")
    first = timed("first page", lambda: service.page(admin))
    second = timed("Next (keyset)", lambda: service.page(admin, cursor=first.next))
    deep = first
    for _ in range(50):
        assert deep.next is not None
        deep = service.page(admin, cursor=deep.next)
    timed("Next after 50 pages (keyset)", lambda: service.page(admin, cursor=deep.next))
    timed("Previous (keyset)", lambda: service.page(admin, cursor=second.previous))
    timed("page 2 by number", lambda: service.page(admin, page=2))
    last = timed("last page by number", lambda: service.page(admin, page=10**9), repeat=3)
    timed("Previous from the last page", lambda: service.page(admin, cursor=last.previous))
    row = first.rows[0]
    timed("filter by user (person id)", lambda: service.page(admin, person_id=row.person_id))
    timed("filter text: a whole login", lambda: service.page(admin, filter_text=row.login))
    prefix = row.login[: max(3, len(row.login) - 3)]
    timed(f"filter text: login prefix '{prefix}'", lambda: service.page(admin, filter_text=prefix))
    words = row.person_name.split()
    name = words[1] if len(words) > 1 else "x"  # the lastname (datagen: "Peeters 12")
    timed(f"filter text: name '{name}'", lambda: service.page(admin, filter_text=name), repeat=3)
    timed("filter text: address prefix '10.3.'", lambda: service.page(admin, filter_text="10.3."))
    timed("filter text: a whole address", lambda: service.page(admin, filter_text=row.address))
    timed("filter text: no match", lambda: service.page(admin, filter_text="zzz"))
    review = timed("Needs review: first page", lambda: service.page(admin, review=True))
    timed(
        "Needs review: Next (keyset)",
        lambda: service.page(
            admin, review=True, cursor=review.next, known_total=(review.total, review.total_exact)
        ),
    )
    timed("Needs review: last page", lambda: service.page(admin, review=True, page=10**9), 3)
    started = time.perf_counter()
    count = service.review_count(admin)
    print(
        f"| Needs review: the count alone | {(time.perf_counter() - started) * 1000:.1f} | | "
        f"{count} |"
    )
    db.dispose()


if __name__ == "__main__":
    main()
