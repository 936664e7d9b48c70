"""The storage round trip on the servers: whatever the core accepts is stored and read back
exactly (Unicode, emoji, 'İ', right-to-left text, maximum lengths) on PostgreSQL and on MariaDB
(utf8mb4), and whatever it refuses leaves no row behind. A smaller pass than the SQLite loops:
each example is a few round trips to a server.
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import Database
from pmdesk.core.errors import ValidationError
from pmdesk.core.groups import GroupService
from pmdesk.core.personnel import PersonForm, PersonnelService
from pmdesk.secrets import MemoryStore
from tests.helpers.login import cheap_passwords
from tests.reliability.helpers import FAST, stored_people_problems

pytestmark = pytest.mark.parametrize("db", ["postgresql", "mariadb"], indirect=True)

ADMIN = Actor.command_line()
SAMPLES = [
    "Zoë Ångström-Ørsted",
    "Ğüçlü İşçi",
    "\u0130" * 100,  # lower-cases to 200 characters
    "\U0001f600\U0001f527 emoji",
    "\U0001f468\U0001f3fd",
    "שָׁלוֹם עליכם",
    "مرحبا بالعالم",
    "漢字かなカナ",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛",
    "e\u0301 (decomposed é)",
    "Ω≈ç√∫˜µ≤≥÷",
    "'; DROP TABLE personnel; --",
    "%_\\",
    "x" * 100,
]
LIMITS = {"last_name": 100, "first_name": 100, "number": 40, "city": 100, "street": 200}


@pytest.fixture
def server_ctx(db: Database, tmp_path: Path) -> CoreContext:
    return CoreContext(
        db=db, secrets=MemoryStore(), outbox_default=tmp_path / "outbox", clock=ShiftedClock()
    )


def fit(value: str, field: str) -> str:
    return value[: LIMITS[field]]


@settings(FAST, max_examples=100)
@given(
    field=st.sampled_from(sorted(LIMITS)),
    value=st.one_of(
        st.sampled_from(SAMPLES),
        st.text(min_size=1, max_size=100),
        st.text(alphabet=st.characters(min_codepoint=0x10000), min_size=1, max_size=40),
    ),
)
def test_accepted_text_round_trips_exactly(server_ctx: CoreContext, field: str, value: str) -> None:
    people = PersonnelService(server_ctx, passwords=cheap_passwords())
    form = replace(PersonForm(last_name="Base"), **{field: fit(value, field)})
    try:
        created = people.create(ADMIN, form)
    except ValidationError as exc:
        assert field in exc.errors or (field == "last_name" and "last_name" in exc.errors)
        return
    stored = people.get(ADMIN, created.id)
    assert getattr(stored.form, field) == getattr(created.form, field)
    assert stored.form == created.form
    found = people.page(ADMIN, search=getattr(stored.form, field)[:20], limit=1000)
    if getattr(stored.form, field) and field != "street" and field != "city":
        assert created.id in {row.id for row in found}, "searchable by what is stored"
    assert stored_people_problems(server_ctx) == []


@pytest.mark.parametrize("value", SAMPLES, ids=range(len(SAMPLES)))
def test_each_sample_as_every_name_field(server_ctx: CoreContext, value: str) -> None:
    people = PersonnelService(server_ctx, passwords=cheap_passwords())
    form = PersonForm(
        last_name=fit(value, "last_name"),
        first_name=fit(value, "first_name"),
        number=fit(value, "number"),
        street=value,
        city=fit(value, "city"),
        login="sample.user",
        email="sample@example.com",
        group_id=1,
        password="Sample-Password-1",
        password_confirm="Sample-Password-1",
    )
    created = people.create(ADMIN, form)
    assert people.get(ADMIN, created.id).form == created.form
    assert created.form.last_name == unicodedata.normalize("NFC", value).strip()
    assert stored_people_problems(server_ctx) == []


@pytest.mark.parametrize("name", ["\u0130" * 100, "Gäste 😀", "שָׁלוֹם", "Ğüçlü İşçi"])
def test_group_names_round_trip(server_ctx: CoreContext, name: str) -> None:
    groups = GroupService(server_ctx)
    created = groups.create(ADMIN, name)
    assert created.name == name
    assert {g.name for g in groups.list(ADMIN)} >= {name}
    assert stored_people_problems(server_ctx) == []  # also checks every group's columns
