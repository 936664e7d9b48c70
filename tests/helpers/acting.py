"""The hardened leg's actors: on a server-enforced PostgreSQL (``--pg-hardened``) the server
checks every write, and soon every read, against the person whose session the connection
presents. The core's services take that person as an ``Actor`` and, outside the desktop app and
the command line, nobody signed in on the server for them. Here they do, for real:

- an actor who is a person acts through a real server session of that person: the owner starts
  it with the internal ``pmdesk.start_session`` (what ``sign_in`` and ``check_code`` end in),
  and the workstation's ``Database`` presents its token (``use_session``) before the call. The
  server then refuses whatever that person's rights refuse, exactly as for a signed-in user;
- an actor who is nobody (``Actor.system``, a test's command line) stands for a tool that holds
  the database's own credentials: on a hardened database that is the owner, so the call runs on
  the owner's connection.

``acting_on_hardened`` installs this around every service method and screen function that takes
an ``Actor``, for one test. Nothing of the server's enforcement is replaced.
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import text

from pmdesk.core import my_language, screens, stored_values
from pmdesk.core.audit import AuditService
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import Database
from pmdesk.core.groups import GroupService
from pmdesk.core.helpdesk import HelpdeskCodeService
from pmdesk.core.office_networks import OfficeNetworkService
from pmdesk.core.personnel import PersonnelService
from pmdesk.core.security import SecurityService
from pmdesk.core.sessions import COMMAND_LINE, SessionService
from pmdesk.core.trusted_ips import TrustedIpService

# Services that keep their CoreContext in ``_ctx`` and take the Actor in their methods: each
# class of pmdesk.core made from a CoreContext but the sign-in (tests/test_hardened_leg.py).
SERVICES: tuple[type, ...] = (
    AuditService,
    GroupService,
    HelpdeskCodeService,
    OfficeNetworkService,
    PersonnelService,
    SecurityService,
    SessionService,
    TrustedIpService,
)
# Functions that take (ctx, ..., actor, ...) and use ctx themselves, not only through the
# services above: (module, name). Patched wherever a pmdesk module imported them by name.
FUNCTIONS: tuple[tuple[Any, str], ...] = (
    (screens, "security_state"),
    (screens, "person_details"),
    (screens, "save_delivery"),
    (screens, "address_trace"),
    (stored_values, "list_refused"),
    (my_language, "set_my_language"),
)


# The workstation name of the sessions started here: what a test compares before and after a
# refused action leaves them out (tests/reliability/helpers.py fingerprint), as they are the
# leg's plumbing, started the first time the test acts as that person.
ACTING_WORKSTATION = "pmdesk tests (acting as)"


class ServerSessions:
    """Real server sessions for the people a test acts as, one per person, started by the
    owner. The session's own traces (its ``session.started`` log row) are removed at once: they
    belong to the test's plumbing, not to the story the test tells."""

    def __init__(self, workstation: Database, owner: Database) -> None:
        self.workstation = workstation
        self.owner = owner
        self._tokens: dict[int, str] = {}
        self.signed_in: list[str] = []  # tokens of the test's own sign-ins, newest last
        # One actor at a time: the workstation presents one session for all its threads, so two
        # windows' background tasks acting as two people would otherwise present each other's
        # session in the middle of a call (and the pool would reconnect for each switch).
        self.turn = threading.RLock()

    def token_for(self, person_id: int) -> str:
        """The person's session: one the test signed in with, else one started for them."""
        token = self._tokens.get(person_id)
        if token is None or self._person_of(token) != person_id:
            token = next(
                (t for t in reversed(self.signed_in) if self._person_of(t) == person_id), None
            ) or self._start(person_id)
            self._tokens[person_id] = token
        return token

    def learn(self, token: str | None) -> None:
        """A session the workstation was told to present (a sign-in's): used when the test
        acts as its person, instead of starting another one the session lists would show."""
        if token is not None and token not in self.signed_in:
            self.signed_in.append(token)

    def acts_on(self, db: Database) -> bool:
        """Whether ``db`` connects as the workstation (the test's own, or another Database on
        its URL, as a second workstation or a background thread has)."""
        return db is self.workstation or db.url == self.workstation.url

    def present(self, actor: Actor, db: Database) -> None:
        """Make ``db``'s next connections act as ``actor``'s person."""
        assert actor.person_id is not None
        token = self.token_for(actor.person_id)
        if db.session_token != token:
            db.use_session(token)

    def _start(self, person_id: int) -> str:
        with self.owner.session() as s:
            answer = s.execute(
                text("SELECT pmdesk.start_session(:person, :kind, :workstation, '')"),
                {"person": person_id, "kind": COMMAND_LINE, "workstation": ACTING_WORKSTATION},
            ).scalar_one()
            s.execute(
                text(
                    "DELETE FROM pmdesk.audit_events WHERE id = (SELECT max(id) FROM "
                    "pmdesk.audit_events WHERE event = 'session.started')"
                )
            )
        return str(answer["token"])

    def _person_of(self, token: str) -> int | None:
        """Whose session ``token`` opens, while it holds (a new password, a lock or End
        sessions removes it: the person then signs in again, as a user would)."""
        with self.owner.session() as s:
            return s.execute(
                text(
                    "SELECT person_id FROM pmdesk.user_sessions "
                    "WHERE token_hash = pmdesk.token_hash(:token) AND expires_at > pmdesk.now()"
                ),
                {"token": token},
            ).scalar_one_or_none()


