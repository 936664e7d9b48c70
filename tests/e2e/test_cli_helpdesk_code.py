"""``pmdesk user temp-code LOGIN --reason TEXT [--minutes N]`` as a real process (issue 16 §3):
the code is printed once, only its hash is kept, the issue is audited; bad input, no session
and a clerk without System → Security Edit are refused with nothing stored."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from pmdesk.core.audit import Event
from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database
from pmdesk.core.helpdesk import HelpdeskCodeService
from pmdesk.core.models import HelpdeskCode
from pmdesk.secrets import MemoryStore
from tests.helpers.cli import audit_of as events
from tests.helpers.cli import database_now as now
from tests.helpers.cli import pmdesk_on as pmdesk
from tests.helpers.cli import real_keyring, sign_in_admin, sign_out_all
from tests.helpers.databases import stage
from tests.helpers.login import add_user, enable_two_factor, mail_server_down
from tests.helpers.staff import actor, add_group, add_person

PASSWORD = "Cobalt-Harbour-19"


def _codes(db: Database) -> list[HelpdeskCode]:
    with stage(db) as s:
        return list(s.execute(select(HelpdeskCode)).scalars())


def test_temp_code_prints_the_code_once_and_keeps_only_its_hash(db: Database) -> None:
    actor = sign_in_admin(db)
    alice = add_person(db, "alice")

    code, out, err = pmdesk(db, "user", "temp-code", "alice", "--reason", "  ")
    assert code == 1
    assert err.strip() == "pmdesk: A reason or ticket reference is required."
    code, out, err = pmdesk(db, "user", "temp-code", "alice", "--reason", "x", "--minutes", "481")
    assert code == 1 and "valid for 5 to 480 minutes" in err
    assert _codes(db) == []

    code, out, err = pmdesk(
        db, "user", "temp-code", "Alice", "--reason", "Ticket 9: phone lost", "--minutes", "30"
    )
    assert code == 0, err
    found = re.search(r"Helpdesk code for alice: ([0-9]{4} [0-9]{4} [0-9]{4})\n", out)
    assert found, out
    assert "Valid once, until " in out and "it is not shown again" in out
    [row] = _codes(db)
    assert row.person_id == alice and row.reason == "Ticket 9: phone lost"
    assert found.group(1).replace(" ", "") not in row.code_hash
    assert timedelta(minutes=29) < row.expires_at - now(db) <= timedelta(minutes=30)
    [issued] = events(db, Event.HELPDESK_CODE_ISSUED)
    assert (issued.actor, issued.subject) == (actor, "alice")
    assert issued.detail == "valid 30 min; reason: Ticket 9: phone lost"


def test_temp_code_needs_a_session_and_security_edit(sqlite_db: Database) -> None:
    db = sqlite_db
    add_person(db, "alice")
    code, out, err = pmdesk(db, "user", "temp-code", "alice", "--reason", "Ticket 9")
    assert code != 0 and "Sign in first" in err and out == ""
    clerks = add_group(db, "Clerks", {"maintenance": "re", "system.security": "r"})
    sign_in_admin(db, "clerk", group_id=clerks)
    code, out, err = pmdesk(db, "user", "temp-code", "alice", "--reason", "Ticket 9")
    assert code != 0 and "may not" in err.lower() and out == ""
    assert _codes(db) == [] and events(db, Event.HELPDESK_CODE_ISSUED) == []
    # The control: an administrator may.
    sign_out_all(db)
    sign_in_admin(db)
    code, out, err = pmdesk(db, "user", "temp-code", "alice", "--reason", "Ticket 9")
    assert code == 0, err
    assert len(_codes(db)) == 1


def test_pmdesk_login_takes_the_helpdesk_code_while_the_mail_server_is_down(
    sqlite_db: Database, closed_port: int, tmp_path: Path
) -> None:
    """Codes go by SMTP to a port where no mail server listens: ``pmdesk login`` says so, offers
    the helpdesk code, and signs in with it typed in its groups."""
    db = sqlite_db
    real_keyring()
    ctx = CoreContext(db=db, secrets=MemoryStore(), outbox_default=tmp_path)
    bob = add_user(ctx, "bob", PASSWORD)
    enable_two_factor(ctx)
    mail_server_down(ctx, closed_port)
    boss = add_person(db, "boss")
    issued = HelpdeskCodeService(ctx).issue(actor(boss, "boss"), bob, "Ticket 12")

    code, out, err = pmdesk(
        db, "login", "bob", "--password-stdin", stdin=f"{PASSWORD}\n{issued.grouped}\nn\n"
    )

    assert code == 0, err
    assert "The security code could not be sent" in err
    assert "Or enter the one-time code the helpdesk gave you." in out
    assert "Signed in as bob" in out
    assert _codes(db) == []
