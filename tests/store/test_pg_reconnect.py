"""A pooled PostgreSQL connection closed by the server (a restart, an idle timeout) never
wedges the store: pinged when it was idle, it is replaced unseen; used moments after it
died, that one call fails as "database unavailable" and the next one works."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from keepa_deals.store import DealStore, engine
from keepa_deals.store.errors import DatabaseUnavailable

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[DealStore]:
    with DealStore.open(postgres_url) as store:
        yield store


def _kill_the_pooled_connection(store: DealStore, url: str) -> None:
    with store.engine.connect() as conn:  # the pool's one connection, checked in again after
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with psycopg.connect(url, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)


def test_an_idle_connection_is_pinged_and_replaced(
    pg_store: DealStore, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _kill_the_pooled_connection(pg_store, postgres_url)
    monkeypatch.setattr(engine, "PG_PING_AFTER_IDLE_S", 0.0)
    assert pg_store.count_deals() == 0  # the dead connection was noticed and replaced


def test_a_connection_used_moments_after_it_died_fails_once(
    pg_store: DealStore, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _kill_the_pooled_connection(pg_store, postgres_url)
    monkeypatch.setattr(engine, "PG_PING_AFTER_IDLE_S", 3600.0)
    with pytest.raises(DatabaseUnavailable) as info:
        pg_store.count_deals()
    assert info.value.transient  # a save of paid-for work waits it out (FC-30)
    assert pg_store.count_deals() == 0  # the pool was invalidated: a fresh connection


def test_a_failing_ping_hands_out_a_fresh_connection_which_is_not_pinged(
    pg_store: DealStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that accepts connections and drops them on the first query (a pooler, a
    shutdown) must fail a call as "database unavailable", never as SQLAlchemy's own
    "reconnection attempts exhausted", which no caller would expect."""
    pg_store.count_deals()
    monkeypatch.setattr(engine, "PG_PING_AFTER_IDLE_S", 0.0)

    def dead(_conn: object) -> None:
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(pg_store.engine.dialect, "do_ping", dead)
    assert pg_store.count_deals() == 0  # pinged, replaced, and the new one used at once