def _actor_in(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Actor | None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, Actor):
            return value
    return None


def _acting_method(method: Callable[..., Any], sessions: ServerSessions) -> Callable[..., Any]:
    @functools.wraps(method)
    def acting(self: Any, *args: Any, **kwargs: Any) -> Any:
        actor = _actor_in(args, kwargs)
        ctx: CoreContext = self._ctx
        if actor is None or not sessions.acts_on(ctx.db):
            return method(self, *args, **kwargs)
        if actor.person_id is not None:
            with sessions.turn:
                sessions.present(actor, ctx.db)
                return method(self, *args, **kwargs)
        self._ctx = replace(ctx, db=sessions.owner)
        try:
            return method(self, *args, **kwargs)
        finally:
            self._ctx = ctx

    return acting


def _acting_function(function: Callable[..., Any], sessions: ServerSessions) -> Callable[..., Any]:
    @functools.wraps(function)
    def acting(ctx: CoreContext, *args: Any, **kwargs: Any) -> Any:
        actor = _actor_in(args, kwargs)
        if actor is None or not sessions.acts_on(ctx.db):
            return function(ctx, *args, **kwargs)
        if actor.person_id is not None:
            with sessions.turn:
                sessions.present(actor, ctx.db)
                return function(ctx, *args, **kwargs)
        return function(replace(ctx, db=sessions.owner), *args, **kwargs)

    return acting


def _signing_in(function: Callable[..., Any], sessions: ServerSessions) -> Callable[..., Any]:
    """``rights_at_sign_in(ctx, person_id)``: what the desktop app reads right after a sign-in,
    which presented that person's session; a test that opens a window for someone without
    signing in gets one too."""

    @functools.wraps(function)
    def acting(ctx: CoreContext, person_id: int) -> Any:
        if not sessions.acts_on(ctx.db):
            return function(ctx, person_id)
        with sessions.turn:
            sessions.present(Actor(name=f"person {person_id}", person_id=person_id), ctx.db)
            return function(ctx, person_id)

    return acting


def _public_methods(service: type) -> Iterator[tuple[str, Callable[..., Any]]]:
    for name, member in vars(service).items():
        if name.startswith("_") or not inspect.isfunction(member):
            continue
        yield name, member


@contextmanager
def acting_on_hardened(
    monkeypatch: pytest.MonkeyPatch, workstation: Database, owner: Database
) -> Iterator[ServerSessions]:
    """For the block: every service call with an Actor acts as that actor on the server."""
    sessions = ServerSessions(workstation, owner)
    use_session = workstation.use_session

    def learning(token: str | None) -> None:
        sessions.learn(token)
        use_session(token)

    monkeypatch.setattr(workstation, "use_session", learning)
    for service in SERVICES:
        for name, method in _public_methods(service):
            monkeypatch.setattr(service, name, _acting_method(method, sessions))
    for module, name in FUNCTIONS:
        original = getattr(module, name)
        acting = _acting_function(original, sessions)
        for loaded in list(sys.modules.values()):
            if getattr(loaded, "__name__", "").startswith("pmdesk") and (
                getattr(loaded, name, None) is original
            ):
                monkeypatch.setattr(loaded, name, acting)
    monkeypatch.setattr(
        screens, "rights_at_sign_in", _signing_in(screens.rights_at_sign_in, sessions)
    )
    yield sessions
