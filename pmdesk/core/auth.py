"""The two-step login: password, then — unless the address is trusted — a security code.

``LoginService`` is what the login dialog and ``pmdesk login`` call. Each step is a short
transaction on the database clock, which first locks the person's row. On a database server a
code is sent while that lock is held and committed with the record of its sending (a slow mail
server keeps only this person's other steps and edits waiting; the step costs no round trip
for the record); on SQLite, whose writer locks the whole file, it is committed before it is
sent, outside any transaction (``code_sending``). Every decision is audited; no password or
code ever reaches the audit trail, the log or an exception.

Rules (docs/design.md §2): one message for unknown user, wrong password and locked account; a
code is six digits, single use, valid ``code_ttl_minutes``, stored as a salted hash, bound to its
login attempt (person, address, workstation); five wrong entries void it; a new code keeps the
count and is sent at most every 30 s on every path (asked for, or by typing the password again,
also after a voided code); wrong codes count towards the account lockout.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from pmdesk.core import audit, code_sending, codes, helpdesk, lockout, sessions
from pmdesk.core.afterwards import Afterwards, right_away
from pmdesk.core.audit import Event
from pmdesk.core.clock import Clock, Reading
from pmdesk.core.code_sending import PendingCode
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import first_line
from pmdesk.core.delivery import health
from pmdesk.core.delivery.base import (
    DEFAULT_PHONE_REGION,
    CodeMessage,
    Delivery,
    DeliveryError,
    DeliverySettings,
    is_sms,
)
from pmdesk.core.errors import PmdeskError, message_of
from pmdesk.core.i18n import translate
from pmdesk.core.lazy_transactions import AfterCommit, insert_later, write_later
from pmdesk.core.login_results import (
    GENERIC_REFUSAL,
    NO_EMAIL_MESSAGE,
    NO_PHONE_MESSAGE,
    REPLACED,
    RESEND_TOO_SOON,
    SIGN_IN_TOO_SOON,
    CodeNeeded,
    RefusalReason,
    Refused,
    SignedIn,
    code_expired,
    code_voided,
    invalid_challenge,
    too_soon,
    wrong_code,
)
from pmdesk.core.models import HelpdeskCode, LoginChallenge, Person
from pmdesk.core.passwords import MAX_PASSWORD_LENGTH, Passwords
from pmdesk.core.people import display_name, language_of
from pmdesk.core.security import load_settings
from pmdesk.core.server import info as server_info
from pmdesk.core.server import password_check
from pmdesk.core.server.login_client import ServerLogin
from pmdesk.core.sign_in_reads import (
    helpdesk_expiry,
    lock_person,
    start_code_step,
    start_password_step,
)
from pmdesk.core.trust_alerts import PendingAlert, alert_for, send_alert
from pmdesk.core.trusted_ips import (
    is_trusted,
    trust_anew,
    trust_refusal,
    why_no_code,
)
from pmdesk.core.validation import (
    FieldInvalid,
    clean_email,
    first_valid_phone,
    login_key,
)
from pmdesk.secrets import SecretStoreError

log = logging.getLogger(__name__)

MAX_CODE_ATTEMPTS = codes.MAX_CODE_ATTEMPTS
RESEND_INTERVAL = codes.RESEND_INTERVAL
MAX_CHALLENGE_AGE = codes.MAX_CHALLENGE_AGE

DeliveryFactory = Callable[[DeliverySettings], Delivery]


@dataclass(frozen=True)
class _Sent:
    """A code sent, and its record: its unit's health outcome (``recorded``) is known to have
    run once that unit has committed."""

    pending: PendingCode
    sending: code_sending.Sending
    now: datetime  # when the sending was recorded
    recorded: AfterCommit | None


# Who an unknown login is in the audit trail. What was typed is never kept, nor a hash of it:
# it may be a password typed into the Username box, and an unsalted hash is reversed by a
# dictionary.
UNKNOWN_ACTOR = "unknown"


def _key_of(login: str) -> str:
    """The login's key ('' for one that cannot exist: it is still checked, at the same cost)."""
    if isinstance(login, str) and len(login) <= 256 and _storable(login):
        return login_key(login)
    return ""


def _storable(text: str) -> bool:
    """Text every engine can store and compare: no NUL (PostgreSQL refuses it) and no lone
    surrogate (undecodable bytes: not encodable as UTF-8)."""
    return "\x00" not in text and not any("\ud800" <= ch <= "\udfff" for ch in text)


