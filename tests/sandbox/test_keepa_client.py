"""The real ``keepa`` client from PyPI, over real HTTP, against the sandbox.

``keepa.Keepa`` builds every URL as ``https://api.keepa.com/<endpoint>/?``
with ``requests.get`` (``keepa/keepa_sync.py``, ``Keepa._request``); there is
no base-URL option.  The test points it at the sandbox by giving the client
module a ``requests`` whose ``get`` swaps that prefix for the sandbox's URL
and calls the real ``requests.get``: the client's own code builds the
parameters, sends them, parses the replies and tracks the tokens.

Each endpoint is checked for what the client returns and for what the
sandbox charged (``tokensConsumed`` of the account, from its counters).
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import keepa
import keepa.keepa_sync
import pytest
import requests

from keepa_deals.clock import FakeClock
from keepa_deals.sandbox import CatalogConfig, Sandbox, SandboxServer
from keepa_deals.sandbox.offers import all_offers
from keepa_deals.sandbox.universe import USED

from .conftest import START_MS

KEEPA_URL = "https://api.keepa.com/"
KEY = "keepaclienttestkey" + "0" * 46


@pytest.fixture
def sandbox() -> Sandbox:
    sb = Sandbox(clock=FakeClock(START_MS), catalog=CatalogConfig(seed=7), demo_account=False)
    sb.add_account(KEY, tokens=5000, refill_rate=100, phase_ms=0)
    return sb


@pytest.fixture
def api(server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[keepa.Keepa]:
    base = server.url.rstrip("/") + "/"
    sent: list[str] = []

    def get(url: str, *args: Any, **kwargs: Any) -> requests.Response:
        assert url.startswith(KEEPA_URL), url
        sent.append(url[len(KEEPA_URL):])
        return requests.get(base + url[len(KEEPA_URL):], *args, **kwargs)

    monkeypatch.setattr(keepa.keepa_sync, "requests", types.SimpleNamespace(get=get, Response=requests.Response))
    client = keepa.Keepa(KEY, logging_level="WARNING")
    client.sent = sent  # type: ignore[attr-defined]
    yield client


def consumed(sandbox: Sandbox) -> int:
    return sandbox.account(KEY).tokens_consumed


def test_deals_through_the_real_client(api: keepa.Keepa, sandbox: Sandbox) -> None:
    deals = api.deals({"page": 0, "domainId": 1, "priceTypes": [USED]})
    assert deals["dr"] and all(d["current"][USED] > 0 for d in deals["dr"])
    assert api.tokens_left == 5000 - 5 and consumed(sandbox) == 5
    assert api.status.refillRate == 100 and api.status.timestamp == START_MS
    assert 0 < api.status.refillIn <= 60_000


def test_a_gb_feed_through_the_real_client(api: keepa.Keepa, sandbox: Sandbox) -> None:
    deals = api.deals({"page": 0, "domainId": 2, "priceTypes": [USED]}, domain="GB")
    gb_books = sandbox.catalog_for(2).market.books  # type: ignore[union-attr]
    assert deals["dr"] and {d["rootCat"] for d in deals["dr"]} >= {gb_books}
    us = {d["asin"] for d in api.deals({"page": 0, "domainId": 1, "priceTypes": [USED]})["dr"]}
    assert not us & {d["asin"] for d in deals["dr"]}
    assert consumed(sandbox) == 10


def test_products_with_and_without_history(api: keepa.Keepa, sandbox: Sandbox) -> None:
    asins = [p.asin for p in sandbox.catalog.products[:3]]
    full = api.query(asins, progress_bar=False, stats=90)  # the client sorts the ASINs
    assert sorted(p["asin"] for p in full) == sorted(asins)
    assert all(len(p["data"]["USED"]) > 0 or len(p["data"]["NEW"]) > 0 for p in full)
    assert consumed(sandbox) == 3
    bare = api.query(asins + ["0000000000"], history=False, progress_bar=False)
    assert sorted(p["asin"] for p in bare) == sorted(asins)  # an unknown ASIN is left out, and free
    assert all(p["csv"] is None and "data" not in p for p in bare)
    assert consumed(sandbox) == 6


def test_barcode_lookup(api: keepa.Keepa, sandbox: Sandbox) -> None:
    book = next(p for p in sandbox.catalog.products if p.is_book)
    by_isbn = api.query(book.ean, product_code_is_asin=False, history=False, progress_bar=False)
    assert [p["asin"] for p in by_isbn] == [book.asin] and by_isbn[0]["eanList"] == [book.ean]
    shared = next(p for p in sandbox.catalog.products if p.upc
                  and len(sandbox.catalog.specs_by_code(p.ean)) > 1)
    both = api.query(shared.upc, product_code_is_asin=False, history=False, progress_bar=False)
    assert len(both) == 2 and {p["upcList"][0] for p in both} == {shared.upc}
    one = api.query(shared.upc, product_code_is_asin=False, history=False, progress_bar=False,
                    extra_params={"code-limit": 1})
    assert len(one) == 1
    assert consumed(sandbox) == 1 + 2 + 1


def test_product_finder(api: keepa.Keepa, sandbox: Sandbox) -> None:
    asins = api.product_finder({"current_USED_lte": 800, "salesRankDrops90_gte": 4,
                                "current_SALES_lte": 1_000_000})
    assert 0 < len(asins) <= 50
    now = sandbox.now_ms()
    for asin in asins:
        state = sandbox.catalog.state(asin, now)
        assert state is not None and 0 < state.current[USED] <= 800 and state.spec.rank_drops[1] >= 4
    assert consumed(sandbox) == 10 + 1
    # keepa 1.6 gives ProductParams a default perPage of 50, so n_products is ignored: say it here.
    more = api.product_finder({"rootCategory": [str(sandbox.catalog.market.books)], "perPage": 150})
    assert len(more) == 150 and consumed(sandbox) == 11 + 10 + 2


def test_best_sellers(api: keepa.Keepa, sandbox: Sandbox) -> None:
    books = sandbox.catalog.market.books
    asins = api.best_sellers_query(str(books))
    ranks = [sandbox.catalog.spec(a).normal[3] for a in asins]  # type: ignore[union-attr]
    assert len(asins) > 100 and ranks == sorted(ranks)
    assert consumed(sandbox) == 50
    with pytest.raises(RuntimeError, match="not yet available"):
        api.best_sellers_query("12345")  # no such list: an empty reply, nothing charged
    assert consumed(sandbox) == 50


def test_sellers(api: keepa.Keepa, sandbox: Sandbox) -> None:
    state = sandbox.catalog.state(sandbox.catalog.products[3].asin, sandbox.now_ms())
    assert state is not None
    ids = list(dict.fromkeys(o.seller_id for o in all_offers(state, 7)))[:3]
    found = api.seller_query(ids + ["A0NOTASELLER00"])
    assert set(found) == set(ids)
    for seller in found.values():
        assert 0 <= seller["currentRating"] <= 100 and seller["currentRatingCount"] >= 1
        assert seller["sellerName"] and seller["trackedSince"] is not None
    assert consumed(sandbox) == len(ids)  # the unknown seller costs nothing


def test_category_lookup_and_search(api: keepa.Keepa, sandbox: Sandbox) -> None:
    roots = api.category_lookup(0)
    assert {c["name"] for c in roots.values()} >= {"Books", "Electronics"}
    mystery = api.category_lookup(18, include_parents=True)
    assert mystery["18"]["parent"] == 283155
    found = api.search_for_categories("science fiction")
    assert "25" in found and found["25"]["name"] == "Science Fiction & Fantasy"
    de = api.search_for_categories("krimis", domain="DE")
    assert [c["name"] for c in de.values()] == ["Krimis & Thriller"]
    assert consumed(sandbox) == 4


def test_offers_with_stock_and_only_live_offers(api: keepa.Keepa, sandbox: Sandbox) -> None:
    spec = next(p for p in sandbox.catalog.products if p.stock_fresh and p.normal[11] + p.normal[12] < 10)
    plain = api.query(spec.asin, offers=20, history=False, progress_bar=False)
    first = consumed(sandbox)
    pages = max(1, -(-len(plain[0]["offers"]) // 10))
    assert plain[0]["offers"] and first == 6 * pages  # 6 per page of 10 offers found
    stocked = api.query(spec.asin, offers=20, stock=True, only_live_offers=True, history=False,
                        progress_bar=False)
    assert consumed(sandbox) - first == first + 2  # stock +2 (fresh), only-live-offers free
    assert all("stockCSV" in o for o in stocked[0]["offers"])


def test_a_de_product_finder_and_best_sellers(api: keepa.Keepa, sandbox: Sandbox) -> None:
    de = sandbox.catalog_for(3)
    assert de is not None
    asins = api.product_finder({"rootCategory": [str(de.market.books)], "current_USED_lte": 900},
                               domain="DE")
    assert asins and all(de.spec(a) is not None for a in asins)
    best = api.best_sellers_query("Book", domain="DE")
    assert best and all(de.spec(a).is_book for a in best)  # type: ignore[union-attr]
    assert consumed(sandbox) == 11 + 50
