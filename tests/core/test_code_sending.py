"""A security code sent while the password step holds the person's row (on a server), and
recorded with that step's COMMIT: what a person notices when the sending or the database
fails in between."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from sqlalchemy import create_engine, select, text

from pmdesk.core.auth import CodeNeeded, RefusalReason, Refused, SignedIn
from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database
from pmdesk.core.delivery.base import CodeMessage
from pmdesk.core.errors import PmdeskError
from pmdesk.core.models import DeliveryOutcome, LoginChallenge
from tests.helpers.databases import stage
from tests.helpers.hardened import RELAY_DELIVERS
from tests.helpers.login import (
    CollectingDelivery,
    add_user,
    audit_events,
    enable_two_factor,
    service,
)

PASSWORD = "Spring-Tide-42"

pytestmark = RELAY_DELIVERS


def on_a_server(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite commits the code before sending it: no lock is held meanwhile")


class SlowDelivery(CollectingDelivery):
    """A mail server that takes its time; ``while_sending`` runs while the code is on its way."""

    def __init__(self, while_sending: object = None) -> None:
        super().__init__()
        self.while_sending = while_sending

    def send(self, message: CodeMessage) -> None:
        if message.alert is None and self.while_sending is not None:
            action, self.while_sending = self.while_sending, None
            assert callable(action)
            action()
        super().send(message)


def code_step_events(ctx: CoreContext) -> list[str]:
    return [e.event for e in audit_events(ctx) if e.event.startswith("code.")]


def test_a_second_sign_in_waits_for_the_code_on_its_way_and_sends_none(ctx: CoreContext) -> None:
    """The same person signing in at a second workstation while the first one's code is still
    on its way to the mail server: the second waits, then is told to wait (no second code)."""
    on_a_server(ctx.db)
    add_user(ctx, "alice", PASSWORD)
    enable_two_factor(ctx)
    second: list[object] = []

    def second_workstation() -> None:
        second.append(service(ctx, CollectingDelivery()).begin("alice", PASSWORD))

    other = threading.Thread(target=second_workstation)

    def meanwhile() -> None:
        other.start()
        other.join(1.0)  # it waits for the person's row
        assert other.is_alive(), second

    delivery = SlowDelivery(meanwhile)
    first = service(ctx, delivery).begin("alice", PASSWORD)
    other.join(30)

    assert isinstance(first, CodeNeeded) and first.delivery_error is None
    [refused] = second
    assert isinstance(refused, Refused) and refused.reason is RefusalReason.TOO_SOON
    assert len(delivery.sent) == 1
    assert code_step_events(ctx) == ["code.sent"]
    with stage(ctx.db) as s:
        [challenge] = s.scalars(select(LoginChallenge)).all()
        assert challenge.send_count == 1
        assert challenge.id == first.challenge_id


def test_a_database_lost_while_the_code_is_on_its_way_leaves_nothing_to_wait_for(
    ctx: CoreContext,
) -> None:
    """The database goes away while the code is being sent: the person is told, the code
    that arrived does not work (nothing was committed), and they may sign in again at once."""
    on_a_server(ctx.db)
    add_user(ctx, "alice", PASSWORD)
    enable_two_factor(ctx)
    admin = create_engine(ctx.db.url)

    def kill_the_sign_in() -> None:
        with admin.connect() as c:
            if ctx.db.backend == "postgresql":
                pid = c.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE state = 'idle in transaction'"
                        " AND datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
                c.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            else:
                thread = c.execute(
                    text("SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX")
                ).scalar_one()
                c.execute(text(f"KILL CONNECTION {int(thread)}"))

    delivery = SlowDelivery(kill_the_sign_in)
    login = service(ctx, delivery)
    try:
        with pytest.raises(PmdeskError):
            login.begin("alice", PASSWORD)
    finally:
        admin.dispose()
    [lost_code] = [m.code for m in delivery.sent]
    with stage(ctx.db) as s:
        assert s.scalars(select(LoginChallenge)).all() == []
    assert code_step_events(ctx) == []

    again = login.begin("alice", PASSWORD)  # at once: no "wait 30 seconds"
    assert isinstance(again, CodeNeeded) and again.delivery_error is None
    assert delivery.last_code != lost_code
    assert not isinstance(login.verify(again.challenge_id, lost_code, False), SignedIn)
    assert isinstance(login.verify(again.challenge_id, delivery.last_code, False), SignedIn)


def test_a_deadlock_after_the_code_went_out_sends_no_second_code(
    ctx: CoreContext, caplog: pytest.LogCaptureFixture
) -> None:
    """The server breaks a deadlock by aborting the step after its code went out: the step runs
    again with the same code, so the one message that arrived works, and the log says sent
    once."""
    on_a_server(ctx.db)
    if ctx.db.backend != "postgresql":
        pytest.skip("the deadlock is staged with PostgreSQL's table lock and deadlock_timeout")
    add_user(ctx, "alice", PASSWORD)
    enable_two_factor(ctx)
    with stage(ctx.db) as s:
        alice_id = s.execute(text("SELECT id FROM personnel WHERE login = 'alice'")).scalar_one()
    other = create_engine(ctx.db.url)
    locked = threading.Event()
    outcome: list[BaseException] = []

    def the_other_transaction() -> None:
        # Holds the log table, then waits for alice's row, which the step holds: when the
        # step writes its log rows, each waits for the other. This side waits longer before
        # looking for deadlocks, so the server aborts the step.
        try:
            with other.begin() as c:
                c.execute(text("SET LOCAL deadlock_timeout = '20s'"))
                c.execute(text("LOCK TABLE audit_events IN SHARE ROW EXCLUSIVE MODE"))
                locked.set()
                time.sleep(0.3)  # the step sends its COMMIT and waits for the table
                c.execute(
                    text("SELECT id FROM personnel WHERE id = :id FOR UPDATE"), {"id": alice_id}
                )
        except BaseException as exc:  # reported below
            outcome.append(exc)

    worker = threading.Thread(target=the_other_transaction)

    def meanwhile() -> None:
        worker.start()
        assert locked.wait(10)

    delivery = SlowDelivery(meanwhile)
    caplog.set_level(logging.INFO, logger="pmdesk.core.db")
    try:
        result = service(ctx, delivery).begin("alice", PASSWORD)
        worker.join(30)
    finally:
        other.dispose()

    assert outcome == []
    assert "aborted by a deadlock; retrying" in caplog.text  # the step did run again
    assert isinstance(result, CodeNeeded) and result.delivery_error is None
    assert len(delivery.sent) == 1
    assert code_step_events(ctx) == ["code.sent"]
    with stage(ctx.db) as s:
        outcomes = s.scalars(select(DeliveryOutcome)).all()
        assert [(o.ok, o.failures_in_row) for o in outcomes] == [(True, 0)]
    login = service(ctx, delivery)
    assert isinstance(login.verify(result.challenge_id, delivery.last_code, False), SignedIn)
