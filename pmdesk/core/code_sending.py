"""Sending a security code, and the record of how it went (the login's password step and its
"send a new code"). Qt-free.

``send`` tries the delivery once and never raises: the person is told what went wrong, in
words without the code. ``record`` writes what happened into a unit of work: the challenge's
counter (a failed sending lets the person ask again straight away), one log row, and the
delivery's outcome for the health report, sent right after that unit's COMMIT as a unit of
its own (every workstation writes the same row per method: waiting for it, or a deadlock over
it, must never undo the record of a code sent).

Where the unit that makes the code is sent (``LoginService``): on a database server, the code
goes out while that unit holds the person's row, and its record goes with the unit's COMMIT,
so a code costs the password step no round trip of its own. On SQLite, whose writer locks
the whole file, the code is committed first and the record is a short unit after sending.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from pmdesk.core import audit
from pmdesk.core.audit import Event
from pmdesk.core.clock import Clock, Reading
from pmdesk.core.codes import MAX_CODE_ATTEMPTS, RESEND_INTERVAL
from pmdesk.core.context import Actor
from pmdesk.core.delivery import health
from pmdesk.core.delivery.base import CodeMessage, Delivery, DeliveryError, Step, is_sms
from pmdesk.core.errors import message_of
from pmdesk.core.i18n import Text, translate
from pmdesk.core.lazy_transactions import AfterCommit, after_commit, write_later
from pmdesk.core.login_results import (
    NO_EMAIL_MESSAGE,
    NO_PHONE_MESSAGE,
    CodeNeeded,
    seconds_until,
)
from pmdesk.core.models import LoginChallenge
from pmdesk.core.validation import mask_destination
from pmdesk.secrets import SecretStoreError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PendingCode:
    """A code to send, and the challenge that holds it (holds the code: never logged)."""

    challenge_id: str
    code_hash: str
    message: CodeMessage
    destination: str
    expires_at: datetime
    attempts: int
    actor: Actor
    subject: str
    # The step's "now" (the code's last_sent_at): the record of the sending tells the time
    # from it, without reading the clock again.
    decided: Reading
    # What the code step shows beside the code, decided in the same unit as the code.
    trust_refused: str | None = None
    helpdesk_code: bool = False


@dataclass(frozen=True)
class Sending:
    """How one sending went."""

    error: str | None  # None: it went; else why not, without the code
    step: Step | None  # the delivery's step that failed
    nowhere: bool  # nowhere to send to (only with a live helpdesk code)
    masked: str  # where it went, masked ("" when nowhere)

    @property
    def outcome(self) -> DeliveryError | None:
        return DeliveryError(self.error, step=self.step) if self.error else None


def send(
    pending: PendingCode, delivery: Delivery | None, problem: str | None, method: str
) -> Sending:
    """Try the delivery once (blocking: the mail server's or gateway's time); never raises.
    ``problem``: why the delivery could not be set up, if it could not."""
    error = problem
    step: Step | None = "settings" if problem is not None else None
    nowhere = not pending.destination
    if nowhere:
        error = NO_PHONE_MESSAGE if is_sms(method) else NO_EMAIL_MESSAGE
    elif delivery is not None and error is None:
        try:
            delivery.send(pending.message)
        except (DeliveryError, SecretStoreError) as exc:
            error = message_of(exc)
            step = exc.step if isinstance(exc, DeliveryError) else "settings"
        except OSError as exc:
            error = translate("auth", "The code could not be sent: {error}.").format(
                error=exc.strerror or type(exc).__name__
            )
        except Exception as exc:  # a broken delivery must not make the login crash
            log.error("code delivery failed unexpectedly: %s", type(exc).__name__)
            error = translate("auth", "The code could not be sent ({error}).").format(
                error=type(exc).__name__
            )
    elif error is None:
        error = translate("auth", "Code delivery is not set up.")
    if error is not None:
        error = without_code(error, pending.message.code)
    masked = mask_destination(pending.destination) if not nowhere else ""
    return Sending(error=error, step=step, nowhere=nowhere, masked=masked)


def record(
    s: Session, clock: Clock, pending: PendingCode, sending: Sending, method: str
) -> AfterCommit | None:
    """Record ``sending`` in ``s``'s unit (nothing waits for an answer: it goes with the
    COMMIT); returns the delivery outcome's unit, sent after that COMMIT (None when nowhere to
    send was no fault of the delivery's)."""
    sent = (
        {"send_count": LoginChallenge.send_count + 1}
        if sending.error is None
        # Nothing went out: the person may ask for a new code straight away.
        else {"last_sent_at": None}
    )
    write_later(
        s,
        update(LoginChallenge)
        .where(
            LoginChallenge.id == pending.challenge_id,
            LoginChallenge.code_hash == pending.code_hash,
        )
        .values(sent),
    )
    if sending.error is None:
        event, detail = Event.CODE_SENT, f"to {sending.masked}"
        log.info("security code for %s sent to %s", pending.subject, sending.masked)
    else:
        event, detail = Event.CODE_SEND_FAILED, sending.error[:2000]
        log.warning("security code for %s not sent: %s", pending.subject, sending.error)
    audit.record(s, clock, pending.actor, event, subject=pending.subject, detail=detail)
    if sending.nowhere:
        return None
    now = clock.now(s)
    return after_commit(s, health.outcome_statement(s, now, method, sending.outcome))


def code_needed(pending: PendingCode, sending: Sending, now: datetime) -> CodeNeeded:
    """What the code step shows: where the code went, or why it did not."""
    last_sent_at = pending.decided.at if sending.error is None else None
    return CodeNeeded(
        challenge_id=pending.challenge_id,
        destination=sending.masked,
        expires_at=pending.expires_at,
        valid_seconds=seconds_until(pending.expires_at, now),
        resend_after=last_sent_at + RESEND_INTERVAL if last_sent_at is not None else now,
        delivery_error=sending.error,
        attempts_left=max(0, MAX_CODE_ATTEMPTS - pending.attempts),
        trust_refused=pending.trust_refused,
        helpdesk_code=pending.helpdesk_code,
    )


def without_code(message: str, code: str) -> str:
    """``message`` with the code hidden: a :class:`Text` stays translatable (its arguments are
    masked; its English sentence has none of the code)."""
    if isinstance(message, Text):
        args = {
            k: without_code(v, code) if isinstance(v, str) else v for k, v in message.args.items()
        }
        return Text(message.context, message.source, args)
    return message.replace(code, "******")
