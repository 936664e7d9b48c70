"""Signed-in sessions on every engine: started by a sign-in, checked at every use, ended by
sign-out, End sessions, a lock or a password change; only the token's hash is stored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from pmdesk.core import lockout
from pmdesk.core.audit import Event
from pmdesk.core.auth import LoginService, SignedIn
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import CoreContext
from pmdesk.core.errors import PermissionDenied, ValidationError
from pmdesk.core.models import LoginFailure, Person, UserSession
from pmdesk.core.personnel import PersonnelService
from pmdesk.core.security import SecurityService
from pmdesk.core.sessions import (
    COMMAND_LINE,
    DESKTOP,
    DESKTOP_LEASE,
    NotSignedIn,
    SessionService,
    hash_token,
)
from tests.helpers.databases import stage
from tests.helpers.hardened import SWEPT_BY_RELAY
from tests.helpers.login import (
    WORKSTATION,
    CollectingDelivery,
    add_user,
    audit_events,
    cheap_passwords,
)
from tests.helpers.staff import add_group

PASSWORD = "correct horse battery"


def sign_in(ctx: CoreContext, login: str = "alice", kind: str = COMMAND_LINE) -> SignedIn:
    service = LoginService(
        ctx,
        delivery_factory=CollectingDelivery().factory,
        passwords=cheap_passwords(),
        workstation=WORKSTATION,
        session_kind=kind,
    )
    result = service.begin(login, PASSWORD)
    assert isinstance(result, SignedIn), result
    assert result.session_token is not None
    return result


def rows(ctx: CoreContext) -> list[UserSession]:
    with stage(ctx.db) as s:
        return list(s.execute(select(UserSession).order_by(UserSession.id)).scalars())


def refused_reason(ctx: CoreContext, token: str) -> str:
    with pytest.raises(NotSignedIn) as caught:
        SessionService(ctx).resolve(token, workstation=WORKSTATION)
    return caught.value.reason


def test_a_sign_in_starts_a_session_whose_token_is_not_stored(ctx: CoreContext) -> None:
    alice = add_user(ctx, "alice", PASSWORD, first_name="Alice", last_name="Adams")
    signed = sign_in(ctx)
    assert signed.session_token is not None
    [row] = rows(ctx)
    assert row.person_id == alice and row.kind == COMMAND_LINE
    assert row.token_hash == hash_token(signed.session_token)
    assert signed.session_token not in {row.token_hash, row.workstation, row.os_user}
    # Eight hours by default.
    assert row.expires_at - row.created_at == timedelta(hours=8)

    active = SessionService(ctx).resolve(signed.session_token, workstation=WORKSTATION)
    assert active.login == "alice" and active.display_name == "Alice Adams"
    assert active.actor.person_id == alice and active.actor.name == "alice (cli)"
    assert Event.SESSION_STARTED.value in [e.event for e in audit_events(ctx)]


def test_the_session_length_is_a_security_setting(ctx: CoreContext) -> None:
    add_user(ctx, "alice", PASSWORD)
    admin = sign_in(ctx).actor
    security = SecurityService(ctx)
    for wrong in (0, 169, True, 2.5, "8"):
        with pytest.raises(ValidationError) as caught:
            security.update(admin, security.get(admin).version, session_hours=wrong)  # type: ignore[arg-type]
        assert "from 1 to 168" in caught.value.errors["session_hours"]
    assert security.get(admin).session_hours == 8
    saved = security.update(admin, security.get(admin).version, session_hours=2)
    assert saved.session_hours == 2
    changed = [e for e in audit_events(ctx) if e.event == Event.SETTING_CHANGED.value]
    assert changed[-1].detail == "session_hours 8 → 2"
    sign_in(ctx)  # a session started from now on lasts two hours
    latest = rows(ctx)[-1]
    assert latest.expires_at - latest.created_at == timedelta(hours=2)


def test_an_expired_session_is_refused_and_removed(ctx: CoreContext, clock: ShiftedClock) -> None:
    add_user(ctx, "alice", PASSWORD)
    token = sign_in(ctx).session_token
    assert token is not None
    clock.advance(timedelta(hours=8, seconds=1))
    assert refused_reason(ctx, token) == "expired"
    assert rows(ctx) == []
    refusal = [e for e in audit_events(ctx) if e.event == Event.SESSION_REFUSED.value]
    assert refusal and "expired" in refusal[-1].detail


def test_a_session_used_from_another_address_is_refused(ctx: CoreContext) -> None:
    add_user(ctx, "alice", PASSWORD)
    token = sign_in(ctx).session_token
    assert token is not None
    with stage(ctx.db) as s:
        s.execute(update(UserSession).values(address="198.51.100.7"))
    assert refused_reason(ctx, token) == "address"


def test_locking_everywhere_ends_every_session(ctx: CoreContext) -> None:
    alice = add_user(ctx, "alice", PASSWORD)
    token = sign_in(ctx).session_token
    desktop = sign_in(ctx, kind=DESKTOP).session_token
    assert token is not None and desktop is not None
    service = LoginService(
        ctx, passwords=cheap_passwords(), workstation=WORKSTATION, session_kind=COMMAND_LINE
    )
    # A lock from this address alone ends nothing; the hundredth failure locks everywhere.
    for _ in range(lockout.MAX_FAILURES):
        service.begin("alice", "wrong password")
    assert len(rows(ctx)) == 2
    with stage(ctx.db) as s:
        s.execute(
            update(Person)
            .where(Person.id == alice)
            .values(failed_logins=lockout.PERSON_CAP - 1, locked_until=None)
        )
        s.execute(delete(LoginFailure))
    service.begin("alice", "wrong password")
    with stage(ctx.db) as s:
        person = s.get(Person, alice)
        assert person is not None and person.locked_until is not None
    assert rows(ctx) == []
    assert refused_reason(ctx, token) == "ended"
    assert refused_reason(ctx, desktop) == "ended"


def test_a_lock_set_behind_the_services_back_is_refused_too(
    ctx: CoreContext, clock: ShiftedClock
) -> None:
    alice = add_user(ctx, "alice", PASSWORD)
    token = sign_in(ctx).session_token
    assert token is not None
    with stage(ctx.db) as s:
        now = clock.now(s)
        s.execute(
            update(Person).where(Person.id == alice).values(locked_until=now + timedelta(hours=1))
        )
    assert refused_reason(ctx, token) == "locked"


def test_a_password_change_ends_every_session(ctx: CoreContext) -> None:
    alice = add_user(ctx, "alice", PASSWORD)
    token = sign_in(ctx).session_token
    assert token is not None
    PersonnelService(ctx, cheap_passwords()).set_password(
        sign_in(ctx).actor, alice, "another long password", "another long password"
    )
    assert rows(ctx) == []
    assert refused_reason(ctx, token) == "ended"


def test_a_password_changed_behind_the_services_back_is_refused(
    ctx: CoreContext, clock: ShiftedClock
) -> None:
    alice = add_user(ctx, "alice", PASSWORD)
    token = sign_in(ctx).session_token
    assert token is not None
    with stage(ctx.db) as s:
        later = clock.now(s) + timedelta(seconds=1)
        s.execute(update(Person).where(Person.id == alice).values(password_changed_at=later))
    clock.advance(timedelta(seconds=2))
    assert refused_reason(ctx, token) == "password"


def test_a_deleted_person_has_no_sessions(ctx: CoreContext) -> None:
    alice = add_user(ctx, "alice", PASSWORD)
    token = sign_in(ctx).session_token
    assert token is not None
    with stage(ctx.db) as s:
        person = s.get(Person, alice)
        s.delete(person)
    assert refused_reason(ctx, token) == "ended"


def test_sign_out_removes_the_row(ctx: CoreContext) -> None:
    add_user(ctx, "alice", PASSWORD)
    token = sign_in(ctx).session_token
    assert SessionService(ctx).end(token) is True
    assert rows(ctx) == []
    assert SessionService(ctx).end(token) is False
    assert token is not None and refused_reason(ctx, token) == "ended"


def test_a_desktop_session_is_a_lease_renewed_by_use(ctx: CoreContext, clock: ShiftedClock) -> None:
    add_user(ctx, "alice", PASSWORD)
    token = sign_in(ctx, kind=DESKTOP).session_token
    assert token is not None
    for _ in range(4):  # used every few minutes, it lives longer than one lease
        clock.advance(DESKTOP_LEASE - timedelta(seconds=30))
        active = SessionService(ctx).resolve(token, workstation=WORKSTATION)
        assert active.actor.name == "alice"
    clock.advance(DESKTOP_LEASE + timedelta(seconds=1))  # the app stopped renewing it
    assert refused_reason(ctx, token) == "expired"


def test_unusable_tokens_are_refused_without_error(ctx: CoreContext) -> None:
    for token in (None, "", "x" * 500, "no such token", "\x00\ud800"):
        assert refused_reason(ctx, token) in {"none", "ended"}  # type: ignore[arg-type]


def test_end_sessions_lists_and_ends_a_persons_sessions(ctx: CoreContext) -> None:
    add_user(ctx, "admin", PASSWORD)
    bob = add_user(ctx, "bob", PASSWORD)
    admin = sign_in(ctx, "admin", kind=DESKTOP)
    sign_in(ctx, "bob", kind=DESKTOP)
    sign_in(ctx, "bob", kind=COMMAND_LINE)
    service = SessionService(ctx)
    listed = service.for_person(admin.actor, bob)
    assert sorted(r.kind_label for r in listed) == ["Command line", "Desktop app"]
    assert all(r.workstation == WORKSTATION for r in listed)

    assert service.end_for_person(admin.actor, bob) == 2
    assert service.for_person(admin.actor, bob) == []
    assert [r.person_id for r in rows(ctx)] == [admin.person_id]


def test_a_clerk_cannot_end_an_administrators_sessions(ctx: CoreContext) -> None:
    """Maintenance Edit alone may end the sessions of people with no more rights, not of an
    administrator (whose group has rights the clerk's lacks)."""
    clerks = add_group(ctx.db, "Clerks", {"maintenance": "re"})
    add_user(ctx, "admin", PASSWORD)
    carol = add_user(ctx, "carol", PASSWORD)
    dave = add_user(ctx, "dave", PASSWORD)
    with stage(ctx.db) as s:
        s.execute(update(Person).where(Person.id.in_([carol, dave])).values(group_id=clerks))
    admin = sign_in(ctx, "admin")
    clerk = sign_in(ctx, "carol")
    sign_in(ctx, "dave")
    before = [(r.id, r.person_id) for r in rows(ctx)]

    with pytest.raises(PermissionDenied, match="rights your own group lacks"):
        SessionService(ctx).end_for_person(clerk.actor, admin.person_id)
    assert [(r.id, r.person_id) for r in rows(ctx)] == before

    # A colleague with the same rights, and oneself: allowed.
    assert SessionService(ctx).end_for_person(clerk.actor, dave) == 1
    assert SessionService(ctx).end_for_person(clerk.actor, carol) == 1
    assert [r.person_id for r in rows(ctx)] == [admin.person_id]


def test_without_maintenance_rights_only_ones_own_sessions(ctx: CoreContext) -> None:
    nobody = add_group(ctx.db, "Nothing", {})
    add_user(ctx, "admin", PASSWORD)
    erin = add_user(ctx, "erin", PASSWORD)
    with stage(ctx.db) as s:
        s.execute(update(Person).where(Person.id == erin).values(group_id=nobody))
    admin = sign_in(ctx, "admin")
    mine = sign_in(ctx, "erin")
    with pytest.raises(PermissionDenied):
        SessionService(ctx).for_person(mine.actor, admin.person_id)
    with pytest.raises(PermissionDenied):
        SessionService(ctx).end_for_person(mine.actor, admin.person_id)
    assert len(SessionService(ctx).for_person(mine.actor, erin)) == 1
    assert len(rows(ctx)) == 2


@SWEPT_BY_RELAY
def test_the_expiry_sweep_removes_lapsed_sessions(ctx: CoreContext, clock: ShiftedClock) -> None:
    add_user(ctx, "alice", PASSWORD)
    sign_in(ctx, kind=DESKTOP)
    kept = sign_in(ctx, kind=COMMAND_LINE)
    clock.advance(DESKTOP_LEASE + timedelta(seconds=1))  # the desktop app crashed
    assert SessionService(ctx).purge_expired() == 1
    assert [r.kind for r in rows(ctx)] == [COMMAND_LINE]
    assert kept.session_token is not None
    SessionService(ctx).resolve(kept.session_token, workstation=WORKSTATION)
