"""The newest schema revision this pmdesk knows, read from its migration files as text.

Importing Alembic (and SQLAlchemy) costs hundreds of milliseconds; at almost every start the
database is already at the newest revision, and knowing which one that is needs only the
``revision = ...`` / ``down_revision = ...`` lines of the version files. No SQLAlchemy here: the
start-up probe (``pmdesk.core.probe``) uses it before SQLAlchemy is loaded.
"""

from __future__ import annotations

import re
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_REVISION_LINE = re.compile(
    r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(?:None|[\"']([^\"']+)[\"'])\s*$", re.MULTILINE
)


def head_from_files(migrations_dir: Path = MIGRATIONS_DIR) -> str | None:
    """The newest revision, or None when in doubt (a merge, a branch, a file not in the usual
    shape): Alembic then decides."""
    revisions: dict[str, str | None] = {}
    try:
        files = sorted((migrations_dir / "versions").glob("*.py"))
        for path in files:
            found = dict(
                (m.group(1), m.group(2))
                for m in _REVISION_LINE.finditer(path.read_text(encoding="utf-8"))
            )
            if not found.get("revision") or "down_revision" not in found:
                return None
            revisions[str(found["revision"])] = found["down_revision"]
    except OSError:
        return None
    parents = [down for down in revisions.values() if down is not None]
    if len(parents) != len(set(parents)) or not set(parents) <= set(revisions):
        return None
    heads = set(revisions) - set(parents)
    return heads.pop() if len(heads) == 1 else None
