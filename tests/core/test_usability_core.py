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
