"""One row of the trusted-address list, as every view of it shows it (the Security list, the
review list, a person's trusted addresses, a trace). Its own module so that the review rules
(``trusted_ip_review``) and the service (``trusted_ips``) both use it without importing each
other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pmdesk.core.office_networks import OUTSIDE


@dataclass(frozen=True)
class TrustedIpRow:
    id: int
    address: str
    created_at: datetime
    last_used_at: datetime | None
    person_id: int
    person_name: str
    login: str
    expires_at: datetime
    # The office network holding the address, or "Outside office networks".
    network_name: str = OUTSIDE
    # Why it needs review (the "Needs review" list only): "Outside office networks", ...
    reasons: tuple[str, ...] = ()
