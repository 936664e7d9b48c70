"""A throwaway database server that sees its clients at a routable address."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from tests.helpers.netns import Namespace, network_namespace
from tests.helpers.private_mariadb import running_private_mariadb
from tests.helpers.private_postgres import running_private_postgres


@contextlib.contextmanager
def server_seen_from_a_routable_address(engine: str) -> Iterator[tuple[Namespace, str]]:
    """A throwaway server on the host end of a veth pair, and the namespace its clients run in:
    the server sees them at a routable address, so "Trust this IP" really trusts (loopback is
    never trusted on a shared database)."""
    with network_namespace() as ns:
        if engine == "postgresql":
            with running_private_postgres(listen=(ns.host_address,), trust=(ns.network,)) as pg:
                yield ns, pg.url_at(ns.host_address).render_as_string(hide_password=False)
        else:
            with running_private_mariadb(ns.host_address) as admin:
                yield ns, admin.render_as_string(hide_password=False)
