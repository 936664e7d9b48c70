"""What the sign-in steps read, in the first round trip of each step's transaction.

Each step locks the person first: found by login (the password step) or by the login attempt
(the code step). With that statement, in the same round trip, go the reads the step makes
under the lock (``reads_along``): the settings row, the failure row for this address, the
office networks, the trusted address, the live helpdesk code, the codes sent lately, the
attempt itself. The person's id and the client address are not known before that statement
returns, so these reads name the person by a subquery (``who``) and the address by the
server's own guess at it (``Database.client_address_guess_column``). A read made with the guess
counts only once the address, read with the lock, turns out the same; else the step reads
again (correct, one round trip more).

The password (argon2) or code (scrypt) is then checked under the lock: tens of
milliseconds, during which another sign-in of the same person waits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Executable, Select, false, literal, select
from sqlalchemy.orm import Session

from pmdesk.core import lockout
from pmdesk.core.addresses import normalise_address
from pmdesk.core.clock import Clock
from pmdesk.core.db import Database
from pmdesk.core.lockout import address_key
from pmdesk.core.models import HelpdeskCode, LoginChallenge, LoginFailure, Person, TrustedIp
from pmdesk.core.office_networks import networks_query
from pmdesk.core.reads_along import read_along
from pmdesk.core.settings_row import settings_row, settings_row_query
from pmdesk.core.trusted_ips import keep_trust_row


@dataclass
class Held:
    """What a step's first statement brought: the person, locked until the transaction ends
    (None: no such person, or no such attempt), the transaction's "now", the client address
    (normalised), and the reads made with the person's lock."""

    person: Person | None
    now: datetime
    address: str | None
    helpdesk_expires_at: datetime | None = None
    codes_sent_at: Sequence[datetime | None] = field(default_factory=list)
    challenge: LoginChallenge | None = None
    desk: HelpdeskCode | None = None


def start_password_step(
    db: Database, clock: Clock, session: Session, key: str, *, helpdesk_here: bool
) -> Held:
    """The password step's first round trip: the person with login ``key`` locked, and what
    the step reads under the lock. ``helpdesk_here``: this workstation checks helpdesk codes
    (not a hardened server)."""
    who = select(Person.id).where(Person.login_key == key).scalar_subquery()
    guess = _address_for_reads(db, session)
    failure = _failure_rows(who, guess)
    trust = _trust_rows(who, guess, lock=False)
    helpdesk = helpdesk_expiry(who) if helpdesk_here else None
    codes = codes_waiting(who)
    _send_along(session, settings_row_query(), failure, networks_query(), trust, helpdesk, codes)
    person, now, address, guessed = _lock(
        db, clock, session, Person.login_key == key if key else false()
    )
    settings_row(session)  # kept for the step (answered: no round trip)
    held = Held(person, now, address)
    if person is None:
        return held
    _keep_guessed(session, person.id, address, guessed, failure, trust, lock=False)
    if helpdesk is not None:
        held.helpdesk_expires_at = session.execute(helpdesk).scalar_one_or_none()
    held.codes_sent_at = session.scalars(codes).all()
    return held


def start_code_step(
    db: Database,
    clock: Clock,
    session: Session,
    challenge_id: str,
    *,
    trust: bool,
    desk: bool,
) -> Held:
    """The code step's first round trip: the person of login attempt ``challenge_id`` locked,
    then the attempt (locked), and what the step reads under the lock: with ``trust`` the
    office networks and the trust row for the attempt's address (locked), with ``desk`` the
    person's helpdesk code."""
    who = select(LoginChallenge.person_id).where(LoginChallenge.id == challenge_id)
    who_id = who.scalar_subquery()
    guess = _address_for_reads(db, session)
    attempt = challenge_locked(challenge_id)
    failure = _failure_rows(who_id, guess)
    trusted_at = select(LoginChallenge.address).where(LoginChallenge.id == challenge_id)
    trust_row = _trust_rows(who_id, trusted_at.scalar_subquery(), lock=True) if trust else None
    desk_row = select(HelpdeskCode).where(HelpdeskCode.person_id == who_id) if desk else None
    _send_along(
        session,
        settings_row_query(),
        attempt,
        failure,
        networks_query() if trust else None,
        trust_row,
        desk_row,
    )
    person, now, address, guessed = _lock(db, clock, session, Person.id == who_id)
    settings_row(session)  # kept for the step (answered: no round trip)
    challenge = session.execute(attempt).scalar_one_or_none()
    held = Held(person, now, address, challenge=challenge)
    if person is None or challenge is None:
        return held
    _keep_guessed(session, person.id, address, guessed, failure, None, lock=True)
    if trust_row is not None:
        row = session.execute(trust_row).scalar_one_or_none()
        if challenge.address is not None and normalise_address(challenge.address) == (
            challenge.address
        ):
            keep_trust_row(session, person.id, challenge.address, row, locked=True)
    if desk_row is not None:
        held.desk = session.execute(desk_row).scalar_one_or_none()
    return held


