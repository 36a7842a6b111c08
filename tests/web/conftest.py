"""Fixtures of the dashboard's tests: a store on SQLite or PostgreSQL, the app in process.

``api`` calls the app through ``httpx.ASGITransport`` (no server, no socket); the
clock is fake and starts at NOW, and the Keepa key in the settings is SECRET_KEY, which
no response may ever contain.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from keepa_deals.budget import TokenManager, open_budget
from keepa_deals.clock import FakeClock
from keepa_deals.settings import Settings
from keepa_deals.store import DealStore
from keepa_deals.tokens.status import TokenStatus

START_MS = 1_800_000_000_000  # 2027-01-15T08:00:00Z
NOW = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
#: Shaped like a Keepa key and easy to grep for.
SECRET_KEY = "websecretkey" + "w" * 52
QUERY = "used-books-us"


class Api:
    """A synchronous face on an ASGI app, through httpx.ASGITransport."""

    def __init__(self, app: Any, base_url: str = "http://127.0.0.1") -> None:
        self.app = app
        self.base_url = base_url

    def request(self, method: str, path: str, *, cookies: dict[str, str] | None = None,
                **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url=self.base_url,
                                         cookies=cookies) as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(go())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START_MS)


@pytest.fixture
def store(db_url: str, clock: FakeClock) -> Iterator[DealStore]:
    s = DealStore.open(db_url, clock=clock)
    yield s
    assert s.engine.pool.checkedout() == 0, "a connection was left checked out"
    s.close()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, keepa_api_key=SECRET_KEY)


@pytest.fixture
def budget(settings: Settings, clock: FakeClock) -> Iterator[TokenManager]:
    manager = open_budget(settings, clock=clock)
    manager.observe(TokenStatus(tokens_left=240, refill_in_ms=20_000, refill_rate=5,
                                timestamp_ms=clock.now_ms()))
    yield manager
    manager.store.close()


@pytest.fixture
def app(settings: Settings, store: DealStore, budget: TokenManager, clock: FakeClock) -> Any:
    from keepa_deals.web import create_app

    return create_app(settings, engine=store.engine, budget=budget, clock=clock)


@pytest.fixture
def api(app: Any) -> Api:
    return Api(app)
