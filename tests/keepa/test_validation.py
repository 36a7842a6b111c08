"""Outgoing queries are validated before a token is spent (docs/failure-classes.md, FC-10)."""

from __future__ import annotations

from typing import Any

import pytest

from keepa_deals.errors import ConfigError
from keepa_deals.keepa.errors import InvalidQuery, KeepaError
from keepa_deals.keepa.validation import (
    DateRange,
    DealSelection,
    normalize_asins,
    product_params,
    validate_selection,
)
from keepa_deals.tokens.costs import estimate_product_cost

BASE = {"domainId": 1, "priceTypes": [2]}


def test_a_minimal_selection_passes_in_wire_form() -> None:
    assert validate_selection(BASE) == {"domainId": 1, "priceTypes": [2], "page": 0}


def test_a_bare_price_type_is_sent_as_a_one_element_list() -> None:
    assert validate_selection({"domainId": 1, "priceTypes": 0})["priceTypes"] == [0]


def test_page_argument_replaces_the_selections_page() -> None:
    assert validate_selection({**BASE, "page": 3}, page=7)["page"] == 7


def test_invalid_query_is_a_config_error_not_a_keepa_error() -> None:
    with pytest.raises(InvalidQuery) as info:
        validate_selection({"priceTypes": [2]})
    assert isinstance(info.value, ConfigError) and not isinstance(info.value, KeepaError)
    assert info.value.field == "domainId"


@pytest.mark.parametrize(
    ("selection", "field"),
    [
        ({"priceTypes": [2]}, "domainId"),
        ({"domainId": 7, "priceTypes": [2]}, "domainId"),
        ({"domainId": 12, "priceTypes": [2]}, "domainId"),
        ({"domainId": "1", "priceTypes": [2]}, "domainId"),
        ({"domainId": 1.0, "priceTypes": [2]}, "domainId"),
        ({"domainId": True, "priceTypes": [2]}, "domainId"),
        ({"domainId": 1}, "priceTypes"),
        ({"domainId": 1, "priceTypes": []}, "priceTypes"),
        ({"domainId": 1, "priceTypes": [1, 2]}, "priceTypes"),
        ({"domainId": 1, "priceTypes": [4]}, "priceTypes"),
        ({"domainId": 1, "priceTypes": ["2"]}, "priceTypes"),
        ({"domainId": 1, "priceTypes": 2.0}, "priceTypes"),
        ({**BASE, "page": -1}, "page"),
        ({**BASE, "page": "0"}, "page"),
        ({**BASE, "dateRange": 4}, "dateRange"),
        ({**BASE, "dateRange": 1.0}, "dateRange"),
        ({**BASE, "sortType": 5}, "sortType"),
        ({**BASE, "minRating": 51}, "minRating"),
        ({**BASE, "currentRange": [100]}, "currentRange"),
        ({**BASE, "currentRange": [100, 200, 300]}, "currentRange"),
        ({**BASE, "currentRange": [100, "200"]}, "currentRange"),
        ({**BASE, "currentRange": [1.5, 200]}, "currentRange"),
        ({**BASE, "currentRange": "100,200"}, "currentRange"),
        ({**BASE, "isRangeEnabled": 1}, "isRangeEnabled"),
        ({**BASE, "isRangeEnabled": "true"}, "isRangeEnabled"),
        ({**BASE, "includeCategories": [1, "2"]}, "includeCategories"),
        ({**BASE, "includeCategories": list(range(501))}, "includeCategories"),
        ({**BASE, "titleSearch": ["a"]}, "titleSearch"),
        ({**BASE, "brand": "Acme"}, "brand"),
        ({**BASE, "priceType": [2]}, "priceType"),
    ],
)
def test_bad_selections_name_the_field(selection: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidQuery) as info:
        validate_selection(selection)
    assert info.value.field == field
    assert field in str(info.value)


def test_a_typo_gets_a_suggestion() -> None:
    with pytest.raises(InvalidQuery, match="did you mean 'priceTypes'"):
        validate_selection({**BASE, "priceType": [2]})


