"""Review defects 5b and 5f (issue 12), on every engine.

b. Someone with Maintenance Edit (a clerk) tries, as an insider, to act on an administrator:
   unlock them, remove or add their trusted addresses, end their sessions. Every attempt is
   refused and leaves the database exactly as it was; the same actions on a peer still work.
f. On a shared database (PostgreSQL, MariaDB) loopback, link-local and local-socket addresses are
   never trusted, nor, on any engine, an address on the never-trusted list (proxies, poolers).
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select

from pmdesk.cli import build_parser
from pmdesk.commands import ip as ip_command
from pmdesk.commands import login as login_command
from pmdesk.commands import security as security_command
from pmdesk.commands.common import CommandFailed
from pmdesk.core import sessions
from pmdesk.core.afterwards import Afterwards
from pmdesk.core.audit import Event
from pmdesk.core.auth import CodeNeeded, LoginService, SignedIn
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.errors import PermissionDenied, ValidationError
from pmdesk.core.models import AuditEvent, LoginFailure, Person, TrustedIp, UserSession
from pmdesk.core.personnel import PersonnelService
from pmdesk.core.security import SecurityService
from pmdesk.core.sessions import SessionService
from pmdesk.core.trusted_ips import TrustedIpService, why_not_trustable
from pmdesk.secrets import MemoryStore
from tests.helpers.acting import ACTING_WORKSTATION
from tests.helpers.databases import stage
from tests.helpers.hardened import LOOPBACK_NEVER_TRUSTED, WITHOUT_SIGN_IN
from tests.helpers.login import (
    CollectingDelivery,
    add_user,
    cheap_passwords,
    enable_two_factor,
    service,
    set_security,
)
from tests.helpers.staff import add_group, add_person
from tests.helpers.trusted_ips import trust_addresses
from tests.reliability.helpers import fingerprint

PASSWORD = "Spring-Tide-42"
CLERK_RIGHTS = {"maintenance": "re"}
# A clerk who may also manage trusted addresses, but not change the Security settings.
IP_CLERK_RIGHTS = {"maintenance": "re", "system.security": "rd"}
ADMIN_ONLY = "rights your own group lacks"  # the reason given in each refusal


def _actor(person_id: int, name: str) -> Actor:
    return Actor(name=name, person_id=person_id, address="192.0.2.9", workstation="ws-clerk")


@pytest.fixture
def people(ctx: CoreContext) -> dict[str, Any]:
    """An administrator (real password), a clerk with Maintenance Edit, and the clerk's peer."""
    admin = add_user(ctx, "admin", PASSWORD)
    clerks = add_group(ctx.db, "Clerks", CLERK_RIGHTS)
    clerk = add_person(ctx.db, "clerk", group_id=clerks)
    peer = add_person(ctx.db, "peer", group_id=clerks)
    ip_clerks = add_group(ctx.db, "IP clerks", IP_CLERK_RIGHTS)
    ip_clerk = add_person(ctx.db, "ipclerk", group_id=ip_clerks)
    ip_peer = add_person(ctx.db, "ippeer", group_id=ip_clerks)
    return {
        "admin": admin,
        "clerk": clerk,
        "peer": peer,
        "ip_clerk": ip_clerk,
        "ip_peer": ip_peer,
        "clerk_actor": _actor(clerk, "clerk"),
        "ip_clerk_actor": _actor(ip_clerk, "ipclerk"),
        "admin_actor": _actor(admin, "admin"),
    }


def _lock(ctx: CoreContext, person_id: int) -> None:
    with stage(ctx.db) as s:
        person = s.get(Person, person_id)
        assert person is not None
        person.locked_until = ctx.clock.now(s) + timedelta(minutes=15)
        person.failed_logins = 10
        person.lock_count = 3


def _trusted(ctx: CoreContext, rows: list[tuple[int, str]]) -> dict[str, int]:
    made = [(person_id, address, timedelta(0)) for person_id, address in rows]
    ids = trust_addresses(ctx.db, made, ctx.clock)
    return {address: row_id for (_person, address), row_id in zip(rows, ids, strict=True)}


