"""Fixtures of the alert tests: a store on SQLite or PostgreSQL, on a fake clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from keepa_deals.clock import FakeClock
from keepa_deals.settings import Settings
from keepa_deals.store import DealStore

START_MS = 1_800_000_000_000  # 2027-01-15T08:00:00Z


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START_MS)


@pytest.fixture
def store(db_url: str, clock: FakeClock) -> Iterator[DealStore]:
    s = DealStore.open(db_url, clock=clock)
    yield s
    s.close()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, alert_retry_s=1, alert_timeout_s=3)
