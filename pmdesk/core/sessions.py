"""Signed-in sessions: the desktop app's and the command line's.

A sign-in (password, then a code unless the address is trusted) starts a session. Its token is a
random string that only the signed-in program holds (the desktop app in memory, the command line
in the OS keyring); the database keeps only its SHA-256 hash, so reading the table does not let
anyone act as anybody.

Every use of a session checks it again against the database: it must not have expired, must come
from the address it was started from, and its person must still exist, have a login, not be
locked and not have had their password changed since. Locking a person, changing their password
or pressing End sessions deletes their rows, which ends every session at its next use.

A command-line session lasts ``session_hours`` (a Security setting, 8 by default). A desktop
session is a lease the running app renews every half minute (``DESKTOP_LEASE``): an app that
crashed leaves a row that lapses within minutes.

On a database whose server keeps the sessions (hardening level 4, ``Database.server_sessions``)
the same rules run in the server's functions (``pmdesk.core.server.sessions_sql``): the sign-in
starts the session there, ``SessionService`` calls ``resume``, ``sign_out``, ``list_sessions`` and
``end_sessions``, and the workstation cannot read or write ``user_sessions`` at all. A token that
holds becomes the identity of every connection of the process (``Database.use_session``).
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from pmdesk.core import audit
from pmdesk.core.audit import Event
from pmdesk.core.clock import Clock
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.errors import DatabaseBusy, NotSignedIn, PmdeskError
from pmdesk.core.i18n import translate
from pmdesk.core.models import Person, SecuritySettings, UserSession
from pmdesk.core.modules import MAINTENANCE, Action
from pmdesk.core.people import display_name, is_locked
from pmdesk.core.permissions import require, require_within_own_rights
from pmdesk.core.server.roles import SCHEMA

log = logging.getLogger(__name__)

DESKTOP = "desktop"
COMMAND_LINE = "cli"
KINDS = (DESKTOP, COMMAND_LINE)
# Shown translated in Personnel's sessions box; written in English into the audit trail.
KIND_LABELS = {
    DESKTOP: translate("sessions", "Desktop app"),
    COMMAND_LINE: translate("sessions", "Command line"),
}

DEFAULT_SESSION_HOURS = 8
# A desktop session stays alive while its app renews it (every CHECK_INTERVAL): a crashed app's
# row lapses after this.
DESKTOP_LEASE = timedelta(minutes=5)
# How often a running desktop app checks that its session still holds.
CHECK_INTERVAL_S = 30
# What every token looks like (``new_token``, and the server's: 32 random bytes, URL-safe
# base64 without padding); anything else cannot open a session.
TOKEN_PATTERN = "[A-Za-z0-9_-]{43}"
_TOKEN = re.compile(TOKEN_PATTERN)


SIGN_IN_FIRST = "Sign in first: pmdesk login LOGIN"

# Why a session stopped holding, as the person is told it.
REASONS = {
    "none": translate("sessions", "You are not signed in."),
    "ended": translate(
        "sessions", "Your session was ended (signed out, or ended by an administrator)."
    ),
    "expired": translate("sessions", "Your session has expired."),
    "address": translate("sessions", "Your session was started from another address."),
    "locked": translate("sessions", "Your account is locked."),
    "deleted": translate("sessions", "Your account no longer exists or can no longer sign in."),
    "password": translate("sessions", "Your password was changed since you signed in."),
}


@dataclass(frozen=True)
class ActiveSession:
    """A session that holds, and who acts through it."""

    session_id: int
    kind: str
    actor: Actor
    login: str
    display_name: str
    expires_at: datetime


@dataclass(frozen=True)
class SessionRow:
    """One open session, as Personnel lists it."""

    id: int
    kind: str
    address: str | None
    workstation: str
    os_user: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form of a token: SHA-256 is enough for 256 random bits (nothing to guess)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def os_user() -> str:
    try:
        return getpass.getuser()[:255]
    except (KeyError, OSError):
        return ""


def actor_name(login: str, kind: str) -> str:
    """How the audit trail names someone acting through a session: ``alice`` or ``alice (cli)``."""
    return f"{login} (cli)" if kind == COMMAND_LINE else login


def session_hours(s: Session) -> int:
    hours = s.execute(select(SecuritySettings.session_hours).limit(1)).scalar()
    return int(hours) if hours else DEFAULT_SESSION_HOURS


def start(
    s: Session,
    now: datetime,
    person: Person,
    kind: str,
    *,
    address: str | None,
    workstation: str,
) -> tuple[str, datetime]:
    """Start a session in the caller's transaction; returns the token and when it ends."""
    if kind not in KINDS:
        raise ValueError(f"unknown session kind {kind!r}")
    token = new_token()
    lasts = timedelta(hours=session_hours(s)) if kind == COMMAND_LINE else DESKTOP_LEASE
    expires_at = now + lasts
    s.add(
        UserSession(
            token_hash=hash_token(token),
            person_id=person.id,
            kind=kind,
            address=address,
            workstation=workstation[:255],
            os_user=os_user(),
            created_at=now,
            expires_at=expires_at,
            last_used_at=now,
        )
    )
    return token, expires_at


