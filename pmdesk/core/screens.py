"""What a screen reads or writes in one call, as typed results (run on a worker thread).

The screens under ``pmdesk.ui`` never open a database session: when a screen needs several
services, the keyring or the database clock in one go, the composition lives here.
See docs/architecture.md ("Layers").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pmdesk.core.addresses import normalise_address
from pmdesk.core.audit import AuditRow, AuditService
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.delivery.base import DeliverySettings
from pmdesk.core.delivery.factory import secret_key
from pmdesk.core.errors import PermissionDenied
from pmdesk.core.groups import find_group
from pmdesk.core.helpdesk import HelpdeskCodeService, HelpdeskState
from pmdesk.core.modules import ADMINISTRATOR_GROUP, Action
from pmdesk.core.office_networks import OUTSIDE, load_networks, network_of
from pmdesk.core.permissions import rights_of
from pmdesk.core.personnel import PersonnelService, PersonRecord
from pmdesk.core.security import ConnectionStatus, SecurityService, SecuritySettingsView
from pmdesk.core.sessions import SessionRow, SessionService
from pmdesk.core.trusted_ip_row import TrustedIpRow
from pmdesk.core.trusted_ips import TrustedIpService
from pmdesk.secrets import SecretStoreError

# ----- the clock and rights ---------------------------------------------------------------------


def server_now(ctx: CoreContext) -> datetime:
    """The database's clock (the one every expiry is measured by)."""
    with ctx.db.session() as s:
        return ctx.clock.now(s)


def rights_at_sign_in(ctx: CoreContext, person_id: int) -> Mapping[str, frozenset[Action]]:
    """What a freshly signed-in person's group may do, by module key."""
    with ctx.db.session() as s:
        rights = rights_of(s, person_id)
    return {key: frozenset(actions) for key, actions in rights.items()}


def administrator_group_id(ctx: CoreContext) -> int | None:
    """The Administrators group, which the first person joins (None: not there)."""
    with ctx.db.session() as s:
        group = find_group(s, ADMINISTRATOR_GROUP)
        return group.id if group else None


# ----- Personnel ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonDetails:
    """One person with what the form shows around them."""

    record: PersonRecord
    trusted_ips: Sequence[TrustedIpRow] | None  # None: this user may not see them
    server_now: datetime
    sessions: Sequence[SessionRow] | None = None  # None: this user may not see them
    helpdesk: HelpdeskState | None = None  # None: this user may not see it


def person_details(
    ctx: CoreContext, service: PersonnelService, actor: Actor, person_id: int
) -> PersonDetails:
    """A person, their trusted addresses, open sessions and helpdesk code (where ``actor`` may
    see them), and the database clock the form measures expiry by."""
    record = service.get(actor, person_id)
    trusted: Sequence[TrustedIpRow] | None
    try:
        trusted = TrustedIpService(ctx).for_person(actor, person_id)
    except PermissionDenied:
        trusted = None
    open_sessions: Sequence[SessionRow] | None
    try:
        open_sessions = SessionService(ctx).for_person(actor, person_id)
    except PermissionDenied:
        open_sessions = None
    desk: HelpdeskState | None
    try:
        desk = HelpdeskCodeService(ctx).state(actor, person_id) if record.form.login else None
    except PermissionDenied:
        desk = None
    return PersonDetails(record, trusted, server_now(ctx), open_sessions, desk)


# ----- System → Security ----------------------------------------------------------------------


@dataclass(frozen=True)
class SecretState:
    """Whether the password/token for the saved settings is in this workstation's keyring."""

    key: str | None = None  # factory.secret_key(...), None when none is needed
    stored: bool | None = None  # None: unknown (the keyring could not be asked)
    problem: str | None = None


@dataclass(frozen=True)
class SecurityState:
    """Everything the Security screen's left column shows."""

    settings: SecuritySettingsView
    status: ConnectionStatus
    secret: SecretState


@dataclass(frozen=True)
class DeliverySaved:
    settings: SecuritySettingsView
    secret: SecretState
    secret_stored: bool  # a typed password/token went to the keyring
    secret_problem: str | None = None


def secret_state(ctx: CoreContext, delivery: DeliverySettings) -> SecretState:
    """Whether this workstation's keyring holds the secret ``delivery`` needs."""
    key = secret_key(delivery)
    if key is None:
        return SecretState()
    try:
        return SecretState(key, ctx.secrets.get(key) is not None)
    except SecretStoreError as exc:
        return SecretState(key, None, str(exc))


def security_state(ctx: CoreContext, actor: Actor) -> SecurityState:
    settings, status = SecurityService(ctx).settings_and_status(actor)
    return SecurityState(settings, status, secret_state(ctx, settings.delivery))


def save_delivery(
    ctx: CoreContext,
    actor: Actor,
    delivery: DeliverySettings,
    expected_version: int | None,
    secret: str = "",
) -> DeliverySaved:
    """Save how codes are delivered, then the typed ``secret`` (if any) in the keyring under
    the saved settings' key. The settings stay saved when the keyring refuses the secret:
    ``secret_problem`` says why."""
    saved = SecurityService(ctx).update_delivery(actor, delivery, expected_version)
    key = secret_key(saved.delivery)
    stored, problem = False, None
    if secret and key is not None:
        try:
            ctx.secrets.set(key, secret)
            stored = True
        except SecretStoreError as exc:
            problem = str(exc)
    return DeliverySaved(saved, secret_state(ctx, saved.delivery), stored, problem)


# ----- address trace (Security, Log, ``pmdesk ip trace``) ----------------------------------------

TRACE_EVENTS = 200  # the newest events a trace shows


@dataclass(frozen=True)
class AddressTrace:
    """Everyone and everything at one IP address: who has it trusted, the newest events there
    (the Log's exact filter), and everyone seen there (acted from it, or has it trusted)."""

    address: str  # canonical
    network_name: str  # its office network, or "Outside office networks"
    trusted: Sequence[TrustedIpRow]
    events: Sequence[AuditRow]
    seen: Sequence[str]


def address_trace(
    ctx: CoreContext, actor: Actor, address: str, *, events: int = TRACE_EVENTS
) -> AddressTrace:
    """The trace of ``address`` (System → Security Read and System → Log Read; a
    ``ValidationError`` on ``address`` for what is not an IP address)."""
    trusted = TrustedIpService(ctx).at_address(actor, address)
    canonical = normalise_address(address) or address.strip()
    found = AuditService(ctx).query(actor, address=canonical, limit=events)
    if trusted:  # its rows name the network already
        network = trusted[0].network_name
    else:
        with ctx.db.session() as s:
            network = network_of(canonical, load_networks(s)) or OUTSIDE
    seen = sorted({e.actor for e in found if e.actor} | {r.login for r in trusted if r.login})
    return AddressTrace(canonical, network, trusted, found, seen)
