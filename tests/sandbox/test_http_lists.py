"""``/bestsellers``, ``/seller``, ``/category`` and ``/search?type=category`` over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from keepa_deals.sandbox import Sandbox
from keepa_deals.sandbox.offers import all_offers
from keepa_deals.sandbox.sellers import seller_pool
from keepa_deals.sandbox.universe import SALES
from tests.sandbox.conftest import KEY

ENVELOPE = ("timestamp", "tokensLeft", "refillIn", "refillRate", "tokenFlowReduction", "tokensConsumed",
            "processingTimeInMs")


def get(client: httpx.Client, path: str, **params: Any) -> httpx.Response:
    return client.get(path, params={"key": KEY, "domain": 1, **params})


# --- /bestsellers ---------------------------------------------------------------------------


def test_a_root_list_is_ordered_by_rank_and_costs_fifty(client: httpx.Client, sandbox: Sandbox) -> None:
    body = get(client, "/bestsellers", category=283155).json()
    assert list(body)[: len(ENVELOPE)] == list(ENVELOPE) and body["tokensConsumed"] == 50
    lst = body["bestSellersList"]
    books = sorted((p for p in sandbox.catalog.products if p.root_category == 283155 and p.normal[SALES] > 0),
                   key=lambda p: (p.normal[SALES], p.asin))
    assert lst["asinList"] == [p.asin for p in books] and lst["categoryId"] == 283155
    assert lst["domainId"] == 1 and lst["lastUpdate"] > 0


def test_sub_category_product_group_and_range(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.update_account(KEY, tokens=1000)
    mystery = get(client, "/bestsellers", category=18).json()["bestSellersList"]["asinList"]
    assert mystery and all(18 in sandbox.catalog.spec(a).categories for a in mystery)  # type: ignore[union-attr]
    group = get(client, "/bestsellers", category="electronics").json()["bestSellersList"]
    assert group["categoryId"] == 0 and group["asinList"]
    by_avg = get(client, "/bestsellers", category=283155, range=90).json()["bestSellersList"]["asinList"]
    avg90 = [sandbox.catalog.spec(a).avgs[SALES][1] for a in by_avg]  # type: ignore[union-attr]
    assert avg90 == sorted(avg90)
    assert sandbox.account(KEY).tokens_consumed == 150


def test_no_list_is_an_empty_reply_and_free(client: httpx.Client, sandbox: Sandbox) -> None:
    for category in ("999999", "no such group"):
        body = get(client, "/bestsellers", category=category).json()
        assert "bestSellersList" not in body and body["tokensConsumed"] == 0
    assert sandbox.account(KEY).tokens == 100


@pytest.mark.parametrize(
    ("params", "status"),
    [({}, 400), ({"category": 283155, "domain": 12}, 400), ({"category": 283155, "range": 7}, 405),
     ({"category": 283155, "month": 13, "year": 2026}, 405), ({"category": 283155, "month": 1}, 400),
     ({"category": 283155, "month": 1, "year": 2026, "range": 30}, 400)],
)
def test_bad_best_seller_requests(client: httpx.Client, sandbox: Sandbox, params: dict[str, Any],
                                  status: int) -> None:
    assert get(client, "/bestsellers", **params).status_code == status
    assert sandbox.account(KEY).tokens == 100


# --- /seller --------------------------------------------------------------------------------


def sellers_of(sandbox: Sandbox, n: int) -> list[str]:
    ids: list[str] = []
    now = sandbox.now_ms()
    for spec in sandbox.catalog.products:
        state = sandbox.catalog.state(spec.asin, now)
        assert state is not None
        ids += [o.seller_id for o in all_offers(state, sandbox.catalog.config.seed) if not o.is_amazon]
        ids = list(dict.fromkeys(ids))
        if len(ids) >= n:
            return ids[:n]
    raise AssertionError("not enough sellers")


def test_sellers_found_cost_one_each(client: httpx.Client, sandbox: Sandbox) -> None:
    ids = sellers_of(sandbox, 5)
    body = get(client, "/seller", seller=",".join(ids + ["AZZZZZZZZZZZZZ"])).json()
    assert set(body["sellers"]) == set(ids) and body["tokensConsumed"] == 5
    pool = {s.seller_id: s for s in seller_pool(7, 1)}
    for sid, s in body["sellers"].items():
        assert s["sellerId"] == sid and s["sellerName"] == pool[sid].name
        assert s["currentRating"] == pool[sid].rating and s["currentRatingCount"] == pool[sid].rating_count
        assert s["csv"][0][-1] == s["currentRating"] and s["csv"][1][-1] == s["currentRatingCount"]


def test_sellers_are_shared_across_products_and_amazon_is_one(client: httpx.Client, sandbox: Sandbox) -> None:
    now, seed = sandbox.now_ms(), sandbox.catalog.config.seed
    offers = [o.seller_id for p in sandbox.catalog.products[:1000]
              for o in all_offers(sandbox.catalog.state(p.asin, now), seed)  # type: ignore[arg-type]
              if not o.is_amazon]
    assert len(offers) > 2 * len(set(offers)) and len(set(offers)) <= 400  # one pool per marketplace
    amazon = get(client, "/seller", seller="ATVPDKIKX0DER").json()["sellers"]["ATVPDKIKX0DER"]
    assert amazon["sellerName"] == "Amazon.com"


def test_the_pool_mixes_trust(sandbox: Sandbox) -> None:
    pool = seller_pool(7, 1)
    assert any(s.rating_count < 10 and s.rating == 100 for s in pool)       # new, perfect, few ratings
    assert any(s.rating_count > 1000 and 95 <= s.rating < 100 for s in pool)  # established
    assert any(s.rating < 85 for s in pool)                                   # poorly rated


def test_unknown_sellers_cost_nothing_and_malformed_ids_set_error(client: httpx.Client, sandbox: Sandbox) -> None:
    body = get(client, "/seller", seller="AZZZZZZZZZZZZZ,bad id").json()
    assert body["sellers"] == {} and body["tokensConsumed"] == 0
    assert body["error"]["details"] == "bad id"


def test_storefront(client: httpx.Client, sandbox: Sandbox) -> None:
    sid = sellers_of(sandbox, 1)[0]
    body = get(client, "/seller", seller=sid, storefront=1).json()
    s = body["sellers"][sid]
    assert len(s["asinList"]) >= 1 and len(s["asinListLastSeen"]) == len(s["asinList"])
    assert body["tokensConsumed"] == (10 if len(s["asinList"]) >= 2 else 1)
    if len(s["asinList"]) >= 2:
        assert get(client, "/seller", seller=sid, storefront=1, update=48).json()["tokensConsumed"] == 10
        assert get(client, "/seller", seller=sid, storefront=1, update=1).json()["tokensConsumed"] == 50


@pytest.mark.parametrize(
    ("params", "status"),
    [({}, 400), ({"seller": "A1,A2", "storefront": 1}, 400), ({"seller": ",".join(["A1"] * 101)}, 405),
     ({"seller": "AZZZZZZZZZZZZZ", "domain": 12}, 400)],
)
def test_bad_seller_requests(client: httpx.Client, sandbox: Sandbox, params: dict[str, Any], status: int) -> None:
    params = {"seller": ",".join(f"A{i:013d}" for i in range(101))} if status == 405 else params
    assert get(client, "/seller", **params).status_code == status


# --- /category and /search ------------------------------------------------------------------


def test_category_lookup(client: httpx.Client, sandbox: Sandbox) -> None:
    roots = get(client, "/category", category=0).json()
    assert {c["name"] for c in roots["categories"].values()} == {
        "Books", "Electronics", "Home & Kitchen", "Toys & Games", "Video Games", "CDs & Vinyl"}
    assert roots["tokensConsumed"] == 1 and all(c["parent"] == 0 for c in roots["categories"].values())
    books = roots["categories"]["283155"]
    assert books["productCount"] == sum(p.root_category == 283155 for p in sandbox.catalog.products)
    assert 18 in books["children"]
    some = get(client, "/category", category="18,25,424242", parents=1).json()
    assert set(some["categories"]) == {"18", "25"} and set(some["categoryParents"]) == {"283155"}
    assert some["tokensConsumed"] == 1
    assert get(client, "/category", category=",".join(map(str, range(1, 12)))).status_code == 405
    assert get(client, "/category", category="books").status_code == 400


def test_category_search(client: httpx.Client, sandbox: Sandbox) -> None:
    found = get(client, "/search", type="category", term="fiction").json()
    names = {c["name"] for c in found["categories"].values()}
    assert names == {"Literature & Fiction", "Science Fiction & Fantasy"} and found["tokensConsumed"] == 1
    two = get(client, "/search", type="category", term="SCIENCE fantasy").json()
    assert [c["catId"] for c in two["categories"].values()] == [25]
    none = get(client, "/search", type="category", term="gardening").json()
    assert none["categories"] == {} and none["tokensConsumed"] == 1
    de = get(client, "/search", type="category", term="bücher", domain=3).json()
    assert {c["catId"] for c in de["categories"].values()} >= {186606}
    assert get(client, "/search", type="category", term="ab").status_code == 400
    assert get(client, "/search", type="product", term="garden").status_code == 400
    assert sandbox.account(KEY).tokens_consumed == 4


@pytest.mark.parametrize("path", ["/bestsellers/", "/seller/", "/category/", "/search/", "/query/"])
def test_new_endpoints_refuse_an_empty_bucket_with_the_bare_envelope(
        client: httpx.Client, sandbox: Sandbox, path: str) -> None:
    sandbox.update_account(KEY, tokens=0)
    params = {"category": 283155, "seller": "AZZZZZZZZZZZZZ", "type": "category", "term": "books",
              "selection": '{"rootCategory": [283155]}'}
    r = get(client, path, **params)
    assert r.status_code == 429 and list(r.json()) == list(ENVELOPE)
