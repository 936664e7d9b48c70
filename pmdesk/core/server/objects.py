"""Everything ``server init`` installs as the owner role, in order, and who may reach what.

Each level's module holds its own statements (tables first, functions after); this is the one
list of them, so that setup and grants cannot disagree about what exists.
"""

from __future__ import annotations

from pmdesk.core.server import login_sql, passwords_sql, queue_sql, relay_sql


def statements() -> tuple[str, ...]:
    return (
        *passwords_sql.STATEMENTS,
        *queue_sql.STATEMENTS,
        *login_sql.STATEMENTS,
        *relay_sql.STATEMENTS,
    )


#: Tables no login role may read or write (reached only through definer functions).
SECRET_TABLES: tuple[str, ...] = (*passwords_sql.SECRET_TABLES, *queue_sql.SECRET_TABLES)
#: Functions (``name(argument types)``) the workstation role may call.
WORKSTATION_FUNCTIONS: tuple[str, ...] = (
    *passwords_sql.WORKSTATION_FUNCTIONS,
    *login_sql.WORKSTATION_FUNCTIONS,
)
#: Functions the relay role may call.
RELAY_FUNCTIONS: tuple[str, ...] = relay_sql.RELAY_FUNCTIONS
