"""Hostile input everywhere else the core takes text or numbers: group names, the security
settings (trust days, code lifetime, mail host/port/URL/From/folder), IP addresses, and what is
typed at the login (login, password, security code, attempt id).

Each value is either accepted and stored clean, or refused with a ValidationError naming its
field (a ``Refused`` at the login); nothing else is ever raised, and what is stored afterwards
passes the same validators again.
"""

from __future__ import annotations

import ipaddress
from dataclasses import fields, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from pmdesk.core import codes
from pmdesk.core.addresses import normalise_address
from pmdesk.core.auth import CodeNeeded, RefusalReason, Refused, SignedIn
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.delivery.base import DeliverySettings
from pmdesk.core.delivery.factory import check_settings
from pmdesk.core.errors import ValidationError
from pmdesk.core.groups import GroupService, clean_group_name
from pmdesk.core.models import LoginChallenge, Person, TrustedIp, UserGroup
from pmdesk.core.security import SecurityService, load_settings, validate_delivery
from pmdesk.core.trusted_ips import TrustedIpService
from tests.helpers.login import CollectingDelivery, add_user, enable_two_factor, service
from tests.helpers.staff import add_person
from tests.reliability.helpers import FAST, fingerprint, too_long

ADMIN = Actor.command_line()
NASTY = [
    "\x00",
    "\t",
    "\n",
    "\x1b",
    "\x7f",
    "\u200b",
    "\u200e",
    "\u200f",
    "\u202e",
    "\ufeff",
    "\U000e0001",
    "\ue000",
    "\u0130",
    "\U0001f600",
    "١٢٣",
    "１２",
    "'; --",
    "%",
    "_",
    "\\",
    "\u00a0",
]
hostile = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=3)), max_size=10).map("".join),
    st.integers(60, 400).map(lambda n: "g" * n),
    st.integers(30, 120).map(lambda n: "\u0130" * n),
)
anything: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.integers(-5, 100),
    st.floats(),
    st.text(max_size=8),
    st.decimals(),
)


# ----- group names ---------------------------------------------------------------------------


def stored_groups_are_clean(ctx: CoreContext) -> None:
    with ctx.db.session() as s:
        for group in s.execute(select(UserGroup)).scalars():
            assert clean_group_name(group.name) == group.name
            assert too_long(UserGroup, group) == []


@settings(FAST, max_examples=300)
@given(name=st.one_of(hostile, st.text(min_size=1, max_size=30)))
def test_group_names(sqlite_ctx: CoreContext, name: str) -> None:
    groups = GroupService(sqlite_ctx)
    before = {g.id: g.name for g in groups.list(ADMIN)}
    try:
        created = groups.create(ADMIN, name)
    except ValidationError as exc:
        assert set(exc.errors) == {"name"}, exc.errors
        assert {g.id: g.name for g in groups.list(ADMIN)} == before
    else:
        assert created.name == name.strip()
        assert created.id not in before
        renamed_to = name[::-1] + "x"
        try:
            groups.rename(ADMIN, created.id, renamed_to, created.version)
        except ValidationError as exc:
            assert set(exc.errors) == {"name"}, exc.errors
    stored_groups_are_clean(sqlite_ctx)


# ----- security settings ---------------------------------------------------------------------


@settings(FAST, max_examples=300)
@given(trust_days=anything, code_ttl=anything)
def test_trust_days_and_code_lifetime(
    sqlite_ctx: CoreContext, trust_days: Any, code_ttl: Any
) -> None:
    security = SecurityService(sqlite_ctx)
    current = security.get(ADMIN)
    valid_days = type(trust_days) is int and 1 <= trust_days <= 90
    valid_ttl = type(code_ttl) is int and 1 <= code_ttl <= 10
    try:
        saved = security.update(
            ADMIN, current.version, trust_days=trust_days, code_ttl_minutes=code_ttl
        )
    except ValidationError as exc:
        expected = set()
        if trust_days is not None and not valid_days:
            expected.add("trust_days")
        if code_ttl is not None and not valid_ttl:
            expected.add("code_ttl_minutes")
        assert set(exc.errors) == expected
        assert security.get(ADMIN) == current
    else:
        assert trust_days is None or valid_days
        assert code_ttl is None or valid_ttl
        assert saved.trust_days == (current.trust_days if trust_days is None else trust_days)
        assert saved.code_ttl_minutes == (
            current.code_ttl_minutes if code_ttl is None else code_ttl
        )
    stored = security.get(ADMIN)
    assert 1 <= stored.trust_days <= 90 and 1 <= stored.code_ttl_minutes <= 10