def test_a_full_selection_passes() -> None:
    sel = {
        **BASE, "page": 2, "dateRange": 3, "sortType": -4, "isRangeEnabled": True,
        "currentRange": (100, 50_000), "deltaPercentRange": [20, 100], "salesRankRange": [0, -1],
        "isFilterEnabled": True, "includeCategories": [283155], "excludeCategories": [],
        "minRating": -1, "hasReviews": False, "filterErotic": True, "titleSearch": "lego",
        "brand": ["Acme"], "warehouseConditions": [2, 3], "singleVariation": True,
    }
    out = validate_selection(sel)
    assert out["currentRange"] == [100, 50_000]
    assert out["sortType"] == -4


def test_typed_selection_to_wire() -> None:
    sel = DealSelection(domain_id=1, price_type=2, date_range=DateRange.WEEK, sort_type=4,
                        is_range_enabled=True, current_range=(100, 20_000),
                        include_categories=[283155], extra={"isLowest90": True})
    assert sel.to_wire() == {
        "domainId": 1, "priceTypes": [2], "dateRange": 1, "sortType": 4, "page": 0,
        "isRangeEnabled": True, "currentRange": [100, 20_000], "includeCategories": [283155],
        "isLowest90": True,
    }
    with pytest.raises(InvalidQuery):
        DealSelection(domain_id=1, price_type=4).to_wire()
    with pytest.raises(InvalidQuery):
        DealSelection(domain_id=1, price_type=2, extra={"domainId": 2}).to_wire()


# --- /product -----------------------------------------------------------------------


def test_asins_are_uppercased_and_deduplicated() -> None:
    assert normalize_asins(["b00test001", " B00TEST001 ", "0123456789"]) == [
        "B00TEST001", "0123456789"
    ]
    assert normalize_asins("b00test001") == ["B00TEST001"]


@pytest.mark.parametrize("bad", [[], ["B00TEST01"], ["B00TEST0011"], ["B00-TEST01"], [123]])
def test_bad_asins(bad: list[Any]) -> None:
    with pytest.raises(InvalidQuery) as info:
        normalize_asins(bad)
    assert info.value.field == "asin"


def test_more_than_100_asins_is_refused_before_sending() -> None:
    with pytest.raises(InvalidQuery, match="at most 100 ASINs"):
        normalize_asins([f"B{i:09d}" for i in range(101)])
    assert len(normalize_asins([f"B{i:09d}" for i in range(100)])) == 100


def _params(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = dict(domain=1, stats=None, history=False, offers=None, rating=False,
                                buybox=False, update=None, days=None)
    args.update(kw)
    return product_params(["B00TEST001"], **args)


def test_product_params() -> None:
    assert _params() == {"domain": 1, "asin": "B00TEST001", "history": False, "stats": None,
                         "offers": None, "update": None, "days": None}
    p = _params(stats=90, offers=20, rating=True, buybox=True, update=0, days=30, history=True)
    assert p["rating"] is True and p["buybox"] is True and p["offers"] == 20


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"domain": 7}, "domain"),
        ({"domain": "1"}, "domain"),
        ({"offers": 10}, "offers"),
        ({"offers": 101}, "offers"),
        ({"offers": 20.0}, "offers"),
        ({"update": -2}, "update"),
        ({"days": 0}, "days"),
        ({"stats": 0}, "stats"),
        ({"stats": True}, "stats"),
        ({"history": 1}, "history"),
        ({"rating": "yes"}, "rating"),
    ],
)
def test_bad_product_params(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidQuery) as info:
        _params(**kw)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("n", "kw", "cost"),
    [
        (0, {}, 0),
        (1, {}, 1),
        (100, {}, 100),
        (10, {"rating": True}, 20),
        (10, {"buybox": True}, 30),
        (10, {"update": 0}, 20),
        (10, {"update": 1}, 10),
        (1, {"offers": 20}, 12),
        (1, {"offers": 21}, 18),
        (2, {"offers": 100}, 120),
        (1, {"offers": 20, "buybox": True}, 12),  # buybox is ignored with offers
        (3, {"offers": 20, "rating": True, "update": 0}, 42),
    ],
)
def test_estimate_product_cost(n: int, kw: dict[str, Any], cost: int) -> None:
    assert estimate_product_cost(n, **kw) == cost
