"""The one row of security settings, read once per unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from pmdesk.core.context import Actor
from pmdesk.core.models import SecuritySettings
from pmdesk.core.modules import Action, Module
from pmdesk.core.permissions import require, right_column

#: The settings row's id (the seed makes it; a database copied from elsewhere may differ).
SETTINGS_ID = 1
_KEPT = "pmdesk_settings_row"


def settings_row(session: Session) -> SecuritySettings | None:
    """The settings row (the first, should there be more), read once per unit of work: a
    login step asks for it several times, and the session keeps it for the next ask (its
    identity map holds objects only weakly, so it is kept in ``session.info``)."""
    kept = session.info.get(_KEPT)
    if isinstance(kept, SecuritySettings) and kept in session:
        return kept
    row = session.execute(settings_row_query()).scalar_one_or_none()
    if row is not None:
        session.info[_KEPT] = row
    return row


def settings_row_query() -> Select[SecuritySettings]:
    """``settings_row``'s read (a unit may read it along: ``reads_along``)."""
    return select(SecuritySettings).order_by(SecuritySettings.id).limit(1)


def keep_settings_row(session: Session, row: SecuritySettings) -> None:
    """The settings row, read by another query of this unit of work: ``settings_row`` then
    answers with it instead of reading it again."""
    session.info[_KEPT] = row


def carry_settings_row(session: Session, row: SecuritySettings | None) -> None:
    """The settings row a unit of work of the same step read a moment ago (the step decides
    with those settings already): this unit uses it too, attached without a query."""
    if row is not None:
        keep_settings_row(session, session.merge(row, load=False))


def read_with_right(
    session: Session,
    actor: Actor,
    module: Module,
    action: Action,
    extra: Sequence[ColumnElement[Any]] = (),
) -> Sequence[Any] | None:
    """A screen's first read: the right to ``action`` in ``module`` checked (PermissionDenied)
    and the settings row kept for the unit of work, in one statement that also brings the
    ``extra`` columns; returns their values (None when the row was not there, and the right was
    checked apart)."""
    allowed = right_column(actor, module, action)
    found = session.execute(
        select(SecuritySettings, allowed, *extra).order_by(SecuritySettings.id).limit(1)
    ).first()
    if found is None or not found[1]:
        require(session, actor, module, action)  # refused, or no settings row
        return None
    keep_settings_row(session, found[0])
    return tuple(found[2:])