def _address_for_reads(db: Database, session: Session) -> ColumnElement[Any] | None:
    """The client address for the reads sent with the lock: as this connection read it
    before (exact), else the server's guess at it."""
    known = db.known_client_address(session)
    if known is not None:
        return literal(known)
    return db.client_address_guess_column()


def _send_along(session: Session, *reads: Executable | None) -> None:
    read_along(session, *(read for read in reads if read is not None))


def _lock(
    db: Database, clock: Clock, session: Session, where: ColumnElement[bool]
) -> tuple[Person | None, datetime, str | None, object]:
    """The person ``where`` finds, locked, with the clock, the client address and the
    server's guess at it: one statement."""
    now = clock.column(db.engine.dialect.name)
    columns: list[Any] = [Person, now]
    # Read before on this connection (its address never changes): not asked again.
    known = db.known_client_address(session)
    address = db.client_address_column() if known is None else None
    guess = db.client_address_guess_column() if known is None else None
    columns += [address, guess] if address is not None and guess is not None else []
    # Should nobody be found, the clock and the address still come in this round trip: an
    # unknown login costs what a known one does (its answer takes no longer over a VPN).
    nobody = select(now, address) if address is not None else select(now)
    _send_along(session, nobody)
    found = session.execute(select(*columns).where(where).with_for_update()).first()
    if found is None:
        answer = session.execute(nobody).one()
        if address is not None:
            db.remember_client_address(session, answer[1])
        return None, clock.observe(session, answer[0]), known or db.client_address(session), None
    if known is not None:
        return found[0], clock.observe(session, found[1]), known, known
    guessed = None
    if address is not None and guess is not None:
        db.remember_client_address(session, found[2])
        guessed = found[3]
    return found[0], clock.observe(session, found[1]), db.client_address(session), guessed


def _failure_rows(
    who: ColumnElement[Any], guess: ColumnElement[Any] | None
) -> Select[LoginFailure] | None:
    """The (person, address) failure row, the address as the server guesses it."""
    if guess is None:
        return None
    return select(LoginFailure).where(LoginFailure.person_id == who, LoginFailure.address == guess)


def _trust_rows(
    who: ColumnElement[Any], address: ColumnElement[Any] | None, *, lock: bool
) -> Select[TrustedIp] | None:
    """The trust row for the person and an address the server names."""
    if address is None:
        return None
    query = select(TrustedIp).where(TrustedIp.person_id == who, TrustedIp.address == address)
    return query.with_for_update() if lock else query


def _keep_guessed(
    session: Session,
    person_id: int,
    address: str | None,
    guessed: object,
    failure: Select[LoginFailure] | None,
    trust: Select[TrustedIp] | None,
    *,
    lock: bool,
) -> None:
    """The rows read with the server's guess at the address, kept for the step when the
    guess was right (``lockout``, ``trusted_ips`` then read nothing again)."""
    if failure is not None:
        row = session.execute(failure).scalar_one_or_none()
        if guessed is not None and guessed == address_key(address):
            lockout.keep_failure_row(session, person_id, address, row)
    if trust is not None:
        found = session.execute(trust).scalar_one_or_none()
        normalised = normalise_address(address)
        if normalised is not None and guessed == normalised:
            keep_trust_row(session, person_id, normalised, found, locked=lock)


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


def helpdesk_expiry(person_id: int | ColumnElement[Any]) -> Select[datetime]:
    """When the person's helpdesk code expires (at most one per person), whether live or not:
    the step decides against its own "now"."""
    return select(HelpdeskCode.expires_at).where(HelpdeskCode.person_id == person_id)


def codes_waiting(person_id: int | ColumnElement[Any]) -> Select[datetime | None]:
    """When each of the person's unused codes was last sent (voided and replaced ones too),
    locked after the person's row."""
    return (
        select(LoginChallenge.last_sent_at)
        .where(LoginChallenge.person_id == person_id, LoginChallenge.used_at.is_(None))
        .with_for_update()
    )


def challenge_locked(challenge_id: str) -> Select[LoginChallenge]:
    return select(LoginChallenge).where(LoginChallenge.id == challenge_id).with_for_update()