HOSTS = [
    "smtp.example.com",
    "127.0.0.1",
    "[::1]",
    "::1",
    "localhost",
    "a..b",
    "-a.com",
    "a_b.com",
    "exa mple.com",
    "mail.example.com.",
    "x" * 64 + ".com",
    "ünï.com",
    "1.2.3.4:25",
    "fe80::1%eth0",
    "",
    " ",
    "smtp.example.com\n",
    "http://smtp.x.com",
]
URLS = [
    "https://sms.example.com/send",
    "http://127.0.0.1:8080/send",
    "http://sms.example.com",
    "https://user:pw@sms.example.com",
    "ftp://sms.example.com",
    "https://",
    "https://[::1",
    "https://sms.example.com:99999/",
    "https://sms.example.com/\nX-Header: 1",
    "//x.com",
    "https://ünï.example/send",
    "javascript:alert(1)",
    "https://" + "a" * 600 + ".com",
    "HTTPS://SMS.EXAMPLE.COM/send",
    "",
]
FOLDERS = [
    "/var/spool/pmdesk",
    "relative/dir",
    "~/outbox",
    "",
    "C:\\pmdesk\\outbox",
    "/tmp/\x00x",
    "/" + "d" * 600,
]
SENDERS = [
    "security@example.com",
    "Workshop <security@example.com>",
    "a@b",
    "",
    "x@y.co\r\nBcc: z@q.com",
]

delivery_settings = st.builds(
    DeliverySettings,
    method=st.one_of(st.sampled_from(["outbox", "smtp", "sms"]), st.text(max_size=6)),
    outbox_folder=st.one_of(st.sampled_from(FOLDERS), hostile),
    smtp_host=st.one_of(st.sampled_from(HOSTS), hostile),
    smtp_port=st.one_of(st.integers(-10, 70000), st.sampled_from([25, 465, 587, 0, 65535, 65536])),
    smtp_security=st.one_of(st.sampled_from(["starttls", "tls", "none"]), st.text(max_size=5)),
    smtp_username=st.one_of(st.just(""), hostile),
    smtp_from=st.one_of(st.sampled_from(SENDERS), hostile),
    sms_url=st.one_of(st.sampled_from(URLS), hostile),
)
DELIVERY_FIELDS = {f.name for f in fields(DeliverySettings)}


@settings(FAST, max_examples=400)
@given(wanted=delivery_settings)
def test_delivery_settings(sqlite_ctx: CoreContext, wanted: DeliverySettings) -> None:
    security = SecurityService(sqlite_ctx)
    before = security.get(ADMIN)
    try:
        saved = security.update_delivery(ADMIN, wanted, expected_version=before.version)
    except ValidationError as exc:
        assert exc.errors and set(exc.errors) <= DELIVERY_FIELDS, exc.errors
        assert security.get(ADMIN) == before
        return
    stored = saved.delivery
    # What is stored passes the same validation again, unchanged, and the delivery built from
    # it at login time accepts it too.
    assert validate_delivery(stored) == stored
    check_settings(stored)
    assert stored.method == wanted.method
    for text in (stored.smtp_host, stored.sms_url, stored.outbox_folder, stored.smtp_from):
        assert not any(ord(ch) < 32 or ch == "\x7f" for ch in text)
    with sqlite_ctx.db.session() as s:
        assert load_settings(s).delivery == stored


# ----- addresses -----------------------------------------------------------------------------

ADDRESSES = [
    "1.2.3.4",
    "::ffff:1.2.3.4",
    "[::1]:443",
    "1.2.3.4:80",
    "fe80::1%eth0",
    "0.0.0.0",
    "::",
    "01.2.3.4",
    "1.2.3",
    "1.2.3.4.5",
    "256.1.1.1",
    "١.٢.٣.٤",
    "１.２.３.４",
    "localhost",
    " 10.0.0.1 ",
    "10.0.0.1\n",
    "10.0.0.1\x00",
    "::ffff:0.0.0.0",
    "2001:db8::1",
    "2001:DB8::1",
    "[2001:db8::1]",
    "1.2.3.4/32",
    "x" * 100,
    "",
]
address_text = st.one_of(
    st.sampled_from(ADDRESSES),
    hostile,
    st.ip_addresses().map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]:{a.max_prefixlen}"),
    st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
)


@settings(FAST, max_examples=600)
@given(raw=address_text)
def test_normalise_address_never_raises_and_returns_canonical_text(raw: str) -> None:
    found = normalise_address(raw)
    if found is None:
        return
    parsed = ipaddress.ip_address(found)
    assert str(parsed) == found, "canonical text"
    assert not parsed.is_unspecified
    assert not (isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped)
    assert normalise_address(found) == found, "idempotent"
    assert found.isascii()


