"""Office networks in tests: the shared server databases keep the table between tests
(reset_to_seed does not know it yet), so the tests that add networks start and end empty."""

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
