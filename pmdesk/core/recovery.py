"""Break-glass recovery: the way back when no administrator can sign in any more.

Everyone locked out, or two-step login on while mail is broken: ``pmdesk recover unlock LOGIN``
and ``pmdesk recover disable-2fa`` put it right. They are not open to whoever holds a
workstation's database login: on PostgreSQL they need the role that owns pmdesk's tables (or a
member of it, or a superuser); on MariaDB an account that may grant rights on the database (a
workstation's account must be made without GRANT OPTION); on SQLite write access to the file.
Each writes a ``break-glass`` audit row, which the Log shows highlighted.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from pmdesk.core import audit
from pmdesk.core.audit import Event
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import Database
from pmdesk.core.errors import PmdeskError
from pmdesk.core.models import Person, SecuritySettings
from pmdesk.core.sessions import os_user
from pmdesk.core.validation import login_key


class RecoveryRefused(PmdeskError):
    """These credentials may not run a recovery command; the message says what is needed."""


def _owner_on_postgresql(s: Session) -> bool:
    return bool(
        s.execute(
            text(
                "SELECT COALESCE((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), "
                "false) OR COALESCE((SELECT pg_has_role(current_user, c.relowner, 'USAGE') "
                "FROM pg_class c WHERE c.oid = to_regclass('personnel')), false)"
            )
        ).scalar()
    )


def _owner_on_mariadb(s: Session) -> bool:
    grantee = (
        "CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', "
        "SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')"
    )
    found = s.execute(
        text(
            "SELECT (SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES "
            f"WHERE GRANTEE = {grantee} AND IS_GRANTABLE = 'YES') + "
            "(SELECT COUNT(*) FROM information_schema.SCHEMA_PRIVILEGES "
            f"WHERE GRANTEE = {grantee} AND IS_GRANTABLE = 'YES' "
            "AND TABLE_SCHEMA = DATABASE())"
        )
    ).scalar()
    return bool(found)


def require_owner(db: Database) -> None:
    """Refuse unless these credentials own the database (see the module's docstring)."""
    if db.is_sqlite:
        name = db.url.database or ""
        path = Path(name) if name and name != ":memory:" else None
        if path is None or not path.is_file():
            raise RecoveryRefused(
                "Recovery needs the database file: give --database sqlite:///PATH."
            )
        if not (os.access(path, os.R_OK | os.W_OK) and os.access(path.parent, os.W_OK)):
            raise RecoveryRefused(f"Recovery needs write access to {path} and its folder.")
        return
    with db.session() as s:
        owner = _owner_on_postgresql(s) if db.backend == "postgresql" else _owner_on_mariadb(s)
    if not owner:
        who = db.url.username or "this account"
        what = (
            "the role that owns pmdesk's tables (or a superuser)"
            if db.backend == "postgresql"
            else "an account that may grant rights on the database"
        )
        raise RecoveryRefused(
            f"Recovery needs the database owner's URL: '{who}' is a workstation's login, not "
            f"{what}. Ask whoever administers the database server."
        )


def break_glass_actor() -> Actor:
    host = socket.gethostname()
    return Actor(name=f"break-glass: {os_user() or 'unknown'}@{host}", workstation=host)


def unlock(ctx: CoreContext, login: str) -> str:
    """Unlock an account and forget its failures; returns its login as stored."""
    with ctx.db.write_session() as s:
        person = s.execute(
            select(Person).where(Person.login_key == login_key(login)).with_for_update()
        ).scalar_one_or_none()
        if person is None or person.login is None:
            raise PmdeskError(f"No user with the login '{login}'.")
        person.locked_until = None
        person.failed_logins = 0
        person.lock_count = 0
        person.last_failed_at = None
        audit.record(
            s,
            ctx.clock,
            break_glass_actor(),
            Event.BREAK_GLASS,
            subject=person.login,
            detail="recover unlock: account unlocked",
        )
        return person.login


def disable_two_factor(ctx: CoreContext, for_login: str) -> bool:
    """Turn two-step login off so that ``for_login`` can sign in with a password; False when
    it was off already (nothing changed, nothing audited)."""
    with ctx.db.write_session() as s:
        person = s.execute(
            select(Person).where(Person.login_key == login_key(for_login))
        ).scalar_one_or_none()
        if person is None or person.login is None:
            raise PmdeskError(f"No user with the login '{for_login}'.")
        enabled = s.execute(
            select(SecuritySettings.two_factor_enabled).order_by(SecuritySettings.id).limit(1)
        ).scalar()
        if not enabled:
            return False
        now = ctx.clock.now(s)
        s.execute(
            update(SecuritySettings)
            .values(two_factor_enabled=False, updated_at=now, version=SecuritySettings.version + 1)
            .execution_options(synchronize_session=False)
        )
        audit.record(
            s,
            ctx.clock,
            break_glass_actor(),
            Event.BREAK_GLASS,
            subject="two-step authentication",
            detail=f"recover disable-2fa: two-step authentication turned off for {person.login}",
        )
        return True
