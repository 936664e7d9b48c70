"""Office networks and the trust policy: where "Trust this IP" is allowed.

An office network is a name and one or more CIDR ranges ("Head office": 10.1.0.0/16). The
trust policy (System → Security) says where an address may be trusted: ``anywhere`` (the
behaviour before office networks), ``office-networks`` (only inside one of them) or ``never``.

``policy_refusal`` is the rule; ``trusted_ips.trust_refusal`` asks it, so the login's code step,
"Trust this IP", ``ip trust`` and the check of an existing trust at sign-in all follow it: an
address trusted before the policy changed stops being trusted when it falls outside.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pmdesk.core import audit
from pmdesk.core.addresses import Network, address_list_text, normalise_address, parse_network
from pmdesk.core.audit import Event
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.errors import NotFound, ValidationError, message_of
from pmdesk.core.i18n import Text, translate
from pmdesk.core.models import OfficeNetwork, SecuritySettings, TrustedIp
from pmdesk.core.modules import SYSTEM_SECURITY, Action
from pmdesk.core.permissions import require
from pmdesk.core.settings_row import settings_row
from pmdesk.core.validation import FieldInvalid, clean_text

ANYWHERE = "anywhere"
OFFICE_NETWORKS = "office-networks"
NEVER = "never"
TRUST_POLICIES = (ANYWHERE, OFFICE_NETWORKS, NEVER)
#: What a new database starts with (set at first run; an upgraded one keeps ``anywhere``).
NEW_DATABASE_POLICY = OFFICE_NETWORKS
#: The network column of an address in no office network.
OUTSIDE: str = translate("office_networks", "Outside office networks")
NAME_MAX_LENGTH = 80
RANGES_MAX_LENGTH = 2000

OUTSIDE_REFUSAL = translate(
    "office_networks", "Trusting this address is not allowed: it is outside the office networks."
)
NEVER_REFUSAL = translate(
    "office_networks", "Trusting this address is not allowed: trusting addresses is switched off."
)
POLICY_CHOICES = translate("office_networks", "The trust policy is one of: {choices}.").format(
    choices=", ".join(TRUST_POLICIES)
)


@dataclass(frozen=True)
class OfficeNetworkView:
    id: int
    name: str
    ranges: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True)
class TrustDecision:
    """Whether an address may be trusted under the policy, why not, and its office network."""

    allowed: bool
    reason: str | None
    network_name: str | None


@dataclass(frozen=True)
class TrustImpact:
    """What a change of the policy or of the office networks does to trust given today."""

    addresses: int  # valid trusted addresses (per person) that stop being trusted
    people: int  # the people they belong to

    def describe(self) -> str:
        """'3 addresses stop being trusted, 2 people affected'."""
        one_address, one_person = self.addresses == 1, self.people == 1
        if one_address and one_person:
            text = translate("office_networks", "1 address stops being trusted, 1 person affected")
        elif one_address:
            text = translate(
                "office_networks", "1 address stops being trusted, {people} people affected"
            )
        elif one_person:
            text = translate(
                "office_networks", "{addresses} addresses stop being trusted, 1 person affected"
            )
        else:
            text = translate(
                "office_networks",
                "{addresses} addresses stop being trusted, {people} people affected",
            )
        return text.format(addresses=self.addresses, people=self.people)


_Networks = Sequence[tuple[str, list[Network]]]


# ----- validation ----------------------------------------------------------------------------


def clean_network_name(value: str) -> str:
    return clean_text(
        value, label=translate("office_networks", "Name"), max_length=NAME_MAX_LENGTH, required=True
    )


def clean_ranges(values: Sequence[str]) -> list[Network]:
    """Each CIDR range parsed (IPv4 or IPv6), or FieldInvalid naming the first bad one."""
    found: list[Network] = []
    for raw in values:
        entry = raw.strip()
        if not entry:
            continue
        try:
            network = parse_network(entry)
        except ValueError as exc:
            raise FieldInvalid(message_of(exc)) from None
        if network in found:
            raise FieldInvalid(
                translate("office_networks", "{network} is listed twice.").format(
                    network=str(network)
                )
            )
        found.append(network)
    if not found:
        raise FieldInvalid(
            translate("office_networks", "Give at least one range, such as 10.1.0.0/16.")
        )
    if len(address_list_text(found)) > RANGES_MAX_LENGTH:
        raise FieldInvalid(
            translate("office_networks", "The ranges can have at most {count} characters.").format(
                count=RANGES_MAX_LENGTH
            )
        )
    return found


def _ranges_text(networks: Sequence[Network]) -> str:
    return ", ".join(str(n) for n in networks)


def _parsed(text: str) -> list[Network]:
    found: list[Network] = []
    for entry in text.split(","):
        try:
            found.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            continue  # a range saved by hand that is not valid is skipped, not fatal
    return found


# ----- rules usable inside another service's transaction -------------------------------------


_KEPT = "pmdesk_office_networks"  # session.info: the networks this unit of work read


def load_networks(session: Session) -> list[tuple[str, list[Network]]]:
    """Every office network's name and ranges, by name (no permission check: for the rules).
    Read once per unit of work (a sign-in step asks several times); ``forget_networks`` after
    changing them in the same unit."""
    kept = session.info.get(_KEPT)
    transaction = session.get_transaction()
    if transaction is not None and kept is not None and kept[0] is transaction:
        return list(kept[1])
    rows = session.execute(networks_query()).all()
    networks = [(name, _parsed(ranges)) for name, ranges in rows]
    session.info[_KEPT] = (session.get_transaction(), tuple(networks))
    return networks


def networks_query() -> Select[str, str]:
    """Every office network's name and ranges (a sign-in step reads it along: ``reads_along``)."""
    return select(OfficeNetwork.name, OfficeNetwork.ranges).order_by(OfficeNetwork.name_key)


