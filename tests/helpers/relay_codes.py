"""The codes the hardened leg's relay sent, for the login tests' ``CollectingDelivery``.

On a server-enforced PostgreSQL the server makes each code and only the relay sends it
(docs/server-enforced.md §3, §6): a workstation never holds a code, so the delivery a test
passes to ``LoginService`` is never called. The leg's relay (tests/conftest.py) writes each
message into its outbox folder; ``RelayCodes`` reads them back, in the order they were sent,
as the ``CodeMessage`` a collecting delivery would have kept. It first waits until the relay
has finished every code queued so far, so a test reads what a person would find in their mail.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import time
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from pmdesk.core.db import Database
from pmdesk.core.delivery.base import CodeMessage
from pmdesk.core.delivery.message import ALERT_SUBJECT
from tests.helpers.databases import stage

SETTLE_S = 10.0  # how long the relay may take to finish what is queued


class RelayCodes:
    def __init__(self, outbox: Path, owner: Database) -> None:
        self.outbox = outbox
        self.owner = owner
        self._before = set(self._files())  # earlier tests' messages

    def _files(self) -> list[Path]:
        if not self.outbox.is_dir():
            return []
        return sorted(self.outbox.glob("*.eml"), key=lambda p: (p.stat().st_mtime_ns, p.name))

    def _owner_rows(self, query: str) -> list[tuple[Any, ...]]:
        with self.owner.session() as s:
            return [tuple(row) for row in s.execute(text(query))]

    def _settle(self) -> None:
        relay_settled(self.owner)

    def sent(self) -> list[CodeMessage]:
        """Every message the relay sent during this test, oldest first."""
        self._settle()
        rows = self._owner_rows(
            "SELECT valid_minutes, requested_from, workstation FROM pmdesk.code_queue "
            "WHERE state = 'sent' AND kind <> 'alert' ORDER BY finished_at, id"
        )
        files = [path for path in self._files() if path not in self._before]
        # Trust alerts the relay sent too (tests/core/test_trust_alerts_server.py) hold no code.
        messages = [m for m in map(_message, files) if m is not None]
        if len(rows) != len(messages):  # rows of earlier tests left (their person kept)
            return messages
        return [
            replace(m, valid_minutes=minutes, requested_from=address, workstation=workstation)
            for m, (minutes, address, workstation) in zip(messages, rows, strict=True)
        ]


def relay_settled(owner: Database) -> None:
    """Wait until the hardened leg's relay has sent (or failed) everything queued so far:
    codes, and trust alerts with their audit rows. Returns at once on a database without a
    relay's queue."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        with stage(owner) as s:  # as the owner, whichever connection this is
            if (
                owner.backend != "postgresql"
                or s.execute(text("SELECT to_regclass('pmdesk.code_queue')")).scalar() is None
            ):
                return
            waiting = s.execute(
                text("SELECT count(*) FROM pmdesk.code_queue WHERE state IN ('queued', 'sending')")
            ).scalar_one()
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the relay left {waiting} message(s) unsent for {SETTLE_S} s")
        time.sleep(0.02)


def codes_from_the_relay(monkeypatch: pytest.MonkeyPatch, codes: RelayCodes) -> None:
    """For one test: every ``CollectingDelivery`` shows what the relay sent instead of what it
    was given (it is given nothing on a hardened database)."""
    from tests.helpers.login import CollectingDelivery

    def ignored(_self: CollectingDelivery, _value: object) -> None:
        """dataclass __init__ sets the fields: nothing to keep."""

    monkeypatch.setattr(
        CollectingDelivery, "sent", property(lambda _self: codes.sent(), ignored), raising=False
    )
    monkeypatch.setattr(
        CollectingDelivery,
        "attempts",
        property(lambda _self: len(codes.sent()), ignored),
        raising=False,
    )


def _message(path: Path) -> CodeMessage | None:
    from tests.helpers.smtp import extract_code  # a pytest plugin: imported once pytest has it

    mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(mail, EmailMessage)
    if str(mail["Subject"]).startswith(ALERT_SUBJECT):
        return None
    name, address = email.utils.parseaddr(str(mail["To"]))
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None, f"no text in {path}"
    return CodeMessage(
        person_name=name,
        email=address,
        phone="",
        code=extract_code(part.get_content()),
        valid_minutes=0,
        requested_from=None,
        workstation="",
    )
