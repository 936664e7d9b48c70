"""pmdesk ip list --review: the "Needs review" list with its reasons, as a real process signed in
(tests/helpers/cli.sign_in_as), on each engine; a clerk without Security Read gets none."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pmdesk.core.db import Database
from tests.helpers.cli import pmdesk_on as pmdesk
from tests.helpers.cli import sign_in_admin, sign_in_as
from tests.helpers.office_networks import no_office_networks as no_office_networks
from tests.helpers.staff import add_group, add_person
from tests.helpers.trusted_ips import trust_addresses

DAY = timedelta(days=1)
HOME = "81.2.69.160"

pytestmark = pytest.mark.usefixtures("no_office_networks")


def test_ip_list_review_shows_only_rows_needing_review_with_reasons(db: Database) -> None:
    sign_in_admin(db)
    code, _, err = pmdesk(db, "network", "add", "Head office", "10.1.0.0/16")
    assert code == 0, err
    ann, ben = add_person(db, "ann"), add_person(db, "ben")
    trust_addresses(db, [(ann, HOME, 2 * DAY), (ben, HOME, 3 * DAY), (ann, "10.1.0.7", DAY / 2)])

    code, out, err = pmdesk(db, "ip", "list", "--review")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[-1] == "Reasons"
    assert len(lines) == 4 and "10.1.0.7" not in out, out
    assert all(HOME in line for line in lines[1:3])
    assert lines[1].endswith(
        "Outside office networks; Public address; Shared by 2 people; Never used"
    )
    assert lines[-1] == "Viewing items 1-2 of 2"
    # The whole list still has all three, without the Reasons column.
    code, out, _ = pmdesk(db, "ip", "list")
    assert "Reasons" not in out and out.splitlines()[-1] == "Viewing items 1-3 of 3"

    code, out, _ = pmdesk(db, "ip", "list", "--review", "--filter", "10.1")
    assert (code, out.strip()) == (0, "No trusted address needs review.")


def test_a_clerk_gets_no_review_list(db: Database) -> None:
    clerks = add_group(db, "Clerks", {"maintenance": "re"})
    add_person(db, "clerk", group_id=clerks)
    trust_addresses(db, [(add_person(db, "ann"), HOME, 2 * DAY)])
    sign_in_as(db, "clerk")
    code, out, err = pmdesk(db, "ip", "list", "--review")
    assert code == 1 and "may not see System → Security" in err
    assert HOME not in out
