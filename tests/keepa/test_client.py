"""KeepaClient spends only through the budget: one acquire and one settle per call.

Against the sandbox over real HTTP, with a recording TokenBudget.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from keepa_deals.keepa.client import KeepaClient
from keepa_deals.keepa.errors import (
    InvalidQuery,
    KeepaServerError,
    KeepaTransportError,
    MalformedResponse,
    NotEnoughTokens,
)
from keepa_deals.keepa.http import KeepaHTTP
from keepa_deals.keepa.models import DateRange, DealPage, ProductBatch
from keepa_deals.keepa.validation import DealSelection
from keepa_deals.tokens.errors import BudgetStoreUnavailable, TokenRechargeError
from tests._services import free_port
from tests.keepa.conftest import SANDBOX_KEY, RecordingBudget, envelope, json_reply

SandboxHTTP = Callable[..., KeepaHTTP]
SELECTION = {"domainId": 1, "priceTypes": [2], "dateRange": 1}


@pytest.fixture
def client(sandbox_http: SandboxHTTP, budget: RecordingBudget) -> KeepaClient:
    return KeepaClient(sandbox_http(), budget, max_wait_s=12.5)


def _asins(sandbox_server: Any, n: int) -> list[str]:
    return [p.asin for p in sandbox_server.sandbox.catalog.products[:n]]


def _requests(sandbox_server: Any, endpoint: str, status: int | None = None) -> int:
    return int(sandbox_server.sandbox.account(SANDBOX_KEY).requests_to(endpoint, status))


def test_deals_acquire_5_then_settle_with_the_replys_status(
    client: KeepaClient, budget: RecordingBudget, sandbox_server: Any
) -> None:
    page = client.deals(SELECTION)
    assert isinstance(page, DealPage) and page.page == 0
    assert len(page.deals) > 0
    deal = page.deals[0]
    assert deal.current["USED"] is not None and deal.last_update is not None
    assert deal.avg[DateRange.WEEK]["USED"] is not None
    (acq, settle) = budget.events
    assert acq == ("acquire", 5, 12.5)
    assert settle[0] == "settle" and settle[1].cost == 5
    assert settle[2] == page.status and page.status is not None
    assert page.status.tokens_consumed == 5


def test_deals_with_a_typed_selection_and_page(client: KeepaClient,
                                               budget: RecordingBudget) -> None:
    page = client.deals(DealSelection(domain_id=1, price_type=2, page=0), page=1)
    assert page.page == 1
    assert budget.kinds() == ["acquire", "settle"]


def test_products_cost_estimate_and_parse(
    client: KeepaClient, budget: RecordingBudget, sandbox_server: Any
) -> None:
    asins = _asins(sandbox_server, 2)
    batch = client.products([a.lower() for a in asins], stats=90, offers=20, history=True)
    assert isinstance(batch, ProductBatch)
    assert [p.asin for p in batch] == asins
    product = batch.products[0]
    assert product.stats is not None and product.offers
    assert product.csv["USED"] or product.csv["NEW"]
    assert budget.events[0] == ("acquire", 2 * 12, 12.5)
    assert budget.events[1][2] == batch.status
    assert batch.status is not None and 0 < batch.status.tokens_consumed <= 24


def test_invalid_queries_never_reach_the_budget_or_keepa(
    client: KeepaClient, budget: RecordingBudget, sandbox_server: Any
) -> None:
    with pytest.raises(InvalidQuery):
        client.deals({"domainId": 1, "priceTypes": [1, 2]})
    with pytest.raises(InvalidQuery):
        client.products([f"B{i:09d}" for i in range(101)])
    with pytest.raises(InvalidQuery):
        client.products(["B00TEST001"], offers=10)
    assert budget.events == []
    assert _requests(sandbox_server, "deal") == _requests(sandbox_server, "product") == 0


def test_429_settles_with_the_429_status(
    client: KeepaClient, budget: RecordingBudget, sandbox_server: Any
) -> None:
    sandbox_server.sandbox.update_account(SANDBOX_KEY, tokens=0)
    with pytest.raises(NotEnoughTokens) as info:
        client.deals(SELECTION)
    assert budget.kinds() == ["acquire", "settle"]
    assert budget.events[1][2] == info.value.token_status
    assert info.value.token_status is not None and info.value.token_status.tokens_left == 0


def test_a_5xx_settles_with_its_status_then_is_sent_once_more(
    client: KeepaClient, budget: RecordingBudget, sandbox_server: Any
) -> None:
    """A paid 5xx may have run: settled with its status, re-sent once through a new lease."""
    sandbox_server.sandbox.set_faults(error_rates={503: 1.0})
    with pytest.raises(KeepaServerError) as info:
        client.deals(SELECTION)
    assert budget.kinds() == ["acquire", "settle", "acquire", "settle"]
    assert budget.events[3][2] == info.value.token_status is not None
    assert _requests(sandbox_server, "deal", 503) == 2, "sent twice, never more"


def test_a_transport_error_settles_with_none(budget: RecordingBudget) -> None:
    http = KeepaHTTP(SANDBOX_KEY, base_url=f"http://127.0.0.1:{free_port()}", retries=0)
    with http, pytest.raises(KeepaTransportError):
        KeepaClient(http, budget).deals(SELECTION)
    assert budget.kinds() == ["acquire", "settle"]
    assert budget.events[1][2] is None


def test_a_malformed_reply_settles_and_raises(
    client: KeepaClient, budget: RecordingBudget, sandbox_server: Any
) -> None:
    sandbox_server.sandbox.set_faults(truncate_rate=1.0)
    with pytest.raises(MalformedResponse):
        client.deals(SELECTION)
    assert budget.kinds() == ["acquire", "settle"]
    assert budget.events[1][2] is None  # a truncated body carries no readable status


def test_no_budget_no_request(
    client: KeepaClient, budget: RecordingBudget, sandbox_server: Any
) -> None:
    budget.fail_acquire = TokenRechargeError(300.0, "projected balance -40")
    with pytest.raises(TokenRechargeError):
        client.products(_asins(sandbox_server, 1))
    assert budget.kinds() == ["acquire"]
    assert _requests(sandbox_server, "product") == 0


def test_a_failed_settle_keeps_the_paid_for_reply(
    client: KeepaClient, budget: RecordingBudget, caplog: pytest.LogCaptureFixture
) -> None:
    budget.fail_settle = BudgetStoreUnavailable("redis down")
    with caplog.at_level(logging.WARNING):
        page = client.deals(SELECTION)
    assert page.status is not None
    assert "could not settle" in caplog.text


def test_token_status_is_free_and_observed(
    client: KeepaClient, budget: RecordingBudget
) -> None:
    status = client.token_status()
    assert budget.events == [("observe", status, None)]
    assert status.tokens_left == 300


def test_token_status_at_a_spent_balance_is_observed(
    client: KeepaClient, budget: RecordingBudget, sandbox_server: Any
) -> None:
    sandbox_server.sandbox.update_account(SANDBOX_KEY, tokens=0)
    status = client.token_status()
    assert status.tokens_left == 0
    assert budget.events == [("observe", status, None)]


def test_repr(client: KeepaClient) -> None:
    assert SANDBOX_KEY not in repr(client) and "RecordingBudget" in repr(client)


def test_a_mis_shaped_reply_keeps_its_status(mock_http: Callable[..., Any],
                                             budget: RecordingBudget) -> None:
    http, _ = mock_http(json_reply(200, envelope(tokensLeft=55, tokensConsumed=5)))
    with pytest.raises(MalformedResponse, match="no 'deals'") as info:
        KeepaClient(http, budget).deals(SELECTION)
    status = info.value.token_status
    assert status is not None and status.tokens_left == 55
    assert info.value.endpoint == "deal"
    assert budget.kinds() == ["acquire", "settle"] and budget.events[1][2] == status


def test_over_a_deferring_budget_each_call_is_one_store_step(
        sandbox_http: SandboxHTTP) -> None:
    """The client's acquire, HTTP, settle: the settle rides on the next call's acquire."""
    from keepa_deals.budget.manager import TokenManager
    from tests.budget._counting import CountingStore

    http = sandbox_http()
    store = CountingStore()
    manager = TokenManager(store, sync=http.token_status, defer_settle_s=60)
    client = KeepaClient(http, manager)
    manager.sync_tokens(force=True)
    store.steps.clear()
    pages = [client.deals(SELECTION, page=page) for page in range(4)]
    assert store.steps == ["acquire", "settle_acquire", "settle_acquire", "settle_acquire"]
    manager.close()
    assert store.steps[-1] == "settle" and store.leases.keys() <= {"#epoch"}
    last = pages[-1].status
    assert last is not None and manager.snapshot().tokens == last.tokens_left
