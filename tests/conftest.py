from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, settings

from keepa_deals.clock import FakeClock
from keepa_deals.sandbox import Sandbox, SandboxServer
from tests._services import RedisServer, postgres_database

# The suite runs on two processes beside servers of its own, often on a loaded machine:
# how fast hypothesis generates or runs an example is the machine's business, not a
# property under test (every test still runs its examples in full).
settings.register_profile("keepa-deals", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("keepa-deals")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test reads the developer's .env, key or data directory."""
    for name in ("KEEPA_API_KEY", "KEEPA_API_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("KEEPA_DEALS_") and not name.startswith(("KEEPA_DEALS_TEST", "KEEPA_DEALS_REQUIRE")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KEEPA_DEALS_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server owned by the test session."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _shared_redis_url(redis_server: RedisServer) -> str:
    return os.environ.get("REDIS_URL") or redis_server.url


@pytest.fixture
def redis_url(_shared_redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Redis URL whose database is empty at the start of the test."""
    import redis

    client = redis.Redis.from_url(_shared_redis_url)
    client.flushdb()
    client.close()
    monkeypatch.setenv("REDIS_URL", _shared_redis_url)
    yield _shared_redis_url


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which it may restart, flush or stop."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database (psycopg URL) for the session."""
    with postgres_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A new SQLite database file."""
    return f"sqlite:///{tmp_path_factory.mktemp('db')}/deals.sqlite3"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[str]:
    """An empty database on SQLite and on PostgreSQL: a fresh file, or a fresh schema in the
    session's PostgreSQL database (selected through ``search_path``), dropped afterwards."""
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


@pytest.fixture(scope="session")
def _sandbox_server() -> Iterator[SandboxServer]:
    """One sandbox Keepa server for the session; each test serves its own sandbox on it."""
    with SandboxServer(Sandbox(clock=FakeClock())) as srv:
        yield srv


@pytest.fixture
def server(_sandbox_server: SandboxServer, sandbox: Sandbox) -> SandboxServer:
    """The session's sandbox server, serving this test's ``sandbox`` (each suite defines it)."""
    _sandbox_server.sandbox = sandbox
    return _sandbox_server
