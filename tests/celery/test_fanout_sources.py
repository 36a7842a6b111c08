"""Celery mode with sources beyond the feed: the tick walks them, the workers buy the checks.

A Product Finder query fanned out stores the same deals as the embedded run;
with offers bought, the workers rate the sellers too.
"""

from __future__ import annotations

from collections.abc import Callable

from keepa_deals.ingest import IngestEnv, smart_ingestor
from keepa_deals.query import DealQuery
from keepa_deals.query.sources import FinderSpec
from keepa_deals.sandbox import Sandbox
from keepa_deals.store import RunOutcome
from tests.celery.conftest import Broker
from tests.celery.test_fanout import until_quiet
from tests.ingest.conftest import stored, with_offers

SELECTION = {"rootCategory": [283155], "current_USED_gte": 400, "current_USED_lte": 5000,
             "deltaPercent90_USED_gte": 30}


def finder_query(query: DealQuery) -> DealQuery:
    return query.model_copy(update={"name": "finder", "sources": [FinderSpec(
        kind="finder", selection=SELECTION, per_page=50, pages_per_run=2)]})


def test_a_fanned_out_finder_query_stores_what_the_embedded_run_stores(
    make_env: Callable[..., IngestEnv], sandbox: Sandbox, query: DealQuery, broker: Broker,
) -> None:
    q = finder_query(query)
    fanned = make_env()
    until_quiet(fanned, q, broker)
    embedded = make_env()
    assert smart_ingestor(embedded, q).outcome is RunOutcome.OK
    a, b = stored(fanned.store), stored(embedded.store)
    assert set(a) == set(b) and a
    assert {k: v.profit_cents for k, v in a.items()} == {k: v.profit_cents for k, v in b.items()}
    assert {r.status for r in broker.runs} == {"done"}


def test_fanned_out_offers_batches_rate_the_sellers(
    make_env: Callable[..., IngestEnv], query: DealQuery, broker: Broker,
) -> None:
    q = with_offers(finder_query(query))
    env = make_env()
    until_quiet(env, q, broker)
    rows = stored(env.store).values()
    assert rows and all(r.seller_id and r.seller_trust is not None for r in rows)
    assert all(r.category_name == "Books" and r.currency == "USD" for r in rows)
