"""Fixtures of the ingest tests: a sandbox Keepa server over real HTTP, a real store and budget.

One sandbox server serves the session; each test swaps in a fresh sandbox on
a fake clock that the ingest process shares, so budget waits and refills
take no time.  ``db_url`` is a fresh SQLite file or a fresh PostgreSQL schema.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from keepa_deals.clock import FakeClock
from keepa_deals.ingest import IngestEnv, open_env
from keepa_deals.query import DealQuery, default_query
from keepa_deals.sandbox import CatalogConfig, Sandbox, SandboxServer
from keepa_deals.settings import Settings
from keepa_deals.store import DealRecord, DealStore

#: The test account's key (64 × [a-z0-9], like Keepa's).
KEY = "ingesttestkey" + "5" * 51
START_MS = 1_800_000_000_000


def with_offers(query: DealQuery, offers: int = 20) -> DealQuery:
    """``query`` buying live offers for the survivors of the product check."""
    f = query.filters
    return query.model_copy(update={"filters": f.model_copy(update={
        "offers": f.offers.model_copy(update={"fetch_offers": True, "offers": offers})})})


def with_pages(query: DealQuery, pages: int) -> DealQuery:
    return query.model_copy(update={"run": query.run.model_copy(update={"max_pages": pages})})


def open_feed(query: DealQuery) -> DealQuery:
    """``query`` with every feed filter off (many candidates: big feeds for paging tests)."""
    from keepa_deals.query import FeedFilters

    sel = query.selection.model_copy(update={
        "current_range": None, "delta_percent_range": None, "sales_rank_range": None,
        "include_categories": None})
    f = query.filters
    return query.model_copy(update={"selection": sel,
                                    "filters": f.model_copy(update={"feed": FeedFilters()})})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START_MS)


def backlog_sandbox(clock: FakeClock) -> Sandbox:
    """A catalog with three hours of backlog, and KEY with a full 20/min bucket."""
    sb = Sandbox(clock=clock, catalog=CatalogConfig(seed=4, backlog_s=3 * 3600),
                 demo_account=False)
    sb.add_account(KEY, tokens=1200, refill_rate=20, phase_ms=7_000)
    return sb


@pytest.fixture
def sandbox(clock: FakeClock) -> Sandbox:
    return backlog_sandbox(clock)


@pytest.fixture
def make_settings(server: SandboxServer, tmp_path_factory: pytest.TempPathFactory
                  ) -> Callable[..., Settings]:
    def make(db: str, **overrides: Any) -> Settings:
        return Settings(keepa_api_key=KEY, keepa_api_url=server.url, database_url=db,
                        data_dir=tmp_path_factory.mktemp("data"), http_retries=1,
                        **overrides)
    return make


@pytest.fixture
def make_env(make_settings: Callable[..., Settings], clock: FakeClock
             ) -> Iterator[Callable[..., IngestEnv]]:
    """``make_env(db_url, **settings)`` → an IngestEnv on the fake clock (closed afterwards)."""
    made: list[IngestEnv] = []

    def make(db: str, *, transport: Any = None, settings: Settings | None = None,
             **overrides: Any) -> IngestEnv:
        env = open_env(settings or make_settings(db, **overrides), clock=clock,
                       transport=transport)
        made.append(env)
        return env

    yield make
    for env in made:
        env.close()


@pytest.fixture
def query() -> DealQuery:
    return default_query()


# --- recording the calls the ingestor makes (real HTTP underneath) ---------------------


class Call:
    """One request as the ingestor sent it (the key is never kept)."""

    def __init__(self, endpoint: str, params: dict[str, str], body: Any) -> None:
        self.endpoint = endpoint
        self.params = params
        self.body = body

    @property
    def asins(self) -> list[str]:
        return self.params.get("asin", "").split(",") if self.params.get("asin") else []

    @property
    def offers(self) -> int | None:
        return int(self.params["offers"]) if "offers" in self.params else None

    def __repr__(self) -> str:
        return f"Call({self.endpoint}, {self.params}, {self.body})"


class Recorder(httpx.BaseTransport):
    """httpx's own transport, recording each request; ``fail(call, n)`` may raise instead."""

    def __init__(self, fail: Callable[[Call, int], bool] | None = None) -> None:
        self.inner = httpx.HTTPTransport()
        self.calls: list[Call] = []
        self.fail = fail

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        params = {k: v for k, v in request.url.params.items() if k != "key"}
        body = json.loads(request.content) if request.content else None
        call = Call(request.url.path.strip("/"), params, body)
        self.calls.append(call)
        if self.fail is not None and self.fail(call, len(self.calls)):
            raise httpx.ConnectError("injected: connection refused")
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()

    def products(self, *, offers: bool | None = None) -> list[Call]:
        return [c for c in self.calls if c.endpoint == "product"
                and (offers is None or (c.offers is not None) == offers)]

    def deals(self) -> list[Call]:
        return [c for c in self.calls if c.endpoint == "deal"]


def stored(store: DealStore) -> dict[str, DealRecord]:
    with Session(store.engine) as session:
        return {r.asin: r for r in session.scalars(select(DealRecord))}
