"""/deal and /product over real HTTP: filters, sort orders, paging, feed growth, agreement."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from keepa_deals.keepa.time import unix_ms_to_keepa_minutes
from keepa_deals.sandbox import CatalogConfig, Sandbox
from keepa_deals.sandbox.universe import AMAZON, BOOKS, NEW, SALES, USED
from tests.sandbox.conftest import KEY, START_MS

HOUR = 3_600_000


def deals(client: httpx.Client, **selection: Any) -> dict[str, Any]:
    sel = {"domainId": 1, "priceTypes": [USED], **selection}
    r = client.post("/deal", params={"key": KEY}, json=sel)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()["deals"]
    return body


def all_deals(client: httpx.Client, **selection: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in range(20):
        dr = deals(client, page=page, **selection)["dr"]
        out += dr
        if len(dr) < 150:
            return out
    raise AssertionError("too many pages")


@pytest.fixture
def big_sandbox(sandbox: Sandbox, clock: Any) -> Sandbox:
    """Five hours of backlog: a feed of a few pages."""
    sb = Sandbox(clock=clock, catalog=CatalogConfig(seed=7, backlog_s=5 * 3600))
    sb.add_account(KEY, tokens=10_000, refill_rate=5)
    return sb


@pytest.fixture
def big(server: Any, big_sandbox: Sandbox) -> Sandbox:
    server.sandbox = big_sandbox
    return big_sandbox


def test_deal_objects_have_keepas_shape(client: httpx.Client, sandbox: Sandbox) -> None:
    body = deals(client)
    d = body["dr"][0]
    assert {"asin", "parentAsin", "title", "rootCat", "categories", "image", "current", "currentSince",
            "deltaLast", "delta", "deltaPercent", "avg", "lastUpdate", "creationDate", "lightningEnd",
            "warehouseCondition"} <= set(d)
    assert all(isinstance(c, int) for c in d["image"]) and "".join(map(chr, d["image"])).endswith(".jpg")
    assert len(d["current"]) == 36 and d["current"][USED] > 0
    for name in ("delta", "deltaPercent", "avg"):
        assert len(d[name]) == 4 and all(len(row) == 36 for row in d[name])
    assert d["deltaLast"][USED] > 0 and d["delta"][0][USED] == d["deltaLast"][USED]
    assert d["avg"][3][USED] - d["current"][USED] == d["delta"][3][USED]
    now_min = unix_ms_to_keepa_minutes(sandbox.now_ms())
    assert now_min - 12 * 60 < d["lastUpdate"] <= now_min and d["currentSince"][USED] == d["lastUpdate"]
    assert len(body["categoryIds"]) == len(body["categoryNames"]) == len(body["categoryCount"])
    assert BOOKS in body["categoryIds"]


def test_pages_of_150_and_the_last_page_short(client: httpx.Client, big: Sandbox) -> None:
    everything = all_deals(client)
    assert len(everything) == len(big.catalog.feed(big.now_ms(), USED)) > 300
    assert len({d["asin"] for d in everything}) == len(everything)
    assert sum(deals(client)["categoryCount"]) == len(everything)


@pytest.mark.parametrize(
    ("sort_type", "key", "descending"),
    [
        (1, lambda d: d["lastUpdate"], True),
        (-1, lambda d: d["lastUpdate"], False),
        (2, lambda d: d["delta"][0][USED], True),
        (4, lambda d: d["deltaPercent"][0][USED], True),
        (-4, lambda d: d["deltaPercent"][0][USED], False),
    ],
)
def test_sort_orders(client: httpx.Client, big: Sandbox, sort_type: int, key: Any, descending: bool) -> None:
    values = [key(d) for d in all_deals(client, sortType=sort_type)]
    assert values == sorted(values, reverse=descending)


def test_sales_rank_sort_puts_no_rank_last(client: httpx.Client, big: Sandbox) -> None:
    ranks = [d["current"][SALES] for d in all_deals(client, sortType=3)]
    ranked = [r for r in ranks if r > 0]
    assert ranked == sorted(ranked) and ranks[: len(ranked)] == ranked


def test_ranges_apply_only_when_enabled(client: httpx.Client, big: Sandbox) -> None:
    everything = all_deals(client, dateRange=3)
    ranges = {"currentRange": [500, 3000], "deltaPercentRange": [30, 100], "salesRankRange": [1, 500_000]}
    assert len(all_deals(client, dateRange=3, **ranges)) == len(everything)
    some = all_deals(client, dateRange=3, isRangeEnabled=True, **ranges)
    assert 0 < len(some) < len(everything)
    for d in some:
        assert 500 <= d["current"][USED] <= 3000
        assert 30 <= d["deltaPercent"][3][USED] <= 100
        assert 1 <= d["current"][SALES] <= 500_000
    expected = [d for d in everything if 500 <= d["current"][USED] <= 3000
                and 30 <= d["deltaPercent"][3][USED] <= 100 and 1 <= d["current"][SALES] <= 500_000]
    assert {d["asin"] for d in some} == {d["asin"] for d in expected}


def test_open_sales_rank_range(client: httpx.Client, big: Sandbox) -> None:
    some = all_deals(client, isRangeEnabled=True, salesRankRange=[200_000, -1])
    assert some and all(d["current"][SALES] >= 200_000 for d in some)


def test_category_filters_and_unfiltered_facets(client: httpx.Client, big: Sandbox) -> None:
    everything = deals(client)
    books = all_deals(client, includeCategories=[BOOKS])
    assert books and all(d["rootCat"] == BOOKS for d in books)
    not_books = all_deals(client, excludeCategories=[BOOKS])
    assert not_books and all(d["rootCat"] != BOOKS for d in not_books)
    sub = books[0]["categories"][0]
    assert all(sub in d["categories"] for d in all_deals(client, includeCategories=[sub]))
    assert deals(client, includeCategories=[BOOKS])["categoryCount"] == everything["categoryCount"]


def test_title_search_needs_every_word(client: httpx.Client, big: Sandbox) -> None:
    word = all_deals(client)[0]["title"].split()[1]
    hits = all_deals(client, titleSearch=word.upper())
    assert hits and all(word.lower() in d["title"].lower() for d in hits)
    assert all_deals(client, titleSearch=f"{word} zzzunlikely") == []


def test_amazon_offer_filters(client: httpx.Client, big: Sandbox) -> None:
    with_amazon = all_deals(client, priceTypes=[NEW], mustHaveAmazonOffer=True)
    without = all_deals(client, priceTypes=[NEW], mustNotHaveAmazonOffer=True)
    assert with_amazon and without
    assert all(d["current"][AMAZON] > 0 for d in with_amazon)
    assert all(d["current"][AMAZON] == -1 for d in without)


def test_a_locale_without_a_world_has_no_deals(client: httpx.Client) -> None:
    r = client.post("/deal", params={"key": KEY}, json={"domainId": 4, "priceTypes": [USED]})
    assert r.status_code == 200 and r.json()["deals"]["dr"] == [] and r.json()["tokensConsumed"] == 5


def test_the_feed_grows_over_time(client: httpx.Client, sandbox: Sandbox) -> None:
    before = all_deals(client)
    newest = before[0]["lastUpdate"]
    sandbox.clock.advance(2 * HOUR)  # type: ignore[attr-defined]
    after = all_deals(client)
    assert len(after) > len(before)
    fresh = [d for d in after if d["lastUpdate"] > newest]
    assert fresh and after[0]["lastUpdate"] > newest
    assert fresh[0]["lastUpdate"] <= unix_ms_to_keepa_minutes(START_MS + 2 * HOUR)


def test_old_deals_leave_the_feed(server: Any, clock: Any) -> None:
    sparse = Sandbox(clock=clock, catalog=CatalogConfig(seed=7, event_interval_s=600, backlog_s=6 * 3600))
    sparse.add_account(KEY, tokens=100, refill_rate=5)
    server.sandbox = sparse
    with httpx.Client(base_url=server.url) as client:
        backlog = {d["asin"] for d in all_deals(client)}
        clock.advance(13 * HOUR)
        later = all_deals(client)
    cutoff = unix_ms_to_keepa_minutes(START_MS + HOUR)
    assert later and all(d["lastUpdate"] >= cutoff for d in later)
    recent = sparse.catalog.events(START_MS + 13 * HOUR, since_ms=START_MS + HOUR)
    gone = backlog - {sparse.catalog.products[e.product].asin for e in recent}
    assert gone and not gone & {d["asin"] for d in later}


def test_deals_and_products_agree(client: httpx.Client, sandbox: Sandbox) -> None:
    dr = deals(client, dateRange=3)["dr"][:40]
    r = client.get("/product", params={"key": KEY, "domain": 1, "stats": 90, "offers": 20,
                                       "asin": ",".join(d["asin"] for d in dr[:20])})
    products = {p["asin"]: p for p in r.json()["products"]}
    for d in dr[:20]:
        p = products[d["asin"]]
        stats = p["stats"]
        for t in (AMAZON, NEW, USED, SALES):
            assert stats["current"][t] == d["current"][t]
            assert stats["avg90"][t] == d["avg"][3][t]
            assert stats["avg30"][t] == d["avg"][2][t]
        assert p["title"] == d["title"] and p["rootCategory"] == d["rootCat"]
        assert p["categories"] == d["categories"]
        series = p["csv"][USED]
        assert series[-1] == d["current"][USED] and series[-2] == d["lastUpdate"]
        used = [o["offerCSV"][1] for o in p["offers"] if o["condition"] > 1]
        assert min(used) == d["current"][USED]
        assert stats["totalOfferCount"] >= len(p["offers"])


def test_product_objects_have_keepas_shape(client: httpx.Client, sandbox: Sandbox) -> None:
    spec = sandbox.catalog.products[0]
    p = client.get("/product", params={"key": KEY, "domain": 1, "asin": spec.asin, "stats": 30,
                                       "offers": 20}).json()["products"][0]
    assert p["productType"] == 0 and p["domainId"] == 1 and len(p["csv"]) == 36
    stats = p["stats"]
    for name in ("current", "avg", "avg30", "avg90", "avg180", "avg365", "outOfStockPercentage90"):
        assert len(stats[name]) == 36
    assert stats["avg"] == stats["avg30"]
    for name in ("salesRankDrops30", "salesRankDrops90", "salesRankDrops180", "salesRankDrops365",
                 "totalOfferCount", "offerCountFBA", "offerCountFBM", "buyBoxPrice"):
        assert isinstance(stats[name], int)
    assert p["fbaFees"]["pickAndPackFee"] > 0 and p["referralFeePercentage"] > 0
    offer = p["offers"][0]
    assert {"offerId", "sellerId", "condition", "isFBA", "isPrime", "isAmazon", "isShippable",
            "lastSeen", "offerCSV"} <= set(offer)
    assert len(offer["offerCSV"]) % 3 == 0 and 1 <= offer["condition"] <= 5
    for series in p["csv"]:
        if series is not None:
            times = series[0::2] if len(series) % 2 == 0 and series is not p["csv"][7] else series[0::3]
            assert times == sorted(times)


def test_history_zero_and_days(client: httpx.Client, sandbox: Sandbox) -> None:
    spec = sandbox.catalog.products[1]
    base = {"key": KEY, "domain": 1, "asin": spec.asin}
    full = client.get("/product", params=base).json()["products"][0]
    none = client.get("/product", params={**base, "history": 0}).json()["products"][0]
    recent = client.get("/product", params={**base, "days": 40}).json()["products"][0]
    assert none["csv"] is None and none["salesRanks"] is None and full["csv"]
    cutoff = unix_ms_to_keepa_minutes(START_MS) - 40 * 1440
    kept = recent["csv"][SALES] or []
    assert len(kept) < len(full["csv"][SALES]) and all(t >= cutoff for t in kept[0::2])
