"""``pmdesk.server_meta``: what ``server init`` set up on this database, read by every client.

A key/value table owned by the owner role; the workstation and relay roles may read it. Its
presence is what marks a database as hardened.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from pmdesk.core.server.roles import SCHEMA, Roles

#: The hardening this version of pmdesk installs (docs/server-enforced.md, rollout):
#: 1 = roles, schema and PUBLIC's rights; 2 = passwords verified by the server; 3 = the
#: sign-in decided by the server, codes sent only by the relay; 4 = sessions kept by the
#: server, every connection presenting its token; 5 = every write checked by the server
#: against the session's rights; 6 = reading too (row-level security), and before a sign-in
#: only ``server_info()``.
HARDENING_LEVEL = 6
LEVEL_DESCRIPTIONS = {
    1: "roles only: the rules are still enforced by each pmdesk client",
    2: "passwords are verified by the server and cannot be read; the other rules are still "
    "enforced by each pmdesk client",
    3: "the sign-in (password, code, lockout, trusted address) is decided by the server and "
    "codes are sent only by the relay; the data tables are still protected by each pmdesk "
    "client",
    4: "the sign-in is decided by the server, codes are sent only by the relay, and sessions "
    "are kept by the server (the workstation login alone cannot start or read one); the data "
    "tables are still protected by each pmdesk client",
    5: "the sign-in, codes and sessions are the server's, and every change to people, groups, "
    "rights, settings, trusted addresses and the log is checked by the server against the "
    "signed-in person's rights; reading is not yet restricted (people, groups, settings and "
    "trusted addresses can be read with the workstation login, never passwords, codes or "
    "sessions)",
    6: "the sign-in, codes and sessions are the server's, and every read and change of people, "
    "groups, rights, settings, trusted addresses and the log is checked by the server against "
    "the signed-in person's rights (row-level security); without a session the workstation "
    "login reads nothing but whether the database is ready for a sign-in",
}


def newer_than_this_pmdesk(level: int) -> str:
    return (
        f"This database was set up for server-enforced mode by a newer pmdesk (hardening "
        f"{level}; this pmdesk knows up to {HARDENING_LEVEL}): install the newer pmdesk on this "
        "workstation."
    )


CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {SCHEMA}.server_meta (
    key   text PRIMARY KEY CHECK (key ~ '^[a-z_]{{1,40}}$'),
    value text NOT NULL CHECK (length(value) <= 400)
)"""

# What the owner may not do as a member: needs the owner role (SET ROLE) to upgrade.
NEEDS_OWNER_TO_UPGRADE = (
    "The database needs upgrading, and it is in server-enforced mode: ask whoever administers "
    "it to run `pmdesk db upgrade --database OWNER_URL`."
)


@dataclass(frozen=True)
class Hardening:
    """A hardened database as these credentials see it; ``roles`` is None when they may not
    read ``server_meta`` (a role that is none of pmdesk's)."""

    roles: Roles | None
    level: int
    values: dict[str, str]

    @property
    def converted(self) -> bool:
        return "converted_at" in self.values


def read(connection: Connection) -> Hardening | None:
    """None unless this is PostgreSQL with ``pmdesk.server_meta``. Leaves no transaction open
    on an error (it is rolled back)."""
    if connection.dialect.name != "postgresql":
        return None
    found = connection.execute(
        text("SELECT to_regclass(:name) IS NOT NULL"), {"name": f"{SCHEMA}.server_meta"}
    ).scalar()
    if not found:
        return None
    try:
        rows = connection.execute(text(f"SELECT key, value FROM {SCHEMA}.server_meta")).all()
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != "42501":  # insufficient privilege
            raise
        connection.rollback()
        return Hardening(roles=None, level=0, values={})
    values = {str(k): str(v) for k, v in rows}
    prefix = values.get("role_prefix")
    level = int(values.get("hardening_level", "0") or 0)
    return Hardening(
        roles=Roles.from_prefix(prefix) if prefix else None, level=level, values=values
    )


def write(connection: Connection, **values: str) -> None:
    for key, value in values.items():
        connection.execute(
            text(
                f"INSERT INTO {SCHEMA}.server_meta (key, value) VALUES (:k, :v) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
            ),
            {"k": key, "v": value},
        )
