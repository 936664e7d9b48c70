"""The relay's functions on a real hardened PostgreSQL (pmdesk/core/server/relay_sql.py), called
as the relay role with raw SQL, and ``pmdesk relay --once``: the sweep, dropping dead codes,
attempts, argument checks, who may call what; and the relay's settings and secrets.
"""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import psycopg
import pytest

from pmdesk.core import audit
from pmdesk.core.delivery.base import NO_DESTINATION, DeliverySettings
from pmdesk.core.delivery.factory import delivery_for
from pmdesk.core.login_results import NO_PHONE_MESSAGE
from pmdesk.core.relay import (
    Claim,
    CredentialsStore,
    RelayTiming,
    credential_name,
    deliver,
    delivery_settings,
    mask_destination,
    relay_problem,
)
from pmdesk.core.server import relay_sql
from pmdesk.core.trusted_ips import _as_utc_text
from pmdesk.secrets import SecretStoreError, smtp_key
from tests.helpers.cli import run_pmdesk
from tests.helpers.databases import (
    HardenedDatabase,
)
from tests.helpers.pg import sql
from tests.helpers.relay import (
    audit_rows,
    challenge_row,
    delivery_health,
    new_challenge,
    queue_code,
    queue_row,
    relay_fixtures,
    relay_in_thread,
    relay_url,
    url_text,
    use_outbox,
    use_smtp,
    wait_until,
)
from tests.helpers.smtp import SmtpServer

hardened, anne = relay_fixtures()


def as_relay(
    hardened: HardenedDatabase, statement: str, *params: object
) -> list[tuple[object, ...]]:
    return sql(relay_url(hardened), statement, *params)


def relay_once(hardened: HardenedDatabase, tmp_path: Path, **env: str) -> tuple[int, str]:
    credentials = tmp_path / "credentials"
    credentials.mkdir(exist_ok=True)
    result = run_pmdesk(
        "relay",
        "--database",
        url_text(relay_url(hardened)),
        "--outbox-dir",
        str(tmp_path / "outbox"),
        "--once",
        env={"CREDENTIALS_DIRECTORY": str(credentials), **env},
        timeout=60,
    )
    return result.returncode, result.stderr


# ----- the expiry sweep -------------------------------------------------------------------------


