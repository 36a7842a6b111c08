"""KeepaHTTP against httpx.MockTransport: odd bodies, odd statuses, transport failures.

The same paths run over real HTTP against the sandbox in test_http_sandbox.py;
here the replies are the ones a real server seldom sends on demand (a gzip
stream cut short, a JSON array, a 302).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from keepa_deals.errors import ConfigError
from keepa_deals.keepa.errors import (
    EndpointNotFound,
    InvalidKey,
    KeepaResponseError,
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
from tests.keepa.conftest import (
    MOCK_KEY,
    ZERO_ENVELOPE,
    Recorder,
    Sleeps,
    envelope,
    error_body,
    json_reply,
)

MockHTTP = Callable[..., tuple[KeepaHTTP, Recorder]]


def test_key_travels_as_query_parameter_and_the_body_is_decoded(mock_http: MockHTTP) -> None:
    http, rec = mock_http(json_reply(200, envelope(tokensLeft=77)))
    reply = http.request("token")
    (req,) = rec.requests
    assert req.method == "GET" and req.url.path == "/token"
    assert req.url.params["key"] == MOCK_KEY
    assert "gzip" in req.headers["accept-encoding"]
    assert reply.status_code == 200 and reply.body["tokensLeft"] == 77
    assert reply.token_status is not None and reply.token_status.tokens_left == 77
    assert reply.elapsed_s >= 0


def test_params_are_encoded_and_json_bodies_are_posted(mock_http: MockHTTP) -> None:
    http, rec = mock_http(json_reply(200, envelope()))
    http.request("product", {"asin": ["A", "B"], "history": False, "rating": True, "stats": None,
                             "domain": 1})
    http.request("deal", json_body={"domainId": 1, "priceTypes": [2]})
    get, post = rec.requests
    assert dict(get.url.params) == {"asin": "A,B", "history": "0", "rating": "1", "domain": "1",
                                    "key": MOCK_KEY}
    assert post.method == "POST" and post.url.path == "/deal"
    assert json.loads(post.content) == {"domainId": 1, "priceTypes": [2]}
    assert post.headers["content-type"] == "application/json"


def test_key_may_not_be_passed_as_a_parameter(mock_http: MockHTTP) -> None:
    http, rec = mock_http(json_reply(200, envelope()))
    with pytest.raises(ValueError):
        http.request("token", {"key": "other"})
    with pytest.raises(ValueError):
        http.request("../token")
    assert rec.requests == []


def test_an_empty_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        KeepaHTTP("  ")


# --- malformed bodies on 200 -------------------------------------------------------


def _raw(status: int, content: bytes, **headers: str) -> httpx.Response:
    return httpx.Response(status, stream=httpx.ByteStream(content), headers=headers)


@pytest.mark.parametrize(
    ("reply", "text"),
    [
        (_raw(200, b"<html>Bad gateway</html>", **{"content-type": "text/html"}), "not JSON"),
        (_raw(200, json.dumps(envelope()).encode()[:40]), "not JSON"),
        (_raw(200, b""), "empty body"),
        (_raw(200, b"[1, 2, 3]"), "JSON list"),
        (_raw(200, b'"tokensLeft"'), "JSON str"),
        (_raw(200, b"\xff\xfe\x00garbage"), "not JSON"),
        (_raw(200, gzip.compress(json.dumps(envelope()).encode())[:-12],
              **{"content-encoding": "gzip"}), "not JSON"),  # a cut gzip stream: cut JSON
        (_raw(200, b"not gzip at all", **{"content-encoding": "gzip"}), "undecodable"),
    ],
)
def test_malformed_200_bodies(mock_http: MockHTTP, sleeps: Sleeps, reply: httpx.Response,
                              text: str) -> None:
    http, rec = mock_http(reply)
    with pytest.raises(MalformedResponse) as info:
        http.request("deal", json_body={})
    assert info.value.status_code == 200
    assert text in str(info.value)
    assert len(rec.requests) == 1, "a malformed 200 is not retried (it may have been charged)"
    assert sleeps.calls == []


# --- status codes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "exc", "error_type"),
    [
        (400, error_body("invalidParameter", "priceTypes must hold exactly one entry"),
         RequestRejected, "invalidParameter"),
        (400, error_body("INVALID_KEY", "Invalid access key", zero=True), InvalidKey,
         "INVALID_KEY"),
        (402, error_body("PAYMENT_REQUIRED", "no plan"), PaymentRequired, "PAYMENT_REQUIRED"),
        (404, error_body("NOT_FOUND", "Not found."), EndpointNotFound, "NOT_FOUND"),
        (405, error_body("parameterOutOfRange", "offers out of range"), RequestRejected,
         "parameterOutOfRange"),
        (429, envelope(tokensLeft=-3), NotEnoughTokens, None),
        (418, {"error": {"type": "TEAPOT"}}, RequestRejected, "TEAPOT"),
        (302, {}, KeepaResponseError, None),
    ],
)
def test_4xx_map_onto_the_tree_and_are_never_retried(
    mock_http: MockHTTP, sleeps: Sleeps, status: int, body: dict[str, Any],
    exc: type[Exception], error_type: str | None,
) -> None:
    http, rec = mock_http(json_reply(status, body), retries=3)
    with pytest.raises(exc) as info:
        http.request("deal", json_body={})
    err = info.value
    assert type(err) is exc
    assert isinstance(err, KeepaResponseError)
    assert err.status_code == status and err.endpoint == "deal"
    assert err.error_type == error_type
    assert str(status) in str(err)
    assert len(rec.requests) == 1 and sleeps.calls == []


def test_429_carries_the_status(mock_http: MockHTTP) -> None:
    http, _ = mock_http(json_reply(429, envelope(tokensLeft=0, refillIn=38_205)))
    with pytest.raises(NotEnoughTokens) as info:
        http.request("product", {"asin": "B00TEST001"})
    status = info.value.token_status
    assert status is not None and status.tokens_left == 0 and status.refill_in_ms == 38_205
    assert "tokensLeft=0" in str(info.value)


def test_400_on_token_is_the_key(mock_http: MockHTTP) -> None:
    http, _ = mock_http(json_reply(400, error_body("REQUEST_REJECTED", "rejected", zero=True)))
    with pytest.raises(InvalidKey) as info:
        http.token_status()
    assert info.value.token_status is None  # all-zero fields are no information


def test_4xx_with_a_non_json_body_still_maps_by_status(mock_http: MockHTTP) -> None:
    http, _ = mock_http(_raw(404, b"<html>404</html>"))
    with pytest.raises(EndpointNotFound, match="no error details"):
        http.request("finder")


# --- retries -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_of_a_free_call_are_retried_with_bounded_backoff_then_raised(
    mock_http: MockHTTP, sleeps: Sleeps, status: int
) -> None:
    http, rec = mock_http(json_reply(status, error_body("X", "down")), retries=4,
                          backoff_initial_s=0.5, backoff_max_s=3.0)
    with pytest.raises(KeepaServerError) as info:
        http.request("token")
    assert type(info.value) is KeepaServerError and info.value.status_code == status
    assert len(rec.requests) == 5
    assert len(sleeps.calls) == 4
    assert all(0.5 <= s <= 3.0 for s in sleeps.calls)
    assert sleeps.calls[1] >= 1.0 and sleeps.calls[-1] == pytest.approx(3.0)


def test_a_5xx_html_page_is_a_server_error_not_malformed(mock_http: MockHTTP) -> None:
    http, rec = mock_http(_raw(503, b"<html>503 Service Temporarily Unavailable</html>"),
                          retries=1)
    with pytest.raises(KeepaServerError) as info:
        http.request("token")
    assert not isinstance(info.value, MalformedResponse)
    assert len(rec.requests) == 2


@pytest.mark.parametrize("status", [500, 503])
def test_a_paid_5xx_is_never_retried_by_the_wire(
    mock_http: MockHTTP, sleeps: Sleeps, status: int
) -> None:
    """Keepa may have run it: the caller, who holds the budget, decides (KeepaClient)."""
    http, rec = mock_http(json_reply(status, error_body("X", "down")), retries=4)
    with pytest.raises(KeepaServerError):
        http.request("deal", json_body={})
    assert len(rec.requests) == 1 and sleeps.calls == []


def test_a_retry_that_succeeds_returns_the_reply(mock_http: MockHTTP, sleeps: Sleeps) -> None:
    http, rec = mock_http(json_reply(503, error_body("X", "down")),
                          httpx.ConnectError("refused"),
                          json_reply(200, envelope(tokensLeft=9)), retries=2)
    assert http.token_status().tokens_left == 9
    assert len(rec.requests) == 3 and len(sleeps.calls) == 2


def test_zero_retries_means_one_attempt(mock_http: MockHTTP, sleeps: Sleeps) -> None:
    http, rec = mock_http(json_reply(503, {}), retries=0)
    with pytest.raises(KeepaServerError):
        http.token_status()
    assert len(rec.requests) == 1 and sleeps.calls == []


@pytest.mark.parametrize(
    ("error", "exc"),
    [
        (httpx.ReadTimeout("timed out"), KeepaTimeout),
        (httpx.ConnectTimeout("timed out"), KeepaTimeout),
        (httpx.PoolTimeout("timed out"), KeepaTimeout),
        (httpx.ConnectError("[Errno 111] Connection refused"), KeepaTransportError),
        (httpx.RemoteProtocolError("peer closed connection"), KeepaTransportError),
        (httpx.ReadError("reset"), KeepaTransportError),
    ],
)
def test_transport_errors_are_ours_and_retried(
    mock_http: MockHTTP, sleeps: Sleeps, error: Exception, exc: type[Exception]
) -> None:
    http, rec = mock_http(error, retries=2)
    with pytest.raises(exc) as info:
        http.request("token")
    assert type(info.value) is exc
    assert not isinstance(info.value, httpx.HTTPError)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert "key=***" in str(info.value)
    assert len(rec.requests) == 3 and len(sleeps.calls) == 2


@pytest.mark.parametrize(
    ("error", "sent"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), False),
        (httpx.ConnectTimeout("timed out"), False),
        (httpx.PoolTimeout("timed out"), False),
        (httpx.ReadTimeout("timed out"), True),
        (httpx.WriteTimeout("timed out"), True),
        (httpx.ReadError("[Errno 104] Connection reset by peer"), True),
        (httpx.RemoteProtocolError("peer closed connection"), True),
    ],
)
def test_a_paid_call_is_retried_only_when_its_request_never_left(
    mock_http: MockHTTP, sleeps: Sleeps, error: Exception, sent: bool
) -> None:
    """Once sent, Keepa may have run and charged it: the wire never sends it again."""
    http, rec = mock_http(error, retries=2)
    with pytest.raises(KeepaTransportError) as info:
        http.request("product", {"domain": 1, "asin": "B00TEST001"})
    assert info.value.sent is sent
    assert len(rec.requests) == (1 if sent else 3)


# --- token statuses and listeners ----------------------------------------------------------


def test_listeners_receive_every_status(mock_http: MockHTTP) -> None:
    seen: list[TokenStatus] = []
    http, _ = mock_http(
        json_reply(200, envelope(tokensLeft=10)),
        json_reply(429, envelope(tokensLeft=0)),
        json_reply(405, error_body("parameterOutOfRange", "x", tokensLeft=3)),
        json_reply(503, error_body("SERVICE_UNAVAILABLE", "x", tokensLeft=4)),
        json_reply(200, envelope(tokensLeft=5)),
        json_reply(400, error_body("REQUEST_REJECTED", "x", zero=True)),
        json_reply(200, {"deals": {}}),
        retries=1,
    )
    http.add_listener(seen.append)
    http.request("token")
    for exc in (NotEnoughTokens, RequestRejected):
        with pytest.raises(exc):
            http.request("deal", json_body={})
    http.request("token")  # 503 (status 4), retried (free): 200 (status 5)
    with pytest.raises(RequestRejected):
        http.request("deal", json_body={})  # all-zero fields: no status
    http.request("deal", json_body={})  # no token fields at all
    assert [s.tokens_left for s in seen] == [10, 0, 3, 4, 5]


def test_token_field_shapes(mock_http: MockHTTP) -> None:
    full = envelope(tokensLeft=-40, refillIn=1234, refillRate=5, tokenFlowReduction=0.9,
                    tokensConsumed=7, processingTimeInMs=11)
    http, _ = mock_http(json_reply(200, full), json_reply(200, ZERO_ENVELOPE),
                        json_reply(200, {"tokensLeft": 5}))
    status = http.request("token").token_status
    assert status == TokenStatus(tokens_left=-40, refill_in_ms=1234, refill_rate=5,
                                 timestamp_ms=full["timestamp"], token_flow_reduction=0.9,
                                 tokens_consumed=7, processing_time_ms=11)
    with pytest.raises(MalformedResponse, match="without token fields"):
        http.token_status()
    assert http.request("token").token_status is None


def test_a_failing_listener_does_not_lose_the_reply(mock_http: MockHTTP,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    http, _ = mock_http(json_reply(200, envelope(tokensLeft=8)))

    def broken(status: TokenStatus) -> None:
        raise RuntimeError("listener down")

    seen: list[TokenStatus] = []
    http.add_listener(broken)
    http.add_listener(seen.append)
    assert http.token_status().tokens_left == 8
    assert [s.tokens_left for s in seen] == [8]
    assert "listener down" in caplog.text
    http.remove_listener(broken)


def test_repr_shows_no_key(mock_http: MockHTTP) -> None:
    http, _ = mock_http(json_reply(200, envelope()))
    assert MOCK_KEY not in repr(http) and "key=***" in repr(http)
    assert MOCK_KEY not in repr(vars(http) if hasattr(http, "__dict__") else http)
