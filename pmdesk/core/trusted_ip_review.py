"""The "Needs review" list of trusted addresses (issue 16 §2): which rows a helpdesk should look
at, and why.

A trusted row needs review when any of these holds:

- **Outside office networks**: its address is in none of the office networks;
- **Public address**: its address is public (``ipaddress``'s ``is_global``: not private,
  loopback, link-local, shared CGNAT 100.64.0.0/10 or an IPv6 unique-local address), inside an
  office network or not;
- **Shared by N people**: outside office networks, the same address is trusted for more than
  one person (a shared home, café or hotel network; inside an office everyone shares it);
- **Never used**: no sign-in used the trust after the one that made it (``last_used_at`` is
  empty or not later than ``created_at``: the code login that trusts an address records itself
  as the first use), and it was made more than ``NEVER_USED_GRACE`` (a day) ago, so that an
  address trusted this morning is not listed before its owner had a chance to come back.

How it stays correct across pages on 100,000 rows: the first two reasons depend on the address
alone, and an address's office network needs CIDR arithmetic that SQLite and MariaDB cannot do
on the stored text. So the distinct addresses (``SELECT DISTINCT address``, read from the
address index; far fewer than rows, as an office's people share its addresses) are classified
here, once per query, and the filter handed to SQL is ``address IN (flagged)`` or ``address NOT
IN (fine)``, whichever list is shorter, OR the never-used condition. Count, offset and keyset
paging then all run in SQL on the same filter, so the count and every page agree. The "Shared"
reason is a subset of "Outside" (it only names why), so the filter needs no self-join; the page
asks for the owners of its own addresses with one GROUP BY.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from pmdesk.core.addresses import Network
from pmdesk.core.i18n import translate
from pmdesk.core.models import TrustedIp
from pmdesk.core.office_networks import OUTSIDE, network_of
from pmdesk.core.trusted_ip_row import TrustedIpRow

#: A trust younger than this is not "never used" yet.
NEVER_USED_GRACE = timedelta(days=1)
PUBLIC: str = translate("trusted_ip_review", "Public address")
NEVER_USED: str = translate("trusted_ip_review", "Never used")

_Networks = Sequence[tuple[str, list[Network]]]


def shared_by(people: int) -> str:
    """'Shared by 3 people'."""
    return translate("trusted_ip_review", "Shared by {count} people").format(count=people)


def is_public(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_global
    except ValueError:
        return False


def address_reasons(address: str, networks: _Networks) -> list[str]:
    """The reasons that depend on the address alone."""
    reasons: list[str] = []
    if network_of(address, networks) is None:
        reasons.append(OUTSIDE)
    if is_public(address):
        reasons.append(PUBLIC)
    return reasons


def never_used(now: datetime) -> ColumnElement[bool]:
    return and_(
        or_(TrustedIp.last_used_at.is_(None), TrustedIp.last_used_at <= TrustedIp.created_at),
        TrustedIp.created_at <= now - NEVER_USED_GRACE,
    )


class AddressVerdicts:
    """Whether each address needs review by itself, for one set of office networks: classifying
    100,000 addresses with ``ipaddress`` costs about a second, the lookups a few milliseconds,
    so the list's next page and the count do not pay it again. Owned by the service that
    lists (``TrustedIpService``); bounded; a change of the networks starts afresh."""

    LIMIT = 1_000_000

    def __init__(self) -> None:
        self._key: tuple[object, ...] | None = None
        self._known: dict[str, bool] = {}

    def for_networks(self, networks: _Networks) -> dict[str, bool]:
        key = tuple((name, tuple(str(r) for r in ranges)) for name, ranges in networks)
        if key != self._key or len(self._known) > self.LIMIT:
            self._key, self._known = key, {}
        return self._known


def _needs_review(address: str, networks: _Networks) -> bool:
    """``address_reasons`` as a yes/no, parsing the address once."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return True  # not an address at all: worth a look
    if ip.is_global:
        return True
    return not any(ip.version == n.version and ip in n for _, ranges in networks for n in ranges)


def review_filter(
    s: Session, now: datetime, networks: _Networks, verdicts: AddressVerdicts
) -> ColumnElement[bool]:
    """The SQL condition of the rows that need review (see the module's docstring)."""
    flagged: list[str] = []
    fine: list[str] = []
    known = verdicts.for_networks(networks)
    for address in s.execute(select(TrustedIp.address).distinct()).scalars():
        needs = known.get(address)
        if needs is None:
            needs = known[address] = _needs_review(address, networks)
        (flagged if needs else fine).append(address)
    # Rendered inline (the addresses are normalised, validated text): no engine's limit on
    # bound parameters applies however many there are.
    if len(flagged) <= len(fine):
        by_address = TrustedIp.address.in_(
            bindparam("review_flagged", flagged, expanding=True, literal_execute=True)
        )
    else:
        by_address = TrustedIp.address.not_in(
            bindparam("review_fine", fine, expanding=True, literal_execute=True)
        )
    return or_(by_address, never_used(now))


def with_reasons(
    s: Session, rows: list[TrustedIpRow], now: datetime, networks: _Networks
) -> list[TrustedIpRow]:
    """The page's rows, each with why it needs review."""
    addresses = sorted({r.address for r in rows})
    owners: dict[str, int] = {}
    if addresses:
        owners = {
            str(address): int(count)
            for address, count in s.execute(
                select(TrustedIp.address, func.count(func.distinct(TrustedIp.person_id)))
                .where(TrustedIp.address.in_(addresses))
                .group_by(TrustedIp.address)
            ).all()
        }
    cutoff = now - NEVER_USED_GRACE
    found = []
    for row in rows:
        reasons = address_reasons(row.address, networks)
        people = owners.get(row.address, 1)
        if OUTSIDE in reasons and people > 1:
            reasons.append(shared_by(people))
        unused = row.last_used_at is None or row.last_used_at <= row.created_at
        if unused and row.created_at <= cutoff:
            reasons.append(NEVER_USED)
        found.append(replace(row, reasons=tuple(reasons)))
    return found
