"""The store's tests run on SQLite and on PostgreSQL alike.

``db_url`` (tests/conftest.py) gives each test an empty database: a fresh SQLite file, or a fresh
schema in the session's PostgreSQL database (selected through ``search_path``),
dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from keepa_deals.clock import FakeClock
from keepa_deals.store import DealStore

START_MS = 1_800_000_000_000  # 2027-01-15T08:00:00Z


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START_MS)


@pytest.fixture
def store(db_url: str, clock: FakeClock) -> Iterator[DealStore]:
    s = DealStore.open(db_url, clock=clock)
    yield s
    assert s.engine.pool.checkedout() == 0, "a connection was left checked out"
    s.close()
