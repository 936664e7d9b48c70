"""Sub-commands of ``pmdesk``; each module has ``register(subparsers)``."""

from __future__ import annotations

from pmdesk.commands import (
    db,
    group,
    ip,
    login,
    mail,
    network,
    recover,
    relay,
    security,
    server,
    session,
    user,
)

COMMAND_MODULES = (
    db,
    user,
    group,
    mail,
    login,
    session,
    security,
    network,
    ip,
    recover,
    server,
    relay,
)
