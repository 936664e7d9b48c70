"""Raw SQL on PostgreSQL as a given role: what an insider with that login could type (no pmdesk
code in between)."""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy.engine import URL


def connect(url: URL) -> psycopg.Connection[Any]:
    """An autocommit connection as whoever ``url`` names (use it in a ``with`` block)."""
    return psycopg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=url.database,
        autocommit=True,
    )


def sql(url: URL, statement: str, *params: object) -> list[tuple[Any, ...]]:
    """One statement in its own autocommit connection, as whoever ``url`` names."""
    with connect(url) as conn:
        cur = conn.execute(statement, params or None)  # type: ignore[arg-type]
        return list(cur.fetchall()) if cur.description else []
