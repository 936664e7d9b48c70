"""Issue 19 (usability), the rules kept in the core: Edit or Delete implies Read (17), the Log's
CSV as the screen shows it (18), a group with people is refused before asking (21), the database
described in words (24)."""

from __future__ import annotations

import pytest

from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import describe_for_people
from pmdesk.core.groups import GroupNotEmpty, GroupService
from tests.helpers.staff import actor, add_group, add_person


@pytest.fixture
def root(ctx: CoreContext) -> Actor:
    return actor(add_person(ctx.db, "root"), "root")


# ----- 17: Edit or Delete implies Read ----------------------------------------------------------


def test_edit_or_delete_without_read_is_saved_with_read(ctx: CoreContext, root: Actor) -> None:
    service = GroupService(ctx)
    clerks = add_group(ctx.db, "Clerks")
    grid = service.grid(root, clerks)
    wanted = {"job": (False, True, False), "planning": (False, False, True), "report": (True,) * 3}
    rows = [
        r._replace(
            read=wanted[r.module_key][0],
            edit=wanted[r.module_key][1],
            delete=wanted[r.module_key][2],
        )
        if r.module_key in wanted
        else r
        for r in grid.rows
    ]
    saved = service.save_grid(root, clerks, grid.version, rows)
    got = {r.module_key: (r.read, r.edit, r.delete) for r in service.grid(root, clerks).rows}
    assert got["job"] == (True, True, False)
    assert got["planning"] == (True, False, True)
    assert got["report"] == (True, True, True)
    assert got["invoicing"] == (False, False, False)
    assert {r.module_key: (r.read, r.edit, r.delete) for r in saved.rows} == got


# ----- 21: a group with people is refused before asking -----------------------------------------


def test_a_group_with_people_is_refused_before_deleting(ctx: CoreContext, root: Actor) -> None:
    service = GroupService(ctx)
    planners = add_group(ctx.db, "Planners")
    empty = add_group(ctx.db, "Empty")
    add_person(ctx.db, "ppeeters", group_id=planners)
    with pytest.raises(GroupNotEmpty, match="1 person is still in it"):
        service.check_deletable(root, planners)
    service.check_deletable(root, empty)  # nothing to say
    with pytest.raises(GroupNotEmpty):
        service.delete(root, planners)  # and the delete itself still refuses


# ----- 24: the database in words ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (
            "sqlite+pysqlite:////var/lib/pmdesk/pmdesk.db",
            "Embedded database (/var/lib/pmdesk/pmdesk.db)",
        ),
        ("sqlite:///C:/data/pmdesk.db", "Embedded database (C:/data/pmdesk.db)"),
        (
            "postgresql+psycopg://pm:secret@db.office.lan/pmdesk",
            "PostgreSQL on db.office.lan / pmdesk",
        ),
        ("postgresql://pm@db.office.lan:5433/pm", "PostgreSQL on db.office.lan:5433 / pm"),
        ("mariadb://pm:secret@10.0.0.5:3306/pmdesk", "MariaDB on 10.0.0.5 / pmdesk"),
        ("mysql+pymysql://root@127.0.0.1/mysql", "MariaDB on 127.0.0.1 / mysql"),
    ],
)
def test_the_database_is_described_in_words(url: str, words: str) -> None:
    assert describe_for_people(url) == words
    assert "secret" not in describe_for_people(url)
