"""GET /api/deals and /api/deals/{asin}: paging, every sort, every filter, detail, errors.

Each list is checked against the oracle in _deals.py (the definition's Python reading
and each filter in plain Python), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest

from keepa_deals.clock import FakeClock
from keepa_deals.deals_view import DealDefinition
from keepa_deals.settings import Settings
from keepa_deals.store import DealStore
from keepa_deals.store.links import amazon_url, keepa_url
from tests.web._deals import N_CURRENT, SORT_COLUMNS, Seeded, expected, records, seed
from tests.web.conftest import NOW, Api


@pytest.fixture
def seeded(store: DealStore, clock: FakeClock) -> Seeded:
    return seed(store, clock)


@pytest.fixture
def definition(settings: Settings) -> DealDefinition:
    return DealDefinition.from_settings(settings)


def _all(api: Api, params: dict[str, Any], limit: int = 7) -> list[str]:
    """Every page of a list, following next_offset."""
    asins: list[str] = []
    offset = 0
    while True:
        r = api.get("/api/deals", params={**params, "limit": limit, "offset": offset})
        assert r.status_code == 200, r.text
        body = r.json()
        asins += [d["asin"] for d in body["items"]]
        if body["next_offset"] is None:
            return asins
        assert body["next_offset"] == offset + len(body["items"])
        offset = body["next_offset"]


def test_default_list_is_the_current_deals_by_profit(
    api: Api, seeded: Seeded, store: DealStore, definition: DealDefinition
) -> None:
    r = api.get("/api/deals")
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == N_CURRENT and body["total_exact"] is True
    assert (body["sort"], body["order"], body["limit"], body["offset"]) == ("profit", "desc", 50, 0)
    assert body["next_offset"] == 50
    assert [d["asin"] for d in body["items"]] == expected(records(store), definition, NOW)[:50]
    shown = {d["asin"] for d in body["items"]}
    for not_a_deal in seeded.stale + seeded.below + seeded.unpriced:
        assert not_a_deal not in shown


def test_item_fields_and_links(api: Api, seeded: Seeded, store: DealStore) -> None:
    item = api.get("/api/deals", params={"limit": 1}).json()["items"][0]
    rec = next(r for r in records(store) if r.asin == item["asin"])
    assert item["profit_cents"] == rec.profit_cents
    assert item["price_cents"] == rec.current_price_cents
    assert item["amazon_url"] == amazon_url(rec.asin, 1) == f"https://www.amazon.com/dp/{rec.asin}"
    assert item["keepa_url"] == keepa_url(rec.asin, 1)
    assert item["first_seen"].endswith("Z")


def test_paging_walks_every_deal_once(
    api: Api, seeded: Seeded, store: DealStore, definition: DealDefinition
) -> None:
    assert _all(api, {}) == expected(records(store), definition, NOW)
    last = api.get("/api/deals", params={"limit": 10, "offset": 60}).json()
    assert len(last["items"]) == 4 and last["next_offset"] is None
    past = api.get("/api/deals", params={"offset": 500}).json()
    assert past["items"] == [] and past["next_offset"] is None and past["total"] == N_CURRENT


@pytest.mark.parametrize("sort", sorted(SORT_COLUMNS))
@pytest.mark.parametrize("order", [None, "asc", "desc"])
def test_every_sort_in_both_orders_puts_unknown_values_last(
    api: Api, seeded: Seeded, store: DealStore, definition: DealDefinition, sort: str,
    order: str | None,
) -> None:
    params = {"sort": sort} | ({"order": order} if order else {})
    want = expected(records(store), definition, NOW, sort=sort, order=order)
    assert _all(api, params, limit=9) == want
    first = api.get("/api/deals", params=params).json()
    assert first["order"] == (order or SORT_COLUMNS[sort][1])


def test_the_sorts_cover_unknown_values(seeded: Seeded, store: DealStore) -> None:
    """The catalogue has NULLs in the nullable sort columns (else the test above proves less)."""
    recs = [r for r in records(store) if r.asin in seeded.current]
    for column in ("sales_rank", "rank_drops_30", "percent_below_avg", "last_seen_in_feed"):
        assert any(getattr(r, column) is None for r in recs), column


FILTER_CASES: list[dict[str, Any]] = [
    {"min_profit_cents": 2000},
    {"max_profit_cents": 1500},
    {"min_profit_cents": 1000, "max_profit_cents": 3000},
    {"min_roi": 250},
    {"max_rank": 800_000},
    {"min_drops_30": 6},
    {"min_drops_90": 20},
    {"min_price_cents": 600},
    {"max_price_cents": 900},
    {"min_price_cents": 500, "max_price_cents": 1200},
    {"min_below_avg": 70},
    {"category": 5174},
    {"q": "garden"},
    {"q": "GARDEN book"},
    {"min_profit_cents": 800, "min_roi": 100, "max_rank": 1_500_000, "min_drops_30": 2,
     "min_drops_90": 5, "min_price_cents": 300, "max_price_cents": 2500, "category": 283155},
]


@pytest.mark.parametrize("filters", FILTER_CASES, ids=lambda f: ",".join(f))
def test_every_filter(
    api: Api, seeded: Seeded, store: DealStore, definition: DealDefinition,
    filters: dict[str, Any],
) -> None:
    want = expected(records(store), definition, NOW, **filters)
    assert 0 < len(want) < N_CURRENT, "the case should select some deals, not all"
    assert _all(api, filters) == want
    body = api.get("/api/deals", params=filters).json()
    assert body["total"] == len(want) and body["total_exact"]
    assert body["filters"] == {k: v for k, v in filters.items()}


def test_search_by_asin_finds_exactly_that_deal(api: Api, seeded: Seeded) -> None:
    target = seeded.current[5]
    for q in (target, target.lower(), f"  {target} "):
        items = api.get("/api/deals", params={"q": q}).json()["items"]
        assert [d["asin"] for d in items] == [target]
    # A stored row that is not a deal is not found by the list either.
    assert api.get("/api/deals", params={"q": seeded.stale[0]}).json()["items"] == []


def test_search_treats_wildcards_literally(api: Api, seeded: Seeded) -> None:
    for q in ("%", "_", "garden%", "\\"):
        assert api.get("/api/deals", params={"q": q}).json()["total"] == 0


def test_filters_that_match_nothing(api: Api, seeded: Seeded) -> None:
    body = api.get("/api/deals", params={"min_profit_cents": 10**9}).json()
    assert body == {**body, "items": [], "total": 0, "total_exact": True, "next_offset": None}


def test_the_count_stops_at_its_limit(
    api: Api, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keepa_deals.web import listing

    monkeypatch.setattr(listing, "COUNT_LIMIT", 10)
    # list_deals took the old default at import: patch the function's default too.
    monkeypatch.setattr(listing.list_deals, "__kwdefaults__", {"count_limit": 10})
    body = api.get("/api/deals", params={"limit": 4}).json()
    assert body["total"] == 10 and body["total_exact"] is False and body["next_offset"] == 4
    deep = api.get("/api/deals", params={"limit": 4, "offset": 60}).json()
    assert [d["asin"] for d in deep["items"]] and deep["next_offset"] is None
    assert deep["total"] == 64
    assert _all(api, {}, limit=4)[-1] == deep["items"][-1]["asin"]


def test_detail_has_every_field_links_and_currency(
    api: Api, seeded: Seeded, store: DealStore
) -> None:
    target = seeded.current[3]
    r = api.get(f"/api/deals/{target}")
    assert r.status_code == 200
    d = r.json()
    rec = next(x for x in records(store) if x.asin == target)
    assert d["asin"] == target and d["domain_id"] == 1
    assert d["current"] is True and d["not_current_because"] == []
    assert d["avg30_cents"] == rec.avg30_cents and d["offers_fba"] == rec.offers_fba
    assert d["amazon_url"] == f"https://www.amazon.com/dp/{target}"
    assert d["keepa_url"] == f"https://keepa.com/#!product/1-{target}"
    assert api.get(f"/api/deals/{target.lower()}").json()["asin"] == target
    assert api.get(f"/api/deals/{target}", params={"domain": 1}).json()["asin"] == target


def test_detail_of_a_stored_row_that_is_not_a_deal_says_why(api: Api, seeded: Seeded) -> None:
    d = api.get(f"/api/deals/{seeded.stale[0]}").json()
    assert d["current"] is False
    assert any("72 h" in why for why in d["not_current_because"])
    d = api.get(f"/api/deals/{seeded.below[0]}").json()
    assert d["not_current_because"] == ["profit below 500 cents"]


def test_detail_404s(api: Api, seeded: Seeded) -> None:
    r = api.get("/api/deals/B099999999")
    assert r.status_code == 404
    assert "B099999999" in r.json()["detail"]
    assert api.get(f"/api/deals/{seeded.current[0]}", params={"domain": 2}).status_code == 404


BAD_PARAMS: list[tuple[dict[str, Any], str]] = [
    ({"limit": 0}, "limit"),
    ({"limit": 201}, "limit"),
    ({"offset": -1}, "offset"),
    ({"offset": 10**7}, "offset"),
    ({"sort": "title"}, "sort"),
    ({"order": "up"}, "order"),
    ({"min_profit_cents": "lots"}, "min_profit_cents"),
    ({"min_profit_cents": 2**40}, "min_profit_cents"),
    ({"min_roi": "nan"}, "min_roi"),
    ({"min_roi": "inf"}, "min_roi"),
    ({"max_rank": 0}, "max_rank"),
    ({"min_drops_30": -1}, "min_drops_30"),
    ({"min_price_cents": -5}, "min_price_cents"),
    ({"min_price_cents": 900, "max_price_cents": 100}, "max_price_cents"),
    ({"min_profit_cents": 900, "max_profit_cents": 100}, "max_profit_cents"),
    ({"category": -1}, "category"),
    ({"q": "x" * 101}, "q"),
    ({"q": "bad\x00byte"}, "q"),
    ({"domain": 13}, "domain"),
    ({"min_proft_cents": 5}, "min_proft_cents"),
]


@pytest.mark.parametrize(("params", "name"), BAD_PARAMS, ids=[n for _, n in BAD_PARAMS])
def test_bad_parameters_are_422_naming_the_parameter(
    api: Api, params: dict[str, Any], name: str
) -> None:
    r = api.get("/api/deals", params=params)
    assert r.status_code == 422, r.text
    body = r.json()
    assert name in body["message"]
    assert isinstance(body["detail"], list) and body["detail"]


@pytest.mark.parametrize(
    "path", ["/api/deals/short", "/api/deals/B0000000000", "/api/deals/B00000000%21"])
def test_bad_asins_are_422(api: Api, path: str) -> None:
    r = api.get(path)
    assert r.status_code == 422 and "asin" in r.json()["message"]


def test_detail_rejects_unknown_and_bad_parameters(api: Api, seeded: Seeded) -> None:
    target = seeded.current[0]
    assert api.get(f"/api/deals/{target}", params={"domain": 0}).status_code == 422
    assert api.get(f"/api/deals/{target}", params={"dmain": 1}).status_code == 422


def test_categories_of_the_current_deals(api: Api, seeded: Seeded, store: DealStore,
                                         definition: DealDefinition) -> None:
    cats = api.get("/api/categories").json()
    current = [r for r in records(store) if definition.is_current(r, NOW)]
    counts: dict[int, int] = {}
    for r in current:
        counts[r.root_category] = counts.get(r.root_category, 0) + 1
    assert {c["root_category"]: c["deals"] for c in cats} == counts
    assert [c["deals"] for c in cats] == sorted((c["deals"] for c in cats), reverse=True)


def test_an_empty_store_lists_nothing(api: Api) -> None:
    body = api.get("/api/deals").json()
    assert body["items"] == [] and body["total"] == 0


def test_the_list_reads_without_leaving_connections_checked_out(
    api: Api, seeded: Seeded, store: DealStore
) -> None:
    for params in ({}, {"sort": "rank"}, {"min_roi": "nan"}):
        api.get("/api/deals", params=params)
    api.get("/api/deals/B099999999")
    assert store.engine.pool.checkedout() == 0


@pytest.mark.parametrize("sort", sorted(SORT_COLUMNS))
@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("filters", [{}, {"max_price_cents": 900}, {"q": "garden"}],
                         ids=["all", "cheap", "search"])
def test_many_matches_take_the_index_walk_with_the_same_result(
    api: Api, seeded: Seeded, store: DealStore, definition: DealDefinition,
    monkeypatch: pytest.MonkeyPatch, sort: str, order: str, filters: dict[str, Any],
) -> None:
    """Past the count's limit a page is first looked for along the sort column's index
    (falling back to sorting every match when the walk finds too few): same rows."""
    from keepa_deals.web import listing

    monkeypatch.setattr(listing.list_deals, "__kwdefaults__", {"count_limit": 3})
    monkeypatch.setattr(listing, "WALK_ROWS", 8)
    want = expected(records(store), definition, NOW, sort=sort, order=order, **filters)
    assert _all(api, {"sort": sort, "order": order, **filters}, limit=5) == want
