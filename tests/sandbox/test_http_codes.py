"""``/product`` by barcode, ``code-limit``, ``stock`` and ``only-live-offers``, over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from keepa_deals.sandbox import Sandbox
from keepa_deals.sandbox.universe import ProductSpec
from tests.sandbox.conftest import KEY


def get(client: httpx.Client, **params: Any) -> httpx.Response:
    return client.get("/product", params={"key": KEY, "domain": 1, **params})


def book(sandbox: Sandbox) -> ProductSpec:
    return next(p for p in sandbox.catalog.products if p.is_book)


def shared_upc(sandbox: Sandbox) -> ProductSpec:
    """A product whose UPC another listing shares (a duplicate listing)."""
    return next(p for p in sandbox.catalog.products
                if p.upc and len(sandbox.catalog.specs_by_code(p.ean)) > 1)


def asins(body: dict[str, Any]) -> list[str]:
    return [p["asin"] for p in body["products"]]


def test_a_book_is_found_by_isbn13_and_isbn10(client: httpx.Client, sandbox: Sandbox) -> None:
    b = book(sandbox)
    assert b.ean.startswith("978") and len(b.ean) == 13
    for code in (b.ean, b.asin, f"{b.ean[:3]}-{b.ean[3:]}"):
        body = get(client, code=code).json()
        assert asins(body) == [b.asin] and body["products"][0]["eanList"] == [b.ean]
        assert body["tokensConsumed"] == 1


def test_a_upc_is_found_as_upc_ean_and_gtin14(client: httpx.Client, sandbox: Sandbox) -> None:
    p = next(s for s in sandbox.catalog.products if s.upc and len(sandbox.catalog.specs_by_code(s.ean)) == 1)
    assert p.upc is not None
    for code in (p.upc, "0" + p.upc, "00" + p.upc):
        body = get(client, code=code).json()
        assert asins(body) == [p.asin] and body["products"][0]["upcList"] == [p.upc]


def test_a_code_matching_several_products_returns_and_charges_each(client: httpx.Client, sandbox: Sandbox) -> None:
    p = shared_upc(sandbox)
    listings = sandbox.catalog.specs_by_code(p.ean)
    body = get(client, code=p.upc).json()
    assert asins(body) == [s.asin for s in listings] and body["tokensConsumed"] == len(listings)
    capped = get(client, code=p.upc, **{"code-limit": 1}).json()
    assert asins(capped) == [listings[0].asin] and capped["tokensConsumed"] == 1
    assert sandbox.account(KEY).tokens_consumed == len(listings) + 1


def test_unknown_codes_are_left_out_and_free(client: httpx.Client, sandbox: Sandbox) -> None:
    b = book(sandbox)
    body = get(client, code=f"{b.ean},4006381333931").json()  # a valid EAN the catalogue lacks
    assert asins(body) == [b.asin] and body["tokensConsumed"] == 1


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"code": "97801234"}, 400),                       # too short
        ({"code": "9780306406158"}, 400),                  # bad check digit
        ({"code": "ABCDEFGHIJKLM"}, 400),                  # not digits
        ({"code": "9780306406157", "asin": "0306406152"}, 400),  # not both
        ({"code": "9780306406157", "code-limit": 0}, 405),
        ({"code": ",".join(["9780306406157"] * 101)}, 405),
        ({"asin": "0306406152", "stock": 2}, 405),
        ({"asin": "0306406152", "only-live-offers": 3}, 405),
    ],
)
def test_malformed_or_out_of_range_code_requests(client: httpx.Client, sandbox: Sandbox,
                                                params: dict[str, Any], status: int) -> None:
    r = get(client, **params)
    assert r.status_code == status and r.json()["error"]["type"]
    assert sandbox.account(KEY).tokens_consumed == 0


def test_stock_costs_two_with_offers_when_fresh(client: httpx.Client, sandbox: Sandbox) -> None:
    fresh = next(p for p in sandbox.catalog.products if p.stock_fresh and p.normal[11] + p.normal[12] < 10)
    stale = next(p for p in sandbox.catalog.products if not p.stock_fresh and p.normal[11] + p.normal[12] < 10)
    base = get(client, asin=fresh.asin, offers=20).json()["tokensConsumed"]
    with_stock = get(client, asin=fresh.asin, offers=20, stock=1).json()
    assert with_stock["tokensConsumed"] == base + 2
    prod = with_stock["products"][0]
    assert prod["lastStockUpdate"] > 0 and all(len(o["stockCSV"]) == 2 for o in prod["offers"])
    stale_base = get(client, asin=stale.asin, offers=20).json()["tokensConsumed"]
    assert get(client, asin=stale.asin, offers=20, stock=1).json()["tokensConsumed"] == stale_base
    assert get(client, asin=fresh.asin, stock=1).json()["tokensConsumed"] == 1  # no offers: no stock


def test_only_live_offers_is_free(client: httpx.Client, sandbox: Sandbox) -> None:
    p = sandbox.catalog.products[0]
    a = get(client, asin=p.asin, offers=20).json()
    b = get(client, asin=p.asin, offers=20, **{"only-live-offers": 1}).json()
    assert a["tokensConsumed"] == b["tokensConsumed"] and len(a["products"][0]["offers"]) == len(
        b["products"][0]["offers"])


def test_history_off_gives_csv_null(client: httpx.Client, sandbox: Sandbox) -> None:
    p = sandbox.catalog.products[0]
    body = get(client, asin=p.asin, history=0).json()
    assert body["products"][0]["csv"] is None and body["tokensConsumed"] == 1