def test_expire_removes_old_trusted_addresses_with_one_audit_row_each_like_the_desktop_sweep(
    hardened: HardenedDatabase, anne: int, tmp_path: Path
) -> None:
    owner = hardened.owner_url
    sql(owner, "UPDATE pmdesk.personnel SET first_name = 'Anne', last_name = 'Peeters'")
    rows = sql(
        owner,
        "INSERT INTO pmdesk.trusted_ips (person_id, address, created_at) VALUES "
        "(%s, '10.1.0.1', pmdesk.now() - interval '40 days'), "
        "(%s, '10.1.0.2', pmdesk.now() - interval '31 days'), "
        "(%s, '10.1.0.3', pmdesk.now() - interval '30 days 1 minute'), "
        "(%s, '10.1.0.4', pmdesk.now() - interval '29 days') "
        "RETURNING id, address, created_at",
        anne,
        anne,
        anne,
        anne,
    )
    # What else the sweep tidies: a used challenge, one expired two days ago, a live one; a
    # lapsed session; a queue row finished two days ago.
    used = new_challenge(hardened, anne)
    old = new_challenge(hardened, anne)
    live = new_challenge(hardened, anne)
    sql(owner, "UPDATE pmdesk.login_challenges SET used_at = pmdesk.now() WHERE id = %s", used)
    sql(
        owner,
        "UPDATE pmdesk.login_challenges SET expires_at = pmdesk.now() - interval '2 days' "
        "WHERE id = %s",
        old,
    )
    sql(
        owner,
        "INSERT INTO pmdesk.user_sessions (token_hash, person_id, kind, address, workstation, "
        "os_user, created_at, expires_at, last_used_at) VALUES "
        "(repeat('a', 64), %s, 'cli', NULL, 'ws', 'u', pmdesk.now() - interval '9 hours', "
        "pmdesk.now() - interval '1 hour', pmdesk.now() - interval '2 hours'), "
        "(repeat('b', 64), %s, 'cli', NULL, 'ws', 'u', pmdesk.now(), "
        "pmdesk.now() + interval '8 hours', pmdesk.now())",
        anne,
        anne,
    )
    finished, _, _ = queue_code(hardened, anne, "anne@example.com", challenge=live, notify=False)
    sql(
        owner,
        "UPDATE pmdesk.code_queue SET state = 'sent', code = NULL, "
        "finished_at = pmdesk.now() - interval '2 days' WHERE id = %s",
        finished,
    )

    # One chunk at a time, as the relay calls it: 2, then the last 1.
    assert as_relay(hardened, "SELECT pmdesk.expire(2, 'mail01')") == [(2,)]
    assert as_relay(hardened, "SELECT pmdesk.expire(2, 'mail01')") == [(1,)]
    assert as_relay(hardened, "SELECT pmdesk.expire(2, 'mail01')") == [(0,)]

    assert [a for (a,) in sql(owner, "SELECT address FROM pmdesk.trusted_ips")] == ["10.1.0.4"]
    subject = audit.person_subject(anne, "anne", "Anne", "Peeters")
    assert audit_rows(hardened, "ip.expired") == [
        (
            "system (expiry sweep)",
            subject,
            "",
            "mail01",
            f"address {address}, trusted since {_as_utc_text(created)} (#{row_id})",
        )
        for row_id, address, created in rows[:3]
    ]
    assert {c for (c,) in sql(owner, "SELECT id FROM pmdesk.login_challenges")} == {live}
    assert sql(owner, "SELECT token_hash FROM pmdesk.user_sessions") == [("b" * 64,)]
    # Only finished rows go: the trust alerts the trusted rows above queued wait for the relay.
    assert sql(owner, "SELECT id FROM pmdesk.code_queue WHERE kind <> 'alert'") == []


def test_relay_once_sweeps_sends_to_the_outbox_writes_a_heartbeat_and_exits_0(
    hardened: HardenedDatabase, anne: int, tmp_path: Path
) -> None:
    sql(
        hardened.owner_url,
        "INSERT INTO pmdesk.trusted_ips (person_id, address, created_at) "
        "VALUES (%s, '10.2.0.1', pmdesk.now() - interval '31 days')",
        anne,
    )
    use_outbox(hardened)
    row, _, code = queue_code(hardened, anne, "anne@example.com", method="outbox")
    status, log = relay_once(hardened, tmp_path)
    assert status == 0, log
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1 and code in files[0].read_text()
    assert queue_row(hardened, row)["state"] == "sent"
    assert len(audit_rows(hardened, "ip.expired")) == 1
    assert audit_rows(hardened, "ip.expired")[0][3] == socket.gethostname()
    assert sql(hardened.owner_url, "SELECT method, problem FROM pmdesk.relay_heartbeat") == [
        ("outbox", "")
    ]
    assert "Expiry sweep: 1 trusted address(es) expired." in log
    assert code not in log


# ----- claiming, finishing ----------------------------------------------------------------------


