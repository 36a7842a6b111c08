"""The client's estimates of the lookups agree with the sandbox's own cost table.

Same rule as test_costs_agree.py: two tables written separately from Keepa's
documented costs; where the call returns everything it asked for, the
estimate equals the charge, and where it returns less, the estimate is an
upper bound.  The documented figures are written out, so neither table is
the other's oracle.
"""

from __future__ import annotations

import pytest

from keepa_deals.sandbox import costs as sandbox_costs
from keepa_deals.tokens import costs as client_costs


@pytest.mark.parametrize(("per_page", "expected"), [(50, 11), (100, 11), (101, 12), (1000, 20),
                                                    (10_000, 110)])
def test_a_full_finder_page(per_page: int, expected: int) -> None:
    assert client_costs.estimate_query_cost(per_page) == expected
    assert sandbox_costs.finder_cost(per_page) == expected


@pytest.mark.parametrize("returned", [0, 1, 49, 99])
def test_a_short_finder_page_costs_at_most_the_estimate(returned: int) -> None:
    assert sandbox_costs.finder_cost(returned) <= client_costs.estimate_query_cost(100)


def test_best_sellers_sellers_and_categories() -> None:
    assert client_costs.BESTSELLERS_COST == sandbox_costs.bestsellers_cost(True) == 50
    assert sandbox_costs.bestsellers_cost(False) == 0
    assert client_costs.estimate_seller_cost(7) == 7 * sandbox_costs.seller_cost() == 7
    assert client_costs.estimate_category_cost(10) == sandbox_costs.category_lookup_cost() == 1
    assert client_costs.estimate_category_cost(11) == 2
    assert client_costs.CATEGORY_SEARCH_COST == sandbox_costs.category_search_cost() == 1


@pytest.mark.parametrize("offers", [20, 40, 100])
def test_stock_costs_two_more_with_offers(offers: int) -> None:
    charged = sandbox_costs.product_cost(offers=offers, offers_found=offers, stock=True)
    assert client_costs.estimate_product_cost(1, offers=offers, stock=True) == charged
    assert charged == client_costs.estimate_product_cost(1, offers=offers) + 2
    assert sandbox_costs.product_cost(offers=offers, offers_found=offers, stock=True,
                                      stock_fresh=False) <= charged


def test_a_barcode_is_reserved_for_every_product_it_may_match() -> None:
    assert client_costs.estimate_code_cost(3, 10) == 30
    assert client_costs.estimate_code_cost(2, 1, offers=20) == 24
