from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests._services import RedisServer, create_postgres_database, drop_postgres_database


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
    created = create_postgres_database()
    if created is None:
        if os.environ.get("KEEPA_DEALS_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required (KEEPA_DEALS_REQUIRE_POSTGRES=1) but unreachable")
        pytest.skip("no PostgreSQL server reachable")
    url, admin = created
    yield url
    drop_postgres_database(url, admin)
