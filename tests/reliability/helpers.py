"""Shared checks for the reliability tests: stored rows re-validated, table fingerprints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from sqlalchemy import String, select

from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database
from pmdesk.core.errors import PmdeskError
from pmdesk.core.models import Base, Person, UserGroup
from pmdesk.core.personnel import PersonnelService
from pmdesk.core.personnel import _to_form as person_form
from pmdesk.core.types import search_text
from tests.helpers.acting import ACTING_WORKSTATION
from tests.helpers.databases import stage
from tests.helpers.login import cheap_passwords
from tests.helpers.relay_codes import relay_settled

REPO = Path(__file__).resolve().parents[2]

# Hypothesis runs against one database per test (function-scoped fixtures on purpose), writes
# no example database into the tree, and has no per-example deadline (the first example pays
# for SQLAlchemy's statement compilation).
FAST = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

PERSON_KEYS = {
    "last_name_key": "last_name",
    "first_name_key": "first_name",
    "number_key": "number",
    "email_key": "email",
    "login_key": "login",
}


def column_length(model: type[Base], name: str) -> int | None:
    column_type = model.__table__.columns[name].type
    return column_type.length if isinstance(column_type, String) else None


def too_long(model: type[Base], row: object) -> list[str]:
    """Text columns holding more characters than the column allows (SQLite would keep them;
    PostgreSQL and MariaDB refuse them, so such a row is a bug waiting for a server)."""
    problems = []
    for column in model.__table__.columns:
        limit = column_length(model, column.key)
        value = getattr(row, column.key, None)
        if limit is not None and isinstance(value, str) and len(value) > limit:
            problems.append(f"{model.__tablename__}.{column.key}: {len(value)} > {limit}")
    return problems


def stored_people_problems(ctx: CoreContext) -> list[str]:
    """Every stored person, read back and put through the same validators as a new form.

    Returns what is wrong (empty: every row is clean). Also checks that each search key is the
    key of its field and that nothing is longer than its column.
    """
    # validate() needs no password hasher; a cheap one keeps argon2 out of the loop.
    service = PersonnelService(ctx, passwords=cheap_passwords())
    problems: list[str] = []
    with ctx.db.session() as s:
        people = list(s.execute(select(Person).order_by(Person.id)).scalars())
        forms = {person.id: person_form(person) for person in people}
        for person in people:
            problems += too_long(Person, person)
            for key, source in PERSON_KEYS.items():
                value = getattr(person, source) or ""
                expected = search_text(value)[: column_length(Person, key)]
                stored = getattr(person, key) or ""
                if stored != expected:
                    problems.append(f"person {person.id}: {key} {stored!r} is not {expected!r}")
        for group in s.execute(select(UserGroup)).scalars():
            problems += too_long(UserGroup, group)
    for person_id, form in forms.items():
        try:
            clean = service.validate(form, creating=False)
        except PmdeskError as exc:
            problems.append(f"person {person_id} is stored but invalid: {exc}")
            continue
        for name, value in clean.items():
            if name == "login":
                value = value or ""
            if name == "hourly_cost":
                value = "" if value is None else f"{value:.2f}"
            if getattr(form, name) != value:
                problems.append(f"person {person_id}: {name} {value!r} is not clean")
    return problems


def fingerprint(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to show that a refused action changed nothing at all (read
    as the owner: on a hardened database the workstation may not read them all)."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    relay_settled(db)  # the trust alerts a test's trusted rows queued are sent and logged
    with stage(db) as s:
        for table in Base.metadata.sorted_tables:
            query = select(table)
            if table.name == "user_sessions":  # not those the hardened leg acts through
                query = query.where(table.c.workstation != ACTING_WORKSTATION)
            rows = s.execute(query).all()
            found[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return found