def test_codes_that_can_no_longer_be_used_are_dropped_never_sent(
    hardened: HardenedDatabase, anne: int
) -> None:
    owner = hardened.owner_url
    dead: dict[str, int] = {}
    for what, change in (
        ("used", "used_at = pmdesk.now()"),
        ("retired", "retired_at = pmdesk.now()"),
        ("voided", "voided = true"),
        ("expired", "expires_at = pmdesk.now() - interval '1 second'"),
    ):
        challenge = new_challenge(hardened, anne)
        sql(owner, f"UPDATE pmdesk.login_challenges SET {change} WHERE id = %s", challenge)
        dead[what] = queue_code(hardened, anne, "a@example.com", challenge=challenge)[0]
    gone = new_challenge(hardened, anne)
    dead["gone"] = queue_code(hardened, anne, "a@example.com", challenge=gone)[0]
    sql(owner, "DELETE FROM pmdesk.login_challenges WHERE id = %s", gone)
    alive, _, _ = queue_code(hardened, anne, "a@example.com")

    claimed = as_relay(hardened, "SELECT id, code FROM pmdesk.relay_claim(gen_random_uuid(), 50)")
    assert [row_id for row_id, _ in claimed] == [alive]
    for what, row_id in dead.items():
        assert queue_row(hardened, row_id)["state"] == "dropped", what
        assert queue_row(hardened, row_id)["code"] is None, what


def test_a_finish_counts_only_for_the_attempt_that_claimed_the_row_and_only_once(
    hardened: HardenedDatabase, anne: int
) -> None:
    row, challenge, _ = queue_code(hardened, anne, "anne@example.com")
    instance = uuid.uuid4()
    ((row_id, attempt),) = as_relay(
        hardened, "SELECT id, attempt FROM pmdesk.relay_claim(%s, 1)", instance
    )
    assert row_id == row and queue_row(hardened, row)["state"] == "sending"
    finish = "SELECT pmdesk.relay_finish(%s, %s, %s, %s, NULL)"
    assert as_relay(hardened, finish, row, uuid.uuid4(), False, "x") == [(False,)]
    assert queue_row(hardened, row)["state"] == "sending"
    assert as_relay(hardened, finish, row, attempt, True, None) == [(True,)]
    assert as_relay(hardened, finish, row, attempt, False, "late") == [(False,)]
    assert queue_row(hardened, row)["state"] == "sent"
    assert challenge_row(hardened, challenge)[1] == 1
    assert len(audit_rows(hardened, "code.sent")) == 1 and not audit_rows(
        hardened, "code.send_failed"
    )
    # Its own claim is not "abandoned" for the relay that holds it, however quiet it is …
    other, _, _ = queue_code(hardened, anne, "anne@example.com")
    as_relay(hardened, "SELECT * FROM pmdesk.relay_claim(%s, 1)", instance)
    assert as_relay(hardened, "SELECT pmdesk.relay_recover(%s)", instance) == [(0,)]
    # … but it is after five minutes.
    sql(
        hardened.owner_url,
        "UPDATE pmdesk.code_queue SET claimed_at = claimed_at - interval '5 minutes' WHERE id = %s",
        other,
    )
    assert as_relay(hardened, "SELECT pmdesk.relay_recover(%s)", instance) == [(1,)]
    assert queue_row(hardened, other)["state"] == "unknown"


@pytest.mark.parametrize(
    ("statement", "params"),
    [
        ("SELECT * FROM pmdesk.relay_claim(%s, 0)", (uuid.uuid4(),)),
        ("SELECT * FROM pmdesk.relay_claim(%s, 51)", (uuid.uuid4(),)),
        ("SELECT * FROM pmdesk.relay_claim(NULL, 5)", ()),
        ("SELECT * FROM pmdesk.relay_claim(%s, NULL)", (uuid.uuid4(),)),
        ("SELECT pmdesk.relay_finish(NULL, NULL, NULL, NULL)", ()),
        ("SELECT pmdesk.relay_recover(NULL)", ()),
        ("SELECT pmdesk.expire(0)", ()),
        ("SELECT pmdesk.expire(5001)", ()),
        ("SELECT pmdesk.expire(10, repeat('w', 256))", ()),
        ("SELECT pmdesk.relay_heartbeat(NULL, 'h', 1, 'v', 'm', '')", ()),
        ("SELECT pmdesk.relay_heartbeat(gen_random_uuid(), '', 1, 'v', 'm', '')", ()),
        ("SELECT pmdesk.relay_heartbeat(gen_random_uuid(), 'h', 0, 'v', 'm', '')", ()),
        ("SELECT pmdesk.relay_heartbeat(gen_random_uuid(), 'h', 1, repeat('v', 41), 'm', '')", ()),
    ],
)
def test_bad_arguments_are_refused_with_pmd05_and_change_nothing(
    hardened: HardenedDatabase, anne: int, statement: str, params: tuple[object, ...]
) -> None:
    row, _, _ = queue_code(hardened, anne, "anne@example.com", notify=False)
    with pytest.raises(psycopg.Error) as refused:
        as_relay(hardened, statement, *params)
    assert refused.value.sqlstate == "PMD05", refused.value
    assert queue_row(hardened, row)["state"] == "queued"
    assert sql(hardened.owner_url, "SELECT count(*) FROM pmdesk.relay_heartbeat") == [(0,)]