def _count(ctx: CoreContext, model: type[TrustedIp] | type[UserSession]) -> int:
    query = select(func.count()).select_from(model)
    if model is UserSession:  # not those the hardened leg acts through
        query = query.where(UserSession.workstation != ACTING_WORKSTATION)
    with stage(ctx.db) as s:
        return int(s.execute(query).scalar_one())


def _events(ctx: CoreContext, event: Event) -> list[AuditEvent]:
    with stage(ctx.db) as s:
        return list(
            s.execute(
                select(AuditEvent).where(AuditEvent.event == event.value).order_by(AuditEvent.id)
            ).scalars()
        )


# ===== b. rights: nobody acts on someone with more rights than their own ========================


def test_a_clerk_cannot_unlock_an_administrator(ctx: CoreContext, people: dict[str, Any]) -> None:
    personnel = PersonnelService(ctx, passwords=cheap_passwords())
    _lock(ctx, people["admin"])
    _lock(ctx, people["peer"])
    before = fingerprint(ctx.db)

    with pytest.raises(PermissionDenied, match=f"unlock this person.*{ADMIN_ONLY}"):
        personnel.unlock(people["clerk_actor"], people["admin"])
    assert fingerprint(ctx.db) == before, "a refused unlock changed something"

    personnel.unlock(people["clerk_actor"], people["peer"])  # a peer: allowed, as before
    with stage(ctx.db) as s:
        peer = s.get(Person, people["peer"])
        assert peer is not None and peer.locked_until is None and peer.failed_logins == 0


def test_unlocking_after_every_few_guesses_no_longer_defeats_the_lockout(
    ctx: CoreContext, people: dict[str, Any]
) -> None:
    """The attack from the review: 100 wrong passwords for the administrator, the clerk
    unlocking after every fourth. The account must end up locked."""
    login = service(ctx, CollectingDelivery())
    personnel = PersonnelService(ctx, passwords=cheap_passwords())
    refused = 0
    for guess in range(100):
        login.begin("admin", f"guess-{guess}")
        if guess % 4 == 3:
            try:
                personnel.unlock(people["clerk_actor"], people["admin"])
            except PermissionDenied:
                refused += 1
    assert refused == 25
    with stage(ctx.db) as s:  # locked from the guesser's address (lockout.py)
        lock = s.scalars(
            select(LoginFailure.locked_until).where(LoginFailure.person_id == people["admin"])
        ).one()
        assert lock is not None and lock > ctx.clock.now(s)
    assert _events(ctx, Event.ACCOUNT_LOCKED), "the administrator was never locked"
    assert not _events(ctx, Event.ACCOUNT_UNLOCKED)


def test_a_clerk_cannot_remove_an_administrators_addresses_in_personnel(
    ctx: CoreContext, people: dict[str, Any]
) -> None:
    ips = TrustedIpService(ctx)
    ids = _trusted(
        ctx,
        [
            (people["admin"], "198.51.100.1"),
            (people["peer"], "198.51.100.2"),
            (people["clerk"], "198.51.100.3"),
        ],
    )
    before = fingerprint(ctx.db)
    with pytest.raises(PermissionDenied, match=f"trusted addresses.*{ADMIN_ONLY}"):
        ips.remove_for_person(people["clerk_actor"], people["admin"], [ids["198.51.100.1"]])
    assert fingerprint(ctx.db) == before, "a refused removal changed something"

    clerk = people["clerk_actor"]
    assert ips.remove_for_person(clerk, people["peer"], [ids["198.51.100.2"]]) == 1
    assert ips.remove_for_person(clerk, people["clerk"], [ids["198.51.100.3"]]) == 1  # own
    assert _count(ctx, TrustedIp) == 1


