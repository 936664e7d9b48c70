"""Hostile input in every Personnel field: only valid values are stored, every invalid one is a
ValidationError naming its field, nothing else is ever raised, and every row in the database
stays valid (read back and put through the same validators after each example).

Runs on SQLite (fast); ``test_bad_input_storage.py`` repeats a smaller pass on the servers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import fields, replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.errors import ValidationError
from pmdesk.core.models import Person
from pmdesk.core.personnel import PersonForm, PersonnelService, PersonRecord
from pmdesk.core.validation import mail_address
from tests.helpers.login import cheap_passwords
from tests.reliability.helpers import FAST, stored_people_problems

FORM_FIELDS = {f.name for f in fields(PersonForm)}
TEXT_LIMITS = {
    "last_name": 100,
    "first_name": 100,
    "number": 40,
    "street": 200,
    "postcode": 20,
    "city": 100,
    "country": 100,
}
REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
JOINERS = {"\u200c", "\u200d"}  # allowed between two visible characters (Persian, emoji)


def _visible(text: str, i: int) -> bool:
    return 0 <= i < len(text) and not (
        text[i].isspace()
        or text[i] in JOINERS
        or unicodedata.category(text[i]) in REFUSED_CATEGORIES
    )


def _invisible(text: str, i: int) -> bool:
    if unicodedata.category(text[i]) not in REFUSED_CATEGORIES:
        return False
    return not (text[i] in JOINERS and _visible(text, i - 1) and _visible(text, i + 1))


# Characters people paste by accident or attackers use to disguise text.
NASTY = [
    "\x00", "\x07", "\x08", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\u200b", "\u200c",
    "\u200d", "\u200e", "\u200f", "\u202a", "\u202e", "\u2066", "\u2069", "\u2060", "\ufeff",
    "\ufffe", "\U000e0001", "\ue000", "\u0378", "\u0130", "ß", "ﬃ", "\u0301", "e\u0301",
    "\U0001f600", "\U0001f468\u200d\U0001f469\u200d\U0001f467", "١٢٣", "１２",
    "'; DROP TABLE personnel; --", "%", "_", "\\", "\u00a0", "\u2028", "\u3000",
]  # fmt: skip

ADMIN = Actor.command_line()
BASE = PersonForm(last_name="Base", first_name="Case")

any_text = st.text(max_size=60)
nasty_text = st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=4)), max_size=12).map(
    "".join
)
long_text = st.one_of(
    st.integers(15, 260).map(lambda n: "x" * n),
    st.integers(10, 130).map(lambda n: "\u0130" * n),  # 'İ'.lower() is two characters
    st.integers(10, 130).map(lambda n: "\U0001f600" * n),
    st.text(min_size=90, max_size=260),
)
hostile = st.one_of(any_text, nasty_text, long_text)

LONG_DOMAIN = ".".join(["b" * 60] * 4) + ".com"  # 247 characters, each label at most 63
EMAILS = {
    "a@b.co": "a@b.co", "Anna.Peeters@Workshop.EXAMPLE": "Anna.Peeters@workshop.example",
    "a+tag@x.com": "a+tag@x.com", "a..b@x.com": None, ".a@x.com": None, "a.@x.com": None,
    "a@x": None, "a@-x.com": None, "a@x-.com": None, "a@x.c": "a@x.c",
    "a@x.museum": "a@x.museum", "ünï@x.com": None, "a b@x.com": None, " a@x.com ": "a@x.com",
    "a@ünï.com": "a@ünï.com", "jan@café.be": "jan@café.be",  # internationalised domains
    "a@x.com\n": "a@x.com", "a@@x.com": None, "a@x..com": None, "a@x.com.": None,
    "@x.com": None, "a@": None, "a@[127.0.0.1]": None, '"q"@x.com': None, "\u202ea@x.com": None,
    "a@xn--bcher-kva.ch": "a@bücher.ch", "a\x00@x.com": None,  # stored readable
    "x" * 64 + "@x.com": "x" * 64 + "@x.com", "x" * 65 + "@x.com": None,
    "a@" + "b" * 63 + ".com": "a@" + "b" * 63 + ".com", "a@" + "b" * 64 + ".com": None,
    "a@" + LONG_DOMAIN: "a@" + LONG_DOMAIN, "a@x.co\u200b": None, "ａ@x.com": None,
    "a@x.١٢": None, "": "", "   ": "",
}  # fmt: skip
PHONES = {
    "+32 470 12 34 56": "+32470123456", "0470 12 34 56": "+32470123456",
    "0032470123456": "+32470123456", "+1 (201) 555-0123": "+12015550123", "12": None,
    "0470 12 34": None,  # a digit short of a mobile number (issue 19, item 16)
    "+1 (555) 123-4567": None,  # 555 is no US area code
    "+0123456789": None, "٠٤٧٠١٢٣٤٥٦": None, "１２３４５６７８９": None,
    "0470/12.34.56": "+32470123456", "+32470123456789012": None, "1e3": None, "+": None,
    "++32470123456": None, "0470-12-34-56\n": "+32470123456", "\u202e0470123456": None,
    "04701234567890123456789012345678901": None,
    "+32 (0) 470 12 34 56": "+32470123456",  # the bracketed trunk 0 is not dialled from abroad
    "0032 (0)9 234 56 78": "+3292345678",
    "+32 470 (0) 12 34 5": "+32470012345",  # a (0) further on is an ordinary digit
    "09 123 45 67": None,  # Belgian subscriber numbers do not start with 1
    "000000000": None, "470123456": "+32470123456",  # no + or 00: a Belgian number
    "+999999999999999": None, "": "", "   ": "",
}  # fmt: skip
# EMAILS and PHONES map what is typed to what must be stored; None: refused.
MONEY = {
    "1e3": None, "NaN": None, "-0": None, "12,345.67": None, "１２": None, "Infinity": None,
    "0.005": None, "-1": None, "0x10": None, "1_000": None, "٣": None, "1.": None, ".5": None,
    "100000000": None, "99999999.999": None, "4 2": Decimal("42.00"), "42,50": Decimal("42.50"),
    "€ 42.50": Decimal("42.50"), "£7": Decimal("7.00"), " 7 ": Decimal("7.00"), "": None,
    "99999999.99": Decimal("99999999.99"), "0": Decimal("0.00"), "00000000.10": Decimal("0.10"),
}  # fmt: skip
# MONEY maps what is typed to what must be stored; None with a non-empty text: refused.

EMAIL_SPEC = re.compile(
    r"\A[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+([a-z]{1,63}|xn--[a-z0-9-]{1,59})\Z"
)
# E.164: a + and at most 15 digits, the first not 0. No minimum: libphonenumber decides what is
# valid, and some valid numbers are short (Iran's +98 9601, a universal access number).
PHONE_SPEC = re.compile(r"\A\+[1-9][0-9]{1,14}\Z")
LOGIN_SPEC = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z")


def clean_text_spec(value: str, limit: int) -> str | None:
    """What a text field must store (None: it must be refused), from the rules in words."""
    text = unicodedata.normalize("NFC", value).strip()
    if len(text) > limit or any(_invisible(text, i) for i in range(len(text))):
        return None
    return text


def people_count(ctx: CoreContext) -> int:
    with ctx.db.session() as s:
        return int(s.execute(select(func.count()).select_from(Person)).scalar_one())


def save(
    ctx: CoreContext, form: PersonForm, field: str | None
) -> tuple[PersonRecord | None, ValidationError | None]:
    """Create the person; a refusal must be a ValidationError naming ``field`` (when given)
    and store nothing. Anything else raised fails the test by itself."""
    service = PersonnelService(ctx, passwords=cheap_passwords())
    before = people_count(ctx)
    try:
        record = service.create(ADMIN, form)
    except ValidationError as exc:
        assert field is None or field in exc.errors, exc.errors
        assert exc.errors and set(exc.errors) <= FORM_FIELDS
        assert all(isinstance(m, str) and m.strip() for m in exc.errors.values())
        assert people_count(ctx) == before, "a refused form stored a row"
        return None, exc
    assert people_count(ctx) == before + 1
    return record, None


def check_database(ctx: CoreContext) -> None:
    assert stored_people_problems(ctx) == []


@settings(FAST, max_examples=400)
@given(field=st.sampled_from(sorted(TEXT_LIMITS)), value=hostile)
def test_text_fields_store_only_clean_text(sqlite_ctx: CoreContext, field: str, value: str) -> None:
    form = replace(BASE, **{field: value})
    record, _ = save(sqlite_ctx, form, field)
    expected = clean_text_spec(value, TEXT_LIMITS[field])
    if field in {"last_name", "first_name"} and expected == "":
        expected = ""  # the other name is still there: an empty one is fine
    if expected is None:
        assert record is None, f"{field}={value!r} must be refused"
    else:
        assert record is not None, f"{field}={value!r} must be accepted"
        assert getattr(record.form, field) == expected
    check_database(sqlite_ctx)


@settings(FAST, max_examples=150)
@given(
    value=st.text(
        alphabet=st.characters(categories=["L", "M", "N", "P", "S", "Zs"]), min_size=1, max_size=40
    ).filter(lambda t: t.strip() and unicodedata.normalize("NFC", t) == t)
)
def test_any_printable_name_is_kept_exactly(sqlite_ctx: CoreContext, value: str) -> None:
    record, _ = save(sqlite_ctx, replace(BASE, last_name=value), "last_name")
    assert record is not None
    assert record.form.last_name == value.strip()
    check_database(sqlite_ctx)


def check_known(
    record: PersonRecord | None, field: str, value: str, known: dict[str, str | None]
) -> None:
    """For a value in ``known`` (typed → stored, None: refused): refused or stored as listed."""
    if value not in known:
        return
    want = known[value]
    if want is None:
        assert record is None, f"{field}={value!r} must be refused"
    else:
        assert record is not None, f"{field}={value!r} must be accepted"
        assert getattr(record.form, field) == want, value


@settings(FAST, max_examples=200)
@given(value=st.one_of(st.sampled_from(sorted(EMAILS)), hostile, st.emails().map(str)))
def test_email_is_a_plain_address_or_refused(sqlite_ctx: CoreContext, value: str) -> None:
    record, _ = save(sqlite_ctx, replace(BASE, email=value), "email")
    check_known(record, "email", value, EMAILS)
    if record is not None and record.form.email:
        stored = record.form.email
        assert EMAIL_SPEC.match(mail_address(stored)), stored  # what a mail server gets
        assert len(stored) <= 254 and len(stored.split("@")[0]) <= 64
        assert stored.split("@")[0] == value.strip().split("@")[0], "the local part is kept"
    elif record is not None:
        assert not value.strip()
    check_database(sqlite_ctx)


@pytest.mark.parametrize("value", sorted(EMAILS))
def test_each_email_edge_case(sqlite_ctx: CoreContext, value: str) -> None:
    record, _ = save(sqlite_ctx, replace(BASE, email=value), "email")
    check_known(record, "email", value, EMAILS)
    if record is not None and record.form.email:
        assert EMAIL_SPEC.match(mail_address(record.form.email)), record.form.email
    check_database(sqlite_ctx)


@settings(FAST, max_examples=200)
@given(
    field=st.sampled_from(["phone", "mobile"]),
    value=st.one_of(
        st.sampled_from(sorted(PHONES)), hostile, st.from_regex(r"\A\+?[0-9 ()./-]{4,34}\Z")
    ),
)
def test_phone_numbers_are_e164_or_refused(sqlite_ctx: CoreContext, field: str, value: str) -> None:
    record, _ = save(sqlite_ctx, replace(BASE, **{field: value}), field)
    check_known(record, field, value, PHONES)
    if record is not None:
        stored = getattr(record.form, field)
        assert stored == "" or PHONE_SPEC.match(stored), stored
        if stored:
            digits = re.sub(r"[^0-9]", "", value)
            assert stored[-4:] == digits[-4:], "the number itself is kept"
    check_database(sqlite_ctx)


@pytest.mark.parametrize("field", ["phone", "mobile"])
@pytest.mark.parametrize("value", sorted(PHONES))
def test_each_phone_edge_case(sqlite_ctx: CoreContext, field: str, value: str) -> None:
    record, _ = save(sqlite_ctx, replace(BASE, **{field: value}), field)
    check_known(record, field, value, PHONES)
    check_database(sqlite_ctx)


@settings(FAST, max_examples=250)
@given(
    value=st.one_of(
        st.sampled_from(sorted(MONEY)),
        hostile,
        st.decimals(allow_nan=True, allow_infinity=True).map(str),
        st.floats().map(str),
        st.from_regex(r"\A-?[0-9]{0,10}([.,][0-9]{0,4})?\Z"),
    )
)
def test_money_is_a_two_decimal_amount_or_refused(sqlite_ctx: CoreContext, value: str) -> None:
    record, _ = save(sqlite_ctx, replace(BASE, hourly_cost=value), "hourly_cost")
    if value in MONEY:
        want = MONEY[value]
        assert (record is None) == (want is None and value != ""), value
        if record is not None and want is not None:
            assert record.form.hourly_cost == f"{want:.2f}"
    if record is not None and record.form.hourly_cost:
        amount = Decimal(record.form.hourly_cost)
        assert Decimal(0) <= amount <= Decimal("99999999.99")
        assert amount == amount.quantize(Decimal("0.01"))
    check_database(sqlite_ctx)


@settings(FAST, max_examples=150)
@given(amount=st.decimals(min_value=0, max_value=Decimal("99999999.99"), places=2))
def test_every_valid_amount_is_kept_exactly(sqlite_ctx: CoreContext, amount: Decimal) -> None:
    record, _ = save(sqlite_ctx, replace(BASE, hourly_cost=str(amount)), "hourly_cost")
    assert record is not None
    assert Decimal(record.form.hourly_cost) == amount
    with sqlite_ctx.db.session() as s:
        stored = s.get(Person, record.id)
        assert stored is not None and stored.hourly_cost == amount


@settings(FAST, max_examples=200)
@given(
    login=st.one_of(hostile, st.from_regex(LOGIN_SPEC), st.sampled_from(NASTY)),
    password=st.one_of(
        st.text(max_size=20),
        st.text(min_size=8, max_size=40),
        st.sampled_from(["\x00" * 8, "pass\x00word", "ab\udcffcdefgh", "x" * 1025, "é" * 8]),
    ),
)
def test_logins_and_passwords(sqlite_ctx: CoreContext, login: str, password: str) -> None:
    form = replace(BASE, login=login, password=password, password_confirm=password, group_id=1)
    bad_login = bool(login.strip()) and not LOGIN_SPEC.match(login.strip())
    record, refused = save(sqlite_ctx, form, "login" if bad_login else None)
    if refused is not None and not bad_login:
        assert {"password", "login"} & set(refused.errors), refused.errors
    if record is not None:
        assert record.form.login == login.strip()
        assert record.form.login == "" or LOGIN_SPEC.match(record.form.login)
        assert record.has_password == bool(password)
    check_database(sqlite_ctx)


def test_a_bad_edit_changes_nothing(sqlite_ctx: CoreContext) -> None:
    service = PersonnelService(sqlite_ctx, passwords=cheap_passwords())
    person = service.create(ADMIN, replace(BASE, email="ok@example.com", hourly_cost="10"))

    @settings(FAST, max_examples=200)
    @given(
        field=st.sampled_from([*sorted(TEXT_LIMITS), "email", "phone", "hourly_cost"]),
        value=hostile,
    )
    def edit(field: str, value: str) -> None:
        current = service.get(ADMIN, person.id)
        try:
            saved = service.update(
                ADMIN, person.id, current.version, replace(current.form, **{field: value})
            )
        except ValidationError as exc:
            names = {"first_name", "last_name"}
            assert field in exc.errors or (field in names and "last_name" in exc.errors)
            after = service.get(ADMIN, person.id)
            assert after.version == current.version
            assert after.form == current.form
        else:
            assert saved.version > current.version
        check_database(sqlite_ctx)

    edit()


@pytest.mark.parametrize(
    "password",
    ["ab\udcffcdefgh", "\ud800" * 8, "pass\x00word", "x" * 1025, "short"],
    ids=["lone-surrogate", "surrogates-only", "nul", "too-long", "short"],
)
def test_unstorable_passwords_are_refused_on_the_password_field(
    sqlite_ctx: CoreContext, password: str
) -> None:
    """Text a terminal can hand over (undecodable bytes become lone surrogates) is refused."""
    form = replace(BASE, login="pw-test", password=password, password_confirm=password, group_id=1)
    record, refused = save(sqlite_ctx, form, "password")
    assert record is None and refused is not None
    check_database(sqlite_ctx)
