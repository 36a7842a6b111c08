"""FC-30: a database outage between a paid Keepa call and its save loses nothing and buys
nothing twice, in Celery mode's batch runner and in the embedded run.

The outage is real: once the sandbox has charged a product call (its reply held back a
moment), the test's PostgreSQL database refuses every connection and its open sessions
are ended, for longer than a restart takes; then it comes back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from keepa_deals.clock import FakeClock
from keepa_deals.fanout import BatchBook, run_batch
from keepa_deals.ingest import IngestEnv, smart_ingestor
from keepa_deals.query import default_query
from keepa_deals.query.sources import FinderSpec
from keepa_deals.sandbox.accounts import fingerprint
from keepa_deals.sandbox import Sandbox
from keepa_deals.store import RunOutcome
from tests.celery.conftest import KEY, Broker
from tests.ingest.conftest import stored, with_offers

pytestmark = pytest.mark.postgres

BOOKS = 283155
SELECTION = {"rootCategory": [BOOKS], "current_USED_gte": 400, "current_USED_lte": 5000,
             "deltaPercent90_USED_gte": 30}
#: Longer than a restart, and than the few tries a save used to get (4.2 s in all).
OUTAGE_S = 7.0
#: Long enough to meet the reads and the save that follow the reply (held back 2 s).
SHORT_OUTAGE_S = 3.0
#: What a save (or a read for a paid page) that waits for the database logs.
WAITED = "the database is unavailable"


def product_requests(sandbox: Sandbox) -> int:
    return sandbox.account(KEY).requests_to("product")


def _admin(url: str) -> tuple[str, str]:
    base, _, name = url.rpartition("/")
    return f"{base}/postgres", name


def _allow(url: str, allowed: bool) -> None:
    admin, name = _admin(url)
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))


@contextmanager
def outage_after(sandbox: Sandbox, url: str, paid: Callable[[], bool], *,
                 endpoint: str = "product", during: Callable[[], None] = lambda: None,
                 seconds: float = OUTAGE_S) -> Iterator[dict[str, float]]:
    """The database goes away for ``seconds`` once ``paid()`` (a call to ``endpoint`` was
    charged; its reply, like every reply of ``endpoint``, is held back 2 s, so the outage
    begins before the caller has it: each test also checks that a save waited for it)."""
    sandbox.set_faults(slow_reply_rate=1.0, slow_reply_ms=2_000, endpoints=[endpoint])
    seen: dict[str, float] = {}
    done = threading.Event()

    def cut() -> None:
        while not paid():
            if done.wait(0.01):
                return
        _allow(url, False)
        seen["down"] = time.monotonic()
        during()
        time.sleep(seconds)
        _allow(url, True)
        seen["up"] = time.monotonic()

    thread = threading.Thread(target=cut, name="outage", daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        done.set()
        thread.join(seconds + 30)
        try:
            _allow(url, True)
        finally:
            sandbox.set_faults()


def outage_after_next_purchase(sandbox: Sandbox, url: str, **kw: Any) -> Any:
    before = product_requests(sandbox)
    return outage_after(sandbox, url, lambda: product_requests(sandbox) > before, **kw)


def bought(sandbox: Sandbox) -> list[dict[str, Any]]:
    return sandbox.purchase_log_by_fingerprint(fingerprint(KEY))


@pytest.fixture
def outage_url(fresh_postgres: str) -> str:
    return fresh_postgres


def test_fc30_a_batch_paid_for_before_an_outage_is_saved_after_it_once(
    make_env: Callable[..., IngestEnv], sandbox: Sandbox, broker: Broker,
    outage_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    """The batch's reply arrives while the database is away: its seller and category
    look-ups go without the cache, its save waits for the database, and it ends ``done``,
    bought once; a second delivery pays nothing."""
    env = make_env(database_url=outage_url)
    query = with_offers(default_query())
    broker.tick(env, query)
    batch = broker.queue.pop(0)
    first = run_batch(env, query, batch.id, batch.epoch)  # its product check, saved at once
    assert first.status == "done" and first.follow_ups, first
    batch = first.follow_ups[0]  # the outage hits the offers batch that follows
    paid = product_requests(sandbox)
    with outage_after_next_purchase(sandbox, outage_url) as seen:
        run = run_batch(env, query, batch.id, batch.epoch)
    assert "up" in seen, "the outage never began"
    assert run.status == "done", run
    assert f"batch {batch.id}: {WAITED}" in caplog.text, "the outage came after the save"
    assert product_requests(sandbox) - paid == 1, "bought once, saved once"
    record = BatchBook(env.store, query.name).get(batch.id)
    assert record is not None and record.done
    again = run_batch(env, query, batch.id, batch.epoch)
    assert again.status == "already_done" and product_requests(sandbox) - paid == 1


@pytest.mark.parametrize("when", ["page", "batch"])
def test_fc30_the_embedded_run_saves_what_it_paid_for_across_an_outage(
    make_env: Callable[..., IngestEnv], sandbox: Sandbox, outage_url: str,
    caplog: pytest.LogCaptureFixture, when: str,
) -> None:
    """The embedded run on PostgreSQL: the feed page (read against the store before it is
    saved) or the product batch paid for as the database goes away is saved once it is
    back, and the run goes on to the end."""
    env = make_env(database_url=outage_url)
    query = default_query()
    if when == "page":
        pages = sandbox.account(KEY).requests_to("deal")
        outage = outage_after(sandbox, outage_url, endpoint="deal", paid=lambda: sandbox.account(
            KEY).requests_to("deal") > pages, seconds=SHORT_OUTAGE_S)
    else:
        outage = outage_after_next_purchase(sandbox, outage_url)
    with outage as seen:
        report = smart_ingestor(env, query)
    assert "up" in seen, "the outage never began"
    assert report.outcome is RunOutcome.OK, report
    assert f"query {query.name}: {WAITED}" in caplog.text, "the outage came after the save"
    assert report.counts.added > 0 and len(stored(env.store)) == report.counts.added
    asins = [(a, p["offers"]) for p in bought(sandbox) for a in p["asins"]]
    assert len(asins) == len(set(asins)), "nothing bought twice"


def test_fc30_a_save_never_lands_after_the_runs_lock_expired_in_the_outage(
    make_env: Callable[..., IngestEnv], sandbox: Sandbox, outage_url: str, clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without Redis the run's lock lives in the database too: when the outage outlasts
    the lock, another runner may have taken the query over once the database is back, so
    the save is given up (the run ends with the lock lost, the batch is left to the next
    run) rather than written over that runner's ledger.  The next run goes on."""
    env = make_env(database_url=outage_url, ingest_lock_ttl_s=2)
    query = default_query()
    # the run's clock (the lock's) passes the lock's lifetime while the database is away
    with outage_after_next_purchase(sandbox, outage_url, seconds=SHORT_OUTAGE_S,
                                    during=lambda: clock.advance(10_000)) as seen:
        report = smart_ingestor(env, query)
    assert "up" in seen, "the outage never began"
    assert report.outcome is RunOutcome.ERROR and "LockLost" in (report.error or ""), report
    assert f"query {query.name}: {WAITED}" in caplog.text
    first = bought(sandbox)
    assert len(first) == 1, "the run stopped at the batch it could not save"
    again = smart_ingestor(env, query)
    assert again.outcome is RunOutcome.OK, again
    assert len(stored(env.store)) > 0
    rebought = {a for p in bought(sandbox)[1:] for a in p["asins"]}
    assert set(first[0]["asins"]) <= rebought, "the batch was not saved: the next run buys it"


