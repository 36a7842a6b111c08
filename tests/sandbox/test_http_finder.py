"""``/query`` (Product Finder) over real HTTP: filters, paging, sort, cost and errors.

Expected results are worked out from the catalogue's product states here, not
from the finder's own code.
"""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pytest

from keepa_deals.sandbox import Sandbox
from keepa_deals.sandbox.catalog import ProductState
from keepa_deals.sandbox.universe import COUNT_NEW_FBA, SALES, USED
from tests.sandbox.conftest import KEY


def finder(client: httpx.Client, selection: dict[str, Any], *, post: bool = False, domain: int = 1,
           **params: Any) -> httpx.Response:
    if post:
        return client.post("/query", params={"key": KEY, "domain": domain, **params}, json=selection)
    return client.get("/query", params={"key": KEY, "domain": domain, "selection": json.dumps(selection),
                                        **params})


def states(sandbox: Sandbox) -> list[ProductState]:
    now = sandbox.now_ms()
    return [s for s in (sandbox.catalog.state(p.asin, now) for p in sandbox.catalog.products) if s is not None]


def by_rank(found: list[ProductState]) -> list[str]:
    return [s.asin for s in sorted(found, key=lambda s: (s.current[SALES] < 0, s.current[SALES], s.asin))]


def test_filters_on_price_rank_drops_and_offer_counts(client: httpx.Client, sandbox: Sandbox) -> None:
    sel = {"current_USED_lte": 600, "current_USED_gte": 100, "salesRankDrops90_gte": 5,
           "offerCountFBA_gte": 1, "current_SALES_lte": 2_000_000}
    expected = by_rank([s for s in states(sandbox)
                        if 100 <= s.current[USED] <= 600 and s.spec.rank_drops[1] >= 5
                        and s.spec.normal[COUNT_NEW_FBA] >= 1 and 0 < s.current[SALES] <= 2_000_000])
    body = finder(client, {**sel, "perPage": 1000}).json()
    assert body["asinList"] == expected and body["totalResults"] == len(expected) > 0
    assert body["tokensConsumed"] == 10 + math.ceil(len(expected) / 100)


def test_filters_on_averages_and_drops_in_percent(client: httpx.Client, sandbox: Sandbox) -> None:
    sel = {"avg90_USED_gte": 1000, "deltaPercent90_USED_gte": 30, "perPage": 1000}
    expected = by_rank([s for s in states(sandbox) if s.spec.avgs[USED][1] >= 1000
                        and s.current[USED] > 0
                        and round((s.spec.avgs[USED][1] - s.current[USED]) * 100 / s.spec.avgs[USED][1]) >= 30])
    body = finder(client, sel, post=True).json()
    assert body["asinList"] == expected and expected


def test_category_filters(client: httpx.Client, sandbox: Sandbox) -> None:
    body = finder(client, {"rootCategory": [172282], "perPage": 1000}).json()
    electronics = [s.asin for s in states(sandbox) if s.spec.root_category == 172282]
    assert sorted(body["asinList"]) == sorted(electronics) and electronics
    mystery = finder(client, {"categories_include": ["18"], "perPage": 1000}).json()["asinList"]
    assert mystery and all(18 in sandbox.catalog.spec(a).categories for a in mystery)  # type: ignore[union-attr]
    rest = finder(client, {"rootCategory": [283155], "categories_exclude": [18], "perPage": 1000}).json()
    assert not set(rest["asinList"]) & set(mystery)


def test_paging_and_per_page(client: httpx.Client, sandbox: Sandbox) -> None:
    sel = {"rootCategory": [283155]}
    first = finder(client, sel).json()
    assert len(first["asinList"]) == 50 and first["tokensConsumed"] == 11  # perPage defaults to 50
    second = finder(client, {**sel, "page": 1}).json()
    assert not set(first["asinList"]) & set(second["asinList"])
    big = finder(client, {**sel, "perPage": 120}).json()
    assert big["asinList"][:50] == first["asinList"] and big["tokensConsumed"] == 12
    small = finder(client, {**sel, "perPage": 10}).json()
    assert len(small["asinList"]) == 50  # the minimum page is 50
    past = finder(client, {**sel, "page": 99, "perPage": 100}).json()
    assert past["asinList"] == [] and past["tokensConsumed"] == 10 and past["totalResults"] == first["totalResults"]


def test_sort(client: httpx.Client, sandbox: Sandbox) -> None:
    sel = {"rootCategory": [283155], "perPage": 200, "sort": [["current_USED", "desc"]]}
    found = finder(client, sel).json()["asinList"]
    now = sandbox.now_ms()
    used = [sandbox.catalog.state(a, now).current[USED] for a in found]  # type: ignore[union-attr]
    priced = [u for u in used if u > 0]
    assert priced == sorted(priced, reverse=True) and used[: len(priced)] == priced


def test_an_empty_result_costs_ten(client: httpx.Client, sandbox: Sandbox) -> None:
    body = finder(client, {"current_USED_lte": 0, "current_USED_gte": 0}).json()
    assert body["asinList"] == [] and body["totalResults"] == 0 and body["tokensConsumed"] == 10


def test_each_marketplace_searches_its_own_catalogue(client: httpx.Client, sandbox: Sandbox) -> None:
    gb = sandbox.catalog_for(2)
    assert gb is not None
    body = finder(client, {"rootCategory": [gb.market.books], "perPage": 100}, domain=2).json()
    assert body["asinList"] and all(gb.spec(a) is not None for a in body["asinList"])
    assert finder(client, {"rootCategory": [gb.market.books]}).json()["asinList"] == []


@pytest.mark.parametrize(
    ("selection", "params", "status"),
    [
        ({}, {}, 400),                                          # no filter
        ({"perPage": 100}, {}, 400),                            # paging is not a filter
        ({"current_USED_lte": "cheap"}, {}, 400),
        ({"isLowest_USED": True}, {}, 400),                     # not simulated: said, not ignored
        ({"current_BOGUS_lte": 5}, {}, 400),
        ({"rootCategory": [283155], "sort": [["current_USED", "up"]]}, {}, 400),
        ({"rootCategory": [283155]}, {"stats": 1}, 400),
        ({"rootCategory": [283155], "page": 2, "perPage": 5000}, {}, 405),
        ({"rootCategory": [283155], "perPage": 10_001}, {}, 405),
        ({"rootCategory": list(range(51))}, {}, 405),
        ({"rootCategory": [283155]}, {"domain": 7}, 400),
    ],
)
def test_bad_queries(client: httpx.Client, sandbox: Sandbox, selection: dict[str, Any],
                     params: dict[str, Any], status: int) -> None:
    r = finder(client, selection, **params)
    assert r.status_code == status and r.json()["error"]["message"]
    assert sandbox.account(KEY).tokens_consumed == 0


def test_a_selection_that_is_not_json_is_rejected(client: httpx.Client) -> None:
    r = client.get("/query", params={"key": KEY, "domain": 1, "selection": "{nope"})
    assert r.status_code == 400


def test_title_keywords_match_whole_words(client: httpx.Client, sandbox: Sandbox) -> None:
    spec = next(p for p in sandbox.catalog.products if p.title.endswith(": A Memoir"))
    word = spec.title.split()[2].rstrip(":").lower()
    found = finder(client, {"title": f"{word} memoir", "perPage": 1000}).json()["asinList"]
    assert spec.asin in found
    for asin in found:
        title = sandbox.catalog.spec(asin).title.lower()  # type: ignore[union-attr]
        assert word in title and "memoir" in title
    assert finder(client, {"title": "memo"}).json()["asinList"] == []
