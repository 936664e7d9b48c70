"""Stored e-mail addresses and phone numbers that today's checks refuse.

The checks moved to email-validator and libphonenumber (issue 14, item 4). Values saved under
the older, hand-written rules may not pass any more (a mobile number a digit short was kept as
+324701234). Nothing is changed behind anyone's back: ``pmdesk db upgrade`` says how many there
are (to anyone: numbers only), and ``pmdesk user check`` lists them for someone who may read
Personnel, so that a person fixes each in Maintenance → Personnel.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select

from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.models import Person
from pmdesk.core.modules import MAINTENANCE, Action
from pmdesk.core.people import display_name
from pmdesk.core.permissions import require
from pmdesk.core.validation import FieldInvalid, clean_email, clean_phone

_FIELDS = (("email", "Email"), ("phone", "Phone"), ("mobile", "Mobile"))


@dataclass(frozen=True)
class RefusedValue:
    person_id: int
    login: str | None
    name: str
    field: str  # "Email", "Phone" or "Mobile"
    value: str
    why: str


def _refused(ctx: CoreContext) -> Iterator[RefusedValue]:
    with ctx.db.session() as s:
        rows = s.execute(select(Person).order_by(Person.id).execution_options(yield_per=1000))
        for person in rows.scalars():
            for attribute, label in _FIELDS:
                value = getattr(person, attribute) or ""
                if not value:
                    continue
                try:
                    if attribute == "email":
                        clean_email(value)
                    else:
                        clean_phone(value, label=label)
                except FieldInvalid as exc:
                    yield RefusedValue(
                        person.id, person.login, display_name(person), label, value, str(exc)
                    )


def count_refused(ctx: CoreContext) -> int:
    """How many stored values today's checks refuse (no names: for anyone, as after an upgrade)."""
    return sum(1 for _ in _refused(ctx))


def list_refused(ctx: CoreContext, actor: Actor) -> list[RefusedValue]:
    """Each refused value, with whose it is: for someone with Read rights on Maintenance."""
    with ctx.db.session() as s:
        require(s, actor, MAINTENANCE, Action.READ)
    return list(_refused(ctx))
