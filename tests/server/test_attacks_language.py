"""The attack suite, one's own language (issue 15): on a hardened PostgreSQL a signed-in
person without Personnel rights may set the Personnel "Language" of their own row through the
server's ``set_my_language`` and nothing else: not someone else's language, not another column
of their own row, not without a session. Raw SQL over psycopg as the workstation role, with
the token a real sign-in gave; the owner reads back what changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database
from pmdesk.core.my_language import set_my_language
from pmdesk.secrets import MemoryStore
from tests.helpers.attack_office import attempt, signed_in_office
from tests.helpers.databases import HardenedDatabase, hardened_or_skip
from tests.helpers.pg import sql
from tests.helpers.staff import actor

ROW = (
    "SELECT p.login, p.group_id, p.email, p.last_name, p.password_hash, l.code "
    "FROM pmdesk.personnel p LEFT JOIN pmdesk.languages l ON l.id = p.language_id "
    "WHERE p.id = %s"
)


@pytest.fixture(scope="module")
def hardened() -> Iterator[HardenedDatabase]:
    with hardened_or_skip() as made:
        yield made


@pytest.fixture
def office(hardened: HardenedDatabase, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """An administrator and a driver whose group has no rights at all, each signed in."""
    with signed_in_office(hardened, tmp_path, "driver", "Drivers", {}) as made:
        yield made


def run(hardened: HardenedDatabase, token: str | None, statement: str, *params: object) -> Any:
    """One statement as the workstation, presenting ``token``: its rowcount, or the SQLSTATE
    it was refused with."""
    try:
        return attempt(hardened.workstation_url, token, statement, *params)
    except psycopg.Error as exc:
        return str(exc.sqlstate)


def row(hardened: HardenedDatabase, person: int) -> tuple[Any, ...]:
    [found] = sql(hardened.owner_url, ROW, person)
    return tuple(found)


def person_log(hardened: HardenedDatabase) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in sql(
            hardened.owner_url,
            "SELECT actor, event, subject, workstation, detail FROM pmdesk.audit_events "
            "WHERE event = 'person.updated' ORDER BY id",
        )
    ]


def test_a_person_without_rights_sets_their_own_language_and_it_is_logged(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    driver = office["ids"]["driver"]
    before = row(hardened, driver)

    assert run(hardened, office["tokens"]["driver"], "SELECT pmdesk.set_my_language('fr-BE')") == 1

    assert row(hardened, driver) == (*before[:-1], "fr-BE")
    assert person_log(hardened) == [
        ("driver (cli)", "person.updated", "driver", "ws-attack", "language_id")
    ]


def test_nobody_changes_someone_elses_language_or_another_column(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    admin, driver = office["ids"]["admin"], office["ids"]["driver"]
    token = office["tokens"]["driver"]
    before = {admin: row(hardened, admin), driver: row(hardened, driver)}
    french = "(SELECT id FROM pmdesk.languages WHERE code = 'fr-BE')"

    # Straight at the table, the own row included: the guard wants Personnel Edit.
    for target in (admin, driver):
        refused = run(
            hardened,
            token,
            f"UPDATE pmdesk.personnel SET language_id = {french} WHERE id = %s",
            target,
        )
        assert refused in {"PMD01", "42501", 0}, refused
    assert run(
        hardened, token, "UPDATE pmdesk.personnel SET group_id = 1 WHERE id = %s", driver
    ) in {
        "PMD01",
        "42501",
        0,
    }
    # The function takes a language only, and refuses what is none.
    assert run(hardened, token, "SELECT pmdesk.set_my_language('xx-XX')") == "PMD05"
    assert run(hardened, token, "SELECT pmdesk.set_my_language('fr-BE', %s)", admin) == "42883"
    # Without a session it does nothing at all.
    assert run(hardened, None, "SELECT pmdesk.set_my_language('fr-BE')") == "28000"

    assert {admin: row(hardened, admin), driver: row(hardened, driver)} == before
    assert person_log(hardened) == []

    # The admin's own call changes the admin's row only.
    assert run(hardened, office["tokens"]["admin"], "SELECT pmdesk.set_my_language('nl-BE')") == 1
    assert row(hardened, admin) == (*before[admin][:-1], "nl-BE")
    assert row(hardened, driver) == before[driver]


def test_the_core_saves_ones_own_language_through_the_server(
    hardened: HardenedDatabase, office: dict[str, Any], tmp_path: Path
) -> None:
    driver = office["ids"]["driver"]
    db = Database(hardened.workstation_url)
    db.use_session(office["tokens"]["driver"])
    try:
        ctx = CoreContext(db=db, secrets=MemoryStore(), outbox_default=tmp_path)
        assert set_my_language(ctx, actor(driver, "driver"), "nl_BE") == "nl-BE"
    finally:
        db.dispose()
    assert row(hardened, driver)[-1] == "nl-BE"
