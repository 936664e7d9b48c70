"""``pmdesk login`` under the trust policy, end to end: the command runs in a network namespace
against a private PostgreSQL (as in test_cli_login.py), so the server sees a real,
non-loopback address that the trust policy alone decides about."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update

from pmdesk.core.models import AuditEvent, OfficeNetwork, SecuritySettings, TrustedIp
from pmdesk.core.office_networks import OUTSIDE_REFUSAL
from tests.e2e.test_cli_login import Remote, login_in_the_namespace
from tests.e2e.test_cli_login import remote as remote  # the fixture, reused
from tests.helpers.databases import stage


def _office(remote: Remote, policy: str, ranges: str | None) -> None:
    with stage(remote.db) as s:
        s.execute(update(SecuritySettings).values(trust_policy=policy))
        if ranges is not None:
            s.add(
                OfficeNetwork(
                    name="Head office",
                    name_key="head office",
                    ranges=ranges,
                    created_at=datetime.now(UTC),
                )
            )


def _login_answering_yes(remote: Remote) -> str:
    out, _, _ = login_in_the_namespace(remote, "y")
    assert "Signed in as alice" in out
    return out


def test_outside_the_office_networks_the_trust_question_is_not_asked(remote: Remote) -> None:
    _office(remote, "office-networks", "10.255.0.0/16")  # not the namespace's network
    out = _login_answering_yes(remote)
    assert "Trust this IP? [y/N]" not in out
    assert OUTSIDE_REFUSAL in out
    with stage(remote.db) as s:
        assert s.execute(select(TrustedIp)).scalars().all() == []
        events = [e.event for e in s.execute(select(AuditEvent)).scalars()]
    assert "ip.trusted" not in events


def test_inside_an_office_network_the_question_is_asked_and_trust_given(remote: Remote) -> None:
    _office(remote, "office-networks", str(remote.ns.network))
    out = _login_answering_yes(remote)
    assert "Trust this IP? [y/N]" in out
    with stage(remote.db) as s:
        trusted = s.execute(select(TrustedIp)).scalars().one()
    assert trusted.address == remote.ns.client_address
