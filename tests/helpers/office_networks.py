"""Office networks in tests: ``reset_to_seed`` empties them before a test on a shared server
database; the tests that add networks also leave none behind for whatever runs next there
without a reset (the command-line tests' own databases)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import delete

from pmdesk.core.db import Database
from pmdesk.core.models import OfficeNetwork
from tests.helpers.databases import stage


def clear_office_networks(owner_db: Database) -> None:
    with stage(owner_db) as s:
        s.execute(delete(OfficeNetwork))


@pytest.fixture
def no_office_networks(owner_db: Database) -> Iterator[None]:
    """No office network before the test, none left after it."""
    clear_office_networks(owner_db)
    yield
    clear_office_networks(owner_db)