# ----- who may call what ------------------------------------------------------------------------


def test_the_relay_role_reads_no_table_and_the_workstation_calls_no_relay_function(
    hardened: HardenedDatabase, anne: int
) -> None:
    queue_code(hardened, anne, "anne@example.com", notify=False)
    tables = [
        t
        for (t,) in sql(
            hardened.owner_url,
            "SELECT tablename FROM pg_tables WHERE schemaname = 'pmdesk' ORDER BY 1",
        )
    ]
    assert "code_queue" in tables and "relay_heartbeat" in tables
    for table in tables:
        if table in ("alembic_version", "server_meta"):  # what the schema is: readable by all
            continue
        for statement in (f"SELECT * FROM pmdesk.{table}", f"DELETE FROM pmdesk.{table}"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                as_relay(hardened, statement)
    workstation = hardened.workstation_url
    for function in (*relay_sql.RELAY_FUNCTIONS, *relay_sql.INTERNAL_FUNCTIONS):
        callable_ = sql(
            workstation, "SELECT has_function_privilege(%s, 'EXECUTE')", f"pmdesk.{function}"
        )
        assert callable_ == [(False,)], function
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        sql(workstation, "SELECT * FROM pmdesk.relay_claim(gen_random_uuid(), 50)")
    for function in relay_sql.INTERNAL_FUNCTIONS:
        assert as_relay(
            hardened, "SELECT has_function_privilege(%s, 'EXECUTE')", f"pmdesk.{function}"
        ) == [(False,)]


# ----- masks, settings, secrets -----------------------------------------------------------------


@pytest.mark.parametrize(
    "destination",
    [
        "jan.peeters@insypro.com",
        "a@b@c.example",
        "x@",
        "+32470123489",
        "1234567",
        "123456",
        "",
        "ñandú@café.be",
    ],
)
def test_the_servers_mask_is_the_clients(hardened: HardenedDatabase, destination: str) -> None:
    masked = sql(hardened.owner_url, "SELECT pmdesk.mask_destination(%s)", destination)
    assert masked == [(mask_destination(destination),)]


def test_settings_reach_the_relay_with_columns_added_later_and_unknown_ones_are_ignored(
    hardened: HardenedDatabase, anne: int
) -> None:
    owner = hardened.owner_url
    use_smtp(hardened, "mail.example", 465, username="mailer", security="tls")
    sql(owner, "ALTER TABLE pmdesk.security_settings ADD COLUMN relay_test_future text DEFAULT 'x'")
    try:
        ((values,),) = as_relay(hardened, "SELECT pmdesk.relay_settings()")
    finally:
        sql(owner, "ALTER TABLE pmdesk.security_settings DROP COLUMN relay_test_future")
    assert isinstance(values, dict)
    assert values["relay_test_future"] == "x"
    assert not {"id", "version", "updated_at"} & set(values)
    settings = delivery_settings(values)
    assert (settings.method, settings.smtp_host, settings.smtp_port, settings.smtp_security) == (
        "smtp",
        "mail.example",
        465,
        "tls",
    )
    assert settings.smtp_username == "mailer"


def test_delivery_settings_keep_the_default_for_values_of_the_wrong_kind() -> None:
    settings = delivery_settings(
        {
            "delivery_method": "carrier pigeon",
            "smtp_port": "25",
            "smtp_security": "starttls",
            "smtp_host": 7,
            "sms_url": "https://sms.example/send",
            "two_factor_enabled": True,
            "something_new": {"a": 1},
        }
    )
    assert settings == DeliverySettings(
        smtp_security="starttls", sms_url="https://sms.example/send"
    )


def test_secrets_come_from_credential_files_named_after_their_kind(tmp_path: Path) -> None:
    assert credential_name(smtp_key("mail.example", "mailer")) == "smtp-password"
    assert credential_name("sms:https://sms.example/send") == "sms-token"
    assert credential_name("twilio:AC123") == "twilio-secret"
    assert credential_name("m365-certificate:client@tenant") == "m365-certificate"
    assert credential_name("../etc:x") == "unknown-secret"
    store = CredentialsStore(tmp_path)
    assert store.get(smtp_key("mail.example", "mailer")) is None
    (tmp_path / "smtp-password").write_text("s3cret with spaces \n")
    assert store.get(smtp_key("mail.example", "mailer")) == "s3cret with spaces "
    with pytest.raises(SecretStoreError, match="LoadCredential"):
        store.set(smtp_key("mail.example", "mailer"), "x")


def use_auth_server(hardened: HardenedDatabase, server: SmtpServer) -> None:
    """Codes through a mail server that wants STARTTLS and a login."""
    use_smtp(hardened, server.host, server.port, username=server.username, security="starttls")


def test_a_relay_without_the_smtp_password_says_so_and_fails_codes_at_once(
    hardened: HardenedDatabase, anne: int, smtp_auth_server: SmtpServer, tmp_path: Path
) -> None:
    use_auth_server(hardened, smtp_auth_server)
    row, challenge, code = queue_code(hardened, anne, "anne@example.com")
    status, log = relay_once(hardened, tmp_path)
    assert status == 0, log
    expected = (
        "The relay has no password for 'smtp' delivery "
        f"(credential smtp-password in {tmp_path / 'credentials'})."
    )
    assert queue_row(hardened, row)["state"] == "failed"
    assert queue_row(hardened, row)["error"] == expected
    assert challenge_row(hardened, challenge)[0] is None
    assert sql(hardened.owner_url, "SELECT problem FROM pmdesk.relay_heartbeat") == [(expected,)]
    assert delivery_health(hardened, "smtp") == (False, "settings", expected, 1, False)
    assert smtp_auth_server.received == [] and code not in log


def test_with_its_credential_the_relay_signs_in_to_the_mail_server(
    hardened: HardenedDatabase, anne: int, smtp_auth_server: SmtpServer, tmp_path: Path
) -> None:
    use_auth_server(hardened, smtp_auth_server)
    (tmp_path / "smtp-password").write_text(smtp_auth_server.password + "\n")
    store = CredentialsStore(tmp_path)
    assert (
        relay_problem(
            delivery_settings(as_relay(hardened, "SELECT pmdesk.relay_settings()")[0][0]),  # type: ignore[arg-type]
            store,
            tmp_path,
        )
        == ""
    )

    def trusting_the_test_ca(settings: DeliverySettings, secrets: object, outbox: Path) -> object:
        return delivery_for(settings, store, outbox, ssl_context=smtp_auth_server.client_context)

    with relay_in_thread(
        relay_url(hardened), tmp_path, store, make_delivery=trusting_the_test_ca
    ) as relay:
        row, _, code = queue_code(hardened, anne, "anne@example.com")
        wait_until(lambda: queue_row(hardened, row)["state"] == "sent", what="the code sent")
    assert relay.sent == 1
    assert [mail.code for mail in smtp_auth_server.received] == [code]
    assert sql(hardened.owner_url, "SELECT problem FROM pmdesk.relay_heartbeat") == [("",)]


def test_a_credential_stored_while_the_relay_runs_is_used_after_the_next_heartbeat(
    hardened: HardenedDatabase, anne: int, smtp_auth_server: SmtpServer, tmp_path: Path
) -> None:
    """The relay checks its secrets with each heartbeat, not for every code: a code queued
    while the password is missing fails at once; once the password is stored, the next
    heartbeat clears the problem and the next code is sent."""
    use_auth_server(hardened, smtp_auth_server)
    store = CredentialsStore(tmp_path / "credentials")

    def trusting_the_test_ca(settings: DeliverySettings, secrets: object, outbox: Path) -> object:
        return delivery_for(settings, store, outbox, ssl_context=smtp_auth_server.client_context)

    def problem() -> str:
        return str(sql(hardened.owner_url, "SELECT problem FROM pmdesk.relay_heartbeat")[0][0])

    timing = RelayTiming(heartbeat_s=0.2, poll_s=0.2)
    with relay_in_thread(
        relay_url(hardened), tmp_path, store, timing=timing, make_delivery=trusting_the_test_ca
    ) as relay:
        first, _, _ = queue_code(hardened, anne, "anne@example.com")
        wait_until(lambda: queue_row(hardened, first)["state"] == "failed", what="a failure")
        assert queue_row(hardened, first)["error"].startswith("The relay has no password")
        assert problem().startswith("The relay has no password")
        (tmp_path / "credentials").mkdir()
        (tmp_path / "credentials" / "smtp-password").write_text(smtp_auth_server.password)
        wait_until(lambda: problem() == "", what="the heartbeat to find the password")
        second, _, code = queue_code(hardened, anne, "anne@example.com")
        wait_until(lambda: queue_row(hardened, second)["state"] == "sent", what="the code sent")
    assert (relay.failed, relay.sent) == (1, 1)
    assert [mail.code for mail in smtp_auth_server.received] == [code]


def test_a_code_with_nowhere_to_go_fails_without_blaming_the_gateway(
    hardened: HardenedDatabase, anne: int, tmp_path: Path
) -> None:
    """A stored number that is none in the office's region (a Dutch 06 number in Belgium):
    the relay finds it before anything else, whatever the gateway's set-up, and the row fails
    with the sentence the sign-in refuses with; delivery health stays as it was."""
    row, _, _ = queue_code(hardened, anne, "06 12345678", method="sms")
    ((row_id, attempt, *rest),) = as_relay(
        hardened,
        "SELECT id, attempt, kind, method, destination, person_name, code, valid_minutes, "
        "requested_from, workstation, subject FROM pmdesk.relay_claim(gen_random_uuid(), 1)",
    )
    claim = Claim.from_row((row_id, attempt, *rest))
    settings = DeliverySettings(method="sms", sms_url="https://sms.example.com/send")
    outcome = deliver(claim, settings, CredentialsStore(tmp_path), tmp_path / "outbox")
    assert (outcome.ok, outcome.error, outcome.step) == (False, NO_PHONE_MESSAGE, NO_DESTINATION)
    health_before = sql(hardened.owner_url, "SELECT * FROM pmdesk.delivery_outcomes")
    finish = "SELECT pmdesk.relay_finish(%s, %s, %s, %s, %s)"
    assert as_relay(hardened, finish, row, attempt, False, outcome.error, outcome.step) == [(True,)]
    assert queue_row(hardened, row)["state"] == "failed"
    assert queue_row(hardened, row)["error"] == NO_PHONE_MESSAGE
    assert sql(hardened.owner_url, "SELECT * FROM pmdesk.delivery_outcomes") == health_before
    # A number of the region goes on to the gateway's own checks (here: no token).
    belgian = Claim.from_row((row_id, attempt, rest[0], rest[1], "+32 470 12 34 56", *rest[3:]))
    assert deliver(belgian, settings, CredentialsStore(tmp_path), tmp_path / "o").step != (
        NO_DESTINATION
    )
