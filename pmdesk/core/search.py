"""Index-friendly, case-insensitive prefix search over lower-cased key columns."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_

# Above every character: ``key < term + TOP`` bounds a prefix range (byte-wise collations).
TOP = "\U0010ffff"


def escape_like(text: str) -> str:
    """``text`` with LIKE's wildcards escaped (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_prefix(text: str) -> str:
    """``text%``, matching what starts with ``text`` literally."""
    return escape_like(text) + "%"


def starts_with(column: Any, term: str, dialect: str) -> ColumnElement[bool]:
    """Rows whose key starts with ``term``, served from the column's index.

    Key columns are byte-wise ordered on SQLite and PostgreSQL (``search_key_type``), where a
    range is what the index serves; MariaDB's collation serves a prefix LIKE from the index.
    """
    if dialect in {"mysql", "mariadb"}:
        return column.like(like_prefix(term), escape="\\")  # type: ignore[no-any-return]
    return and_(column >= term, column < term + TOP)
