"""The lockout console: the thresholds as Security settings, the Locked now list, Unlock and
Unlock all with the rights of the sign-in issue (Maintenance Edit, within one's own rights)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from pmdesk.core.audit import Event
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.errors import PermissionDenied, ValidationError
from pmdesk.core.models import AuditEvent, LoginFailure, Person
from pmdesk.core.personnel import PersonnelService
from pmdesk.core.security import SecurityService
from tests.helpers.databases import stage
from tests.helpers.staff import actor, add_group, add_person

SOON = timedelta(minutes=10)


@pytest.fixture
def admin(ctx: CoreContext) -> Actor:
    return actor(add_person(ctx.db, "root", email="root@example.com"), "root")


def lock_everywhere(ctx: CoreContext, person_id: int, left: timedelta = SOON) -> None:
    with stage(ctx.db) as s:
        person = s.get(Person, person_id)
        assert person is not None
        person.locked_until = datetime.now(UTC) + left
        person.lock_count = 1
        person.failed_logins = 0


def lock_at(ctx: CoreContext, person_id: int, address: str, left: timedelta = SOON) -> None:
    with stage(ctx.db) as s:
        s.add(
            LoginFailure(
                person_id=person_id,
                address=address,
                failed=2,
                lock_count=3,
                locked_until=datetime.now(UTC) + left,
                last_failed_at=datetime.now(UTC),
            )
        )


def audit_rows(ctx: CoreContext, event: Event) -> list[AuditEvent]:
    with stage(ctx.db) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.event == event.value)))


def test_the_thresholds_are_validated_per_field_and_audited(ctx: CoreContext, admin: Actor) -> None:
    service = SecurityService(ctx)
    version = service.get(admin).version
    with pytest.raises(ValidationError) as bad:
        service.update(
            admin, version, lock_after_failures=101, first_lock_minutes=0, max_lock_minutes=2000
        )
    assert bad.value.errors == {
        "lock_after_failures": "Failures before a lock must be a whole number of failures "
        "from 3 to 100.",
        "first_lock_minutes": "The first lock must be a whole number of minutes from 1 to 60.",
        "max_lock_minutes": "The longest lock must be a whole number of minutes from 1 to 1440.",
    }
    for wrong in (2, True, "10"):
        with pytest.raises(ValidationError, match="from 3 to 100"):
            service.update(admin, version, lock_after_failures=wrong)  # type: ignore[arg-type]
    # The longest lock is never shorter than the first, given or stored.
    with pytest.raises(ValidationError, match="from 30 to 1440"):
        service.update(admin, version, first_lock_minutes=30, max_lock_minutes=20)
    with pytest.raises(ValidationError) as shorter:
        service.update(admin, version, first_lock_minutes=30)  # the stored longest is 15
    assert shorter.value.errors == {
        "first_lock_minutes": "The longest lock (15 min) cannot be shorter than the first (30 min)."
    }
    unchanged = service.get(admin)
    assert (unchanged.lock_after_failures, unchanged.first_lock_minutes) == (10, 1)
    assert unchanged.max_lock_minutes == 15 and unchanged.version == version

    saved = service.update(
        admin, version, lock_after_failures=100, first_lock_minutes=5, max_lock_minutes=1440
    )
    assert (saved.lock_after_failures, saved.first_lock_minutes, saved.max_lock_minutes) == (
        100,
        5,
        1440,
    )
    (row,) = audit_rows(ctx, Event.SETTING_CHANGED)
    assert row.detail == (
        "lock_after_failures 10 → 100, first_lock_minutes 1 → 5, max_lock_minutes 15 → 1440"
    )


def test_the_locked_now_list_shows_locks_everywhere_and_per_address(
    ctx: CoreContext, admin: Actor
) -> None:
    anne = add_person(ctx.db, "anne")
    bert = add_person(ctx.db, "bert")
    free = add_person(ctx.db, "cleo")
    lock_everywhere(ctx, anne, timedelta(minutes=15))
    lock_at(ctx, bert, "203.0.113.9", timedelta(minutes=5))
    lock_at(ctx, free, "203.0.113.10", -timedelta(minutes=1))  # over already

    locks = PersonnelService(ctx).locked_now(admin)

    assert [(lock.login, lock.where, lock.lock_count, lock.failures) for lock in locks] == [
        ("anne", "everywhere", 1, 0),
        ("bert", "203.0.113.9", 3, 2),
    ]
    assert 14 * 60 < locks[0].seconds_left <= 15 * 60
    assert 4 * 60 < locks[1].seconds_left <= 5 * 60


def test_unlock_all_clears_every_lock_each_audited(ctx: CoreContext, admin: Actor) -> None:
    anne = add_person(ctx.db, "anne")
    bert = add_person(ctx.db, "bert")
    lock_everywhere(ctx, anne)
    lock_at(ctx, anne, "203.0.113.9")
    lock_at(ctx, bert, "203.0.113.9")
    service = PersonnelService(ctx)

    done = service.unlock_all(admin)

    assert len(done.unlocked) == 2 and done.skipped == []
    assert service.locked_now(admin) == []
    with stage(ctx.db) as s:
        assert s.scalars(select(LoginFailure)).all() == []
    assert len(audit_rows(ctx, Event.ACCOUNT_UNLOCKED)) == 2


def test_a_clerk_sees_the_list_but_cannot_unlock(ctx: CoreContext, admin: Actor) -> None:
    readers = add_group(ctx.db, "Readers", {"maintenance": "r"})
    clerk = actor(add_person(ctx.db, "clerk", group_id=readers), "clerk")
    nobody = actor(add_person(ctx.db, "nobody", group_id=add_group(ctx.db, "None")), "nobody")
    anne = add_person(ctx.db, "anne", group_id=readers)
    lock_at(ctx, anne, "203.0.113.9")
    service = PersonnelService(ctx)

    assert [lock.login for lock in service.locked_now(clerk)] == ["anne"]
    with pytest.raises(PermissionDenied):
        service.locked_now(nobody)
    with pytest.raises(PermissionDenied):
        service.unlock(clerk, anne)
    with pytest.raises(PermissionDenied):
        service.unlock_all(clerk)
    # Nothing changed; the administrator (positive control) can.
    assert [lock.login for lock in service.locked_now(admin)] == ["anne"]
    service.unlock(admin, anne)
    assert service.locked_now(admin) == []


def test_unlock_all_leaves_people_beyond_ones_rights_locked(ctx: CoreContext, admin: Actor) -> None:
    editors = add_group(ctx.db, "Editors", {"maintenance": "re"})
    editor = actor(add_person(ctx.db, "editor", group_id=editors), "editor")
    clerk = add_person(ctx.db, "clerk", group_id=editors)
    lock_at(ctx, clerk, "203.0.113.9")
    lock_at(ctx, admin.person_id or 0, "203.0.113.9")  # an administrator's account
    service = PersonnelService(ctx)

    done = service.unlock_all(editor)

    assert len(done.unlocked) == 1 and len(done.skipped) == 1
    assert [lock.login for lock in service.locked_now(admin)] == ["root"]
    with pytest.raises(PermissionDenied, match="rights your own group lacks"):
        service.unlock(editor, admin.person_id or 0)
