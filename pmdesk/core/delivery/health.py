"""Delivery health: how the last security-code delivery by each method went.

One row per method in ``delivery_outcomes`` (time, worked or not, the failed step and its
sentence, failures in a row, the last success). Written after every code sent at sign-in and
every test message; read by the Security screen, the login dialog and ``pmdesk mail status``.

Core API (the GUI calls these on a worker thread, like any database work):

- ``record(session, now, method, error)``: after a send; ``error`` None for a success, else
  the DeliveryError (or its sentence). Call it in the transaction that audits the send.
- ``outcomes(session) -> list[DeliveryHealth]``: every method's last outcome, newest first.
- ``trouble(session, method) -> DeliveryHealth | None``: the method's outcome when its recent
  sends have failed (``DeliveryHealth.failing``), else None. ``warning(health)`` is the
  sentence for an administrator (Security screen, ``pmdesk mail status``);
  ``LOGIN_WARNING`` the one for the login dialog (no detail: nobody is signed in yet).
- ``SecurityService.delivery_health(actor)`` wraps both with the System → Security Read check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pmdesk.core.delivery.base import DeliveryError
from pmdesk.core.dialect_insert import insert_for
from pmdesk.core.i18n import translate
from pmdesk.core.models import DeliveryOutcome

MESSAGE_MAX = 500
# A failure in these steps means the method itself is broken, so one is enough to warn; a
# failure at "send" may be one person's bad address, so it takes two in a row.
_BROKEN_STEPS = frozenset({"settings", "token", "connect", "authenticate"})

LOGIN_WARNING = translate(
    "delivery",
    "Security codes could not be sent recently. If yours does not arrive, tell your administrator.",
)


@dataclass(frozen=True)
class DeliveryHealth:
    method: str
    last_at: datetime
    ok: bool
    step: str  # "" after a success
    message: str  # "" after a success
    failures_in_row: int
    last_ok_at: datetime | None

    @property
    def failing(self) -> bool:
        """True when recent sends have failed: the last one failed at a step that breaks
        every send (token, connect, authenticate, settings), or the last two failed."""
        if self.ok:
            return False
        return self.step in _BROKEN_STEPS or self.failures_in_row >= 2


def record(session: Session, now: datetime, method: str, error: DeliveryError | str | None) -> None:
    """Keep the outcome of a delivery by ``method`` (a success when ``error`` is None)."""
    session.execute(outcome_statement(session, now, method, error))


def outcome_statement(
    session: Session, now: datetime, method: str, error: DeliveryError | str | None
) -> Any:
    """``record``'s one statement, to run as a unit of its own."""
    ok = error is None
    step = (getattr(error, "step", None) or "") if not ok else ""
    message = "" if error is None else " ".join(str(error).split())[:MESSAGE_MAX]
    fresh: dict[str, object] = {
        "method": method,
        "last_at": now,
        "ok": ok,
        "step": step,
        "message": message,
        "failures_in_row": 0 if ok else 1,
        "last_ok_at": now if ok else None,
    }
    changed: dict[str, object] = {"last_at": now, "ok": ok, "step": step, "message": message}
    if ok:
        changed |= {"failures_in_row": 0, "last_ok_at": now}
    else:
        changed["failures_in_row"] = DeliveryOutcome.failures_in_row + 1
    # One statement whoever wrote the row first (another workstation may insert it a moment
    # before): an insert that updates the method's row when there is one.
    return _upsert(session.get_bind().dialect.name, fresh, changed)


def _upsert(dialect: str, fresh: dict[str, object], changed: dict[str, object]) -> Any:
    statement = insert_for(dialect)(DeliveryOutcome).values(**fresh)
    if dialect in {"mysql", "mariadb"}:
        return statement.on_duplicate_key_update(**changed)
    return statement.on_conflict_do_update(index_elements=[DeliveryOutcome.method], set_=changed)


def _health(row: DeliveryOutcome) -> DeliveryHealth:
    return DeliveryHealth(
        method=row.method,
        last_at=row.last_at,
        ok=bool(row.ok),
        step=row.step or "",
        message=row.message or "",
        failures_in_row=row.failures_in_row,
        last_ok_at=row.last_ok_at,
    )


def outcomes(session: Session) -> list[DeliveryHealth]:
    """The last outcome of every method that has sent, newest first."""
    rows = session.execute(
        select(DeliveryOutcome).order_by(DeliveryOutcome.last_at.desc(), DeliveryOutcome.method)
    ).scalars()
    return [_health(row) for row in rows]


def outcome(session: Session, method: str) -> DeliveryHealth | None:
    row = session.get(DeliveryOutcome, method)
    return _health(row) if row is not None else None


def trouble(session: Session, method: str) -> DeliveryHealth | None:
    """``method``'s last outcome when its recent sends have failed, else None."""
    health = outcome(session, method)
    return health if health is not None and health.failing else None


def when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def warning(health: DeliveryHealth) -> str:
    """'The last 3 security codes could not be sent (…): <sentence>' for an administrator."""
    n = health.failures_in_row
    since = (
        translate("delivery", "last success {when}").format(when=when(health.last_ok_at))
        if health.last_ok_at
        else translate("delivery", "no success yet")
    )
    at = when(health.last_at)
    if n <= 1 and health.step:
        text = translate(
            "delivery",
            "The last security code could not be sent ({at}, failed at: {step}; {since}): "
            "{message}",
        )
    elif n <= 1:
        text = translate(
            "delivery", "The last security code could not be sent ({at}; {since}): {message}"
        )
    elif health.step:
        text = translate(
            "delivery",
            "The last {n} security codes could not be sent ({at}, failed at: {step}; {since}): "
            "{message}",
        )
    else:
        text = translate(
            "delivery", "The last {n} security codes could not be sent ({at}; {since}): {message}"
        )
    return text.format(n=n, at=at, step=health.step, since=since, message=health.message)
