"""The relay on a real hardened PostgreSQL (docs/server-enforced.md §6): ``pmdesk relay`` as a
subprocess, real mail servers (aiosmtpd) on 127.0.0.1, rows queued as the sign-in functions
queue them. What is checked is what an administrator would see: the e-mail received once, the
state of the queue row, the audit trail, the relay's log lines.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import psycopg
import pytest

from pmdesk.core.auth import CodeNeeded, LoginService, SignedIn
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database
from pmdesk.core.server.relay_sql import RECOVERED_DETAIL
from pmdesk.secrets import MemoryStore
from tests.helpers.databases import (
    HardenedDatabase,
)
from tests.helpers.login import add_user, cheap_passwords
from tests.helpers.pg import sql
from tests.helpers.relay import (
    audit_rows,
    challenge_row,
    delivery_health,
    queue_code,
    queue_row,
    relay_fixtures,
    relay_mid_send,
    relay_url,
    running_relay,
    use_smtp,
    wait_until,
)
from tests.helpers.smtp import SmtpServer

hardened, anne = relay_fixtures()


def test_a_queued_code_is_mailed_once_and_audited_with_the_address_masked(
    hardened: HardenedDatabase, anne: int, smtp_plain_server: SmtpServer, tmp_path: Path
) -> None:
    use_smtp(hardened, smtp_plain_server.host, smtp_plain_server.port)
    with running_relay(relay_url(hardened), tmp_path) as relay:
        row, challenge, code = queue_code(hardened, anne, "anne.peeters@example.com")
        wait_until(lambda: queue_row(hardened, row)["state"] == "sent", what="the code sent")
        relay.wait_for_log(f"Sent the code for anne (queue row {row}) to a***@example.com.")
        heartbeat = sql(
            hardened.owner_url, "SELECT host, pid, method, problem FROM pmdesk.relay_heartbeat"
        )
        assert relay.stop() == 0
    assert [mail.rcpt_tos for mail in smtp_plain_server.received] == [["anne.peeters@example.com"]]
    assert smtp_plain_server.received[0].code == code
    assert queue_row(hardened, row)["code"] is None, "the plain code stays after sending"
    assert challenge_row(hardened, challenge)[1] == 1  # send_count
    assert audit_rows(hardened, "code.sent") == [
        ("anne", "anne", "10.0.0.9", "ws-test", "to a***@example.com")
    ]
    assert heartbeat == [(socket.gethostname(), relay.pid, "smtp", "")]
    assert delivery_health(hardened, "smtp") == (True, "", "", 0, True)
    assert code not in relay.log()


def test_two_relays_at_once_send_each_code_exactly_once(
    hardened: HardenedDatabase, anne: int, smtp_plain_server: SmtpServer, tmp_path: Path
) -> None:
    use_smtp(hardened, smtp_plain_server.host, smtp_plain_server.port)
    with (
        running_relay(relay_url(hardened), tmp_path / "one") as one,
        running_relay(relay_url(hardened), tmp_path / "two") as two,
    ):
        queued = [queue_code(hardened, anne, "anne.peeters@example.com") for _ in range(12)]
        rows = [row for row, _, _ in queued]
        wait_until(
            lambda: all(queue_row(hardened, r)["state"] == "sent" for r in rows),
            what="every code sent",
        )
        claimers = {queue_row(hardened, r)["claimed_by"] for r in rows}
        assert one.stop() == 0 and two.stop() == 0
    received = sorted(mail.code for mail in smtp_plain_server.received)
    assert received == sorted(code for _, _, code in queued)  # each once, none twice
    assert len(audit_rows(hardened, "code.sent")) == 12
    assert 1 <= len(claimers) <= 2


def test_claims_skip_rows_another_relay_holds_instead_of_waiting_or_sharing(
    hardened: HardenedDatabase, anne: int
) -> None:
    rows = {queue_code(hardened, anne, "a@example.com", notify=False)[0] for _ in range(6)}
    url = relay_url(hardened)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database) as a:
        # Relay A's claim is not committed yet: its rows stay locked.
        first = {r[0] for r in a.execute("SELECT * FROM pmdesk.relay_claim(gen_random_uuid(), 4)")}
        second = {
            r[0] for r in sql(url, "SELECT * FROM pmdesk.relay_claim(gen_random_uuid(), 50)")
        }  # relay B, in its own connection, at once
        a.commit()
    assert len(first) == 4 and len(second) == 2
    assert first | second == rows and not first & second


def test_a_relay_killed_mid_send_leaves_a_row_that_is_never_sent_again(
    hardened: HardenedDatabase, anne: int, smtp_plain_server: SmtpServer, tmp_path: Path
) -> None:
    # The whole message reached the mail server, which has not said 250 yet: the relay is
    # between its committed claim and its finish.
    with relay_mid_send(hardened, tmp_path / "dying", anne) as (_, dying, row):
        sending = queue_row(hardened, row)
        dying.kill()
        assert sending["state"] == "sending"
        challenge, code = sending["challenge_id"], sending["code"]
        # Its heartbeat is fresh: nobody may take its claim over yet.
        assert sql(relay_url(hardened), "SELECT pmdesk.relay_recover(gen_random_uuid())") == [(0,)]
        # A minute later (the dead relay's heartbeat ages) another relay starts.
        sql(
            hardened.owner_url,
            "UPDATE pmdesk.relay_heartbeat SET last_seen_at = last_seen_at - interval '61 s'",
        )
        use_smtp(hardened, smtp_plain_server.host, smtp_plain_server.port)
        with running_relay(relay_url(hardened), tmp_path / "next") as following:
            wait_until(lambda: queue_row(hardened, row)["state"] == "unknown", what="recovery")
            following.wait_for_log("1 message(s) were being sent by a relay that stopped")
            assert following.stop() == 0
    assert smtp_plain_server.received == [], "the code was sent a second time"
    assert queue_row(hardened, row)["code"] is None
    last_sent_at, send_count = challenge_row(hardened, challenge)
    assert last_sent_at is None and send_count == 0  # the person may ask for a new code at once
    assert audit_rows(hardened, "code.send_failed") == [
        ("anne", "anne", "10.0.0.9", "ws-test", RECOVERED_DETAIL)
    ]
    assert code not in following.log() + dying.log()


def test_a_refused_message_fails_and_no_code_reaches_the_log_or_the_audit_trail(
    hardened: HardenedDatabase, anne: int, smtp_plain_server: SmtpServer, tmp_path: Path
) -> None:
    smtp_plain_server.refused_recipients.add("anne.peeters@example.com")
    use_smtp(hardened, smtp_plain_server.host, smtp_plain_server.port)
    with running_relay(relay_url(hardened), tmp_path) as relay:
        row, challenge, code = queue_code(hardened, anne, "anne.peeters@example.com")
        wait_until(lambda: queue_row(hardened, row)["state"] == "failed", what="the failure")
        relay.wait_for_log(f"Could not send the code for anne (queue row {row})")
        # A content filter that quotes the code back: the relay must not repeat it.
        smtp_plain_server.refused_recipients.clear()
        smtp_plain_server.reject_data_quoting_code = True
        quoted, _, quoted_code = queue_code(hardened, anne, "anne.peeters@example.com")
        wait_until(lambda: queue_row(hardened, quoted)["state"] == "failed", what="the refusal")
        assert relay.stop() == 0
    failed = queue_row(hardened, row)
    assert failed["code"] is None
    assert "refused the recipient anne.peeters@example.com (550 5.1.1" in failed["error"]
    assert challenge_row(hardened, challenge)[0] is None  # last_sent_at: ask again at once
    details = [detail for _, _, _, _, detail in audit_rows(hardened, "code.send_failed")]
    assert len(details) == 2 and details[0] == failed["error"]
    assert "554 5.7.1 Refused, suspicious content: ******" in details[1]
    ok, step, message, in_row, ever_ok = delivery_health(hardened, "smtp") or ()
    assert (ok, step, in_row, ever_ok) == (False, "send", 2, False)
    assert message == details[1]
    everything = relay.log() + "".join(details) + str(queue_row(hardened, quoted))
    assert code not in everything and quoted_code not in everything
    assert smtp_plain_server.received == []


def test_sigterm_lets_the_message_being_sent_finish_and_exits_0(
    hardened: HardenedDatabase, anne: int, tmp_path: Path
) -> None:
    with relay_mid_send(hardened, tmp_path, anne) as (gate, relay, row):
        relay.process.send_signal(signal.SIGTERM)
        # It does not leave mid-send …
        with pytest.raises(subprocess.TimeoutExpired):
            relay.process.wait(0.5)
        gate.release()
        # … it records the result, then exits.
        assert relay.process.wait(10) == 0, relay.log()
    assert queue_row(hardened, row)["state"] == "sent"
    assert len(audit_rows(hardened, "code.sent")) == 1


def test_a_sign_in_at_a_workstation_gets_its_code_by_mail_through_the_relay(
    hardened: HardenedDatabase,
    anne: int,
    smtp_plain_server: SmtpServer,
    tmp_path: Path,
    clock: ShiftedClock,
) -> None:
    """The whole way: LoginService as the workstation role, sign_in queues, the relay mails,
    the code from the mail signs in."""
    sql(hardened.owner_url, "UPDATE pmdesk.security_settings SET two_factor_enabled = true")
    use_smtp(hardened, smtp_plain_server.host, smtp_plain_server.port)
    db = Database(hardened.workstation_url)
    ws = CoreContext(db=db, secrets=MemoryStore(), outbox_default=tmp_path, clock=clock)
    try:
        add_user(ws, "bert", "bert's long secret", email="bert@example.com")
        with running_relay(relay_url(hardened), tmp_path):
            # Its first heartbeat follows "waiting for codes": until then no relay has run.
            wait_until(
                lambda: (
                    sql(hardened.owner_url, "SELECT count(*) FROM pmdesk.relay_heartbeat") != [(0,)]
                ),
                what="the relay's first heartbeat",
            )
            login = LoginService(ws, passwords=cheap_passwords(), workstation="ws-test")
            needed = login.begin("bert", "bert's long secret")
            assert isinstance(needed, CodeNeeded), needed
            assert (needed.destination, needed.delivery_error) == ("b***@example.com", None)
            wait_until(lambda: smtp_plain_server.received, what="the mail")
            signed = login.verify(needed.challenge_id, smtp_plain_server.received[0].code, False)
        assert isinstance(signed, SignedIn), signed
    finally:
        sql(hardened.owner_url, "UPDATE pmdesk.security_settings SET two_factor_enabled = false")
        db.dispose()
    assert len(smtp_plain_server.received) == 1
    assert [row[4] for row in audit_rows(hardened, "code.sent")] == ["to b***@example.com"]
