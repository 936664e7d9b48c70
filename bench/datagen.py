"""Generate large, realistic data sets for the benchmarks.

    python bench/datagen.py --database URL --people 100000 --trusted-ips 1000000

Bulk inserts through SQLAlchemy Core (executemany in batches); deterministic (seeded), so two
runs compare like with like. The database is migrated first.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from pmdesk.core import migrate
from pmdesk.core.db import Database
from pmdesk.core.models import Person, TrustedIp

LAST = [
    "Smets",
    "Peeters",
    "Janssens",
    "Maes",
    "Jacobs",
    "Mertens",
    "Willems",
    "Claes",
    "Goossens",
    "Wouters",
    "De Smet",
    "Dubois",
    "Lambert",
    "Martin",
    "Dupont",
    "Leclercq",
]
FIRST = [
    "Jan",
    "Marie",
    "Luc",
    "Sofie",
    "Pieter",
    "An",
    "Tom",
    "Els",
    "Koen",
    "Lien",
    "Jean",
    "Anne",
    "Marc",
    "Julie",
    "Olivier",
    "Camille",
]
BATCH = 5_000


def _batches(rows: list[dict[str, Any]]) -> Any:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


def add_people(db: Database, count: int, *, seed: int = 1, group_id: int = 1) -> list[int]:
    """Insert ``count`` people with logins; returns their ids."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    with db.session() as s:
        start = int(s.execute(select(func.coalesce(func.max(Person.id), 0))).scalar_one()) + 1
    rows = []
    for n in range(start, start + count):
        last, first = rng.choice(LAST), rng.choice(FIRST)
        login = f"{first}.{last}.{n}".lower().replace(" ", "")
        rows.append(
            {
                "id": n,
                "last_name": f"{last} {n % 997}",
                "first_name": first,
                "number": f"E{n:07d}",
                "street": "",
                "postcode": "",
                "city": "Gent",
                "country": "BE",
                "phone": "",
                "mobile": "",
                "email": f"{login}@example.com",
                "email_newsletter": False,
                "email_invoicing": False,
                "group_id": group_id,
                "login": login,
                "login_key": login,
                "last_name_key": f"{last} {n % 997}".lower(),
                "first_name_key": first.lower(),
                "number_key": f"e{n:07d}",
                "email_key": f"{login}@example.com",
                "password_hash": None,
                "visible": True,
                "access_planning": False,
                "access_notifications": False,
                "access_inspection": False,
                "access_webservice": False,
                "access_courtesy_car": False,
                "access_reception": False,
                "failed_logins": 0,
                "lock_count": 0,
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
        )
    for batch in _batches(rows):
        with db.session() as s:
            s.execute(insert(Person), batch)
    if db.backend == "postgresql":
        with db.session() as s:
            s.execute(
                select(func.setval(func.pg_get_serial_sequence("personnel", "id"), start + count))
            )
    return [r["id"] for r in rows]


def add_trusted_ips(
    db: Database,
    person_ids: list[int],
    count: int,
    *,
    expired_fraction: float = 0.5,
    trust_days: int = 30,
    seed: int = 2,
) -> None:
    """Insert ``count`` trusted addresses spread over the people, some already expired."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    per_batch: list[dict[str, Any]] = []
    for n in range(count):
        expired = n < count * expired_fraction
        age = (
            timedelta(days=trust_days + 1 + rng.random() * 60)
            if expired
            else timedelta(seconds=rng.random() * (trust_days - 1) * 86400)
        )
        per_batch.append(
            {
                "person_id": person_ids[n % len(person_ids)],
                # n // len(person_ids) makes (person, address) unique.
                "address": f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}",
                "created_at": now - age,
                "last_used_at": None,
            }
        )
        if len(per_batch) == BATCH:
            with db.session() as s:
                s.execute(insert(TrustedIp), per_batch)
            per_batch = []
    if per_batch:
        with db.session() as s:
            s.execute(insert(TrustedIp), per_batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", required=True)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--trusted-ips", type=int, default=0)
    parser.add_argument("--expired-fraction", type=float, default=0.5)
    args = parser.parse_args()
    db = Database(args.database)
    migrate.upgrade(db)
    started = time.perf_counter()
    ids = add_people(db, args.people)
    print(f"{len(ids)} people in {time.perf_counter() - started:.1f} s")
    if args.trusted_ips:
        started = time.perf_counter()
        add_trusted_ips(db, ids, args.trusted_ips, expired_fraction=args.expired_fraction)
        print(f"{args.trusted_ips} trusted IPs in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
