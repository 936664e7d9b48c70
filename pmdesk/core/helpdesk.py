"""Helpdesk one-time sign-in codes (issue 16 §3, docs/design.md §2 "helpdesk code").

Someone with System → Security Edit issues a code for one other person and reads it out over
the phone: twelve digits from ``secrets`` (shown as three groups of four), valid 5–480 minutes
(60 by default) on the database clock, used once, at most one live code per person (a new one
replaces it), with a required reason or ticket reference. Only its hash is stored, never the
code; the audit trail names who issued it and why, never the code.

The code works in the code step of a sign-in (``auth.LoginService.verify``; on a hardened
PostgreSQL the server's ``check_code``), after a correct password, beside the code that was
sent: so a person still signs in while mail or SMS is down. A wrong one counts as a wrong code
towards the lockout.

On a hardened PostgreSQL no login role reads or writes ``helpdesk_codes``: issuing, cancelling
and asking whether a code is live go through the server's functions (helpdesk_sql), which
check the same rights and draw the code themselves.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from pmdesk.core import audit, codes
from pmdesk.core.audit import Event
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import Database
from pmdesk.core.errors import NotFound, PermissionDenied, ValidationError, message_of
from pmdesk.core.i18n import translate
from pmdesk.core.models import HelpdeskCode, Person
from pmdesk.core.modules import SYSTEM_SECURITY, Action
from pmdesk.core.permissions import can, require
from pmdesk.core.server.roles import SCHEMA
from pmdesk.core.validation import FieldInvalid, clean_text

CODE_DIGITS = codes.HELPDESK_CODE_DIGITS
GROUP = 4
MIN_MINUTES = 5
MAX_MINUTES = 480
DEFAULT_MINUTES = 60
MAX_REASON = 200

SELF_REFUSAL = translate(
    "helpdesk",
    "You cannot issue a helpdesk code for yourself: it would bypass your own second factor.",
)
NO_LOGIN = translate("helpdesk", "This person has no login, so a helpdesk code would be of no use.")
REASON_REQUIRED = translate("helpdesk", "A reason or ticket reference is required.")
MINUTES_RANGE = translate(
    "helpdesk", "A helpdesk code is valid for {low} to {high} minutes."
).format(low=MIN_MINUTES, high=MAX_MINUTES)


@dataclass(frozen=True)
class IssuedCode:
    """The code, as it is shown once and never again (not kept anywhere)."""

    code: str
    expires_at: datetime
    login: str
    replaced: bool

    @property
    def grouped(self) -> str:
        return group(self.code)


@dataclass(frozen=True)
class LiveCode:
    """That a person has a live helpdesk code (never the code)."""

    expires_at: datetime
    issued_by: str
    reason: str


@dataclass(frozen=True)
class HelpdeskState:
    """What Personnel's form shows (System → Security Read): the live code, if any, and
    whether this user may issue or cancel one for the person (Security Edit, not oneself)."""

    live: LiveCode | None
    may_issue: bool


def new_code() -> str:
    """Twelve uniformly random digits ('004271839120')."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def group(code: str) -> str:
    """'0042 7183 9120': easy to read out over the phone."""
    return " ".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def normalise(typed: object) -> str | None:
    """What was typed without the spaces and dashes of its grouping, when that is a helpdesk
    code's shape (twelve ASCII digits), else None; never raises."""
    if not isinstance(typed, str) or len(typed) > 40:
        return None
    bare = typed.replace(" ", "").replace("-", "").strip()
    return bare if codes.well_formed(bare, CODE_DIGITS) else None


def hash_code(code: str) -> str:
    return codes.hash_code(code, CODE_DIGITS)


def matches(typed: object, stored: str) -> bool:
    bare = normalise(typed)
    return bare is not None and codes.code_matches(bare, stored, CODE_DIGITS)


