"""Fixtures of the ingest tests: a sandbox Keepa server over real HTTP, a real store and budget.

One sandbox server serves the session; each test swaps in a fresh sandbox on
a fake clock that the ingest process shares, so budget waits and refills
take no time.  ``db_url`` is a fresh SQLite file or a fresh PostgreSQL schema.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest

from keepa_deals.clock import FakeClock
from keepa_deals.ingest import IngestEnv, open_env
from keepa_deals.query import DealQuery, default_query
from keepa_deals.sandbox import CatalogConfig, Sandbox, SandboxServer
from keepa_deals.settings import Settings

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


@pytest.fixture
def sandbox(clock: FakeClock) -> Sandbox:
    """The default catalog (an hour of backlog) and KEY with a full 20/min bucket."""
    sb = Sandbox(clock=clock, catalog=CatalogConfig(seed=3), demo_account=False)
    sb.add_account(KEY, tokens=1200, refill_rate=20, phase_ms=7_000)
    return sb


@pytest.fixture(scope="session")
def _server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(clock=FakeClock(START_MS))) as srv:
        yield srv


@pytest.fixture
def server(_server: SandboxServer, sandbox: Sandbox) -> SandboxServer:
    _server.sandbox = sandbox
    return _server


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db')}/deals.sqlite3"
        return
    import psycopg

    base: str = request.getfixturevalue("postgres_url")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(base, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db')}/deals.sqlite3"


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
