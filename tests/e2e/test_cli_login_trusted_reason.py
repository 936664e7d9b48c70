"""A sign-in without a code records why (issue 16 §5): the trusted address, when and by whom it
was trusted, and on which workstation. ``pmdesk login`` runs in a network namespace against a
private PostgreSQL, both as an ordinary database (the client decides) and hardened by
``server init`` (the server's ``sign_in`` decides), so that the server sees a real, non-loopback
address."""

from __future__ import annotations

import re
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import URL

from pmdesk.core import migrate
from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database
from pmdesk.core.models import AuditEvent, SecuritySettings, TrustedIp
from pmdesk.core.server.setup import initialise
from pmdesk.core.trusted_ips import why_no_code
from pmdesk.secrets import MemoryStore, session_key
from tests.e2e.test_cli_login import start_login, type_line, wait_until
from tests.helpers.cli import real_keyring
from tests.helpers.databases import stage
from tests.helpers.login import add_user
from tests.helpers.netns import Namespace, network_namespace
from tests.helpers.pg import sql
from tests.helpers.private_postgres import running_private_postgres
from tests.helpers.trusted_ips import trust_addresses

PASSWORD = "Spring-Tide-42"
REASON = re.compile(
    r"trusted address #(\d+), created \d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d UTC by helpdesk"
    r" on WS-07"
)


@dataclass(frozen=True)
class Office:
    ns: Namespace
    db: Database  # as the owner, over loopback
    client_url: URL  # as pmdesk in the namespace connects


@pytest.fixture(params=["client", "hardened"])
def office(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Office]:
    keyring = real_keyring()
    with (
        network_namespace() as ns,
        running_private_postgres(listen=(ns.host_address,), trust=(ns.network,)) as server,
    ):
        sql(server.url, "CREATE DATABASE pmdesk")
        owner_url = server.url.set(database="pmdesk")
        if request.param == "hardened":
            made = initialise(owner_url, prefix="pmwhy")
            client_url = made.login_urls[made.roles.workstation].set(host=ns.host_address)
        else:
            client_url = owner_url.set(host=ns.host_address)
        db = Database(owner_url)
        if request.param == "client":
            migrate.upgrade(db)
        try:
            yield Office(ns, db, client_url)
        finally:
            keyring.delete(session_key(client_url.render_as_string(hide_password=True)))
            db.dispose()


def test_a_sign_in_from_a_trusted_address_says_which_trust_and_whose(
    office: Office, tmp_path: Path
) -> None:
    ctx = CoreContext(office.db, MemoryStore(), tmp_path)
    alice = add_user(ctx, "alice", PASSWORD)
    (row_id,) = trust_addresses(office.db, [(alice, office.ns.client_address, timedelta(days=2))])
    with stage(office.db) as s:
        s.execute(update(SecuritySettings).values(two_factor_enabled=True))
        s.execute(
            update(TrustedIp)
            .where(TrustedIp.id == row_id)
            .values(trusted_by="helpdesk", trusted_on="WS-07")
        )

    url = office.client_url.render_as_string(hide_password=False)
    result = office.ns.run(
        sys.executable,
        "-m",
        "pmdesk",
        "--database",
        url,
        "login",
        "alice",
        "--password-stdin",
        stdin=PASSWORD,
    )

    assert result.returncode == 0, result.stderr
    assert "Signed in as alice (trusted address, no code needed)" in result.stdout
    with stage(office.db) as s:
        row = s.execute(select(TrustedIp)).scalars().one()
        success = (
            s.execute(select(AuditEvent).where(AuditEvent.event == "login.succeeded"))
            .scalars()
            .one()
        )
        expected = why_no_code(row)
    assert REASON.fullmatch(success.detail), success.detail
    assert success.detail == expected  # the server words it as the client does
    assert f"#{row_id}," in success.detail


@pytest.mark.parametrize("office", ["hardened"], indirect=True)
def test_a_code_sign_in_that_trusts_the_address_keeps_who_and_where_on_the_server(
    office: Office, tmp_path: Path
) -> None:
    """The code step on a hardened database, from a real address: the server trusts it and
    keeps who asked (the person signing in) and on which workstation."""
    owner_url = office.db.url
    ctx = CoreContext(office.db, MemoryStore(), tmp_path)
    add_user(ctx, "alice", PASSWORD)
    with stage(office.db) as s:
        s.execute(update(SecuritySettings).values(two_factor_enabled=True))
    # What the relay does, done here as the owner: it is alive, and the code is read from
    # the queue before anything sends it.
    sql(
        owner_url,
        "INSERT INTO pmdesk.relay_heartbeat (instance, host, pid, version, started_at, "
        "last_seen_at) VALUES (gen_random_uuid(), 'mail01', 1, 'test', pmdesk.now(), "
        "pmdesk.now())",
    )
    url = office.client_url.render_as_string(hide_password=False)
    process = start_login(url, "--password-stdin", ns=office.ns)
    type_line(process, PASSWORD)
    wait_until(
        lambda: bool(sql(owner_url, "SELECT code FROM pmdesk.code_queue")),
        process,
        "the code queued for the relay",
    )
    ((code,),) = sql(owner_url, "SELECT code FROM pmdesk.code_queue")
    out, err = process.communicate(f"{code}\ny\n", timeout=60)

    assert process.returncode == 0, err
    assert "Trust this IP? [y/N]" in out and "Signed in as alice" in out
    with stage(office.db) as s:
        row = s.execute(select(TrustedIp)).scalars().one()
    assert (row.address, row.trusted_by, row.trusted_on) == (
        office.ns.client_address,
        "alice",
        socket.gethostname(),
    )
