"""Fixtures of the Celery-mode tests.

The in-process tests run the tick and the batch runner directly (no broker):
a sandbox Keepa server over real HTTP on a fake clock shared with the
ingest process, a real store (SQLite, or PostgreSQL where marked) and the
database or Redis lock.  The cluster tests (test_cluster.py) run real
processes instead (see _cluster.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from keepa_deals.clock import FakeClock
from keepa_deals.fanout import Batch, BatchRun, run_batch, run_tick
from keepa_deals.ingest import IngestEnv, IngestReport, open_env
from keepa_deals.query import DealQuery, default_query
from keepa_deals.sandbox import CatalogConfig, Sandbox, SandboxServer
from keepa_deals.settings import Settings
from tests.ingest.conftest import START_MS, with_offers

#: The test account's key (64 × [a-z0-9], like Keepa's).
KEY = "celerytestkey" + "7" * 51


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START_MS)


@pytest.fixture
def sandbox(clock: FakeClock) -> Sandbox:
    """Three hours of feed backlog; a plan large enough that tokens never bind."""
    sb = Sandbox(clock=clock, catalog=CatalogConfig(seed=4, backlog_s=3 * 3600),
                 demo_account=False)
    sb.add_account(KEY, tokens=60_000, refill_rate=1000, phase_ms=7_000)
    return sb


@pytest.fixture
def make_settings(server: SandboxServer, tmp_path_factory: pytest.TempPathFactory
                  ) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "keepa_api_key": KEY, "keepa_api_url": server.url, "http_retries": 1,
            "database_url": f"sqlite:///{tmp_path_factory.mktemp('db')}/deals.sqlite3",
            "data_dir": tmp_path_factory.mktemp("data"), "ingest_max_pages": 20,
            "celery_max_batch": 10,
        }
        values.update(overrides)
        return Settings(**values)
    return make


@pytest.fixture
def make_env(make_settings: Callable[..., Settings], clock: FakeClock
             ) -> Iterator[Callable[..., IngestEnv]]:
    """``make_env(**settings)`` → an IngestEnv on the fake clock (closed afterwards)."""
    made: list[IngestEnv] = []

    def make(*, settings: Settings | None = None, **overrides: Any) -> IngestEnv:
        env = open_env(settings or make_settings(**overrides), clock=clock)
        made.append(env)
        return env

    yield make
    for env in made:
        env.close()


@pytest.fixture(params=[False, True], ids=["stats-only", "with-offers"])
def query(request: pytest.FixtureRequest) -> DealQuery:
    q = default_query()
    return with_offers(q) if request.param else q


class Broker:
    """Stands in for Celery: a FIFO of sent batches, delivered by :meth:`work`."""

    def __init__(self) -> None:
        self.queue: list[Batch] = []
        self.runs: list[BatchRun] = []

    def send(self, batch: Batch) -> None:
        self.queue.append(batch)

    def work(self, env: IngestEnv, query: DealQuery) -> list[BatchRun]:
        """Deliver every queued batch (and the follow-ups they send) once."""
        runs = []
        while self.queue:
            b = self.queue.pop(0)
            run = run_batch(env, query, b.id, b.epoch)
            self.queue.extend(run.follow_ups)
            runs.append(run)
        self.runs.extend(runs)
        return runs

    def tick(self, env: IngestEnv, query: DealQuery, queries: int = 1) -> IngestReport:
        return run_tick(env, query, queries=queries, send=self.send)


@pytest.fixture
def broker() -> Broker:
    return Broker()


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """A PostgreSQL database of this test's own (processes of a cluster share it)."""
    from tests._services import postgres_database

    with postgres_database() as url:
        yield url


def serve_live_sandbox(server: SandboxServer) -> Sandbox:
    """A sandbox on real time, served by ``server``: the tasks open their parts on the
    system clock."""
    sb = Sandbox(catalog=CatalogConfig(seed=4, backlog_s=3 * 3600), demo_account=False)
    sb.add_account(KEY, tokens=60_000, refill_rate=1000)
    server.sandbox = sb
    return sb


@pytest.fixture
def live_sandbox(_sandbox_server: SandboxServer) -> Sandbox:
    return serve_live_sandbox(_sandbox_server)