@settings(FAST, max_examples=200)
@given(raw=address_text)
def test_trusting_an_address(sqlite_ctx: CoreContext, raw: str) -> None:
    person = _person(sqlite_ctx)
    ips = TrustedIpService(sqlite_ctx)
    try:
        row = ips.trust_by_admin(ADMIN, person, raw)
    except ValidationError as exc:
        assert set(exc.errors) == {"address"}
        assert normalise_address(raw) is None
    else:
        assert row.address == normalise_address(raw)
    with sqlite_ctx.db.session() as s:
        for stored in s.execute(select(TrustedIp.address)).scalars():
            assert normalise_address(stored) == stored


def _person(ctx: CoreContext) -> int:
    with ctx.db.session() as s:
        found = s.execute(select(Person.id).where(Person.login == "ipowner")).scalar()
    return found if found is not None else add_person(ctx.db, "ipowner")


# ----- the login: login, password, code, attempt id -----------------------------------------

PASSWORD = "Correct-Horse-42"


@pytest.fixture
def two_step(sqlite_ctx: CoreContext, cheap_scrypt: None) -> tuple[CoreContext, CollectingDelivery]:
    add_user(sqlite_ctx, "alice", PASSWORD)
    enable_two_factor(sqlite_ctx)
    return sqlite_ctx, CollectingDelivery()


@settings(FAST, max_examples=150)
@given(
    login=st.one_of(hostile, st.sampled_from(["alice", "ALICE", " alice ", "alice\x00", "alİce"])),
    password=st.one_of(
        hostile, st.sampled_from([PASSWORD + "\x00", PASSWORD + " ", "\udcff" * 9, "x" * 5000])
    ),
)
def test_hostile_login_and_password_are_refused_generically(
    two_step: tuple[CoreContext, CollectingDelivery], login: Any, password: Any
) -> None:
    ctx, delivery = two_step
    result = service(ctx, delivery).begin(login, password)
    assert isinstance(result, Refused)
    assert result.reason is RefusalReason.BAD_CREDENTIALS
    assert delivery.sent == []


@settings(FAST, max_examples=300)
@given(
    code=st.one_of(
        st.text(max_size=12),
        st.from_regex(r"\A[0-9]{5,7}\Z"),
        st.sampled_from(["", " ", "１２３４５６", "١٢٣٤٥٦", "12345\x00", "123 456", "0x1234"]),
        st.integers(),
        st.none(),
        st.binary(max_size=6),
    )
)
def test_hostile_codes_are_refused_without_raising(
    two_step: tuple[CoreContext, CollectingDelivery], code: Any
) -> None:
    ctx, delivery = two_step
    login = service(ctx, delivery)
    with ctx.db.session() as s:  # each example starts a fresh attempt, unlocked
        s.execute(LoginChallenge.__table__.delete())
        s.execute(Person.__table__.update().values(failed_logins=0, locked_until=None))
    needed = login.begin("alice", PASSWORD)
    assert isinstance(needed, CodeNeeded)
    real = delivery.last_code
    result = login.verify(needed.challenge_id, code, False)
    if code == real:
        assert isinstance(result, SignedIn)
        return
    assert isinstance(result, Refused)
    assert result.reason is RefusalReason.WRONG_CODE
    assert result.attempts_left == 4
    assert isinstance(login.verify(needed.challenge_id, real, False), SignedIn)


@settings(FAST, max_examples=200)
@given(challenge=st.one_of(st.text(max_size=80), st.from_regex(codes.CHALLENGE_ID_RE), st.none()))
def test_hostile_attempt_ids_are_refused_without_raising(
    two_step: tuple[CoreContext, CollectingDelivery], challenge: Any
) -> None:
    ctx, delivery = two_step
    login = service(ctx, delivery)
    before = fingerprint(ctx.db)
    for result in (login.verify(challenge, "123456", True), login.resend(challenge)):
        assert isinstance(result, Refused)
        assert result.reason is RefusalReason.INVALID_CHALLENGE
    after = fingerprint(ctx.db)
    after.pop("audit_events"), before.pop("audit_events")
    assert after == before, "an unknown attempt id changes nothing (it is only audited)"
    assert delivery.sent == []


def test_settings_field_names_match_the_form() -> None:
    """The field names a ValidationError uses are the DeliverySettings field names."""
    with pytest.raises(ValidationError) as info:
        validate_delivery(replace(DeliverySettings(), method="smtp", smtp_port=0))
    assert set(info.value.errors) <= DELIVERY_FIELDS
