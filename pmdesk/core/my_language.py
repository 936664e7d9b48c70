"""One's own language (issue 15): the Personnel "Language" field of the signed-in person, set
from the header's language switch without Personnel Edit rights, and audited as
``person.updated`` ("language_id") like any change to a person.

On a hardened database (level 4 and later, where the server knows the session) the server's
``set_my_language`` does it (``pmdesk.core.server.language_sql``): it changes the caller's own
row and nothing else, whatever the workstation asks.
"""

from __future__ import annotations

from sqlalchemy import select, text

from pmdesk.core import audit
from pmdesk.core.audit import Event
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.errors import NotFound
from pmdesk.core.i18n import language_code, translate
from pmdesk.core.models import Language, Person
from pmdesk.core.server.roles import SCHEMA


def set_my_language(ctx: CoreContext, actor: Actor, code: str) -> str:
    """Save ``code`` (a supported language) as the signed-in person's own language; returns
    the code saved. A command-line or system actor has no row: nothing is saved."""
    code = language_code(code)
    if actor.person_id is None:
        return code
    if ctx.db.server_sessions:
        with ctx.db.write_session() as s:
            s.execute(text(f"SELECT {SCHEMA}.set_my_language(:code)"), {"code": code})
        return code
    with ctx.db.write_session() as s:
        person = s.get(Person, actor.person_id)
        language_id = s.scalar(select(Language.id).where(Language.code == code))
        if person is None:
            raise NotFound(translate("language", "You are no longer in Personnel."))
        if language_id is None:
            raise NotFound(translate("language", "This language is not in the database."))
        if person.language_id == language_id:
            return code
        person.language_id = language_id
        person.updated_at = ctx.clock.now(s)
        subject = audit.person_subject(person.id, person.login, person.first_name, person.last_name)
        audit.record(
            s, ctx.clock, actor, Event.PERSON_UPDATED, subject=subject, detail="language_id"
        )
    return code
