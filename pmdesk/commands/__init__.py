"""Sub-commands of ``pmdesk``; each module has ``register(subparsers)``."""

from __future__ import annotations

from pmdesk.commands import db, group, login, mail, user

COMMAND_MODULES = (db, user, group, mail, login)
