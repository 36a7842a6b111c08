"""A /product reply that is malformed for one product sets that deal aside and the run
goes on: the rest of the paid-for batch is saved, and no later run is stopped by it.

(Before, one unreadable product failed the whole batch; the next run bought the same
batch, failed again, and so on: ingestion stopped for as long as Keepa's data stayed bad.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from keepa_deals.clock import FakeClock
from keepa_deals.ingest import IngestEnv, smart_ingestor
from keepa_deals.query import DealQuery
from keepa_deals.sandbox import Sandbox
from keepa_deals.store import RunOutcome
from tests.ingest import _oracle as oracle
from tests.ingest.conftest import Recorder, open_feed, stored


class Rewriting(Recorder):
    """Real HTTP; the JSON body of every reply from ``endpoint`` goes through ``rewrite``."""

    endpoint = "product"

    def rewrite(self, body: dict[str, Any]) -> None:
        raise NotImplementedError

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.url.path.strip("/") != self.endpoint:
            return response
        response.read()
        body = json.loads(response.content)
        self.rewrite(body)
        headers = {k: v for k, v in response.headers.items()
                   if k.lower() not in ("content-encoding", "content-length")}
        return httpx.Response(response.status_code, headers=headers,
                              content=json.dumps(body).encode())


class Corrupting(Rewriting):
    """In every /product reply, one product's stats object is not an object (unreadable at
    parse) and another's avg90 holds strings (unreadable when read)."""

    def __init__(self) -> None:
        super().__init__()
        self.spoiled: set[str] = set()

    def rewrite(self, body: dict[str, Any]) -> None:
        products = body.get("products") or []
        if products:
            products[0]["stats"] = []
            self.spoiled.add(products[0]["asin"])
        if len(products) > 1 and products[1].get("stats"):
            products[1]["stats"]["avg90"] = ["x"] * 40
            self.spoiled.add(products[1]["asin"])


@pytest.mark.parametrize(("spoiler", "reason"), [
    (lambda: Corrupting(), "malformed product data"),
    (lambda: BadDeltas(), "malformed deal data"),
], ids=["product", "feed-deal"])
def test_one_malformed_product_or_deal_costs_that_deal_not_the_reply(
    db_url: str, make_env: Callable[..., IngestEnv], sandbox: Sandbox, clock: FakeClock,
    query: DealQuery, spoiler: Callable[[], Corrupting | BadDeltas], reason: str,
) -> None:
    q = open_feed(query)
    rec = spoiler()
    env = make_env(db_url, transport=rec)
    first = smart_ingestor(env, q)
    assert first.outcome is RunOutcome.OK, first.error
    assert rec.spoiled and first.reasons[reason] >= 1
    expected = set(oracle.expected(sandbox, q, clock.now_ms()))
    assert set(stored(env.store)) == expected - rec.spoiled, "the rest of each reply was saved"

    for _ in range(2):  # and nothing is stuck: later runs are ok too
        clock.advance(10 * 60 * 1000)
        later = smart_ingestor(env, q)
        assert later.outcome is RunOutcome.OK, later.error


class BadTitles(Rewriting):
    """Every deal of every /deal page gets ``title``."""

    endpoint = "deal"

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title = title

    def rewrite(self, body: dict[str, Any]) -> None:
        for deal in (body.get("deals") or {}).get("dr") or []:
            deal["title"] = self.title


def test_text_no_database_can_store_is_cleaned_not_a_stall(
    db_url: str, make_env: Callable[..., IngestEnv], sandbox: Sandbox, clock: FakeClock,
    query: DealQuery,
) -> None:
    """A NUL (PostgreSQL refuses it) or an unpaired surrogate (no UTF-8 encoder takes it) in
    a title used to fail the batch's commit at every run, or end the run loop."""
    q = open_feed(query)
    expected = set(oracle.expected(sandbox, q, clock.now_ms()))
    for title, kept in (("a\x00b", "ab"), ("a\ud83db", "a\ufffdb")):
        env = make_env(db_url, transport=BadTitles(title))
        report = smart_ingestor(env, q)
        assert report.outcome is RunOutcome.OK, report.error
        rows = stored(env.store)
        assert set(rows) == expected and {r.title for r in rows.values()} == {kept}
        env.store.engine.dispose()
        with env.store.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM deals")
            conn.exec_driver_sql("DELETE FROM system_state")


class BadDeltas(Rewriting):
    """The first deal of every /deal page has strings in its deltaPercent rows (checked
    when the feed filter reads them)."""

    endpoint = "deal"

    def __init__(self) -> None:
        super().__init__()
        self.spoiled: set[str] = set()

    def rewrite(self, body: dict[str, Any]) -> None:
        deals = (body.get("deals") or {}).get("dr") or []
        if deals:
            deals[0]["deltaPercent"] = [["x"] * 40] * 4
            self.spoiled.add(deals[0]["asin"])
