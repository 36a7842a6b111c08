"""KeepaHTTP over real HTTP against the sandbox: every status, fault and token shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from keepa_deals.keepa.errors import (
    EndpointNotFound,
    InvalidKey,
    KeepaServerError,
    KeepaTimeout,
    KeepaTransportError,
    MalformedResponse,
    NotEnoughTokens,
    PaymentRequired,
    RequestRejected,
)
from keepa_deals.keepa.http import KeepaHTTP
from keepa_deals.tokens.status import TokenStatus
from tests._services import free_port
from tests.keepa.conftest import SANDBOX_KEY, UNKNOWN_KEY, Sleeps

SandboxHTTP = Callable[..., KeepaHTTP]
PRODUCT = {"domain": 1, "asin": "0000000001", "history": 0}


def _listen(http: KeepaHTTP) -> list[TokenStatus]:
    seen: list[TokenStatus] = []
    http.add_listener(seen.append)
    return seen


def test_200_token_status_is_the_accounts(sandbox_server: Any, sandbox_http: SandboxHTTP) -> None:
    http = sandbox_http()
    seen = _listen(http)
    status = http.token_status()
    account = sandbox_server.sandbox.account(SANDBOX_KEY)
    assert status.tokens_left == account.tokens == 300
    assert status.refill_rate == 5
    assert 0 < status.refill_in_ms <= 60_000
    assert status.timestamp_ms == sandbox_server.sandbox.now_ms()
    assert seen == [status]


def test_200_deal_post_and_product_get(sandbox_server: Any, sandbox_http: SandboxHTTP) -> None:
    http = sandbox_http()
    deals = http.request("deal", json_body={"domainId": 1, "priceTypes": [2], "page": 0})
    assert isinstance(deals.body["deals"]["dr"], list)
    assert deals.token_status is not None and deals.token_status.tokens_consumed == 5
    products = http.request("product", PRODUCT)
    assert products.status_code == 200
    account = sandbox_server.sandbox.account(SANDBOX_KEY)
    assert account.requests_to("deal", 200) == 1 and account.requests_to("product", 200) == 1


def test_400_malformed_key_is_invalid_key(sandbox_http: SandboxHTTP) -> None:
    http = sandbox_http(key="thisisnotavalidkey")
    with pytest.raises(InvalidKey) as info:
        http.token_status()
    assert info.value.status_code == 400
    assert info.value.error_type == "invalidKey"
    with pytest.raises(InvalidKey):
        http.request("deal", json_body={"domainId": 1, "priceTypes": [2]})


def test_400_bad_parameter_is_request_rejected(sandbox_http: SandboxHTTP) -> None:
    http = sandbox_http()
    seen = _listen(http)
    with pytest.raises(RequestRejected) as info:
        http.request("deal", json_body={"domainId": 1, "priceTypes": [1, 2]})
    err = info.value
    assert type(err) is RequestRejected and err.status_code == 400
    assert err.error_message is not None and "exactly one" in err.error_message
    assert err.token_status is not None and seen == [err.token_status]


def test_402_unknown_and_expired_keys(sandbox_server: Any, sandbox_http: SandboxHTTP) -> None:
    http = sandbox_http(key=UNKNOWN_KEY)
    seen = _listen(http)
    with pytest.raises(PaymentRequired) as info:
        http.token_status()
    assert info.value.status_code == 402
    assert info.value.token_status is None  # all-zero fields: no account to report on
    assert seen == []
    sandbox_server.sandbox.update_account(SANDBOX_KEY, expired=True)
    with pytest.raises(PaymentRequired):
        sandbox_http().token_status()


def test_404_unknown_endpoint(sandbox_http: SandboxHTTP, sleeps: Sleeps) -> None:
    http = sandbox_http()
    seen = _listen(http)
    with pytest.raises(EndpointNotFound) as info:
        http.request("finder")
    assert info.value.status_code == 404
    assert info.value.token_status is not None and seen == [info.value.token_status]
    assert sleeps.calls == []


def test_405_out_of_range_and_wrong_method(sandbox_server: Any, sandbox_http: SandboxHTTP) -> None:
    http = sandbox_http()
    with pytest.raises(RequestRejected) as info:
        http.request("product", {**PRODUCT, "offers": 10})
    assert info.value.status_code == 405
    with pytest.raises(RequestRejected) as info:
        http.request("token", json_body={})
    assert info.value.status_code == 405
    account = sandbox_server.sandbox.account(SANDBOX_KEY)
    assert account.requests_to("product", 405) == 1  # never retried


def test_429_goes_straight_back_with_its_status(
    sandbox_server: Any, sandbox_http: SandboxHTTP, sleeps: Sleeps
) -> None:
    sandbox_server.sandbox.update_account(SANDBOX_KEY, tokens=0)
    http = sandbox_http(retries=4)
    seen = _listen(http)
    with pytest.raises(NotEnoughTokens) as info:
        http.request("product", PRODUCT)
    status = info.value.token_status
    assert status is not None and status.tokens_left == 0 and status.tokens_consumed == 0
    assert seen == [status]
    assert sleeps.calls == []
    assert sandbox_server.sandbox.account(SANDBOX_KEY).requests_to("product", 429) == 1


def test_token_status_at_a_spent_balance_is_returned_not_raised(
    sandbox_server: Any, sandbox_http: SandboxHTTP
) -> None:
    sandbox_server.sandbox.update_account(SANDBOX_KEY, tokens=-12)
    http = sandbox_http()
    seen = _listen(http)
    status = http.token_status()
    assert status.tokens_left == -12 and seen == [status]
    assert sandbox_server.sandbox.account(SANDBOX_KEY).requests_to("token", 429) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_of_a_free_call_retried_then_raised(
    sandbox_server: Any, sandbox_http: SandboxHTTP, sleeps: Sleeps, status: int
) -> None:
    sandbox_server.sandbox.set_faults(error_rates={status: 1.0})
    http = sandbox_http(retries=3)
    seen = _listen(http)
    with pytest.raises(KeepaServerError) as info:
        http.request("token")
    assert info.value.status_code == status
    assert sandbox_server.sandbox.account(SANDBOX_KEY).requests_to("token", status) == 4
    assert len(sleeps.calls) == 3
    assert len(seen) == 4  # a 5xx with JSON carries token fields too


@pytest.mark.parametrize("status", [500, 503])
def test_a_paid_5xx_goes_back_to_the_caller_at_once(
    sandbox_server: Any, sandbox_http: SandboxHTTP, sleeps: Sleeps, status: int
) -> None:
    sandbox_server.sandbox.set_faults(error_rates={status: 1.0})
    http = sandbox_http(retries=3)
    with pytest.raises(KeepaServerError) as info:
        http.request("product", PRODUCT)
    assert info.value.status_code == status and info.value.token_status is not None
    assert sandbox_server.sandbox.account(SANDBOX_KEY).requests_to("product", status) == 1
    assert sleeps.calls == []


def test_5xx_then_success(sandbox_server: Any, sandbox_http: SandboxHTTP, sleeps: Sleeps) -> None:
    sandbox_server.sandbox.set_faults(error_rates={503: 1.0}, limit=2)
    http = sandbox_http(retries=2)
    assert http.request("token").status_code == 200
    assert len(sleeps.calls) == 2


def test_html_error_page(sandbox_server: Any, sandbox_http: SandboxHTTP) -> None:
    sandbox_server.sandbox.set_faults(html_rate=1.0, html_status=502)
    http = sandbox_http(retries=1)
    seen = _listen(http)
    with pytest.raises(KeepaServerError) as info:
        http.token_status()
    assert info.value.status_code == 502 and info.value.token_status is None
    assert not isinstance(info.value, MalformedResponse)
    assert seen == []


def test_truncated_200_is_malformed_and_not_retried(
    sandbox_server: Any, sandbox_http: SandboxHTTP, sleeps: Sleeps
) -> None:
    sandbox_server.sandbox.set_faults(truncate_rate=1.0)
    http = sandbox_http(retries=3)
    with pytest.raises(MalformedResponse) as info:
        http.request("deal", json_body={"domainId": 1, "priceTypes": [2]})
    assert info.value.status_code == 200
    account = sandbox_server.sandbox.account(SANDBOX_KEY)
    assert account.requests_to("deal") == 1 and sleeps.calls == []
    assert account.tokens == 295  # charged all the same


def test_zero_token_fields_on_errors_are_no_information(
    sandbox_server: Any, sandbox_http: SandboxHTTP
) -> None:
    sandbox_server.sandbox.set_faults(zero_token_fields_rate=1.0)
    http = sandbox_http()
    seen = _listen(http)
    with pytest.raises(EndpointNotFound) as info:
        http.request("finder")
    assert info.value.token_status is None and seen == []


def test_read_timeout(sandbox_server: Any, sandbox_http: SandboxHTTP, sleeps: Sleeps) -> None:
    """A paid call that timed out after it was sent is not sent again by the wire."""
    sandbox_server.sandbox.set_faults(latency_ms=1000)
    http = sandbox_http(timeout_s=0.2, retries=1)
    with pytest.raises(KeepaTimeout, match="timed out") as info:
        http.request("product", PRODUCT)
    assert info.value.sent and sleeps.calls == []
    assert sandbox_server.sandbox.account(SANDBOX_KEY).requests_to("product") <= 1


def test_connection_refused(sleeps: Sleeps) -> None:
    with KeepaHTTP(SANDBOX_KEY, base_url=f"http://127.0.0.1:{free_port()}", retries=2,
                   sleep=sleeps) as http:
        with pytest.raises(KeepaTransportError, match="cannot reach Keepa") as info:
            http.token_status()
    assert not isinstance(info.value, KeepaTimeout)
    assert len(sleeps.calls) == 2
