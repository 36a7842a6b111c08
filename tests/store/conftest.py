"""The store's tests run on SQLite and on PostgreSQL alike.

``db_url`` gives each test an empty database: a fresh SQLite file, or a fresh
schema in the session's PostgreSQL database (selected through ``search_path``),
dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from keepa_deals.clock import FakeClock
from keepa_deals.store import DealStore

START_MS = 1_800_000_000_000  # 2027-01-15T08:00:00Z


def _admin(conn_url: str):  # noqa: ANN202 - psycopg connection
    import psycopg

    return psycopg.connect(conn_url, autocommit=True, connect_timeout=3)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db')}/store.sqlite3"
        return
    base: str = request.getfixturevalue("postgres_url")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with _admin(base) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    with _admin(base) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START_MS)


@pytest.fixture
def store(db_url: str, clock: FakeClock) -> Iterator[DealStore]:
    s = DealStore.open(db_url, clock=clock)
    yield s
    assert s.engine.pool.checkedout() == 0, "a connection was left checked out"
    s.close()