def test_a_mixed_batch_with_an_administrators_address_is_refused_whole(
    ctx: CoreContext, people: dict[str, Any]
) -> None:
    ips = TrustedIpService(ctx)
    ids = _trusted(
        ctx,
        [
            (people["ip_peer"], "198.51.100.10"),
            (people["ip_clerk"], "198.51.100.11"),
            (people["admin"], "198.51.100.12"),
            (people["ip_peer"], "198.51.100.13"),
        ],
    )
    before = fingerprint(ctx.db)
    with pytest.raises(PermissionDenied) as refused:
        ips.remove(people["ip_clerk_actor"], sorted(ids.values()))
    message = str(refused.value)
    assert "trusted addresses of admin" in message and ADMIN_ONLY in message
    assert "Nothing was removed" in message
    assert fingerprint(ctx.db) == before, "part of a refused batch was removed"

    # Without the administrator's row the same batch goes through, one's own address included.
    allowed = [ids["198.51.100.10"], ids["198.51.100.11"], ids["198.51.100.13"]]
    assert ips.remove(people["ip_clerk_actor"], allowed) == 3
    assert _count(ctx, TrustedIp) == 1
    # An administrator still removes anyone's.
    assert ips.remove(people["admin_actor"], [ids["198.51.100.12"]]) == 1


def test_trusting_an_address_for_an_administrator_needs_their_rights(
    ctx: CoreContext, people: dict[str, Any]
) -> None:
    editors = add_group(ctx.db, "Security editors", {"maintenance": "re", "system.security": "re"})
    editor = _actor(add_person(ctx.db, "editor", group_id=editors), "editor")
    ips = TrustedIpService(ctx)
    before = fingerprint(ctx.db)
    with pytest.raises(PermissionDenied, match="trust an address for this person"):
        ips.trust_by_admin(editor, people["admin"], "198.51.100.20")
    assert fingerprint(ctx.db) == before
    # Clerks have fewer rights than the editor: allowed.
    assert ips.trust_by_admin(editor, people["clerk"], "198.51.100.21").login == "clerk"


def test_a_clerk_cannot_end_an_administrators_sessions(
    ctx: CoreContext, people: dict[str, Any]
) -> None:
    with stage(ctx.db) as s:
        now = ctx.clock.now(s)
        for key in ("admin", "peer"):
            person = s.get(Person, people[key])
            assert person is not None
            sessions.start(
                s, now, person, sessions.COMMAND_LINE, address="192.0.2.5", workstation="ws"
            )
    service_ = SessionService(ctx)
    before = fingerprint(ctx.db)
    with pytest.raises(PermissionDenied, match=f"end this person's sessions.*{ADMIN_ONLY}"):
        service_.end_for_person(people["clerk_actor"], people["admin"])
    assert fingerprint(ctx.db) == before
    assert service_.end_for_person(people["clerk_actor"], people["peer"]) == 1
    assert _count(ctx, UserSession) == 1


# ===== f. addresses that are never trusted ======================================================


@pytest.mark.parametrize(
    ("backend", "address", "never", "why"),
    [
        ("postgresql", "127.0.0.1", "", "loopback"),
        ("mariadb", "127.0.0.5", "", "loopback"),
        ("postgresql", "::1", "", "loopback"),
        ("mariadb", "169.254.10.1", "", "link-local"),
        ("postgresql", "fe80::1", "", "link-local"),
        ("postgresql", None, "", "local socket"),
        ("mariadb", None, "", "local socket"),
        ("sqlite", None, "", "unknown"),
        ("postgresql", "10.0.0.5", "10.0.0.5", "never trusted"),
        ("sqlite", "10.1.0.77", "10.0.0.5, 10.1.0.0/24", "never trusted"),
        ("mariadb", "::ffff:10.1.0.7", "10.1.0.0/24", "never trusted"),
        ("sqlite", "2001:db8::5", "2001:db8::/64", "never trusted"),
        ("sqlite", "127.0.0.1", "", None),  # the embedded database: today's behaviour
        ("sqlite", "169.254.1.1", "", None),
        ("postgresql", "192.0.2.44", "10.0.0.5, 10.1.0.0/24", None),
        ("mariadb", "2001:db8::5", "10.0.0.0/8", None),
    ],
)
def test_why_not_trustable(backend: str, address: str | None, never: str, why: str | None) -> None:
    reason = why_not_trustable(backend, address, never)
    if why is None:
        assert reason is None
    else:
        assert reason is not None and why in reason


