"""pmdesk group list."""

from __future__ import annotations

import argparse

from pmdesk.bootstrap import App
from pmdesk.commands.common import add_command, print_table, signed_in
from pmdesk.core.groups import list_groups
from pmdesk.core.modules import MAINTENANCE, SYSTEM, Action
from pmdesk.core.permissions import require_any


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("group", help="user groups")
    sub = parser.add_subparsers(dest="group_command", metavar="ACTION")
    add_command(sub, "list", _list, "list the user groups")


def _list(app: App, args: argparse.Namespace) -> int:
    with app.db.session() as s:
        # The groups are what Personnel's Usergroup box and Permissions show.
        require_any(s, signed_in(args), (MAINTENANCE, Action.READ), (SYSTEM, Action.READ))
        groups = list_groups(s)
    print_table(["Group", "Members"], [[g.name, str(g.members)] for g in groups])
    return 0