def clean_reason(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FieldInvalid(REASON_REQUIRED)
    return clean_text(
        value, label=translate("helpdesk", "The reason"), max_length=MAX_REASON, required=True
    )


def clean_minutes(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldInvalid(MINUTES_RANGE)
    if not MIN_MINUTES <= value <= MAX_MINUTES:
        raise FieldInvalid(MINUTES_RANGE)
    return value


def validate(reason: object, minutes: object) -> tuple[str, int]:
    """(reason, minutes) cleaned, or ValidationError naming each bad field."""
    errors: dict[str, str] = {}
    clean: dict[str, object] = {}
    for name, check, value in (
        ("reason", clean_reason, reason),
        ("minutes", clean_minutes, minutes),
    ):
        try:
            clean[name] = check(value)
        except FieldInvalid as exc:
            errors[name] = message_of(exc)
    if errors:
        raise ValidationError(errors)
    return str(clean["reason"]), int(str(clean["minutes"]))


def login_detail(issued_by: str, reason: str) -> str:
    """The ``login.succeeded`` detail of a sign-in with a helpdesk code."""
    return f"helpdesk code issued by {issued_by}: {reason}"


def on_server(db: Database) -> bool:
    """A hardened PostgreSQL keeps ``helpdesk_codes`` from every login role: its functions
    act (a sign-in the client decides there, before level 3, knows no helpdesk codes)."""
    return db.backend == "postgresql" and db.hardening_level > 0


class HelpdeskCodeService:
    def __init__(self, ctx: CoreContext) -> None:
        self._ctx = ctx

    @property
    def _on_server(self) -> bool:
        return on_server(self._ctx.db)

    def issue(
        self, actor: Actor, person_id: int, reason: str, minutes: int = DEFAULT_MINUTES
    ) -> IssuedCode:
        """A new code for ``person_id`` (replacing a live one), shown once."""
        clean_reason_, clean_minutes_ = validate(reason, minutes)
        if actor.person_id is not None and actor.person_id == person_id:
            raise PermissionDenied(SELF_REFUSAL)
        if self._on_server:
            return self._issue_on_server(actor, person_id, clean_reason_, clean_minutes_)
        code = new_code()
        code_hash = hash_code(code)  # scrypt: outside the transaction
        with self._ctx.db.write_session() as s:
            require(s, actor, SYSTEM_SECURITY, Action.EDIT)
            person = _person(s, person_id)
            now = self._ctx.clock.now(s)
            earlier = s.execute(
                select(HelpdeskCode).where(HelpdeskCode.person_id == person.id).with_for_update()
            ).scalar_one_or_none()
            replaced = earlier is not None and earlier.expires_at > now
            if earlier is not None:
                s.delete(earlier)
                s.flush()  # before the new row: one per person
            expires_at = now + timedelta(minutes=clean_minutes_)
            s.add(
                HelpdeskCode(
                    person_id=person.id,
                    code_hash=code_hash,
                    reason=clean_reason_,
                    issued_by=actor.person_id,
                    issued_by_name=actor.name,
                    created_at=now,
                    expires_at=expires_at,
                )
            )
            assert person.login is not None
            audit.record(
                s,
                self._ctx.clock,
                actor,
                Event.HELPDESK_CODE_ISSUED,
                subject=person.login,
                detail=_issued_detail(clean_minutes_, clean_reason_, replaced),
            )
            return IssuedCode(code, expires_at, person.login, replaced)

    def cancel(self, actor: Actor, person_id: int) -> bool:
        """Remove the person's code; whether there was a live one."""
        if self._on_server:
            with self._ctx.db.write_session() as s:
                found = _call(s, "cancel_helpdesk_code(:person)", person=person_id)
            return bool(found.get("cancelled"))
        with self._ctx.db.write_session() as s:
            require(s, actor, SYSTEM_SECURITY, Action.EDIT)
            person = _person(s, person_id)
            now = self._ctx.clock.now(s)
            row = s.execute(
                select(HelpdeskCode).where(HelpdeskCode.person_id == person.id).with_for_update()
            ).scalar_one_or_none()
            if row is None:
                return False
            live = row.expires_at > now
            s.delete(row)
            if live:
                audit.record(
                    s,
                    self._ctx.clock,
                    actor,
                    Event.HELPDESK_CODE_CANCELLED,
                    subject=person.login or f"#{person.id}",
                    detail=f"issued by {row.issued_by_name}: {row.reason}",
                )
            return live

    def live(self, actor: Actor, person_id: int) -> LiveCode | None:
        """The person's live code (System → Security Read), or None."""
        with self._ctx.db.session() as s:
            if self._on_server:
                found = _call(s, "helpdesk_code_of(:person)", person=person_id)
                if not found:
                    return None
                return LiveCode(
                    expires_at=_moment(str(found["expires_at"])),
                    issued_by=str(found["issued_by"]),
                    reason=str(found["reason"]),
                )
            require(s, actor, SYSTEM_SECURITY, Action.READ)
            now = self._ctx.clock.now(s)
            row = s.execute(
                select(HelpdeskCode).where(
                    HelpdeskCode.person_id == person_id, HelpdeskCode.expires_at > now
                )
            ).scalar_one_or_none()
            if row is None:
                return None
            return LiveCode(row.expires_at, row.issued_by_name, row.reason)

    def state(self, actor: Actor, person_id: int) -> HelpdeskState:
        """For Personnel's form; PermissionDenied without System → Security Read."""
        live = self.live(actor, person_id)
        with self._ctx.db.session() as s:
            may_edit = can(s, actor, SYSTEM_SECURITY, Action.EDIT)
        return HelpdeskState(live, may_edit and actor.person_id != person_id)

    def _issue_on_server(
        self, actor: Actor, person_id: int, reason: str, minutes: int
    ) -> IssuedCode:
        with self._ctx.db.write_session() as s:
            found = _call(
                s,
                "issue_helpdesk_code(:person, :reason, :minutes)",
                person=person_id,
                reason=reason,
                minutes=minutes,
            )
        return IssuedCode(
            code=str(found["code"]),
            expires_at=_moment(str(found["expires_at"])),
            login=str(found["login"]),
            replaced=bool(found.get("replaced")),
        )


def _issued_detail(minutes: int, reason: str, replaced: bool) -> str:
    note = "; replaced the live code" if replaced else ""
    return f"valid {minutes} min{note}; reason: {reason}"


def _person(s: Session, person_id: int) -> Person:
    person = s.get(Person, person_id, with_for_update=True)
    if person is None:
        raise NotFound(translate("helpdesk", "This person no longer exists."))
    if not person.login:
        raise ValidationError({"person": NO_LOGIN})
    return person


def _call(s: Session, call: str, **params: object) -> dict[str, object]:
    found = s.execute(text(f"SELECT {SCHEMA}.{call}"), params).scalar_one()
    if found is None:
        return {}
    answer = found if isinstance(found, dict) else json.loads(str(found))
    assert isinstance(answer, dict)
    return answer


def _moment(value: str) -> datetime:
    from datetime import UTC

    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