@pytest.fixture
def seen(ctx: CoreContext) -> str | None:
    """The address the database sees for this test process."""
    with stage(ctx.db) as s:
        return ctx.db.client_address(s)


@pytest.fixture
def server(ctx: CoreContext, seen: str | None) -> bool:
    """Whether this is a shared database reached over loopback (as the test servers are)."""
    if ctx.db.is_sqlite:
        return False
    assert seen is not None and seen.startswith("127."), f"test server reached from {seen}"
    return True


def _code_needed(login: LoginService) -> CodeNeeded:
    needed = login.begin("alice", PASSWORD)
    assert isinstance(needed, CodeNeeded), needed
    return needed


def test_loopback_is_never_trusted_on_a_shared_database(
    ctx: CoreContext, server: bool, seen: str
) -> None:
    add_user(ctx, "alice", PASSWORD)
    enable_two_factor(ctx)
    delivery = CollectingDelivery()
    login = service(ctx, delivery)
    needed = _code_needed(login)
    signed = login.verify(needed.challenge_id, delivery.last_code, True)
    assert isinstance(signed, SignedIn)  # signing in still works
    if not server:  # SQLite: the machine's own address, trusted as before
        assert needed.trust_refused is None
        assert _count(ctx, TrustedIp) == 1
        return
    assert needed.trust_refused is not None and "loopback" in needed.trust_refused
    assert _count(ctx, TrustedIp) == 0
    refusals = _events(ctx, Event.IP_NOT_TRUSTED)
    assert len(refusals) == 1 and "loopback" in refusals[0].detail
    assert refusals[0].detail.startswith(f"address {seen}:")
    assert not _events(ctx, Event.IP_TRUSTED)
    assert isinstance(login.begin("alice", PASSWORD), CodeNeeded)  # a code again next time


@LOOPBACK_NEVER_TRUSTED
@pytest.mark.parametrize("shown", ["fe80::1", "169.254.3.4", None])
def test_link_local_and_socket_connections_are_never_trusted_on_a_shared_database(
    ctx: CoreContext, monkeypatch: pytest.MonkeyPatch, shown: str | None
) -> None:
    """The server seeing a link-local address, or none at all (a Unix socket)."""
    monkeypatch.setattr(ctx.db, "client_address", lambda session: shown)
    add_user(ctx, "alice", PASSWORD)
    enable_two_factor(ctx)
    delivery = CollectingDelivery()
    login = service(ctx, delivery)
    needed = _code_needed(login)
    signed = login.verify(needed.challenge_id, delivery.last_code, True)
    assert isinstance(signed, SignedIn)
    if ctx.db.is_sqlite and shown is not None:
        assert needed.trust_refused is None and _count(ctx, TrustedIp) == 1
        return
    assert needed.trust_refused is not None
    if shown is None:
        assert ("unknown" if ctx.db.is_sqlite else "local socket") in needed.trust_refused
    else:
        assert "link-local" in needed.trust_refused
        assert "link-local" in _events(ctx, Event.IP_NOT_TRUSTED)[-1].detail
    assert _count(ctx, TrustedIp) == 0


def test_a_stored_trust_for_an_untrustable_address_is_ignored(
    ctx: CoreContext, seen: str, server: bool
) -> None:
    """A row made before the fix (or by hand) for the loopback address, or for an address
    later put on the never-trusted list, no longer skips the code."""
    alice = add_user(ctx, "alice", PASSWORD)
    enable_two_factor(ctx)
    _trusted(ctx, [(alice, seen)])
    login = service(ctx, CollectingDelivery())
    first = login.begin("alice", PASSWORD)
    if server:
        assert isinstance(first, CodeNeeded)
    else:
        assert isinstance(first, SignedIn) and first.trusted_address
        set_security(ctx, never_trusted_addresses=seen)
        assert isinstance(login.begin("alice", PASSWORD), CodeNeeded)