def usable_destination(
    person: Person, method: str, region: str = DEFAULT_PHONE_REGION
) -> str | None:
    """Where a code for this person would go, without asking the delivery method; a phone
    number without a country code is read as one of ``region`` (the ``phone_region``
    setting)."""
    if is_sms(method):
        return first_valid_phone(person.mobile, person.phone, region=region)
    try:
        return clean_email(person.email) or None
    except FieldInvalid:
        return None


class LoginService:
    """The login flow. Thread-safe: every call opens its own units of work."""

    def __init__(
        self,
        ctx: CoreContext,
        *,
        delivery_factory: DeliveryFactory | None = None,
        passwords: Passwords | None = None,
        workstation: str | None = None,
        session_kind: str | None = None,
        afterwards: Afterwards = right_away,
    ) -> None:
        """``session_kind`` (sessions.DESKTOP or sessions.COMMAND_LINE): each sign-in starts a
        session of that kind in the same transaction, its token in ``SignedIn.session_token``.
        ``afterwards``: runs what a step leaves behind that the person does not wait for (the
        trust alert; ``pmdesk.core.afterwards``)."""
        self._ctx = ctx
        self._afterwards = afterwards
        self._session_kind = session_kind
        self._delivery_factory = delivery_factory or self._default_delivery
        self._passwords = passwords or Passwords()
        self._workstation = (workstation or socket.gethostname())[:255]
        self._salts = password_check.SaltsAhead()  # fetched while a password is typed

    def _server(self) -> ServerLogin | None:
        """The server's own sign-in on a database hardened to level 3 or later, else None."""
        if not self._ctx.db.server_codes:
            return None
        return ServerLogin(
            self._ctx.db,
            self._passwords,
            self._workstation,
            self._session_kind,
            self._ctx.clock,
        )

    def _default_delivery(self, settings: DeliverySettings) -> Delivery:
        from pmdesk.core.delivery.factory import delivery_for

        return delivery_for(settings, self._ctx.secrets, self._ctx.outbox_default)

    def _actor(self, name: str, person_id: int | None, address: str | None) -> Actor:
        return Actor(
            name=name[:255], person_id=person_id, address=address, workstation=self._workstation
        )

    def delivery_warning(self) -> str | None:
        """``health.LOGIN_WARNING`` when two-step authentication is on and the recent sends of
        the configured delivery method failed, else None: for the login dialog, before anyone
        signs in (it shows no detail). Blocking: the dialog calls it on a worker thread."""
        with self._ctx.db.session() as s:
            if self._ctx.db.server_reads:  # no settings row is visible before a sign-in
                found = server_info.read(s)
                return health.LOGIN_WARNING if found.delivery_trouble else None
            settings = load_settings(s)
            if not settings.two_factor_enabled:
                return None
            trouble = health.trouble(s, settings.delivery.method)
        return health.LOGIN_WARNING if trouble is not None else None

    def sign_out(self, actor: Actor) -> None:
        """Audit the end of a session (the desktop app calls it on Sign out and quit). Where
        the server keeps the sessions it audits their end itself (and whoever ended one
        already did): the workstation writes nothing without a session."""
        if self._ctx.db.server_sessions:
            return
        with self._ctx.db.session() as s:
            self._audit(s, actor, Event.SIGNED_OUT)

    # ----- step 1: the password ----------------------------------------------------------------

    def get_ready(self, login: str) -> None:
        """Someone is about to type the password for ``login`` (the dialog calls this when the
        Username field is left, the command line before its password prompt; blocking: on a
        worker thread). On a database whose server decides the sign-in, its salt is fetched
        now, so that the sign-in is one call. Elsewhere nothing is needed: the sign-in's first
        statement reads everything."""
        if self._ctx.db.server_codes:
            self._salts.fetch(self._ctx.db, _key_of(login))

    def begin(self, login: str, password: str) -> SignedIn | CodeNeeded | Refused:
        """Check the password; sign in, or issue and send a security code."""
        key = _key_of(login)
        # A NUL or lone surrogate matches no password: checked as "x", so it costs the same.
        usable = (
            isinstance(password, str)
            and 0 < len(password) <= MAX_PASSWORD_LENGTH
            and _storable(password)
        )
        server = self._server()
        if server is not None:
            return server.begin(key, password if usable else "x", usable, self._salts.take(key))
        # A hardened database keeps no readable hash: it checks a proof computed here.
        proofs = (
            password_check.prepare(self._ctx.db, key, password if usable else "x")
            if self._ctx.db.server_passwords
            else None
        )
        made: list[tuple[Delivery | None, str | None, DeliverySettings]] = []
        sent: list[_Sent] = []  # on a server: the code sent under the person's lock

        def decide(s: Session) -> PendingCode | Refused | SignedIn | _Sent:
            # Runs again if the server breaks a deadlock: it reads and writes the DB, and sends
            # a code at most once (_send_held).
            made.clear()
            held = start_password_step(
                self._ctx.db,
                self._ctx.clock,
                s,
                key,
                helpdesk_here=not helpdesk.on_server(self._ctx.db),
            )
            person, now, address = held.person, held.now, held.address
            settings = load_settings(s)
            stored_hash = person.password_hash if person is not None else None
            # Under the person's lock: argon2 takes tens of milliseconds, and another sign-in
            # of the same person waits that long. Unknown logins are checked against a dummy
            # hash so that timing does not tell them apart.
            matched = (
                proofs is not None
                or self._passwords.verify(stored_hash, password if usable else "x")
            ) and usable
            # Parameters changed since this hash was made, or it is a hash of the password as
            # typed rather than normalised: store a new one.
            if proofs is not None:
                rehash = password_check.needs_new_hash(self._passwords, proofs)
            else:
                rehash = stored_hash is not None and self._passwords.needs_rehash(
                    stored_hash, password
                )
            new_hash = (
                self._passwords.hash(password) if matched and stored_hash and rehash else None
            )
            store_new_hash = new_hash is not None
            # On a hardened database the server compares, under the row lock (one bcrypt for
            # unknown, locked and wrong alike).
            if proofs is not None:
                which = password_check.check(s, person.id if person else None, proofs)
                matched = which is not None and usable
                store_new_hash = store_new_hash and password_check.stale(
                    self._passwords, proofs, which
                )
            if person is None or person.login is None:
                actor = self._actor(UNKNOWN_ACTOR, None, address)
                self._audit(s, actor, Event.LOGIN_REFUSED, "reason=unknown_login")
                log.info("login refused: unknown login")
                return Refused(RefusalReason.BAD_CREDENTIALS, GENERIC_REFUSAL)
            actor = self._actor(person.login, person.id, address)
            subject = person.login
            if lockout.is_locked_out(s, person, address, now):
                self._audit(s, actor, Event.LOGIN_REFUSED, "reason=locked", subject=subject)
                log.info("login refused for %s: account locked", subject)
                return Refused(RefusalReason.BAD_CREDENTIALS, GENERIC_REFUSAL)
            if not matched:
                self._audit(s, actor, Event.LOGIN_REFUSED, "reason=wrong_password", subject=subject)
                lockout.record_failure(s, self._ctx.clock, actor, person, now, actor.address)
                log.info("login refused for %s: wrong password", subject)
                return Refused(RefusalReason.BAD_CREDENTIALS, GENERIC_REFUSAL)

            if store_new_hash and new_hash is not None:
                write_later(
                    s, update(Person).where(Person.id == person.id).values(password_hash=new_hash)
                )

            if not settings.two_factor_enabled:
                return self._signed_in(
                    s, actor, person, now, trusted=False, detail="two-step authentication off"
                )
            trusted = is_trusted(s, now, settings.trust_days, person.id, address, touch=True)
            if trusted is not None:
                return self._signed_in(
                    s, actor, person, now, trusted=True, detail=why_no_code(trusted)
                )
            delivery, delivery_problem = self._make_delivery(settings.delivery)
            made.append((delivery, delivery_problem, settings.delivery))
            method = settings.delivery.method
            issued = self._issue_challenge(
                s,
                actor,
                person,
                now,
                settings.code_ttl_minutes,
                method,
                delivery,
                held.codes_sent_at,
                region=settings.delivery.phone_region,
                helpdesk=held.helpdesk_expires_at is not None and held.helpdesk_expires_at > now,
                again=sent[0].pending if sent else None,
            )
            if not self._ctx.db.is_sqlite and isinstance(issued, PendingCode):
                clock = self._ctx.clock
                return self._send_held(s, clock, issued, delivery, delivery_problem, method, sent)
            return issued

        pending = self._ctx.db.write_transaction(decide)
        if isinstance(pending, _Sent):
            return self._code_needed(pending, made[-1][2].method)
        if not isinstance(pending, PendingCode):
            return pending
        delivery, delivery_problem, delivery_settings = made[-1]
        return self._deliver(pending, delivery, delivery_problem, delivery_settings.method)

    def _make_delivery(self, settings: DeliverySettings) -> tuple[Delivery | None, str | None]:
        try:
            return self._delivery_factory(settings), None
        except (PmdeskError, SecretStoreError, OSError) as exc:
            return None, message_of(exc)
        except Exception as exc:  # a broken delivery must not make the login crash
            log.error("cannot set up code delivery: %s", type(exc).__name__)
            return None, translate(
                "auth", "Code delivery is not set up correctly ({error})."
            ).format(error=type(exc).__name__)

    def _signed_in(
        self,
        s: Session,
        actor: Actor,
        person: Person,
        now: datetime,
        *,
        trusted: bool,
        detail: str,
    ) -> SignedIn:
        lockout.record_success(s, person, actor.address)
        write_later(s, update(Person).where(Person.id == person.id).values(last_login_at=now))
        self._audit(s, actor, Event.LOGIN_SUCCEEDED, detail)
        log.info("%s signed in (%s)", actor.name, detail)
        assert person.login is not None
        token: str | None = None
        expires_at: datetime | None = None
        if self._session_kind is not None:
            token, expires_at = sessions.start(
                s,
                now,
                person,
                self._session_kind,
                address=actor.address,
                workstation=self._workstation,
            )
            self._audit(s, actor, Event.SESSION_STARTED, sessions.KIND_LABELS[self._session_kind])
        return SignedIn(
            person_id=person.id,
            login=person.login,
            display_name=display_name(person),
            actor=actor,
            trusted_address=trusted,
            address=actor.address,
            session_token=token,
            session_expires_at=expires_at,
            language=language_of(person),
        )

    def _prepare_code(
        self,
        s: Session,
        actor: Actor,
        person: Person,
        ttl_minutes: int,
        method: str,
        delivery: Delivery | None,
        *,
        region: str = DEFAULT_PHONE_REGION,
        helpdesk: bool = False,
    ) -> tuple[CodeMessage, str] | Refused:
        """A fresh code message and where it goes, or NO_EMAIL when it can go nowhere; with
        ``helpdesk`` (a live helpdesk code) nowhere is '' rather than a refusal, so the code
        step still comes. Phone numbers without a country code are read as ones of
        ``region``."""
        message = CodeMessage(
            person_name=display_name(person),
            email=person.email,
            phone=first_valid_phone(person.mobile, person.phone, region=region) or "",
            code=codes.new_code(),
            valid_minutes=ttl_minutes,
            requested_from=actor.address,
            workstation=self._workstation,
            language=language_of(person) or self._ctx.language,
        )
        destination = usable_destination(person, method, region)
        if delivery is not None and destination is not None:
            try:
                destination = delivery.destination(message)
            except Exception as exc:
                log.error("delivery.destination failed: %s", type(exc).__name__)
        if destination is None and helpdesk:
            return message, ""
        if destination is None:
            self._audit(s, actor, Event.LOGIN_REFUSED, f"reason=no_destination method={method}")
            log.info("login refused for %s: nowhere to send a code (%s)", actor.name, method)
            text = NO_PHONE_MESSAGE if is_sms(method) else NO_EMAIL_MESSAGE
            return Refused(RefusalReason.NO_EMAIL, text)
        return message, destination

    def _issue_challenge(
        self,
        s: Session,
        actor: Actor,
        person: Person,
        now: datetime,
        ttl_minutes: int,
        method: str,
        delivery: Delivery | None,
        sent: Sequence[datetime | None],
        *,
        region: str = DEFAULT_PHONE_REGION,
        helpdesk: bool = False,
        again: PendingCode | None = None,
    ) -> PendingCode | Refused:
        # ``sent``: the person's codes still waiting, read locked after the person's row (the
        # order verify() uses): two begins at once are decided one after the other.
        # Every unused code sent in the last 30 s counts, voided or replaced ones too: no path
        # sends codes faster than that. ``again``: the code an attempt the server rolled back
        # already sent (the same code and challenge again, so that the message works).
        last_sent = max((at for at in sent if at is not None), default=None)
        if last_sent is not None and now < last_sent + RESEND_INTERVAL:
            # Typing the password again is no way around the resend interval: nothing is sent,
            # and the code already sent keeps working.
            self._audit_refusal(s, actor, "too_soon")
            return too_soon(last_sent + RESEND_INTERVAL, now, SIGN_IN_TOO_SOON)
        prepared = self._prepare_code(
            s, actor, person, ttl_minutes, method, delivery, region=region, helpdesk=helpdesk
        )
        if isinstance(prepared, Refused):
            return prepared
        message, destination = prepared
        # One waiting code per person: starting over retires the previous ones for good.
        self._retire_others(s, person.id, now, keep=None)
        expires_at = now + timedelta(minutes=ttl_minutes)
        if again is not None:
            message, challenge_id, code_hash = again.message, again.challenge_id, again.code_hash
        else:
            challenge_id, code_hash = codes.new_challenge_id(), codes.hash_code(message.code)
        insert_later(
            s,
            LoginChallenge,
            [
                {
                    "id": challenge_id,
                    "person_id": person.id,
                    "code_hash": code_hash,
                    "address": actor.address,
                    "workstation": self._workstation,
                    "created_at": now,
                    "expires_at": expires_at,
                    "last_sent_at": now,
                    "send_count": 0,
                    "attempts": 0,
                    "used_at": None,
                    "voided": False,
                }
            ],
        )
        self._audit(s, actor, Event.LOGIN_CODE_REQUIRED, f"code valid {ttl_minutes} min")
        return PendingCode(
            challenge_id=challenge_id,
            code_hash=code_hash,
            message=message,
            destination=destination,
            expires_at=expires_at,
            attempts=0,
            actor=actor,
            subject=actor.name,
            trust_refused=trust_refusal(s, actor.address),
            helpdesk_code=helpdesk,
            decided=Reading(now),
        )

    def _retire_others(self, s: Session, person_id: int, now: datetime, keep: str | None) -> None:
        """Retire the person's unused login attempts except ``keep``: their codes stop working
        and they can never be renewed (resend), even after expiring."""
        # One UPDATE for both: retired now unless retired already, and expired now unless
        # expired already (each column's CASE reads only that column's old value).
        write_later(
            s,
            update(LoginChallenge)
            .where(
                LoginChallenge.person_id == person_id,
                LoginChallenge.used_at.is_(None),
                LoginChallenge.id != (keep or ""),
                or_(LoginChallenge.retired_at.is_(None), LoginChallenge.expires_at > now),
            )
            .values(
                retired_at=case(
                    (LoginChallenge.retired_at.is_(None), now), else_=LoginChallenge.retired_at
                ),
                expires_at=case(
                    (LoginChallenge.expires_at > now, now), else_=LoginChallenge.expires_at
                ),
            ),
        )

    def _deliver(
        self, pending: PendingCode, delivery: Delivery | None, problem: str | None, method: str
    ) -> CodeNeeded:
        """SQLite: send the committed code (no transaction open), then record how it went in a
        short unit of its own (the log row and the COMMIT go out together)."""
        sending = code_sending.send(pending, delivery, problem, method)
        now = pending.decided.later()  # the step's time, plus what sending took
        with self._ctx.db.write_session() as s:
            self._ctx.clock.carry(s, now)
            recorded = code_sending.record(s, self._ctx.clock, pending, sending, method)
        return self._code_needed(_Sent(pending, sending, now, recorded), method)

    @staticmethod
    def _send_held(
        s: Session,
        clock: Clock,
        pending: PendingCode,
        delivery: Delivery | None,
        problem: str | None,
        method: str,
        sent: list[_Sent],
    ) -> _Sent:
        """On a server: send the code while ``s`` holds the person's row (only this person's
        other steps and edits wait), and record it with ``s``'s COMMIT: no round trip of its
        own. Sent once: a unit run again after a deadlock records the sending it made."""
        if sent and sent[0].pending.challenge_id == pending.challenge_id:
            sending = sent[0].sending  # this code went out in the attempt rolled back
        else:
            sending = code_sending.send(pending, delivery, problem, method)
        now = pending.decided.later()
        clock.carry(s, now)
        recorded = code_sending.record(s, clock, pending, sending, method)
        sent[:] = [_Sent(pending, sending, now, recorded)]
        return sent[0]

    def _code_needed(self, sent: _Sent, method: str) -> CodeNeeded:
        recorded = sent.recorded
        if recorded is not None and not recorded.ran:
            if recorded.error is not None:
                log.info("delivery health: %s; again alone", first_line(recorded.error))
            self._record_health(method, sent.sending.outcome, sent.now)
        return code_sending.code_needed(sent.pending, sent.sending, sent.now)

    def _record_health(self, method: str, error: DeliveryError | None, now: datetime) -> None:
        """The delivery's outcome for the health report, in a transaction of its own and after
        the code's: every workstation writes the same row per method, and waiting for it (or a
        deadlock over it, retried here) must never undo or delay the record of a code sent.
        ``now``: when the sending was recorded (the database clock, read then)."""
        try:
            self._ctx.db.alone(lambda s: health.record(s, now, method, error))
        except (PmdeskError, DBAPIError) as exc:
            log.warning("delivery health not recorded: %s", first_line(exc))

    # ----- step 2: the code ----------------------------------------------------------------------

    def verify(self, challenge_id: str, code: str, trust_this_ip: bool) -> SignedIn | Refused:
        """Check a security code; on success sign in (and trust the address when asked)."""
        server = self._server()
        if server is not None:
            return server.verify(challenge_id, code, trust_this_ip)
        if not codes.well_formed_challenge_id(challenge_id):
            return self._invalid_challenge(None)
        # A helpdesk code read out over the phone (core.helpdesk) works in place of the code.
        desk_shaped = helpdesk.normalise(code) is not None and not helpdesk.on_server(self._ctx.db)
        alert: list[PendingAlert] = []  # the trust alert to send once this has committed

        def settle(s: Session) -> SignedIn | Refused:
            # Runs again if the server breaks a deadlock: it only reads and writes the DB.
            alert.clear()
            held = start_code_step(
                self._ctx.db,
                self._ctx.clock,
                s,
                challenge_id,
                trust=trust_this_ip,
                desk=desk_shaped,
            )
            person, now, address, challenge = held.person, held.now, held.address, held.challenge
            if (
                challenge is None
                or person is None
                or person.login is None
                or challenge.person_id != person.id
            ):
                return self._invalid_challenge(s, self._actor(UNKNOWN_ACTOR, None, address))
            # Used or void for good (neither ever reverts): refused below whatever is typed,
            # so the guess is not even hashed and compared. Else under the person's lock:
            # scrypt takes tens of milliseconds, and another step of this person waits.
            dead = (
                challenge.used_at is not None
                or challenge.retired_at is not None
                or challenge.voided
                or challenge.attempts >= MAX_CODE_ATTEMPTS
            )
            matches = not dead and codes.code_matches(code, challenge.code_hash)
            desk_hash = held.desk.code_hash if held.desk is not None else None
            desk_matches = not dead and desk_hash is not None and helpdesk.matches(code, desk_hash)
            actor = self._actor(person.login, person.id, address)
            refusal = self._challenge_state(s, actor, person, challenge, now, address)
            if refusal is not None:
                return refusal
            if lockout.is_locked_out(s, person, address, now):
                self._audit_refusal(s, actor, "locked")
                return Refused(RefusalReason.BAD_CREDENTIALS, GENERIC_REFUSAL)

            detail = "security code"
            right = matches
            if desk_matches and desk_hash is not None:
                used_desk = self._use_helpdesk_code(s, person.id, desk_hash, now)
                if used_desk is not None:
                    right, detail = True, used_desk
            expected = challenge.code_hash
            if right:
                # Single use: the challenge is locked and was found unused, live and this
                # code's (_challenge_state), so this UPDATE meets it; it goes with the COMMIT.
                write_later(
                    s,
                    update(LoginChallenge)
                    .where(
                        LoginChallenge.id == challenge_id,
                        LoginChallenge.code_hash == expected,
                        LoginChallenge.used_at.is_(None),
                        LoginChallenge.retired_at.is_(None),
                        LoginChallenge.voided.is_(False),
                        LoginChallenge.attempts < MAX_CODE_ATTEMPTS,
                        LoginChallenge.expires_at > now,
                    )
                    .values(used_at=now),
                )
                if trust_this_ip and challenge.address is None:
                    detail += "; address unknown, not trusted"
                signed = self._signed_in(s, actor, person, now, trusted=False, detail=detail)
                if trust_this_ip and challenge.address is not None:
                    s.flush()  # nothing of the ORM's may be left to write after the trust
                    # The trust last: a new row's INSERT takes the COMMIT along, its id the
                    # alert's reference.
                    row, anew = trust_anew(
                        s, self._ctx.clock, actor, person.id, challenge.address, last=True
                    )
                    if row is not None:
                        log.info("%s trusted %s", actor.name, challenge.address)
                    if row is not None and anew:
                        found = alert_for(s, person, row, self._workstation, self._ctx.language)
                        alert.extend([found] if found is not None else [])
                return signed

            return self._wrong_code(s, actor, person, challenge, now, code)

        result = self._ctx.db.write_transaction(settle)
        for pending in alert:  # committed: the sign-in stands whatever the alert does
            self._afterwards(partial(send_alert, self._ctx, pending, self._delivery_factory))
        return result

    def _live_helpdesk_code(self, s: Session, person_id: int | None, now: datetime) -> bool:
        """Whether the person has a live helpdesk code (never on a hardened database, whose
        server-decided sign-in alone reads them)."""
        if person_id is None or helpdesk.on_server(self._ctx.db):
            return False
        expires_at = s.execute(helpdesk_expiry(person_id)).scalar_one_or_none()
        return expires_at is not None and expires_at > now

    def _use_helpdesk_code(
        self, s: Session, person_id: int, code_hash: str, now: datetime
    ) -> str | None:
        """Delete the person's helpdesk code if it is still the one checked and live (used
        once: the conditional DELETE decides between two tries at once); the sign-in's detail,
        or None."""
        row = s.execute(
            select(HelpdeskCode).where(HelpdeskCode.person_id == person_id).with_for_update()
        ).scalar_one_or_none()
        if row is None or row.code_hash != code_hash or row.expires_at <= now:
            return None
        detail = helpdesk.login_detail(row.issued_by_name, row.reason)
        gone = s.execute(
            delete(HelpdeskCode)
            .where(HelpdeskCode.id == row.id, HelpdeskCode.code_hash == code_hash)
            .execution_options(synchronize_session=False)
        )
        return detail if getattr(gone, "rowcount", 0) == 1 else None

    def _challenge_state(
        self,
        s: Session,
        actor: Actor,
        person: Person,
        challenge: LoginChallenge,
        now: datetime,
        address: str | None,
        *,
        renewing: bool = False,
    ) -> Refused | None:
        """Why this challenge cannot take a code (or, ``renewing``, a new code) now, or None."""
        if challenge.used_at is not None:
            return self._invalid_challenge(s, actor, "already used")
        if challenge.retired_at is not None:
            return self._invalid_challenge(s, actor, REPLACED)
        if challenge.address != address or challenge.workstation != self._workstation:
            return self._invalid_challenge(s, actor, "other address or workstation")
        if (
            person.password_changed_at is not None
            and person.password_changed_at > challenge.created_at
        ):
            return self._invalid_challenge(s, actor, "password changed since")
        if challenge.voided or challenge.attempts >= MAX_CODE_ATTEMPTS:
            self._audit_refusal(s, actor, "code_voided")
            return code_voided()
        if now >= challenge.expires_at and not renewing:
            self._audit_refusal(s, actor, "code_expired")
            return code_expired(MAX_CODE_ATTEMPTS - challenge.attempts)
        return None

    def _wrong_code(
        self,
        s: Session,
        actor: Actor,
        person: Person,
        challenge: LoginChallenge,
        now: datetime,
        code: object,
    ) -> Refused:
        attempts = challenge.attempts + 1
        voided = attempts >= MAX_CODE_ATTEMPTS
        challenge.attempts = attempts
        challenge.voided = voided
        well_formed = codes.well_formed(code) or helpdesk.normalise(code) is not None
        shape = "wrong" if well_formed else "malformed"
        self._audit(
            s, actor, Event.CODE_FAILED, f"{shape} code, attempt {attempts} of {MAX_CODE_ATTEMPTS}"
        )
        lockout.record_failure(s, self._ctx.clock, actor, person, now, actor.address)
        if voided:
            self._audit(s, actor, Event.CODE_VOIDED, f"after {MAX_CODE_ATTEMPTS} wrong codes")
            log.info("security code for %s voided after %d wrong entries", actor.name, attempts)
            return code_voided()
        return wrong_code(MAX_CODE_ATTEMPTS - attempts)

    def _audit(
        self,
        s: Session,
        actor: Actor,
        event: Event,
        detail: str = "",
        *,
        subject: str | None = None,
    ) -> None:
        """One audit row of a login step, about the person signing in unless ``subject`` says."""
        audit.record(
            s,
            self._ctx.clock,
            actor,
            event,
            subject=actor.name if subject is None else subject,
            detail=detail,
        )

    def _audit_refusal(self, s: Session, actor: Actor, reason: str) -> None:
        self._audit(s, actor, Event.LOGIN_REFUSED, f"reason={reason}")
        log.info("login step refused for %s: %s", actor.name, reason)

    def _invalid_challenge(
        self, s: Session | None, actor: Actor | None = None, why: str = "unknown attempt"
    ) -> Refused:
        if s is None:
            with self._ctx.db.session() as session:
                address = self._ctx.db.client_address(session)
                self._audit_refusal(
                    session, self._actor(UNKNOWN_ACTOR, None, address), f"invalid_challenge ({why})"
                )
        else:
            who = actor or self._actor(UNKNOWN_ACTOR, None, None)
            self._audit_refusal(s, who, f"invalid_challenge ({why})")
        return invalid_challenge(why)

    # ----- a new code --------------------------------------------------------------------------

    def resend(self, challenge_id: str) -> CodeNeeded | Refused:
        """A new code for the same login attempt (the old one stops working; attempts stay).

        Only the person's newest attempt is renewed, never one that was used, voided or
        retired by a newer sign-in; and at most one code per person every 30 s, whichever
        attempt or path sent the last one. The person's other attempts are retired, so at most
        one code works at a time.
        """
        server = self._server()
        if server is not None:
            return server.resend(challenge_id)
        if not codes.well_formed_challenge_id(challenge_id):
            return self._invalid_challenge(None)
        with self._ctx.db.session() as s:
            settings = load_settings(s)
            snapshot = s.get(LoginChallenge, challenge_id)
            person_id = snapshot.person_id if snapshot is not None else None
        if person_id is None:
            return self._invalid_challenge(None)
        delivery, problem = self._make_delivery(settings.delivery)
        method = settings.delivery.method
        sent: list[_Sent] = []  # on a server: the code sent under the person's lock

        def renew(s: Session) -> PendingCode | Refused | _Sent:
            # Runs again if the server breaks a deadlock: it reads and writes the DB, and sends
            # a code at most once (_send_held).
            # Person first, then the challenges: the order of begin() and verify(), so two
            # resends (or a resend and a begin) for one person are decided one after the other.
            person, now = lock_person(self._ctx.db, self._ctx.clock, s, person_id)
            address = self._ctx.db.client_address(s)
            challenge = s.execute(
                select(LoginChallenge).where(LoginChallenge.id == challenge_id).with_for_update()
            ).scalar_one_or_none()
            if (
                challenge is None
                or person is None
                or person.login is None
                or challenge.person_id != person.id
            ):
                return self._invalid_challenge(s)
            actor = self._actor(person.login, person.id, address)
            if now - challenge.created_at > MAX_CHALLENGE_AGE:
                return self._invalid_challenge(s, actor, "too old to renew")
            refusal = self._challenge_state(
                s, actor, person, challenge, now, address, renewing=True
            )
            if refusal is not None:
                return refusal
            others = s.scalars(
                select(LoginChallenge)
                .where(
                    LoginChallenge.person_id == person.id,
                    LoginChallenge.id != challenge.id,
                    LoginChallenge.used_at.is_(None),
                )
                .with_for_update()
            ).all()
            if any(other.created_at > challenge.created_at for other in others):
                # Replaced by a newer sign-in but not marked (a row from before retired_at).
                challenge.retired_at = now
                return self._invalid_challenge(s, actor, REPLACED)
            if lockout.is_locked_out(s, person, address, now):
                self._audit_refusal(s, actor, "locked")
                return Refused(RefusalReason.BAD_CREDENTIALS, GENERIC_REFUSAL)
            last_sent = max(
                (c.last_sent_at for c in (challenge, *others) if c.last_sent_at is not None),
                default=None,
            )
            if last_sent is not None and now < last_sent + RESEND_INTERVAL:
                self._audit_refusal(s, actor, "too_soon")
                return too_soon(
                    last_sent + RESEND_INTERVAL,
                    now,
                    RESEND_TOO_SOON,
                    attempts_left=MAX_CODE_ATTEMPTS - challenge.attempts,
                )
            prepared = self._prepare_code(
                s,
                actor,
                person,
                settings.code_ttl_minutes,
                settings.delivery.method,
                delivery,
                region=settings.delivery.phone_region,
            )
            if isinstance(prepared, Refused):
                return prepared
            message, destination = prepared
            if sent:  # the code an attempt the server rolled back already sent
                message = sent[0].pending.message
            # One working code per person: any other waiting attempt is retired.
            self._retire_others(s, person.id, now, keep=challenge.id)
            # Same attempt, same count of wrong entries; a new code and a fresh lifetime.
            challenge.code_hash = (
                sent[0].pending.code_hash if sent else codes.hash_code(message.code)
            )
            challenge.expires_at = now + timedelta(minutes=settings.code_ttl_minutes)
            challenge.last_sent_at = now
            renewed = PendingCode(
                challenge_id=challenge.id,
                code_hash=challenge.code_hash,
                message=message,
                destination=destination,
                expires_at=challenge.expires_at,
                attempts=challenge.attempts,
                actor=actor,
                subject=actor.name,
                trust_refused=trust_refusal(s, actor.address),
                helpdesk_code=self._live_helpdesk_code(s, person.id, now),
                decided=Reading(now),
            )
            if self._ctx.db.is_sqlite:
                return renewed
            s.flush()  # the renewed challenge first: the record of its sending updates it
            return self._send_held(s, self._ctx.clock, renewed, delivery, problem, method, sent)

        pending = self._ctx.db.write_transaction(renew)
        if isinstance(pending, _Sent):
            return self._code_needed(pending, method)
        if not isinstance(pending, PendingCode):
            return pending
        return self._deliver(pending, delivery, problem, method)
