"""Sub-commands of ``pmdesk``; each module has ``register(subparsers)``."""

from __future__ import annotations

from pmdesk.commands import db, group, login, user

COMMAND_MODULES = (db, user, group, login)