def test_the_never_trusted_list_is_refused_on_every_engine(
    ctx: CoreContext, seen: str, people: dict[str, Any]
) -> None:
    security = SecurityService(ctx)
    admin = people["admin_actor"]
    version = security.get(admin).version
    saved = security.update(admin, version, never_trusted_addresses=f"203.0.113.0/24 {seen}")
    assert saved.never_trusted_addresses == f"203.0.113.0/24, {seen}"

    # Signing in from a listed address: signed in, not trusted, and the audit says why.
    alice = add_user(ctx, "alice", PASSWORD)
    enable_two_factor(ctx)
    delivery = CollectingDelivery()
    login = service(ctx, delivery)
    needed = _code_needed(login)
    assert needed.trust_refused is not None
    assert isinstance(login.verify(needed.challenge_id, delivery.last_code, True), SignedIn)
    assert _count(ctx, TrustedIp) == 0
    assert "never trusted" in _events(ctx, Event.IP_NOT_TRUSTED)[-1].detail

    # An administrator cannot trust a listed address either (nor any in a listed network).
    ips = TrustedIpService(ctx)
    before = fingerprint(ctx.db)
    with pytest.raises(ValidationError, match="never trusted") as refused:
        ips.trust_by_admin(admin, alice, "203.0.113.77")
    assert "203.0.113.77" in refused.value.errors["address"]
    assert fingerprint(ctx.db) == before
    assert ips.trust_by_admin(admin, alice, "198.51.100.7").address == "198.51.100.7"


@pytest.mark.parametrize("address", ["127.0.0.1", "fe80::1", "::1", "169.254.0.9"])
def test_ip_trust_of_a_shared_address(
    ctx: CoreContext, people: dict[str, Any], address: str
) -> None:
    ips = TrustedIpService(ctx)
    if ctx.db.is_sqlite:
        assert ips.trust_by_admin(people["admin_actor"], people["peer"], address).address
        return
    before = fingerprint(ctx.db)
    with pytest.raises(ValidationError, match="never trusted on a shared database"):
        ips.trust_by_admin(people["admin_actor"], people["peer"], address)
    assert fingerprint(ctx.db) == before


# ----- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "bad"),
    [
        ("10.0.0.5, proxy.local", "'proxy.local' is not an IP address"),
        ("10.0.0.5;10.1.0.5/24", "'10.1.0.5/24' has host bits set: did you mean 10.1.0.0/24?"),
        ("10.0.0.256", "'10.0.0.256' is not an IP address"),
        ("10.0.0.0/33", "'10.0.0.0/33' is not an IP address or a network"),
        ("10.0.0.5:5432", "'10.0.0.5:5432' is not an IP address"),
    ],
)
def test_the_never_trusted_setting_is_validated(
    ctx: CoreContext, people: dict[str, Any], typed: str, bad: str
) -> None:
    security = SecurityService(ctx)
    admin = people["admin_actor"]
    version = security.get(admin).version
    before = fingerprint(ctx.db)
    with pytest.raises(ValidationError) as refused:
        security.update(admin, version, never_trusted_addresses=typed)
    assert bad in refused.value.errors["never_trusted_addresses"]
    assert fingerprint(ctx.db) == before