@pytest.mark.parametrize("when", ["offers", "seller"])
def test_fc30_look_ups_after_a_paid_call_never_cost_its_deals(
    make_env: Callable[..., IngestEnv], sandbox: Sandbox, outage_url: str,
    caplog: pytest.LogCaptureFixture, when: str,
) -> None:
    """Listed products (a Product Finder search) bought with their offers: the seller and
    category look-ups that follow the paid call read and write the store's cache; with the
    database away they go without it (the deals keep what Keepa said), and the deals are
    saved once it is back."""
    env = make_env(database_url=outage_url)
    q = with_offers(default_query().model_copy(update={"name": "finder-offers", "sources": [
        FinderSpec.model_validate({"kind": "finder", "selection": SELECTION, "per_page": 50})]}))
    if when == "offers":  # the outage begins as the offers are bought
        outage = outage_after(sandbox, outage_url, seconds=SHORT_OUTAGE_S,
                              paid=lambda: any(p["offers"] for p in bought(sandbox)))
    else:  # ... or as the sellers are looked up
        sellers = sandbox.account(KEY).requests_to("seller")
        outage = outage_after(sandbox, outage_url, endpoint="seller", paid=lambda: sandbox.account(
            KEY).requests_to("seller") > sellers, seconds=SHORT_OUTAGE_S)
    with outage as seen:
        report = smart_ingestor(env, q)
    assert "up" in seen, "the outage never began"
    assert report.outcome is RunOutcome.OK, report
    assert f"query {q.name}: {WAITED}" in caplog.text, "the outage came after the save"
    rows = stored(env.store)
    assert report.counts.added > 0 and len(rows) == report.counts.added
    warned = {"offers": ["could not read the seller cache", "could not read the category cache"],
              "seller": ["could not cache"]}[when]
    assert all(w in caplog.text for w in warned), caplog.text
    asins = [(a, p["offers"]) for p in bought(sandbox) for a in p["asins"]]
    assert len(asins) == len(set(asins)), "nothing bought twice"
