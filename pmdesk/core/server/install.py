"""Install (or put back) every object of server-enforced mode, as the owner role.

``server init`` runs it each time; so does ``db upgrade`` after the migrations, since a table
a migration makes anew has none of its triggers, policies or row-level security.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from pmdesk.core.server import objects
from pmdesk.core.server.roles import Roles, quote_ident


def install(connection: Connection, roles: Roles) -> None:
    """Tables, functions, triggers and policies of the hardening levels, in the caller's
    transaction; acts as the owner role for it (the caller must be a member)."""
    connection.execute(text(f"SET LOCAL ROLE {quote_ident(roles.owner)}"))
    for statement in objects.statements():
        connection.execute(text(statement))
    connection.execute(text("RESET ROLE"))