def forget_networks(session: Session) -> None:
    """The unit of work changed the office networks: the next ``load_networks`` reads them."""
    session.info.pop(_KEPT, None)


def network_of(address: str | None, networks: Sequence[tuple[str, list[Network]]]) -> str | None:
    """The name of the first office network holding ``address``, or None."""
    normalised = normalise_address(address)
    if normalised is None:
        return None
    ip = ipaddress.ip_address(normalised)
    for name, ranges in networks:
        if any(ip.version == n.version and ip in n for n in ranges):
            return name
    return None


def trust_policy(session: Session) -> str:
    row = settings_row(session)
    policy = row.trust_policy if row is not None else None
    return policy if policy in TRUST_POLICIES else ANYWHERE


def decide(session: Session, address: str | None) -> TrustDecision:
    """What the trust policy says about ``address`` (no permission check)."""
    policy = trust_policy(session)
    network = network_of(address, load_networks(session)) if policy != NEVER else None
    if policy == NEVER:
        return TrustDecision(False, NEVER_REFUSAL, None)
    if policy == OFFICE_NETWORKS and network is None:
        return TrustDecision(False, OUTSIDE_REFUSAL, None)
    return TrustDecision(True, None, network)


def policy_refusal(session: Session, address: str | None) -> str | None:
    """Why the trust policy refuses ``address``, or None."""
    return decide(session, address).reason


def apply_new_database_policy(session: Session) -> None:
    """A new database (its first administrator being made) starts with office networks only."""
    row = session.execute(
        select(SecuritySettings).order_by(SecuritySettings.id).limit(1)
    ).scalar_one_or_none()
    if row is not None:
        row.trust_policy = NEW_DATABASE_POLICY


def start_new_database_on_server(session: Session) -> None:
    """``apply_new_database_policy`` on a server-enforced PostgreSQL, where nobody is signed in
    yet to write the setting: the server's own function does it while nobody can sign in."""
    session.execute(text("SELECT pmdesk.start_new_database()"))


def _refuses(policy: str, networks: _Networks, address: str) -> bool:
    return policy == NEVER or (policy == OFFICE_NETWORKS and network_of(address, networks) is None)


def impact(
    session: Session,
    now: datetime,
    *,
    policy: str | None = None,
    networks: _Networks | None = None,
    trust_days: int | None = None,
) -> TrustImpact:
    """How many addresses trusted and still valid at ``now`` would stop being trusted with
    ``policy``, ``networks`` and/or a trust period of ``trust_days`` instead of today's (no
    permission check)."""
    policy_now, networks_now = trust_policy(session), load_networks(session)
    policy_then = policy if policy is not None else policy_now
    networks_then = networks if networks is not None else networks_now
    days = session.execute(
        select(SecuritySettings.trust_days).order_by(SecuritySettings.id).limit(1)
    ).scalar_one_or_none()
    cutoff_now = now - timedelta(days=days or 30)
    cutoff_then = now - timedelta(days=trust_days) if trust_days is not None else cutoff_now
    query = select(TrustedIp.person_id, TrustedIp.address, TrustedIp.created_at).where(
        TrustedIp.created_at > cutoff_now
    )
    if policy is None and networks is None:
        # Only the period changes: only rows older than the new period can be affected.
        query = query.where(TrustedIp.created_at <= cutoff_then)
    addresses, people = 0, set()
    for person_id, address, created_at in session.execute(query):
        if _refuses(policy_now, networks_now, address):
            continue  # not trusted today either
        if created_at <= cutoff_then or _refuses(policy_then, networks_then, address):
            addresses += 1
            people.add(person_id)
    return TrustImpact(addresses, len(people))