def end_all(s: Session, person_id: int) -> int:
    """End every session of a person in the caller's transaction (lock, password change).

    Where the server keeps the sessions the workstation may not delete them: the server
    removes those the change (flushed first) has already ended."""
    if _server_keeps_sessions(s):
        s.flush()
        return int(_server_answer(s, "end_lapsed_sessions(:person)", person=person_id))
    result = s.execute(
        delete(UserSession)
        .where(UserSession.person_id == person_id)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def delete_expired(s: Session, now: datetime) -> int:
    result = s.execute(
        delete(UserSession)
        .where(UserSession.expires_at <= now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _why_not(row: UserSession, person: Person | None, now: datetime, address: str | None) -> str:
    if now >= row.expires_at:
        return "expired"
    if row.address != address:
        return "address"
    if person is None or person.login is None or person.password_hash is None:
        return "deleted"
    if is_locked(person, now):
        return "locked"
    if person.password_changed_at is not None and person.password_changed_at > row.created_at:
        return "password"
    return ""


class SessionService:
    """Checks, lists and ends sessions. Thread-safe: each call is its own unit of work."""

    def __init__(self, ctx: CoreContext) -> None:
        self._ctx = ctx

    @property
    def _clock(self) -> Clock:
        return self._ctx.clock

    def resolve(self, token: str | None, *, workstation: str) -> ActiveSession:
        """The session this token opens, renewed; NotSignedIn (with the reason) otherwise.

        The check only reads, so a command that only reads still works while another program
        holds SQLite's write lock; recording the use (and renewing a desktop lease) is a
        separate, best-effort write.

        Where the server keeps the sessions, a token that holds becomes the identity of this
        process's connections (``Database.use_session``), and one that no longer holds stops
        being it."""
        if not token or not isinstance(token, str) or len(token) > 200:
            raise NotSignedIn(SIGN_IN_FIRST, "none")
        if self._ctx.db.server_sessions:
            return self._resume(token, workstation)
        token_hash = hash_token(token)
        with self._ctx.db.session() as s:
            now = self._clock.now(s)
            row = s.execute(
                select(UserSession).where(UserSession.token_hash == token_hash)
            ).scalar_one_or_none()
            if row is None:
                raise NotSignedIn(REASONS["ended"], "ended")
            person = s.get(Person, row.person_id)
            address = self._ctx.db.client_address(s)
            why = _why_not(row, person, now, address)
            session_id, kind, expires_at = row.id, row.kind, row.expires_at
            login = person.login if person is not None and person.login else "unknown"
            name = display_name(person) if person is not None else ""
            person_id = person.id if person is not None else None
        if why:
            self._refuse(
                session_id,
                kind,
                login,
                why,
                Actor(name=actor_name(login, kind), address=address, workstation=workstation),
            )
            raise NotSignedIn(REASONS.get(why, REASONS["ended"]), why)
        if kind == DESKTOP:
            expires_at = now + DESKTOP_LEASE
        self._record_use(session_id, now, expires_at if kind == DESKTOP else None)
        return ActiveSession(
            session_id=session_id,
            kind=kind,
            actor=Actor(
                name=actor_name(login, kind),
                person_id=person_id,
                address=address,
                workstation=workstation[:255],
            ),
            login=login,
            display_name=name,
            expires_at=expires_at,
        )

    def _resume(self, token: str, workstation: str) -> ActiveSession:
        """``resolve`` by the server: one call checks, records the use and renews a lease, or
        removes the session and audits the refusal."""
        db = self._ctx.db
        found: dict[str, Any] = {"outcome": "refused", "reason": "ended"}
        if _TOKEN.fullmatch(token):
            with db.session() as s:
                found = _server_answer(s, "resume(:token, :ws)", token=token, ws=workstation)
        if found.get("outcome") != "ok":
            why = str(found.get("reason") or "ended")
            log.info("session refused: %s", why)
            db.forget_session(token)
            raise NotSignedIn(REASONS.get(why, REASONS["ended"]), why)
        db.use_session(token)
        kind, login = str(found["kind"]), str(found["login"])
        return ActiveSession(
            session_id=int(found["session"]),
            kind=kind,
            actor=Actor(
                name=actor_name(login, kind),
                person_id=int(found["person"]),
                address=found.get("address"),
                workstation=workstation[:255],
            ),
            login=login,
            display_name=str(found.get("name") or login),
            expires_at=_utc(found["expires_at"]),
        )

    def _refuse(self, session_id: int, kind: str, login: str, why: str, actor: Actor) -> None:
        """A session that no longer holds is removed and the refusal audited (best effort: the
        refusal stands even when the database is too busy to record it)."""
        log.info("session refused: %s", why)
        try:
            with self._ctx.db.write_session() as s:
                s.execute(delete(UserSession).where(UserSession.id == session_id))
                audit.record(
                    s,
                    self._clock,
                    actor,
                    Event.SESSION_REFUSED,
                    subject=login,
                    detail=f"{KIND_LABELS.get(kind, kind)} session: {why}",
                )
        except (DatabaseBusy, OperationalError) as exc:
            log.warning("refused session not removed now: %s", type(exc).__name__)

    def _record_use(self, session_id: int, now: datetime, renew_until: datetime | None) -> None:
        values: dict[str, datetime] = {"last_used_at": now}
        if renew_until is not None:
            values["expires_at"] = renew_until
        try:
            with self._ctx.db.write_session() as s:
                s.execute(
                    update(UserSession)
                    .where(UserSession.id == session_id)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
        except (DatabaseBusy, OperationalError) as exc:
            # The next use records it; a desktop lease is renewed every half minute.
            log.warning("session use not recorded now: %s", type(exc).__name__)

    def end(self, token: str | None, actor: Actor | None = None) -> bool:
        """Sign out: delete the session row. False when there was none (already ended).

        Where the server keeps the sessions, the server ends the session whose token this
        transaction presents (knowing the token is what allows it), and audits it as its own
        person; ``actor`` is not used."""
        if not token:
            return False
        if self._ctx.db.server_sessions:
            return self._sign_out(token)
        with self._ctx.db.write_session() as s:
            row = s.execute(
                select(UserSession).where(UserSession.token_hash == hash_token(token))
            ).scalar_one_or_none()
            if row is None:
                return False
            person = s.get(Person, row.person_id)
            login = person.login if person is not None and person.login else "unknown"
            s.delete(row)
            audit.record(
                s,
                self._clock,
                actor or Actor(name=actor_name(login, row.kind), person_id=row.person_id),
                Event.SESSION_ENDED,
                subject=login,
                detail=f"{KIND_LABELS.get(row.kind, row.kind)} session: signed out",
            )
        return True

    def _sign_out(self, token: str) -> bool:
        ended = False
        if _TOKEN.fullmatch(token):
            with self._ctx.db.session() as s:
                s.execute(text(_PRESENT_FOR_TRANSACTION), {"token": token})
                ended = bool(_server_answer(s, "sign_out()").get("ended"))
        self._ctx.db.forget_session(token)
        return ended

    def for_person(self, actor: Actor, person_id: int) -> list[SessionRow]:
        """A person's open sessions, most recently used first. Where the server keeps the
        sessions it checks the rights, for the person this process's session opens."""
        if self._ctx.db.server_sessions:
            with self._ctx.db.session() as s:
                listed = _server_answer(s, "list_sessions(:person)", person=person_id)
            return [
                SessionRow(
                    id=int(r["id"]),
                    kind=str(r["kind"]),
                    address=r.get("address"),
                    workstation=str(r["workstation"]),
                    os_user=str(r["os_user"]),
                    created_at=_utc(r["created_at"]),
                    last_used_at=_utc(r["last_used_at"]),
                    expires_at=_utc(r["expires_at"]),
                )
                for r in listed
            ]
        with self._ctx.db.session() as s:
            if actor.person_id != person_id:
                require(s, actor, MAINTENANCE, Action.READ)
            now = self._clock.now(s)
            rows = s.execute(
                select(UserSession)
                .where(UserSession.person_id == person_id, UserSession.expires_at > now)
                .order_by(UserSession.last_used_at.desc(), UserSession.id.desc())
            ).scalars()
            return [
                SessionRow(
                    id=r.id,
                    kind=r.kind,
                    address=r.address,
                    workstation=r.workstation,
                    os_user=r.os_user,
                    created_at=r.created_at,
                    last_used_at=r.last_used_at,
                    expires_at=r.expires_at,
                )
                for r in rows
            ]

    def end_for_person(self, actor: Actor, person_id: int) -> int:
        """End Sessions: every open session of a person. One's own always; anyone else's only
        with Maintenance Edit and when their rights do not exceed one's own. Where the server
        keeps the sessions it checks the rights, for the person this process's session opens."""
        if self._ctx.db.server_sessions:
            with self._ctx.db.session() as s:
                return int(_server_answer(s, "end_sessions(:person)", person=person_id))
        with self._ctx.db.write_session() as s:
            person = s.get(Person, person_id)
            if person is None:
                raise PmdeskError(translate("sessions", "This person no longer exists."))
            if actor.person_id != person_id:
                require(s, actor, MAINTENANCE, Action.EDIT)
                require_within_own_rights(
                    s,
                    actor,
                    person.group_id,
                    doing=translate("sessions", "end this person's sessions"),
                )
            ended = end_all(s, person_id)
            audit.record(
                s,
                self._clock,
                actor,
                Event.SESSION_ENDED,
                subject=audit.person_subject(
                    person.id, person.login, person.first_name, person.last_name
                ),
                detail=f"End sessions: {ended} ended",
            )
        return ended

    def purge_expired(self) -> int:
        """Remove the rows of sessions that lapsed (a crashed app, a command line not used
        again): part of the expiry sweep. A lapsed row is refused anyway; this keeps the table
        small. Where the server keeps the sessions the relay's sweep (``pmdesk.expire``) does
        it: nothing to do here."""
        if self._ctx.db.server_sessions:
            return 0
        with self._ctx.db.write_session() as s:
            return delete_expired(s, self._clock.now(s))


# The token for the rest of one transaction only (sign_out ends the session it presents).
_PRESENT_FOR_TRANSACTION = "SELECT set_config('pmdesk.session', :token, true)"


def _server_answer(s: Session, call: str, **params: object) -> Any:
    """The answer of one of the server's session functions (jsonb arrives as dict or list)."""
    return s.execute(text(f"SELECT {SCHEMA}.{call}"), params).scalar_one()


def _utc(value: object) -> datetime:
    """A timestamp of a server's jsonb answer (naive UTC, ISO 8601) as an aware datetime."""
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def _server_keeps_sessions(s: Session) -> bool:
    """Whether this transaction's database keeps the sessions on the server (level 4): its
    function is there (one round trip, on PostgreSQL only)."""
    if s.get_bind().dialect.name != "postgresql":
        return False
    found = s.execute(
        text("SELECT to_regprocedure(:f) IS NOT NULL"),
        {"f": f"{SCHEMA}.end_lapsed_sessions(integer)"},
    ).scalar()
    return bool(found)
