"""What the sign-in steps read first, in one statement each.

- Before the password is checked (outside any transaction: argon2 takes tens of milliseconds):
  the settings row, the person who has the login, and this workstation's address as the server
  sees it (``read_for_sign_in``).
- First in each step's transaction: the person, locked, with the database clock and the
  address (``lock_person``), and with it, in the same round trip, what the step reads under
  that lock (``password_step_reads``, ``code_step_reads``: ``reads_along``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Executable, Select, false, select, true
from sqlalchemy.orm import Session

from pmdesk.core import helpdesk, lockout
from pmdesk.core.addresses import normalise_address
from pmdesk.core.clock import Clock
from pmdesk.core.db import Database
from pmdesk.core.models import HelpdeskCode, LoginChallenge, Person, SecuritySettings
from pmdesk.core.office_networks import networks_query
from pmdesk.core.security import SecuritySettingsView, load_settings
from pmdesk.core.settings_row import keep_settings_row
from pmdesk.core.trusted_ips import trust_row_query


def read_for_sign_in(
    db: Database, session: Session, key: str
) -> tuple[Person | None, SecuritySettingsView, str | None]:
    """(the person whose login key is ``key`` or None, the settings, the client address)."""
    address = db.client_address_column()
    columns: list[Any] = [SecuritySettings, Person]
    columns += [address] if address is not None else []
    found = session.execute(
        select(*columns)
        .select_from(SecuritySettings)
        .outerjoin(Person, Person.login_key == key if key else false())
        .order_by(SecuritySettings.id)
        .limit(1)
    ).first()
    if found is None:  # no settings row (a database set up by hand): each read apart
        person = (
            session.execute(select(Person).where(Person.login_key == key)).scalar_one_or_none()
            if key
            else None
        )
        return person, load_settings(session), db.client_address(session)
    keep_settings_row(session, found[0])
    if address is not None:
        db.remember_client_address(session, found[2])
    return found[1], load_settings(session), db.client_address(session)


def lock_person(
    db: Database, clock: Clock, session: Session, person_id: int
) -> tuple[Person | None, datetime]:
    """(the person, their row locked until the transaction ends, or None; the transaction's
    "now"), the client address kept for ``db.client_address``: one statement."""
    address = db.client_address_column()
    columns: list[Any] = [Person, clock.column(db.engine.dialect.name)]
    columns += [address] if address is not None else []
    found = session.execute(
        select(*columns).where(Person.id == person_id).with_for_update()
    ).first()
    if found is None:
        return None, clock.now(session)
    if address is not None:
        db.remember_client_address(session, found[2])
    return found[0], clock.observe(session, found[1])


def read_challenge(
    db: Database, session: Session, challenge_id: str
) -> tuple[LoginChallenge | None, SecuritySettings | None, str | None]:
    """Before the code is checked (outside any transaction: scrypt takes tens of
    milliseconds): the challenge, the settings row its step decides with (keep it for the
    step's transaction: ``settings_row.carry_settings_row``) and the client address, in one
    statement."""
    address = db.client_address_column()
    columns: list[Any] = [LoginChallenge, SecuritySettings]
    columns += [address] if address is not None else []
    found = session.execute(
        select(*columns)
        .select_from(LoginChallenge)
        .outerjoin(SecuritySettings, true())
        .where(LoginChallenge.id == challenge_id)
        .order_by(SecuritySettings.id)
        .limit(1)
    ).first()
    if found is None:
        return None, None, None
    if found[1] is not None:
        keep_settings_row(session, found[1])
    if address is not None:
        db.remember_client_address(session, found[2])
    return found[0], found[1], db.client_address(session)


# ----- what a step reads once it holds the person's lock (sent along with it: reads_along) ----


def password_step_reads(
    db: Database, person_id: int, address: str | None, settings: SecuritySettingsView
) -> list[Executable]:
    """The reads the password step makes once it holds the person's lock: the failure row
    for this address, and with two-step login on the trust policy's office networks, the
    trusted address, the live helpdesk code and the codes sent lately."""
    reads: list[Executable] = [lockout.failure_row_query(person_id, address)]
    if not settings.two_factor_enabled:
        return reads
    reads.append(networks_query())
    normalised = normalise_address(address)
    if normalised is not None:
        reads.append(trust_row_query(person_id, normalised))
    if not helpdesk.on_server(db):
        reads.append(helpdesk_expiry(person_id))
    reads.append(codes_waiting(person_id))
    return reads


def code_step_reads(
    challenge_id: str, person_id: int, address: str | None, trust_at: str | None
) -> list[Executable]:
    """The reads the code step makes once it holds the person's lock: the challenge (locked),
    the failure row for this address, and when the address is to be trusted (``trust_at``)
    the trust policy's office networks and the trust row (locked)."""
    reads: list[Executable] = [
        challenge_locked(challenge_id),
        lockout.failure_row_query(person_id, address),
    ]
    normalised = normalise_address(trust_at)
    if normalised is not None:
        reads += [networks_query(), trust_row_query(person_id, normalised, lock=True)]
    return reads


def helpdesk_expiry(person_id: int) -> Select[datetime]:
    """When the person's helpdesk code expires (at most one per person), whether live or not:
    the step decides against its own "now"."""
    return select(HelpdeskCode.expires_at).where(HelpdeskCode.person_id == person_id)


def codes_waiting(person_id: int) -> Select[datetime | None]:
    """When each of the person's unused codes was last sent (voided and replaced ones too),
    locked after the person's row."""
    return (
        select(LoginChallenge.last_sent_at)
        .where(LoginChallenge.person_id == person_id, LoginChallenge.used_at.is_(None))
        .with_for_update()
    )


def challenge_locked(challenge_id: str) -> Select[LoginChallenge]:
    return select(LoginChallenge).where(LoginChallenge.id == challenge_id).with_for_update()
