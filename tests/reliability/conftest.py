"""Fixtures for the reliability tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from pmdesk.core import codes
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


@pytest.fixture
def cheap_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Security codes hashed with a tiny scrypt cost: the same code path, microseconds instead
    of ~40 ms (for tests that check thousands of codes, not the cost of one)."""
    monkeypatch.setattr(codes, "_SCRYPT_N", 2**4)
