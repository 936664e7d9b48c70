"""Going round the screens: someone signed in calls the core services directly, with rights
their group does not have. Every call is refused with PermissionDenied and changes nothing; and
no sequence of changes, in any order, leaves nobody able to administer security and permissions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.delivery.base import DeliverySettings
from pmdesk.core.errors import LastAdministratorError, PermissionDenied, PmdeskError
from pmdesk.core.groups import GridRow, GroupService
from pmdesk.core.models import Person
from pmdesk.core.modules import MODULES
from pmdesk.core.permissions import administrator_counts
from pmdesk.core.personnel import PersonnelService
from pmdesk.core.security import SecurityService
from pmdesk.core.trusted_ips import TrustedIpService
from pmdesk.secrets import MemoryStore
from tests.helpers.databases import fresh_sqlite
from tests.helpers.login import cheap_passwords
from tests.helpers.staff import ADMIN_GROUP_ID, actor, add_group, add_person
from tests.reliability.helpers import FAST, fingerprint

ALL = {m.key: "red" for m in MODULES}


def everything_but(*keys: str) -> dict[str, str]:
    return {k: v for k, v in ALL.items() if k not in keys}


@pytest.fixture
def world(sqlite_ctx: CoreContext) -> dict[str, Any]:
    """An administrator, someone with every right except System → Security, someone with
    every right except System (the Permissions screen), and a trusted IP to aim at."""
    db = sqlite_ctx.db
    root = add_person(db, "root")
    no_security = add_group(db, "No security", everything_but("system.security"))
    no_system = add_group(db, "No system", everything_but("system"))
    mallory = add_person(db, "mallory", group_id=no_security)
    trent = add_person(db, "trent", group_id=no_system)
    ip = TrustedIpService(sqlite_ctx).trust_by_admin(actor(root), root, "192.0.2.7")
    return {
        "root": root,
        "mallory": actor(mallory, "mallory"),
        "trent": actor(trent, "trent"),
        "ip": ip.id,
        "no_security": no_security,
    }


def test_security_services_refuse_everyone_without_system_security(
    sqlite_ctx: CoreContext, world: dict[str, Any]
) -> None:
    ctx = sqlite_ctx
    mallory: Actor = world["mallory"]
    security, ips = SecurityService(ctx), TrustedIpService(ctx)
    version = security.get(Actor.command_line()).version
    calls: dict[str, Callable[[], object]] = {
        "SecurityService.get": lambda: security.get(mallory),
        "SecurityService.readiness": lambda: security.readiness(mallory),
        "SecurityService.connection_status": lambda: security.connection_status(mallory),
        "SecurityService.set_two_factor": lambda: security.set_two_factor(
            mallory, True, version, accept_shut_out=True
        ),
        "SecurityService.update": lambda: security.update(mallory, version, trust_days=90),
        "SecurityService.update_delivery": lambda: security.update_delivery(
            mallory, DeliverySettings(method="outbox", outbox_folder="/tmp/x"), version
        ),
        "TrustedIpService.page": lambda: ips.page(mallory),
        "TrustedIpService.remove": lambda: ips.remove(mallory, [world["ip"]]),
        "TrustedIpService.trust_by_admin": lambda: ips.trust_by_admin(
            mallory, mallory.person_id or 0, "198.51.100.1"
        ),
        "TrustedIpService.expire (as a person)": lambda: ips.expire(mallory),
        "SecurityService.send_test_code": lambda: security.send_test_code(
            mallory, "mallory@example.com"
        ),
    }
    before = fingerprint(ctx.db)
    allowed = []
    for name, call in calls.items():
        try:
            call()
        except PermissionDenied as exc:
            assert "System → Security" in str(exc), (name, str(exc))
        else:
            allowed.append(name)
    assert allowed == []
    assert fingerprint(ctx.db) == before, "a refused call changed something"


def test_the_permission_grid_refuses_everyone_without_system(
    sqlite_ctx: CoreContext, world: dict[str, Any]
) -> None:
    groups = GroupService(sqlite_ctx)
    trent: Actor = world["trent"]
    grid = groups.grid(Actor.command_line(), world["no_security"])
    # Trent tries to give Mallory's group the security rights, and to make his own group admin.
    rows = [GridRow(r.module_key, r.module_name, True, True, True) for r in grid.rows]
    before = fingerprint(sqlite_ctx.db)
    for call in (
        lambda: groups.save_grid(trent, world["no_security"], grid.version, rows),
        lambda: groups.list(trent),
        lambda: groups.grid(trent, ADMIN_GROUP_ID),
        lambda: groups.create(trent, "Trent's admins"),
        lambda: groups.rename(trent, ADMIN_GROUP_ID, "Gone", 1),
        lambda: groups.delete(trent, world["no_security"]),
    ):
        with pytest.raises(PermissionDenied, match="System"):
            call()
    assert fingerprint(sqlite_ctx.db) == before


def test_personnel_edit_cannot_grant_itself_administrator(sqlite_ctx: CoreContext) -> None:
    clerks = add_group(sqlite_ctx.db, "Clerks", {"maintenance": "red"})
    clerk_id = add_person(sqlite_ctx.db, "clerk", group_id=clerks)
    root_id = add_person(sqlite_ctx.db, "root")
    clerk = actor(clerk_id, "clerk")
    people = PersonnelService(sqlite_ctx, passwords=cheap_passwords())
    me = people.get(clerk, clerk_id)
    before = fingerprint(sqlite_ctx.db)
    with pytest.raises(PermissionDenied):
        people.update(clerk, clerk_id, me.version, replace(me.form, group_id=ADMIN_GROUP_ID))
    # Nor take over an administrator's account by setting their password.
    with pytest.raises(PermissionDenied):
        people.set_password(clerk, root_id, "Taken-Over-123", "Taken-Over-123")
    assert fingerprint(sqlite_ctx.db) == before


# ----- the last administrator ------------------------------------------------------------------

RIGHTS = st.sampled_from(["", "r", "e", "re", "red"])
operations = st.lists(
    st.one_of(
        st.tuples(st.just("move"), st.integers(0, 3), st.integers(0, 2)),
        st.tuples(st.just("clear_login"), st.integers(0, 3), st.just(0)),
        st.tuples(st.just("delete_person"), st.integers(0, 3), st.just(0)),
        st.tuples(st.just("grid"), st.integers(0, 2), st.tuples(RIGHTS, RIGHTS)),
        st.tuples(st.just("delete_group"), st.integers(0, 2), st.just(0)),
    ),
    min_size=1,
    max_size=8,
)


@settings(FAST, max_examples=80)
@given(ops=operations)
def test_no_sequence_of_changes_removes_the_last_administrator(
    _sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory, ops: list[Any]
) -> None:
    db = fresh_sqlite(_sqlite_template, tmp_path_factory.mktemp("admins") / "db.sqlite3")
    ctx = CoreContext(
        db=db, secrets=MemoryStore(), outbox_default=Path("outbox"), clock=ShiftedClock()
    )
    try:
        groups = [
            ADMIN_GROUP_ID,
            add_group(db, "Deputies", {"system": "re", "system.security": "re"}),
            add_group(db, "Clerks", {"maintenance": "red"}),
        ]
        people = [
            add_person(db, "root"),
            add_person(db, "deputy", group_id=groups[1]),
            add_person(db, "clerk", group_id=groups[2]),
            add_person(db, "helpdesk", group_id=groups[2]),
        ]
        me = actor(people[0], "root")  # the one acting; may end up without rights
        for op in ops:
            run(ctx, me, groups, people, op)
            with db.session() as s:
                security_admins, permission_admins = administrator_counts(s)
            assert security_admins >= 1 and permission_admins >= 1, op
    finally:
        db.dispose()


def run(ctx: CoreContext, me: Actor, groups: list[int], people: list[int], op: Any) -> None:
    """One change by the administrator; a refusal must change nothing at all."""
    kind, target, arg = op
    personnel, group_service = PersonnelService(ctx, cheap_passwords()), GroupService(ctx)
    system = Actor.command_line()  # reads as the command line: rights come and go meanwhile
    before = fingerprint(ctx.db)
    try:
        if kind in {"move", "clear_login", "delete_person"}:
            with ctx.db.session() as s:
                if s.get(Person, people[target]) is None:
                    return
            record = personnel.get(system, people[target])
            if kind == "move":
                form = replace(record.form, group_id=groups[arg])
                personnel.update(me, people[target], record.version, form)
            elif kind == "clear_login":
                form = replace(record.form, login="")
                personnel.update(me, people[target], record.version, form)
            else:
                personnel.delete(me, people[target], record.version)
        elif kind == "grid":
            grid = group_service.grid(system, groups[target])
            wanted = dict(zip(("system", "system.security"), arg, strict=True))
            rows = [
                GridRow(r.module_key, r.module_name, "r" in w, "e" in w, "d" in w)
                if (w := wanted.get(r.module_key)) is not None
                else r
                for r in grid.rows
            ]
            group_service.save_grid(me, groups[target], grid.version, rows)
        elif kind == "delete_group" and target != 0:
            group_service.delete(me, groups[target])
    except LastAdministratorError:
        assert fingerprint(ctx.db) == before, f"{op} was refused but changed something"
    except PmdeskError:
        # Not allowed (any more), not found, not empty, in use: refused, and nothing changed.
        assert fingerprint(ctx.db) == before, f"{op} was refused but changed something"


def test_clearing_the_last_administrators_login_is_refused(sqlite_ctx: CoreContext) -> None:
    root = add_person(sqlite_ctx.db, "root")
    people = PersonnelService(sqlite_ctx, cheap_passwords())
    record = people.get(Actor.command_line(), root)
    with pytest.raises(LastAdministratorError):
        people.update(Actor.command_line(), root, record.version, replace(record.form, login=""))
    with sqlite_ctx.db.session() as s:
        assert s.execute(select(Person.login).where(Person.id == root)).scalar() == "root"
