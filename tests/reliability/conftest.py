"""Fixtures for the reliability tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database
from pmdesk.secrets import MemoryStore


@pytest.fixture
def sqlite_ctx(sqlite_db: Database, clock: ShiftedClock, tmp_path: Path) -> CoreContext:
    """A CoreContext on a fresh SQLite database (fast: for the hypothesis loops)."""
    return CoreContext(
        db=sqlite_db, secrets=MemoryStore(), outbox_default=tmp_path / "outbox", clock=clock
    )
