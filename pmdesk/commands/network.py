"""pmdesk network list | add | remove: the office networks where addresses may be trusted."""

from __future__ import annotations

import argparse

from pmdesk.bootstrap import App
from pmdesk.commands.common import add_command, print_table, signed_in
from pmdesk.core.office_networks import OfficeNetworkService
from pmdesk.core.security import SecurityService


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("network", help="office networks (where trust is allowed)")
    sub = parser.add_subparsers(dest="network_command", metavar="ACTION")
    add_command(sub, "list", _list, "list the office networks and the trust policy")
    add = add_command(sub, "add", _add, "add an office network: a name and its CIDR ranges")
    add.add_argument("name", metavar="NAME", help='its name, e.g. "Head office"')
    add.add_argument("ranges", metavar="CIDR", nargs="+", help="e.g. 10.1.0.0/16 2001:db8::/48")
    remove = add_command(sub, "remove", _remove, "remove an office network by name")
    remove.add_argument("name", metavar="NAME")
    remove.add_argument(
        "--dry-run",
        action="store_true",
        help="only say how many trusted addresses and people the removal would affect",
    )


def _list(app: App, args: argparse.Namespace) -> int:
    actor = signed_in(args)
    networks = OfficeNetworkService(app.context).list(actor)
    policy = SecurityService(app.context).get(actor).trust_policy
    if networks:
        print_table(["Name", "Ranges"], [[n.name, ", ".join(n.ranges)] for n in networks])
    else:
        print("No office networks.")
    print(f"Trust policy: {policy}")
    return 0


def _add(app: App, args: argparse.Namespace) -> int:
    added = OfficeNetworkService(app.context).add(signed_in(args), args.name, args.ranges)
    print(f"Added the office network {added.name}: {', '.join(added.ranges)}.")
    return 0


def _remove(app: App, args: argparse.Namespace) -> int:
    actor = signed_in(args)
    service = OfficeNetworkService(app.context)
    found = service.impact_of_removing(actor, args.name)
    if args.dry_run:
        print(f"Removing the office network {args.name.strip()}: {found.describe()}.")
        print("Nothing was changed (--dry-run).")
        return 0
    service.remove(actor, args.name)
    print(f"Removed the office network {args.name.strip()}: {found.describe()}.")
    return 0