# ----- the service ---------------------------------------------------------------------------


class OfficeNetworkService:
    def __init__(self, ctx: CoreContext) -> None:
        self._ctx = ctx

    def list(self, actor: Actor) -> list[OfficeNetworkView]:
        """Every office network, by name (System → Security Read)."""
        with self._ctx.db.session() as s:
            require(s, actor, SYSTEM_SECURITY, Action.READ)
            rows = s.execute(select(OfficeNetwork).order_by(OfficeNetwork.name_key)).scalars()
            return [_view(r) for r in rows]

    def may_trust(self, address: str | None) -> TrustDecision:
        """What the policy says about ``address``, for the login dialog and the CLI to ask
        before offering "Trust this IP"."""
        with self._ctx.db.session() as s:
            return decide(s, address)

    def impact_of_policy(self, actor: Actor, policy: str) -> TrustImpact:
        """What switching to ``policy`` would stop trusting (System → Security Read)."""
        if policy not in TRUST_POLICIES:
            raise ValidationError({"trust_policy": POLICY_CHOICES})
        with self._ctx.db.session() as s:
            require(s, actor, SYSTEM_SECURITY, Action.READ)
            return impact(s, self._ctx.clock.now(s), policy=policy)

    def impact_of_removing(self, actor: Actor, name: str) -> TrustImpact:
        """What removing the office network ``name`` would stop trusting (Security Read)."""
        key = name.strip().casefold()
        with self._ctx.db.session() as s:
            require(s, actor, SYSTEM_SECURITY, Action.READ)
            found = s.execute(select(OfficeNetwork.id).where(OfficeNetwork.name_key == key)).first()
            if found is None:
                raise NotFound(_no_network(name))
            rest = [n for n in load_networks(s) if n[0].casefold() != key]
            return impact(s, self._ctx.clock.now(s), networks=rest)

    def add(self, actor: Actor, name: str, ranges: Sequence[str]) -> OfficeNetworkView:
        """A new office network (System → Security Edit); names are unique ignoring case."""
        errors: dict[str, str] = {}
        cleaned_name = ""
        networks: list[Network] = []
        try:
            cleaned_name = clean_network_name(name)
        except FieldInvalid as exc:
            errors["name"] = message_of(exc)
        try:
            networks = clean_ranges(ranges)
        except FieldInvalid as exc:
            errors["ranges"] = message_of(exc)
        if errors:
            raise ValidationError(errors)
        taken = ValidationError(
            {
                "name": translate(
                    "office_networks", "An office network named '{name}' exists."
                ).format(name=cleaned_name)
            }
        )
        try:
            with self._ctx.db.write_session() as s:
                require(s, actor, SYSTEM_SECURITY, Action.EDIT)
                key = cleaned_name.casefold()
                if s.execute(select(OfficeNetwork.id).where(OfficeNetwork.name_key == key)).first():
                    raise taken
                row = OfficeNetwork(
                    name=cleaned_name,
                    name_key=key,
                    ranges=_ranges_text(networks),
                    created_at=self._ctx.clock.now(s),
                )
                s.add(row)
                s.flush()
                forget_networks(s)
                audit.record(
                    s,
                    self._ctx.clock,
                    actor,
                    Event.NETWORK_ADDED,
                    subject=f"office network {cleaned_name}",
                    detail=row.ranges,
                )
                return _view(row)
        except IntegrityError as exc:  # another workstation added the same name a moment ago
            raise taken from exc

    def remove(self, actor: Actor, name: str) -> None:
        """Remove an office network by name, ignoring case (System → Security Edit)."""
        key = name.strip().casefold()
        with self._ctx.db.write_session() as s:
            require(s, actor, SYSTEM_SECURITY, Action.EDIT)
            row = s.execute(
                select(OfficeNetwork).where(OfficeNetwork.name_key == key)
            ).scalar_one_or_none()
            if row is None:
                raise NotFound(_no_network(name))
            subject, detail = f"office network {row.name}", row.ranges
            s.execute(delete(OfficeNetwork).where(OfficeNetwork.id == row.id))
            forget_networks(s)
            audit.record(
                s, self._ctx.clock, actor, Event.NETWORK_REMOVED, subject=subject, detail=detail
            )


def _view(row: OfficeNetwork) -> OfficeNetworkView:
    return OfficeNetworkView(
        id=row.id,
        name=row.name,
        ranges=tuple(r.strip() for r in row.ranges.split(",") if r.strip()),
        created_at=row.created_at,
    )


def _no_network(name: str) -> Text:
    return translate("office_networks", "There is no office network named '{name}'.").format(
        name=name.strip()
    )
