"""The US, GB and DE worlds: their own catalogues, categories, currencies and deal feeds."""

from __future__ import annotations

import httpx

from keepa_deals.clock import FakeClock
from keepa_deals.sandbox import CatalogConfig, Sandbox
from keepa_deals.sandbox.marketplaces import MARKETPLACES
from keepa_deals.sandbox.offers import all_offers
from keepa_deals.sandbox.universe import LISTPRICE, USED
from tests.sandbox.conftest import KEY, START_MS


def test_each_world_has_its_own_catalogue_tree_and_currency(sandbox: Sandbox) -> None:
    us, gb, de = (sandbox.catalog_for(d) for d in (1, 2, 3))
    assert us is sandbox.catalog and gb is not None and de is not None
    assert sandbox.catalog_for(2) is gb  # built once
    assert [m.currency for m in MARKETPLACES.values()] == ["USD", "GBP", "EUR"]
    asins = [{p.asin for p in c.products} for c in (us, gb, de)]
    assert not asins[0] & asins[1] and not asins[0] & asins[2] and not asins[1] & asins[2]
    for cat in (gb, de):
        roots = {r.id for r in cat.market.roots}
        assert {p.root_category for p in cat.products} == roots
        assert all(set(p.categories) <= set(cat.market.names()) for p in cat.products)
    assert sandbox.catalog_for(4) is None  # France: a valid locale without a world


def test_prices_are_in_the_marketplaces_minor_units(sandbox: Sandbox) -> None:
    """GB list prices are the US draws scaled to pounds (pence); books stay books."""
    def median_book_list_price(domain: int) -> int:
        cat = sandbox.catalog_for(domain)
        assert cat is not None
        prices = sorted(p.normal[LISTPRICE] for p in cat.products if p.is_book)
        return prices[len(prices) // 2]

    us, gb, de = (median_book_list_price(d) for d in (1, 2, 3))
    assert 1000 < us < 3000 and 0.7 < gb / us < 1.0 and 0.85 < de / us < 1.15


def test_the_us_world_is_the_one_it_always_was() -> None:
    """Same seed, same amazon.com products and events as before the other worlds existed."""
    sb = Sandbox(clock=FakeClock(START_MS), catalog=CatalogConfig(seed=7))
    first = sb.catalog.products[0]
    assert (first.asin, first.title, first.normal[:4]) == ("0557679648", "The Crimson Algorithm: A Memoir",
                                                          (1932, 1607, 806, 2060200))
    assert first.ean == "9780557679645"  # its ISBN-13


def test_every_world_has_a_deal_feed(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.update_account(KEY, tokens=1000)
    for domain in (1, 2, 3):
        body = client.post("/deal", params={"key": KEY},
                           json={"domainId": domain, "priceTypes": [USED]}).json()
        dr = body["deals"]["dr"]
        cat = sandbox.catalog_for(domain)
        assert cat is not None and dr and body["tokensConsumed"] == 5
        assert all(cat.spec(d["asin"]) is not None for d in dr)
        assert set(body["deals"]["categoryNames"]) <= set(cat.market.names().values())


def test_products_offers_and_sellers_are_per_marketplace(client: httpx.Client, sandbox: Sandbox) -> None:
    de = sandbox.catalog_for(3)
    assert de is not None
    spec = next(p for p in de.products if p.has_amazon)
    assert client.get("/product", params={"key": KEY, "domain": 1, "asin": spec.asin}).json()["products"] == []
    body = client.get("/product", params={"key": KEY, "domain": 3, "asin": spec.asin, "offers": 20}).json()
    product = body["products"][0]
    assert product["domainId"] == 3 and product["rootCategory"] == spec.root_category
    assert spec.root_category in {r.id for r in de.market.roots}
    sellers = {o["sellerId"] for o in product["offers"]}
    assert "A3JWKAKR8XB7XF" in sellers  # Amazon.de sells it
    state = de.state(spec.asin, sandbox.now_ms())
    assert state is not None
    third_party = [o.seller_id for o in all_offers(state, de.config.seed) if not o.is_amazon][:3]
    found = client.get("/seller", params={"key": KEY, "domain": 3, "seller": ",".join(third_party)}).json()
    assert set(found["sellers"]) == set(third_party)
    assert all(s["domainId"] == 3 for s in found["sellers"].values())


def test_the_admin_view_lists_the_marketplaces(client: httpx.Client, sandbox: Sandbox) -> None:
    state = client.get("/_sandbox/state").json()["marketplaces"]
    assert {k: (v["domain"], v["currency"]) for k, v in state.items()} == {
        "US": (1, "USD"), "GB": (2, "GBP"), "DE": (3, "EUR")}
    assert state["US"]["catalog"]["products"] == 3000 and state["DE"]["catalog"] is None
    sandbox.catalog_for(3)
    assert client.get("/_sandbox/state").json()["marketplaces"]["DE"]["catalog"]["domain"] == 3
