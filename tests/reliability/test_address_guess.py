"""The server's own guess at a workstation's address (``Database.client_address_guess_column``)
is what a sign-in step's first round trip reads the failure row and the trusted address with
(``pmdesk.core.sign_in_reads``). Those reads count only when the guess equals the address the
workstation reads with the lock, else the step reads them again (a round trip more). A client
the server does not see on loopback (a network namespace) checks that both agree on
PostgreSQL and MariaDB, as for a real workstation."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.helpers.netns import CLIENT_ADDRESS
from tests.helpers.routable_server import server_seen_from_a_routable_address

_ASK = textwrap.dedent(
    """
    import json, sys
    from sqlalchemy import select
    from pmdesk.core.db import Database

    db = Database(sys.argv[1])
    with db.session() as s:
        raw, guess = s.execute(
            select(db.client_address_column(), db.client_address_guess_column())
        ).one()
        db.remember_client_address(s, raw)
        print(json.dumps({"read": db.client_address(s), "guessed": guess}))
    db.dispose()
    """
)


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
def test_the_server_guesses_a_workstation_address_as_the_workstation_reads_it(
    engine: str,
) -> None:
    with server_seen_from_a_routable_address(engine) as (ns, url):
        result = subprocess.run(
            ns.command(sys.executable, "-c", _ASK, url),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {"read": CLIENT_ADDRESS, "guessed": CLIENT_ADDRESS}
