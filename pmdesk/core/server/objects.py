"""Everything ``server init`` installs as the owner role, in order, and who may reach what.

Each level's module holds its own statements (tables first, functions after); this is the one
list of them, so that setup and grants cannot disagree about what exists.
"""

from __future__ import annotations

from pmdesk.core.server import (
    alerts_sql,
    guards_sql,
    helpdesk_sql,
    language_sql,
    login_sql,
    networks_sql,
    passwords_sql,
    personnel_audit_sql,
    queue_sql,
    reads_sql,
    relay_sql,
    review_sql,
    rules_sql,
    sessions_sql,
)


def statements() -> tuple[str, ...]:
    return (
        *passwords_sql.STATEMENTS,
        *queue_sql.STATEMENTS,
        *login_sql.STATEMENTS,
        *sessions_sql.STATEMENTS,
        *relay_sql.STATEMENTS,
        *networks_sql.STATEMENTS,
        *alerts_sql.STATEMENTS,
        *guards_sql.STATEMENTS,
        *rules_sql.STATEMENTS,
        *personnel_audit_sql.STATEMENTS,
        *review_sql.STATEMENTS,
        *reads_sql.STATEMENTS,
        *helpdesk_sql.STATEMENTS,
        *language_sql.STATEMENTS,
    )


#: Tables no login role may read or write (reached only through definer functions).
SECRET_TABLES: tuple[str, ...] = (
    *passwords_sql.SECRET_TABLES,
    *queue_sql.SECRET_TABLES,
    *sessions_sql.SECRET_TABLES,
    *rules_sql.SECRET_TABLES,
    *review_sql.SECRET_TABLES,
    *helpdesk_sql.SECRET_TABLES,
)
#: Functions (``name(argument types)``) the workstation role may call. ``check_password``
#: is no longer one of them since the whole sign-in is the server's (level 3): called
#: directly it would answer password guesses without counting failures or auditing them.
WORKSTATION_FUNCTIONS: tuple[str, ...] = (
    *(f for f in passwords_sql.WORKSTATION_FUNCTIONS if not f.startswith("check_password(")),
    *login_sql.WORKSTATION_FUNCTIONS,
    *sessions_sql.WORKSTATION_FUNCTIONS,
    *guards_sql.WORKSTATION_FUNCTIONS,
    *networks_sql.WORKSTATION_FUNCTIONS,
    *relay_sql.WORKSTATION_FUNCTIONS,
    *rules_sql.WORKSTATION_FUNCTIONS,
    *reads_sql.WORKSTATION_FUNCTIONS,
    *review_sql.WORKSTATION_FUNCTIONS,
    *helpdesk_sql.WORKSTATION_FUNCTIONS,
    *language_sql.WORKSTATION_FUNCTIONS,
)
#: Tables only migrations and the owner write (the guards refuse it too).
SEEDED_TABLES: tuple[str, ...] = guards_sql.SEEDED_TABLES
#: Tables the workstation may read (row-level security) but only the sign-in writes.
SIGN_IN_TABLES: tuple[str, ...] = ("login_failures",)
#: Functions the relay role may call.
RELAY_FUNCTIONS: tuple[str, ...] = (*relay_sql.RELAY_FUNCTIONS, *reads_sql.RELAY_FUNCTIONS)
