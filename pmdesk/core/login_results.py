"""What a login step answers: signed in, a code is needed, or refused with a sentence.

Shared by the client-side flow (``auth.LoginService``) and the server-decided one
(``server.login_client``), so both say exactly the same things.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from pmdesk.core.codes import RESEND_INTERVAL
from pmdesk.core.context import Actor
from pmdesk.core.i18n import Text, translate

GENERIC_REFUSAL = translate(
    "login_results",
    "The username or password is incorrect, or the account is temporarily locked.",
)
NO_EMAIL_MESSAGE = translate(
    "login_results",
    "Two-step authentication is on and your account has no e-mail address. "
    "Ask an administrator to add one in Maintenance → Personnel.",
)
NO_PHONE_MESSAGE = translate(
    "login_results",
    "Two-step authentication is on and your account has no mobile phone number. "
    "Ask an administrator to add one in Maintenance → Personnel.",
)
# {seconds} is filled in when refusing (``too_soon``), {interval} with it.
SIGN_IN_TOO_SOON = translate(
    "login_results",
    "A security code was sent less than {interval} s ago. "
    "Sign in again in {seconds} s to get a new one.",
)


# Why a challenge is refused once a newer sign-in took its place (retired_at is set).
REPLACED = "replaced by a newer sign-in"


class RefusalReason(enum.Enum):
    BAD_CREDENTIALS = "bad_credentials"
    NO_EMAIL = "no_email"
    WRONG_CODE = "wrong_code"
    CODE_EXPIRED = "code_expired"
    CODE_VOIDED = "code_voided"
    TOO_SOON = "too_soon"
    INVALID_CHALLENGE = "invalid_challenge"


@dataclass(frozen=True)
class SignedIn:
    person_id: int
    login: str
    display_name: str
    actor: Actor
    trusted_address: bool  # signed in without a code because this address is trusted
    address: str | None
    # The session this sign-in started (pmdesk.core.sessions), when the service starts them.
    session_token: str | None = None
    session_expires_at: datetime | None = None
    # The person's Personnel language ("nl-BE"), None when none is set: the app switches to it.
    language: str | None = None


@dataclass(frozen=True)
class CodeNeeded:
    challenge_id: str
    destination: str  # masked: j***@insypro.com or +32•••••67
    expires_at: datetime
    valid_seconds: int
    resend_after: datetime
    delivery_error: str | None  # the code could not be sent: the challenge stays usable
    attempts_left: int
    # Why this address can never be trusted here (trusted_ips.why_not_trustable), or None:
    # the dialog and `pmdesk login` say so instead of offering "Trust this IP".
    trust_refused: str | None = None
    # The person has a live helpdesk code (core.helpdesk): the code step takes it as well, and
    # says so, above all when the code could not be sent.
    helpdesk_code: bool = False


@dataclass(frozen=True)
class Refused:
    reason: RefusalReason
    message: str
    attempts_left: int | None = None
    retry_after: datetime | None = None


def seconds_until(moment: datetime, now: datetime) -> int:
    return max(0, round((moment - now).total_seconds()))


def too_soon(
    retry_after: datetime, now: datetime, message: str, *, attempts_left: int | None = None
) -> Refused:
    """No new code before ``retry_after``; ``message`` says the wait as ``{seconds}``."""
    seconds = max(1, seconds_until(retry_after, now))
    return Refused(
        RefusalReason.TOO_SOON,
        message.format(seconds=seconds, interval=RESEND_INTERVAL.seconds),
        attempts_left=attempts_left,
        retry_after=retry_after,
    )


def code_voided() -> Refused:
    return Refused(
        RefusalReason.CODE_VOIDED,
        translate(
            "login_results",
            "Too many wrong security codes: this code no longer works. Sign in again to get a "
            "new one.",
        ),
        attempts_left=0,
    )


def wrong_code(attempts_left: int) -> Refused:
    return Refused(
        RefusalReason.WRONG_CODE,
        _wrong_code_message(attempts_left),
        attempts_left=attempts_left,
    )


def _wrong_code_message(attempts_left: int) -> Text:
    if attempts_left == 1:
        return translate("login_results", "The security code is not correct. 1 attempt left.")
    return translate(
        "login_results", "The security code is not correct. {count} attempts left."
    ).format(count=attempts_left)


def code_expired(attempts_left: int) -> Refused:
    return Refused(
        RefusalReason.CODE_EXPIRED,
        translate(
            "login_results", "The security code has expired. Send a new code, or sign in again."
        ),
        attempts_left=max(0, attempts_left),
    )


def invalid_challenge(why: str) -> Refused:
    """The sentence for a login attempt that cannot take a code; ``why`` as audited."""
    if why == "already used":
        message = translate(
            "login_results", "This security code has already been used. Sign in again."
        )
    elif why == REPLACED:
        message = translate(
            "login_results",
            "This login attempt was replaced by a newer sign-in. "
            "Use the newest code, or sign in again.",
        )
    else:
        message = translate(
            "login_results", "This login attempt is no longer valid. Sign in again."
        )
    return Refused(RefusalReason.INVALID_CHALLENGE, message)


RESEND_TOO_SOON = translate("login_results", "A new code can be sent in {seconds} s.")