def test_the_never_trusted_setting_is_saved_canonical_and_audited(
    ctx: CoreContext, people: dict[str, Any]
) -> None:
    security = SecurityService(ctx)
    admin = people["admin_actor"]
    version = security.get(admin).version
    saved = security.update(
        admin,
        version,
        never_trusted_addresses=(
            " 10.0.0.5 ,10.1.0.0/24\n::ffff:10.2.0.1; 10.0.0.5/32 2001:DB8::/32"
        ),
    )
    assert saved.never_trusted_addresses == "10.0.0.5, 10.1.0.0/24, 10.2.0.1, 2001:db8::/32"
    assert security.get(admin).never_trusted_addresses == saved.never_trusted_addresses
    assert "never_trusted_addresses" in _events(ctx, Event.SETTING_CHANGED)[-1].detail
    with pytest.raises(PermissionDenied):
        security.update(people["clerk_actor"], saved.version, never_trusted_addresses="")
    cleared = security.update(admin, saved.version, never_trusted_addresses="")
    assert cleared.never_trusted_addresses == ""


# ----- the command line -------------------------------------------------------------------------


def _app(ctx: CoreContext) -> Any:
    return SimpleNamespace(context=ctx, db=ctx.db, secrets=MemoryStore())


@WITHOUT_SIGN_IN
def test_ip_trust_command_says_why(ctx: CoreContext, people: dict[str, Any], seen: str) -> None:
    set_security(ctx, never_trusted_addresses="10.0.0.5")
    args = argparse.Namespace(login="peer", address="10.0.0.5", actor=people["admin_actor"])
    with pytest.raises(CommandFailed, match=r"^Not trusted: 10\.0\.0\.5 is on the list"):
        ip_command._trust(_app(ctx), args)
    args.address = "127.0.0.1"
    if ctx.db.is_sqlite:
        assert ip_command._trust(_app(ctx), args) == 0
    else:
        with pytest.raises(CommandFailed, match=r"^Not trusted: 127\.0\.0\.1 is a loopback"):
            ip_command._trust(_app(ctx), args)


def test_security_set_never_trust_command(
    ctx: CoreContext, people: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    def run(value: str) -> int:
        # The real parser: every option the command has, at its default.
        args = build_parser().parse_args(["security", "set", "--never-trust", value])
        args.actor = people["admin_actor"]
        return int(security_command._set(_app(ctx), args))

    assert run("10.0.0.5, 10.1.0.0/24") == 0
    assert "Never trusted: 10.0.0.5, 10.1.0.0/24" in capsys.readouterr().out
    with pytest.raises(ValidationError, match="'nope' is not an IP address"):
        run("10.0.0.5 nope")


class _Lines(io.StringIO):
    """Standard input whose lines are worked out when read (the code exists only then)."""

    def __init__(self, *lines: Any) -> None:
        super().__init__()
        self._lines: Iterator[Any] = iter(lines)

    def readline(self, size: int | None = -1) -> str:
        line = next(self._lines, "")
        return (line() if callable(line) else line) + "\n" if line != "" else ""

    def isatty(self) -> bool:
        return False


def test_cli_login_says_why_instead_of_asking_to_trust(
    ctx: CoreContext,
    seen: str,
    server: bool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    add_user(ctx, "alice", PASSWORD)
    enable_two_factor(ctx)
    if not server:
        set_security(ctx, never_trusted_addresses=seen)
    delivery = CollectingDelivery()

    def login_service(
        context: CoreContext, *, session_kind: str, afterwards: Afterwards
    ) -> LoginService:
        return LoginService(
            context,
            delivery_factory=delivery.factory,
            passwords=cheap_passwords(),
            session_kind=session_kind,
            afterwards=afterwards,
        )

    monkeypatch.setattr(login_command, "LoginService", login_service)
    monkeypatch.setattr("sys.stdin", _Lines(PASSWORD, lambda: delivery.last_code, "y"))
    args = argparse.Namespace(login="alice", password_stdin=True)
    assert login_command._login(_app(ctx), args) == 0
    out = capsys.readouterr().out
    assert "Trust this IP?" not in out
    assert "This IP cannot be trusted" not in out  # the reason is said once, as a sentence
    assert ("loopback" if server else "never trusted") in out
    assert _count(ctx, TrustedIp) == 0
