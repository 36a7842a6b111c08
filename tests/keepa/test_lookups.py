"""The client's calls beyond /deal and /product by ASIN, over real HTTP against the sandbox.

Each call reserves its cost before it is sent (``acquire``) and settles from
the reply's ``tokensConsumed`` after it: the reservation is never below what
the sandbox charged, and a wrong request is refused before anything is spent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from keepa_deals.keepa.client import KeepaClient
from keepa_deals.codes import InvalidCode
from keepa_deals.keepa.errors import InvalidQuery
from keepa_deals.keepa.http import KeepaHTTP
from tests.keepa.conftest import SANDBOX_KEY, RecordingBudget

BOOKS = 283155
FINDER = {"rootCategory": [BOOKS], "current_USED_gte": 400, "current_USED_lte": 5000}


@pytest.fixture
def client(sandbox_http: Callable[..., KeepaHTTP], budget: RecordingBudget) -> KeepaClient:
    return KeepaClient(sandbox_http(), budget)


def _spent(sandbox_server: Any) -> int:
    return int(sandbox_server.sandbox.account(SANDBOX_KEY).tokens_consumed)


def _reserved_and_settled(budget: RecordingBudget) -> tuple[int, int]:
    """The last call's reservation, and the tokensConsumed it was settled with."""
    acquire = [e for e in budget.events if e[0] == "acquire"][-1]
    settle = [e for e in budget.events if e[0] == "settle"][-1]
    return acquire[1], settle[2].tokens_consumed


def test_product_finder_pages_with_total_results(client: KeepaClient, budget: RecordingBudget,
                                                 sandbox_server: Any) -> None:
    first = client.finder(FINDER, page=0, per_page=50)
    assert len(first.asins) == 50 and first.total_results > 50 and not first.is_last
    reserved, consumed = _reserved_and_settled(budget)
    assert reserved == 11 == consumed == _spent(sandbox_server)  # 10 + 1 per 100 ASINs
    second = client.finder(FINDER, page=1, per_page=50)
    assert not set(first.asins) & set(second.asins)


def test_product_finder_paging_is_checked_before_sending(client: KeepaClient,
                                                         budget: RecordingBudget) -> None:
    with pytest.raises(InvalidQuery, match="perPage"):
        client.finder(FINDER, per_page=10)
    with pytest.raises(InvalidQuery, match="page"):
        client.finder(FINDER, page=200, per_page=100)
    with pytest.raises(InvalidQuery, match="selection.page"):
        client.finder({**FINDER, "page": 3})
    assert budget.events == []


def test_best_sellers_cost_fifty_and_an_empty_list_nothing(
        client: KeepaClient, budget: RecordingBudget, sandbox_server: Any) -> None:
    found = client.best_sellers(BOOKS, range_days=30)
    assert found.asins and found.category_id == BOOKS
    reserved, consumed = _reserved_and_settled(budget)
    assert reserved == 50 == consumed
    none = client.best_sellers(999_999_999)
    assert none.asins == ()
    assert _reserved_and_settled(budget) == (50, 0)
    assert _spent(sandbox_server) == 50


def test_sellers_cost_one_each_found(client: KeepaClient, budget: RecordingBudget) -> None:
    product = client.products(client.finder(FINDER).asins[:3], stats=30, offers=20)
    ids = sorted({o.seller_id for p in product for o in p.offers if o.seller_id})[:5]
    sellers = client.sellers([*ids, "A0000000000000"])
    assert set(sellers) == set(ids)
    reserved, consumed = _reserved_and_settled(budget)
    assert reserved == len(ids) + 1 and consumed == len(ids)
    s = sellers[ids[0]]
    assert s.rating is not None and 0 <= s.rating <= 100 and s.rating_count is not None
    with pytest.raises(InvalidQuery, match="at most 100"):
        client.sellers([f"A{i:013d}" for i in range(101)])


def test_categories_by_id_and_by_name(client: KeepaClient, budget: RecordingBudget) -> None:
    looked = client.categories([BOOKS], parents=True)
    assert looked.categories[BOOKS].name == "Books"
    assert _reserved_and_settled(budget) == (1, 1)
    found = client.search_categories("fiction")
    assert any("Fiction" in c.name for c in found.categories.values())
    assert _reserved_and_settled(budget) == (1, 1)
    with pytest.raises(InvalidQuery, match="3 characters"):
        client.search_categories("ab")


def test_barcode_lookup_reserves_codes_times_code_limit(
        client: KeepaClient, budget: RecordingBudget, sandbox_server: Any) -> None:
    asin = client.finder(FINDER).asins[0]
    ean = client.products([asin]).products[0].raw["eanList"][0]
    before = _spent(sandbox_server)
    batch = client.products_by_code([ean], code_limit=3)
    assert [p.asin for p in batch] == [asin]
    reserved, consumed = _reserved_and_settled(budget)
    assert reserved == 3 and consumed == 1 == _spent(sandbox_server) - before


def test_a_malformed_barcode_is_refused_before_anything_is_sent(
        client: KeepaClient, budget: RecordingBudget) -> None:
    with pytest.raises(InvalidCode, match="check digit"):
        client.products_by_code(["9780316769175"])
    assert budget.events == []


def test_stock_and_only_live_offers_need_offers(client: KeepaClient,
                                                budget: RecordingBudget) -> None:
    asins = client.finder(FINDER).asins[:2]
    with pytest.raises(InvalidQuery, match="offers"):
        client.products(asins, stock=True)
    batch = client.products(asins, stats=30, offers=20, stock=True, only_live_offers=True)
    assert len(batch) == 2
    reserved, consumed = _reserved_and_settled(budget)
    assert reserved == 2 * (12 + 2) and consumed <= reserved
