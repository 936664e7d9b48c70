"""The relay when its database connection goes away (docs/server-enforced.md §6.4): its
backend ended with ``pg_terminate_backend`` on the shared test server, and a real restart of a
PostgreSQL of the test's own (tests/helpers/private_postgres.py).
"""

from __future__ import annotations

from pathlib import Path

from pmdesk.core.relay import APPLICATION_NAME
from pmdesk.core.server.setup import initialise
from tests.helpers.cli import run_pmdesk
from tests.helpers.databases import (
    HardenedDatabase,
)
from tests.helpers.pg import sql
from tests.helpers.private_postgres import PrivatePostgres
from tests.helpers.relay import (
    audit_rows,
    person_for_relay,
    queue_code,
    queue_row,
    relay_fixtures,
    relay_mid_send,
    relay_url,
    running_relay,
    url_text,
    use_smtp,
    wait_until,
)
from tests.helpers.smtp import SmtpServer

LOST = "Lost the database connection"
BACK = "Database connection back after"

hardened, anne = relay_fixtures()


def end_relay_connections(hardened: HardenedDatabase) -> int:
    """What a database restart does to the relay: its backend goes away."""
    rows = sql(
        hardened.owner_url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = %s",
        APPLICATION_NAME,
    )
    return len(rows)


def test_a_lost_connection_is_logged_once_and_codes_queued_meanwhile_are_sent(
    hardened: HardenedDatabase, anne: int, smtp_plain_server: SmtpServer, tmp_path: Path
) -> None:
    use_smtp(hardened, smtp_plain_server.host, smtp_plain_server.port)
    with running_relay(relay_url(hardened), tmp_path) as relay:
        assert end_relay_connections(hardened) == 1
        # Queued while the relay is away: their notifications reach nobody.
        rows = [queue_code(hardened, anne, "anne@example.com")[0] for _ in range(2)]
        relay.wait_for_log(LOST)
        relay.wait_for_log(BACK)
        wait_until(
            lambda: all(queue_row(hardened, r)["state"] == "sent" for r in rows),
            what="the codes queued during the outage sent",
        )
        assert relay.stop() == 0
        log = relay.log()
    assert len(smtp_plain_server.received) == 2
    assert log.count(LOST) == 1 and log.count(BACK) == 1, log
    assert "terminating connection due to administrator command" in log


def test_a_result_that_comes_back_while_the_database_is_away_is_recorded_after_reconnecting(
    hardened: HardenedDatabase, anne: int, tmp_path: Path
) -> None:
    with relay_mid_send(hardened, tmp_path, anne) as (gate, relay, row):
        assert end_relay_connections(hardened) == 1
        relay.wait_for_log(LOST)
        gate.release()  # the mail server accepts the message now, mid-outage
        wait_until(lambda: queue_row(hardened, row)["state"] == "sent", what="the finish")
        relay.wait_for_log(BACK)
        assert relay.stop() == 0
        log = relay.log()
    assert "1 result(s) to record" in log
    assert len(gate.messages) == 1
    assert len(audit_rows(hardened, "code.sent")) == 1
    assert queue_row(hardened, row)["code"] is None


def test_once_without_a_database_says_so_in_one_line_and_exits_1(
    hardened: HardenedDatabase, tmp_path: Path, closed_port: int
) -> None:
    url = relay_url(hardened).set(port=closed_port)
    result = run_pmdesk("relay", "--database", url_text(url), "--once", timeout=30)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Cannot reach the database" in lines[0], result.stderr


def test_a_database_restart_mid_send_neither_loses_nor_repeats_a_code(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    """A real restart, on a PostgreSQL of the test's own: the result of the message that was
    on its way is recorded after the restart, and a code queued after it is sent."""
    sql(private_postgres.url, "CREATE DATABASE pmdesk")
    owner_url = private_postgres.url.set(database="pmdesk")
    made = initialise(owner_url, prefix="pmrelay")
    hardened = HardenedDatabase(
        workstation_url=made.login_urls[made.roles.workstation],
        owner_url=owner_url,
        prefix="pmrelay",
        relay_url=made.login_urls[made.roles.relay],
    )
    relay_at = hardened.relay_url
    with (
        person_for_relay(hardened) as anne,
        relay_mid_send(hardened, tmp_path, anne, relay_at) as (gate, relay, first),
    ):
        private_postgres.stop("fast")
        relay.wait_for_log(LOST)
        gate.release()  # accepted by the mail server while the database is down
        private_postgres.start()
        second, _, _ = queue_code(hardened, anne, "anne@example.com")
        wait_until(
            lambda: [queue_row(hardened, r)["state"] for r in (first, second)] == ["sent", "sent"],
            timeout=20,  # reconnecting waits 1, 2, 4 … s between tries
            what="both codes recorded as sent",
        )
        assert relay.stop() == 0
        assert len(audit_rows(hardened, "code.sent")) == 2
        log = relay.log()
    assert len(gate.messages) == 2
    assert log.count(LOST) == 1 and log.count(BACK) == 1, log
