"""The sandbox's cost table against Keepa's documented figures, written out.

The figures come from the documentation (keepa-api.md §3), not from the
table: neither the table nor the client's estimates are the oracle here.
"""

from __future__ import annotations

from typing import Any

import pytest

from keepa_deals.sandbox import costs


@pytest.mark.parametrize(
    ("returned", "expected"),
    [(0, 10), (1, 11), (50, 11), (100, 11), (101, 12), (150, 12), (10_000, 110)],
)
def test_a_product_finder_page_costs_ten_plus_one_per_hundred(returned: int, expected: int) -> None:
    assert costs.finder_cost(returned) == expected


def test_finder_insights_cost_thirty_plus_one_per_million_matches() -> None:
    assert costs.finder_cost(50, stats=True, matched=2_500_000) == 11 + 30 + 3


def test_a_best_seller_list_costs_fifty_and_no_list_nothing() -> None:
    assert costs.bestsellers_cost(True) == 50 and costs.bestsellers_cost(False) == 0


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, 1),
        ({"storefront": True, "storefront_asins": 2}, 10),
        ({"storefront": True, "storefront_asins": 1}, 1),            # fewer than 2 ASINs: no surcharge
        ({"storefront": True, "storefront_asins": 40, "update": 0, "collection_age_h": 30}, 50),
        ({"storefront": True, "storefront_asins": 40, "update": 48, "collection_age_h": 30}, 10),
        ({"update": 0, "collection_age_h": 30}, 1),                   # update without storefront
    ],
)
def test_a_found_seller(kwargs: dict[str, Any], expected: int) -> None:
    assert costs.seller_cost(**kwargs) == expected


def test_categories_cost_one_per_request() -> None:
    assert costs.category_lookup_cost() == 1 and costs.category_search_cost() == 1


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"offers": 20, "offers_found": 20, "stock": True}, 14),                       # +2 when fresh
        ({"offers": 20, "offers_found": 20, "stock": True, "stock_fresh": False}, 12),
        ({"stock": True}, 1),                                                           # needs offers
        ({"offers": 20, "stock": True, "offer_fetch_failed": True}, 1),
    ],
)
def test_stock(kwargs: dict[str, Any], expected: int) -> None:
    assert costs.product_cost(**kwargs) == expected
