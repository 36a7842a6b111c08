"""Seller trust in the deal list: ``min_trust`` in the one filter grammar, trust and currency
in each item; a deal without a known seller never passes a trust filter."""

from __future__ import annotations

import random
from dataclasses import replace

from keepa_deals.clock import FakeClock
from keepa_deals.store import DealStore
from keepa_deals.trust import trust_score
from keepa_deals.web.forms import parse_query, to_query
from tests.web._deals import QUERY, START_MS, current_row
from tests.web.conftest import Api


def test_min_trust_reads_and_writes_as_the_page_does() -> None:
    r = parse_query("min_trust=90&min_profit=5")
    assert (r.min_trust, r.min_profit_cents) == (90.0, 500)
    assert parse_query(to_query(r)) == r


def test_the_list_keeps_the_deals_of_trusted_sellers(api: Api, store: DealStore,
                                                     clock: FakeClock) -> None:
    rnd = random.Random(3)
    clock.set(START_MS - 60_000)
    trusts = {"few": trust_score(100, 5), "many": trust_score(98, 5000), "unknown": None}
    rows = [replace(current_row(i, rnd), seller_id=None if name == "unknown" else f"A{i:013d}",
                    seller_trust=t, currency="USD")
            for i, (name, t) in enumerate(trusts.items())]
    store.save_batch(rows, query=QUERY)
    clock.set(START_MS)
    r = api.get("/api/deals", params={"min_trust": 90})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [d["asin"] for d in items] == [rows[1].asin]  # 5,000 at 98 % beats 5 at 100 %
    assert items[0]["seller_trust"] == 97.6 and items[0]["currency"] == "USD"
    everything = api.get("/api/deals").json()["items"]
    assert {d["asin"] for d in everything} == {row.asin for row in rows}
