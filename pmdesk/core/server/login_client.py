"""The client's half of a sign-in decided by the server (hardening level 3 and later).

Each step is one call of a definer function (``login_sql``) in one short transaction: the
server checks the password proof, the lockout, the trusted address and the code, draws codes
and queues them for the relay, writes the audit rows and starts the session. This module only
prepares the password proof, and turns the server's answers into the same ``SignedIn`` /
``CodeNeeded`` / ``Refused`` (and the same sentences) as the client-side flow in ``auth``. A
session the server started becomes the identity of this process's connections
(``Database.use_session``). Levels 3 and 4 never left development: a database set up with one
is told by ``server status`` to run ``server init`` again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from pmdesk.core import codes, helpdesk, sessions
from pmdesk.core.clock import Clock
from pmdesk.core.context import Actor
from pmdesk.core.db import Database
from pmdesk.core.delivery.base import is_sms
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
from pmdesk.core.passwords import Passwords
from pmdesk.core.server import info as server_info
from pmdesk.core.server import password_check
from pmdesk.core.server.relay_status import relay_down
from pmdesk.core.server.roles import SCHEMA
from pmdesk.core.trusted_ips import trust_refusal

log = logging.getLogger(__name__)

#: How long a sign-in waits for the relay to report on a code it just queued.
STATUS_WAIT_MS = 8000
CODE_STATE_UNKNOWN = "The code may not have been sent. Send a new code."

Answer = dict[str, Any]
#: Where ``_call`` notes the moment of the server's answer (the server's keys have no '_').
_ANSWERED_AT = "_answered_at"


def _sendable_challenge(challenge_id: object) -> str:
    """A malformed id (NUL or a lone surrogate cannot even be sent) goes as '', which the
    server refuses and audits as an unknown attempt: the refusal and the audit row of auth's
    own check."""
    if isinstance(challenge_id, str) and codes.well_formed_challenge_id(challenge_id):
        return challenge_id
    return ""


def _moment(answer: Answer, key: str, seconds_left: int) -> datetime:
    """The server's moment ``key`` (its clock, exact), else its seconds left from the moment
    of the answer."""
    found = answer.get(key)
    if found:
        return datetime.fromisoformat(str(found)).replace(tzinfo=UTC)
    at: datetime = answer[_ANSWERED_AT]
    return at + timedelta(seconds=seconds_left)


class ServerLogin:
    """``LoginService``'s steps on a database where the server decides them."""

    def __init__(
        self,
        db: Database,
        passwords: Passwords,
        workstation: str,
        session_kind: str | None,
        clock: Clock,
    ) -> None:
        self._db = db
        self._clock = clock
        self._passwords = passwords
        self._workstation = workstation
        self._session_kind = session_kind

    # ----- step 1 --------------------------------------------------------------------------------

    def begin(
        self,
        key: str,
        password: str,
        usable: bool,
        ahead: password_check.Salt | None = None,
    ) -> SignedIn | CodeNeeded | Refused:
        """``key`` is the login key ('' for a login that cannot exist), ``usable`` whether the
        password may be checked at all: an unusable one still costs the same, and never
        matches. ``ahead``: the login's salt, fetched while the password was typed: the
        step is then its one call, which checks on the server that the salt is still the
        login's (else it is fetched again and the step made as usual)."""
        typed = password if usable else "x"
        answer = self._sign_in(
            key,
            password,
            usable,
            password_check.prepare(self._db, key, typed, ahead),
            ahead is not None,
        )
        if answer is None:  # the password changed since the salt was fetched
            fresh = password_check.prepare(self._db, key, typed)
            answer = self._sign_in(key, password, usable, fresh, False)
        assert answer is not None
        if isinstance(answer, SignedIn):
            return self._present(answer)
        if answer["outcome"] == "code_needed":
            return self._code_needed(answer)
        return self._refused(answer, SIGN_IN_TOO_SOON)

    def _sign_in(
        self,
        key: str,
        password: str,
        usable: bool,
        proofs: password_check.Proofs,
        salt_fetched_ahead: bool,
    ) -> SignedIn | Answer | None:
        """The server's ``sign_in``, alone; with ``salt_fetched_ahead``, only if the salt the
        proofs were made with is still the login's (None when it is not)."""
        if not usable:
            proofs = replace(proofs, normal="-", typed=None)
        # A hash made before NFKC, or with other parameters: its replacement is made out here
        # (argon2 takes tens of milliseconds) and stored only if the server says it matched.
        new_hash = (
            self._passwords.hash(password)
            if usable and password_check.needs_new_hash(self._passwords, proofs)
            else None
        )
        # The salt read again in the same statement: a CASE calls sign_in only when it is
        # the one the proofs were made with (a password set meanwhile has a new one).
        same_salt = (
            f"(SELECT salt = :salt AND params = :params FROM {SCHEMA}.password_salt(:key))"
            if salt_fetched_ahead
            else None
        )

        def decide(s: Session) -> SignedIn | Answer | None:
            # The server stores the new hash itself, once it has checked the password.
            answer = self._call_if(
                s,
                "sign_in(:key, :proof, :alt, :ws, :kind, :os_user, :upgrade)",
                same_salt,
                key=key,
                proof=proofs.normal,
                alt=proofs.typed,
                ws=self._workstation,
                upgrade=new_hash,
                **self._session_parameters,
                **({"salt": proofs.salt, "params": proofs.params} if same_salt else {}),
            )
            if answer is None:
                return None
            if answer["outcome"] == "signed_in":
                return self._signed_in(s, answer)
            return answer

        return self._db.alone(decide)

    # ----- step 2 --------------------------------------------------------------------------------

    def verify(self, challenge_id: str, code: str, trust: bool) -> SignedIn | Refused:
        def settle(s: Session) -> SignedIn | Answer:
            answer = self._call(
                s,
                "check_code(:challenge, :code, :trust, :ws, :kind, :os_user)",
                challenge=_sendable_challenge(challenge_id),
                # Malformed ('' never matches): the server counts a wrong attempt, as auth does.
                code=code if codes.well_formed(code) else (helpdesk.normalise(code) or ""),
                trust=bool(trust),
                ws=self._workstation,
                **self._session_parameters,
            )
            if answer["outcome"] == "signed_in":
                return self._signed_in(s, answer)
            return answer

        answer = self._db.alone(settle)
        if isinstance(answer, SignedIn):
            return self._present(answer)
        return self._refused(answer, RESEND_TOO_SOON)

    def resend(self, challenge_id: str) -> CodeNeeded | Refused:
        def renew(s: Session) -> Answer:
            return self._call(
                s,
                "resend_code(:challenge, :ws)",
                challenge=_sendable_challenge(challenge_id),
                ws=self._workstation,
            )

        answer = self._db.alone(renew)
        if answer["outcome"] == "code_needed":
            return self._code_needed(answer)
        return self._refused(answer, RESEND_TOO_SOON)

    # ----- sessions ------------------------------------------------------------------------------

    @property
    def _session_parameters(self) -> dict[str, object]:
        """The session sign_in and check_code start on success (no kind: none)."""
        return {"kind": self._session_kind, "os_user": sessions.os_user()}

    def _present(self, signed_in: SignedIn) -> SignedIn:
        """A session the server started is this process's identity from now on (after the
        sign-in's transaction: the pool is emptied)."""
        if signed_in.session_token is not None:
            self._db.use_session(signed_in.session_token)
        return signed_in

    # ----- answers -------------------------------------------------------------------------------

    def _call(self, s: Session, call: str, *also: str, **params: object) -> Answer:
        """One of the server's steps, alone (one round trip: the function is the step's whole
        transaction), with the database clock in the same statement; ``also``: further
        columns, kept in the answer under their own text."""
        answer = self._call_if(s, call, None, *also, **params)
        assert answer is not None
        return answer

    def _call_if(
        self, s: Session, call: str, only_if: str | None, *also: str, **params: object
    ) -> Answer | None:
        """``_call``, the step called only if ``only_if`` (a condition checked in the same
        statement) holds; None when it does not."""
        now = self._clock.column(s.get_bind().dialect.name)
        step = f"{SCHEMA}.{call}"
        if only_if is not None:
            step = f"CASE WHEN {only_if} THEN {step} END"
        columns = ", ".join([step, *also, str(now)])
        found = s.execute(text(f"SELECT {columns}"), params).one()
        if found[0] is None and only_if is not None:
            return None
        answer = found[0] if isinstance(found[0], dict) else json.loads(str(found[0]))
        assert isinstance(answer, dict)
        # The server answers in seconds left; they count from this moment of the core's clock
        # (the database's, in the same statement), as in auth, never the workstation's.
        answer[_ANSWERED_AT] = self._clock.observe(s, found[-1])
        for index, column in enumerate(also, start=1):
            answer[column] = found[index]
        return answer

    def _signed_in(self, s: Session, answer: Answer) -> SignedIn:
        person_id = int(answer["person"])
        login = str(answer["login"])
        address = answer.get("address")
        actor = Actor(
            name=login[:255], person_id=person_id, address=address, workstation=self._workstation
        )
        token: str | None = None
        expires_at: datetime | None = None
        if "token" in answer:  # a session kind was asked for
            token = str(answer["token"])
            expires_at = datetime.fromisoformat(str(answer["expires_at"])).replace(tzinfo=UTC)
        log.info("%s signed in (decided by the server)", login)
        return SignedIn(
            person_id=person_id,
            login=login,
            display_name=str(answer.get("name") or login),
            actor=actor,
            trusted_address=bool(answer.get("trusted")),
            address=address,
            session_token=token,
            session_expires_at=expires_at,
            language=str(answer["language"]) if answer.get("language") else None,
        )

    def _code_needed(self, answer: Answer) -> CodeNeeded | Refused:
        """Wait (briefly) for the relay to report on the queued code, then answer; a code with
        nowhere to go (the relay found no valid number in the office's region, which the
        server cannot read) is refused as the client refuses it."""
        challenge = str(answer["challenge"])
        problem = relay_down(answer.get("relay_last_seen_s"))
        # Before the session exists the settings row is visible only to the server, which
        # tells it with the code's state (one round trip).
        info = [server_info.CALL.removeprefix("SELECT ")] if self._db.server_reads else []

        def look(s: Session) -> tuple[Answer, str | None]:
            status = self._call(
                s,
                "code_status(:challenge, :ws, :wait)",
                *info,
                challenge=challenge,
                ws=self._workstation,
                wait=0 if problem else STATUS_WAIT_MS,
            )
            if info:
                return status, server_info.parse(status[info[0]]).trust_refusal
            return status, trust_refusal(s, self._db.client_address(s))

        status, refusal = self._db.alone(look)
        state = status.get("state")
        helpdesk = bool(answer.get("helpdesk"))
        if state == "failed" and status.get("error") == NO_PHONE_MESSAGE and not helpdesk:
            return Refused(RefusalReason.NO_EMAIL, NO_PHONE_MESSAGE)
        if not answer.get("destination"):  # nowhere to send: only the helpdesk code works
            sms = is_sms(str(answer.get("method", "")))
            problem = NO_PHONE_MESSAGE if sms else NO_EMAIL_MESSAGE
        elif state == "sent":
            problem = None
        elif state == "failed":
            problem = str(status.get("error") or "The code could not be sent.")
        elif state in ("unknown", "dropped", "gone"):
            problem = CODE_STATE_UNKNOWN
        else:  # still queued or being sent
            problem = relay_down(status.get("relay_last_seen_s"))
        resend_after_s = int(status.get("resend_after_s", answer.get("resend_after_s", 0)) or 0)
        valid_s = int(answer.get("valid_s", 0))
        return CodeNeeded(
            challenge_id=challenge,
            destination=str(answer.get("destination") or ""),
            expires_at=_moment(answer, "expires_at", valid_s),
            valid_seconds=valid_s,
            resend_after=_moment(status, "resend_at", resend_after_s),
            delivery_error=problem,
            attempts_left=int(answer.get("attempts_left", 0)),
            trust_refused=refusal,
            helpdesk_code=helpdesk,
        )

    def _refused(self, answer: Answer, too_soon_message: str) -> Refused:
        reason = answer.get("reason")
        attempts_left = answer.get("attempts_left")
        if reason == "too_soon":
            retry = _moment(answer, "retry_at", int(answer.get("retry_after_s", 1)))
            now: datetime = answer[_ANSWERED_AT]
            return too_soon(retry, now, too_soon_message, attempts_left=attempts_left)
        if reason == "no_destination":
            method = str(answer.get("method", ""))
            message = NO_PHONE_MESSAGE if is_sms(method) else NO_EMAIL_MESSAGE
            return Refused(RefusalReason.NO_EMAIL, message)
        if reason == "code_voided":
            return code_voided()
        if reason == "code_expired":
            return code_expired(int(attempts_left or 0))
        if reason == "wrong_code":
            return wrong_code(int(attempts_left or 0))
        if reason == "invalid_challenge":
            why = str(answer.get("why", ""))
            return invalid_challenge(REPLACED if why == "replaced" else why)
        return Refused(RefusalReason.BAD_CREDENTIALS, GENERIC_REFUSAL)
