"""``permissions.within_rights`` (the rule "no rights your own group lacks" as a condition of a
query) answers as ``require_within_own_rights`` does, for every pair of a set of groups: a
removal's short way (removal_as_seen) may never let through what the rule refuses."""

from __future__ import annotations

import random

from sqlalchemy import Integer, literal, select

from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.errors import PermissionDenied
from pmdesk.core.modules import MODULES
from pmdesk.core.permissions import require_within_own_rights, within_rights
from tests.helpers.databases import stage
from tests.helpers.staff import actor, add_group, add_person


def test_the_rule_in_sql_answers_as_the_rule_in_words(ctx: CoreContext) -> None:
    chooser = random.Random(18)
    keys = [m.key for m in MODULES]
    groups: list[int] = []
    for n in range(7):
        rights = {key: "".join(r for r in "red" if chooser.random() < 0.4) for key in keys}
        if n == 0:
            rights = {}  # no right at all
        if n == 1:
            rights = {key: "red" for key in keys}  # every right
        if n == 2:  # one right fewer than group 1: beyond it by exactly that one
            rights = {key: "red" for key in keys} | {keys[0]: "re"}
        groups.append(add_group(ctx.db, f"Group {n}", rights))
    members = [
        actor(add_person(ctx.db, f"member{n}", group_id=g), f"member{n}")
        for n, g in enumerate(groups)
    ]
    checked = 0
    with stage(ctx.db) as s:
        for member in members:
            for group in [*groups, None]:
                try:
                    require_within_own_rights(s, member, group, doing="test")
                    in_words = True
                except PermissionDenied:
                    in_words = False
                in_sql = s.execute(select(within_rights(member, literal(group, Integer)))).scalar()
                assert bool(in_sql) is in_words, (member.name, group)
                checked += 1
        system = Actor.system("sweep")
        assert s.execute(select(within_rights(system, literal(groups[1], Integer)))).scalar()
    assert checked == len(members) * (len(groups) + 1)
    with stage(ctx.db) as s:  # a positive control: both say no somewhere, and yes somewhere
        answers = {
            bool(s.execute(select(within_rights(m, literal(g, Integer)))).scalar())
            for m in members
            for g in groups
        }
    assert answers == {True, False}
