"""Migrations on every engine: up from empty, down to base, up again; newer schema refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text

from pmdesk.core import migrate
from pmdesk.core.db import Database, sqlite_url
from pmdesk.core.errors import SchemaTooNew
from pmdesk.core.models import GroupPermission, Language, Module, SecuritySettings, UserGroup
from tests.helpers.databases import (
    ENGINES,
    server_reachable,
    skip_or_fail,
    throwaway_server_database,
)


@pytest.fixture(params=ENGINES)
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        database = Database(sqlite_url(tmp_path / "empty.sqlite3"))
        yield database
        database.dispose()
        return
    problem = server_reachable(request.param)
    if problem:
        skip_or_fail(problem)
    with throwaway_server_database(request.param) as url:
        database = Database(url)
        yield database
        database.dispose()


def _tables(db: Database) -> set[str]:
    return set(inspect(db.engine).get_table_names())


def test_upgrade_downgrade_upgrade(empty_db: Database) -> None:
    assert migrate.status(empty_db).current is None

    state = migrate.upgrade(empty_db)
    assert state.up_to_date
    assert {"personnel", "trusted_ips", "audit_events", "login_challenges"} <= _tables(empty_db)

    migrate.downgrade(empty_db, "base")
    assert _tables(empty_db) <= {"alembic_version"}
    assert migrate.status(empty_db).current is None

    assert migrate.upgrade(empty_db).up_to_date
    with empty_db.session() as s:
        assert s.execute(select(func.count()).select_from(Module)).scalar_one() == 13
        admin = s.execute(select(UserGroup)).scalar_one()
        assert admin.name == "Administrator"
        grants = s.execute(select(GroupPermission).where(GroupPermission.group_id == admin.id))
        rows = grants.scalars().all()
        assert len(rows) == 13 and all(r.can_read and r.can_edit and r.can_delete for r in rows)
        names = s.execute(select(Language.name).order_by(Language.id)).scalars().all()
        assert names == ["English (United Kingdom)", "Nederlands (België)", "Français (Belgique)"]
        settings = s.get(SecuritySettings, 1)
        assert settings is not None
        assert (settings.two_factor_enabled, settings.trust_days, settings.code_ttl_minutes) == (
            False,
            30,
            10,
        )
        assert settings.delivery_method == "outbox"


def test_upgrade_is_idempotent(empty_db: Database) -> None:
    migrate.upgrade(empty_db)
    migrate.upgrade(empty_db)
    with empty_db.session() as s:
        assert s.execute(select(func.count()).select_from(Module)).scalar_one() == 13


def test_new_group_ids_do_not_collide_with_seed(empty_db: Database) -> None:
    migrate.upgrade(empty_db)
    with empty_db.session() as s:
        s.add(UserGroup(name="Reception", name_key="reception"))
    with empty_db.session() as s:
        ids = s.execute(select(UserGroup.id).order_by(UserGroup.id)).scalars().all()
    assert len(set(ids)) == 2


def test_database_newer_than_app_is_refused(empty_db: Database) -> None:
    migrate.upgrade(empty_db)
    with empty_db.session() as s:
        s.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    with pytest.raises(SchemaTooNew, match="newer pmdesk"):
        migrate.upgrade(empty_db)
    with pytest.raises(SchemaTooNew):
        migrate.status(empty_db)


def test_search_keys_are_filled_for_people_already_there(empty_db: Database) -> None:
    """0003 computes the keys of existing people, cut to their columns: a 100-character name
    with 'İ' lengthens when lower-cased, which PostgreSQL and MariaDB would refuse."""
    from datetime import UTC, datetime

    from sqlalchemy import Boolean, Integer, MetaData, Table, insert

    migrate.upgrade(empty_db, "0002")
    people = Table("personnel", MetaData(), autoload_with=empty_db.engine)

    def filled(**values: object) -> dict[str, object]:
        row: dict[str, object] = {}
        for column in people.columns:
            if column.nullable or column.primary_key:
                continue
            if isinstance(column.type, Boolean):
                row[column.name] = False
            elif isinstance(column.type, Integer):
                row[column.name] = 0
            elif column.name.endswith("_at"):
                row[column.name] = datetime.now(UTC).replace(tzinfo=None)
            else:
                row[column.name] = ""
        return row | values

    long_name = "İ" * 100
    with empty_db.engine.begin() as conn:
        conn.execute(
            insert(people),
            [
                filled(last_name="  Peeters ", first_name="Sofie", email="Sofie@Example.com"),
                filled(last_name=long_name, first_name="Ömer", number="E-17"),
            ],
        )
    assert migrate.upgrade(empty_db).up_to_date
    with empty_db.engine.connect() as conn:
        keys = conn.execute(
            text(
                "SELECT last_name_key, first_name_key, number_key, email_key "
                "FROM personnel ORDER BY id"
            )
        ).all()
    assert [tuple(k) for k in keys] == [
        ("peeters", "sofie", "", "sofie@example.com"),
        (long_name.lower()[:100], "ömer", "e-17", ""),
    ]
