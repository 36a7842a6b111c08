"""Invariant: the web tier never blocks on the worker (docs/failure-classes.md, FC-16).

While another connection holds a write transaction open (the ingestor in the middle of
a batch: on SQLite the database's write lock, on PostgreSQL row locks on the deals
being updated), every page and API answer comes back at once, and the dashboard leaves
no connection checked out behind it.
"""

from __future__ import annotations

import time

from sqlalchemy import text

from keepa_deals.clock import FakeClock
from keepa_deals.store import DealStore
from tests.web._deals import seed
from tests.web.conftest import Api

PATHS = ["/api/deals", "/api/deals?sort=rank&q=garden", "/api/health", "/api/series/tokens",
         "/api/series/deals", "/api/runs", "/", "/health"]


def test_pages_answer_while_a_writer_holds_its_transaction(
    api: Api, store: DealStore, clock: FakeClock
) -> None:
    seeded = seed(store, clock)
    writer = store.engine.connect()
    try:
        writer = writer.execution_options(sqlite_begin="IMMEDIATE")
        tx = writer.begin()
        # The write lock (SQLite) and row locks (PostgreSQL) of a batch in flight.
        writer.execute(text("UPDATE deals SET profit_cents = profit_cents + 1 WHERE asin = :a"),
                       {"a": seeded.current[0]})
        for path in PATHS:
            started = time.monotonic()
            r = api.get(path)
            took = time.monotonic() - started
            assert r.status_code == 200, (path, r.text[:200])
            assert took < 3.0, f"{path} waited {took:.1f} s for the writer"
        # Reads see the last committed state, not the writer's.
        before = api.get(f"/api/deals/{seeded.current[0]}").json()["profit_cents"]
        tx.commit()
        after = api.get(f"/api/deals/{seeded.current[0]}").json()["profit_cents"]
        assert after == before + 1
    finally:
        writer.close()
    assert store.engine.pool.checkedout() == 0
