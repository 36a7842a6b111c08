"""Fixtures of the ops tests: a sandbox Keepa on a fake clock, and a deployment on each backend.

``deployment`` runs a test once with the budget and the locks in SQLite (no
``REDIS_URL``) and once in Redis; the deal store is a SQLite file in both.
Everything shares one FakeClock with the sandbox, so hours pass instantly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from keepa_deals.clock import FakeClock
from keepa_deals.ops.sources import Sources
from keepa_deals.sandbox import Sandbox, SandboxServer
from keepa_deals.settings import Settings
from keepa_deals.store import DealRow, DealStore

#: The sandbox account's key (64 × [a-z0-9], like Keepa's).
KEY = "opsdoctortestkey" + "5" * 48
START_MS = 1_800_000_000_000


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START_MS)


@pytest.fixture
def sandbox(clock: FakeClock) -> Sandbox:
    box = Sandbox(clock=clock, demo_account=False)
    box.add_account(KEY, tokens=300, refill_rate=5, phase_ms=7_000)
    return box


@pytest.fixture
def keepa_url(sandbox: Sandbox) -> Iterator[str]:
    with SandboxServer(sandbox) as server:
        yield server.url


@dataclass
class Deployment:
    """Settings for one backend, and handles on its parts (all on the test's clock)."""

    backend: str
    settings: Settings
    clock: FakeClock
    opened: list[Any] = field(default_factory=list)

    def sources(self, **kwargs: Any) -> Sources:
        src = Sources(self.settings, clock=self.clock, **kwargs)
        self.opened.append(src)
        return src

    def store(self) -> DealStore:
        store = DealStore.open(self.settings, clock=self.clock)
        self.opened.append(store)
        return store

    def budget_store(self) -> Any:
        from keepa_deals.budget.factory import open_budget_store

        store = open_budget_store(self.settings, clock=self.clock)
        self.opened.append(store)
        return store

    def with_settings(self, **changes: Any) -> Deployment:
        data = {**self.settings.model_dump(), **changes}
        return Deployment(self.backend, Settings(**data), self.clock, self.opened)

    def close(self) -> None:
        for thing in reversed(self.opened):
            thing.close()


def make_settings(tmp_path: Path, keepa_url: str, redis_url: str | None, **extra: Any) -> Settings:
    return Settings(
        keepa_api_key=KEY,
        keepa_api_url=keepa_url,
        redis_url=redis_url,
        database_url=f"sqlite:///{tmp_path / 'deals.sqlite3'}",
        data_dir=tmp_path / "data",
        http_retries=0,
        **extra,
    )


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def deployment(request: pytest.FixtureRequest, tmp_path: Path, keepa_url: str,
               clock: FakeClock) -> Iterator[Deployment]:
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    dep = Deployment(request.param, make_settings(tmp_path, keepa_url, redis_url), clock)
    try:
        yield dep
    finally:
        dep.close()


def deal(i: int, **changes: Any) -> DealRow:
    fields: dict[str, Any] = dict(
        asin=f"B{i:09d}", domain_id=1, title=f"A used book {i}", price_type=2,
        current_price_cents=799, avg90_cents=2099, est_sale_price_cents=2099,
        profit_cents=412, roi_percent=46.0, margin_percent=19.6,
    )
    fields.update(changes)
    return DealRow(**fields)


@pytest.fixture
def redis_deployment(tmp_path: Path, keepa_url: str, clock: FakeClock,
                     redis_url: str) -> Iterator[Deployment]:
    """The Redis deployment alone (for what only exists in Redis)."""
    dep = Deployment("redis", make_settings(tmp_path, keepa_url, redis_url), clock)
    try:
        yield dep
    finally:
        dep.close()
