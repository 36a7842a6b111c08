"""The sandbox over real HTTP: paths, methods, envelopes, gzip and every status code."""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx
import pytest

from keepa_deals.sandbox import DEMO_KEY, Sandbox, SandboxServer
from keepa_deals.tokens.status import WIRE_FIELDS, TokenStatus
from tests.sandbox.conftest import KEY, PHASE, START_MS, UNKNOWN_KEY

SELECTION = {"domainId": 1, "priceTypes": [2], "page": 0}
ASIN_PARAMS = {"domain": 1, "asin": "0000000001"}


def get(client: httpx.Client, path: str, key: str | None = KEY, **params: Any) -> httpx.Response:
    if key is not None:
        params["key"] = key
    return client.get(path, params=params)


def assert_envelope(body: dict[str, Any]) -> None:
    assert list(body)[: len(WIRE_FIELDS)] == list(WIRE_FIELDS)
    assert isinstance(body["tokenFlowReduction"], float)
    for name in WIRE_FIELDS:
        if name != "tokenFlowReduction":
            assert type(body[name]) is int


@pytest.mark.parametrize("path", ["/token", "/token/"])
def test_token_both_path_forms(client: httpx.Client, path: str) -> None:
    r = get(client, path)
    assert r.status_code == 200
    body = r.json()
    assert_envelope(body)
    assert set(body) == set(WIRE_FIELDS)
    assert body["tokensLeft"] == 100 and body["refillRate"] == 5 and body["tokensConsumed"] == 0
    assert body["timestamp"] == START_MS
    assert body["refillIn"] == PHASE  # the clock sits on the minute; the refill comes at PHASE
    status = TokenStatus.from_body(body)
    assert status is not None and status.next_refill_ms % 60_000 == PHASE


@pytest.mark.parametrize("path", ["/deal", "/deal/"])
def test_deal_get_with_selection_and_post_with_body(client: httpx.Client, path: str) -> None:
    r_get = get(client, path, selection=json.dumps(SELECTION), domain=1)
    r_post = client.post(path, params={"key": KEY}, json=SELECTION)
    assert r_get.status_code == r_post.status_code == 200
    a, b = r_get.json(), r_post.json()
    assert_envelope(a)
    assert a["deals"] == b["deals"] and a["tokensConsumed"] == b["tokensConsumed"] == 5
    assert set(a["deals"]) == {"dr", "categoryIds", "categoryNames", "categoryCount"}
    assert b["tokensLeft"] == 90


@pytest.mark.parametrize("path", ["/product", "/product/"])
def test_product_both_path_forms(client: httpx.Client, path: str, sandbox: Sandbox) -> None:
    asin = sandbox.catalog.products[0].asin
    r = get(client, path, domain=1, asin=asin)
    assert r.status_code == 200
    assert [p["asin"] for p in r.json()["products"]] == [asin]


def test_every_body_is_gzipped_when_accepted(server: SandboxServer) -> None:
    with httpx.Client(base_url=server.url, headers={"Accept-Encoding": "gzip"}) as c:
        for key, path in ((KEY, "/token"), ("bad", "/token"), (KEY, "/nowhere"), (None, "/product")):
            params = {} if key is None else {"key": key}
            with c.stream("GET", path, params=params) as resp:
                raw = b"".join(resp.iter_raw())
            assert resp.headers["content-encoding"] == "gzip"
            assert_envelope(json.loads(gzip.decompress(raw)))
    with httpx.Client(base_url=server.url, headers={"Accept-Encoding": "identity"}) as c:
        resp = get(c, "/token")
        assert "content-encoding" not in resp.headers and resp.json()["tokensLeft"] == 100


def test_missing_and_malformed_keys_are_400_with_zero_token_fields(client: httpx.Client) -> None:
    for key, etype in ((None, "missingKey"), ("thisisnotavalidkey", "invalidKey"), ("A" * 64, "invalidKey")):
        r = get(client, "/token", key=key)
        assert r.status_code == 400
        body = r.json()
        assert_envelope(body)
        assert body["error"]["type"] == etype and body["error"]["message"]
        assert body["tokensLeft"] == body["refillRate"] == body["refillIn"] == 0
        assert TokenStatus.from_body(body) is None


def test_unknown_and_expired_keys_are_402(client: httpx.Client, sandbox: Sandbox) -> None:
    r = get(client, "/token", key=UNKNOWN_KEY)
    assert r.status_code == 402 and r.json()["error"]["type"] == "paymentRequired"
    assert TokenStatus.from_body(r.json()) is None
    sandbox.update_account(KEY, expired=True)
    r = get(client, "/product", **ASIN_PARAMS)
    assert r.status_code == 402 and "expired" in r.json()["error"]["message"]
    assert r.json()["tokensLeft"] == 100  # the account reports its balance
    assert sandbox.account(KEY).requests_to("product", 402) == 1


def test_unknown_path_is_404_envelope(client: httpx.Client, sandbox: Sandbox) -> None:
    for path in ("/finder", "/lightningdeal", "/token/extra"):
        r = get(client, path)
        assert r.status_code == 404
        assert_envelope(r.json())
        assert r.json()["error"]["type"] == "NOT_FOUND" and r.json()["tokensLeft"] == 100
    assert get(client, "/finder", key=None).json()["tokensLeft"] == 0


def test_wrong_method_is_405_envelope(client: httpx.Client) -> None:
    r = client.post("/token", params={"key": KEY}, json={})
    assert r.status_code == 405 and r.json()["error"]["type"] == "METHOD_NOT_ALLOWED"
    assert client.delete("/product", params={"key": KEY}).status_code == 405


def test_429_is_the_bare_token_envelope_and_charges_nothing(client: httpx.Client, sandbox: Sandbox) -> None:
    for balance in (0, -4):
        sandbox.update_account(KEY, tokens=balance)
        for path, params in (("/token", {}), ("/product", ASIN_PARAMS)):
            r = get(client, path, **params)
            assert r.status_code == 429
            body = r.json()
            assert set(body) == set(WIRE_FIELDS)
            assert body["tokensLeft"] == balance and body["tokensConsumed"] == 0
            assert body["processingTimeInMs"] == 0 and body["refillIn"] == PHASE
        r = client.post("/deal", params={"key": KEY}, json=SELECTION)
        assert r.status_code == 429 and "deals" not in r.json()
    acc = sandbox.account(KEY)
    assert acc.tokens == -4 and acc.refused == 6 and acc.tokens_consumed == 0
    assert acc.requests_to("product", 429) == 2 and acc.requests_to("deal", 429) == 2


def test_refill_lets_requests_through_again(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.update_account(KEY, tokens=-3)
    assert get(client, "/token").status_code == 429
    sandbox.clock.advance(PHASE)  # type: ignore[attr-defined]
    r = get(client, "/token")
    assert r.status_code == 200 and r.json()["tokensLeft"] == 2 and r.json()["refillIn"] == 60_000


@pytest.mark.parametrize(
    ("selection", "status", "needle"),
    [
        ("not json", 400, "JSON"),
        ("[1, 2]", 400, "object"),
        (json.dumps({"priceTypes": [2]}), 400, "domainId"),
        (json.dumps({"domainId": 7, "priceTypes": [2]}), 400, "locale"),
        (json.dumps({"domainId": 1, "priceTypes": [1, 2]}), 400, "exactly one"),
        (json.dumps({"domainId": 1, "priceTypes": []}), 400, "exactly one"),
        (json.dumps({"domainId": 1, "priceTypes": [4]}), 400, "price type"),
        (json.dumps({"domainId": 1, "priceTypes": [2], "page": "x"}), 400, "integer"),
        (json.dumps({"domainId": 1, "priceTypes": [2], "page": -1}), 405, "page"),
        (json.dumps({"domainId": 1, "priceTypes": [2], "page": 67}), 405, "page"),
        (json.dumps({"domainId": 1, "priceTypes": [2], "dateRange": 4}), 405, "dateRange"),
        (json.dumps({"domainId": 1, "priceTypes": [2], "sortType": 9}), 405, "sortType"),
    ],
)
def test_deal_selection_validation(
    client: httpx.Client, sandbox: Sandbox, selection: str, status: int, needle: str
) -> None:
    r = get(client, "/deal", selection=selection)
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]["message"]
    assert r.json()["error"]["type"] in ("invalidParameter", "missingParameter", "parameterOutOfRange")
    assert sandbox.account(KEY).tokens_consumed == 0


def test_deal_accepts_the_bare_int_price_type_and_a_post_without_selection(client: httpx.Client) -> None:
    r = get(client, "/deal", selection=json.dumps({"domainId": 1, "priceTypes": 2}), domain=1)
    assert r.status_code == 200
    assert get(client, "/deal").status_code == 400
    assert client.post("/deal", params={"key": KEY}, content=b"{oops").status_code == 400


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"asin": "0000000001"}, 400),  # no domain
        ({"domain": 7, "asin": "0000000001"}, 400),
        ({"domain": 1}, 400),  # no asin
        ({"domain": 1, "asin": ",,"}, 400),
        ({"domain": 1, "code": "9780000000001"}, 400),
        ({"domain": 1, "asin": "0000000001", "offers": 10}, 405),
        ({"domain": 1, "asin": "0000000001", "offers": 101}, 405),
        ({"domain": 1, "asin": "0000000001", "offers": "many"}, 400),
        ({"domain": 1, "asin": "0000000001", "stats": "soon"}, 400),
        ({"domain": 1, "asin": "0000000001", "rating": 2}, 405),
        ({"domain": 1, "asin": ",".join(f"{i:010d}" for i in range(101))}, 405),
    ],
)
def test_product_parameter_validation(client: httpx.Client, params: dict[str, Any], status: int) -> None:
    r = get(client, "/product", **params)
    assert r.status_code == status, r.text
    assert_envelope(r.json())
    assert r.json()["error"]["message"]


def test_hundred_asins_are_allowed(client: httpx.Client) -> None:
    r = get(client, "/product", domain=1, asin=",".join(f"{i:010d}" for i in range(100)))
    assert r.status_code == 200 and r.json()["tokensConsumed"] == 0


def test_demo_account_exists_by_default(server: SandboxServer, client: httpx.Client) -> None:
    r = get(client, "/token", key=DEMO_KEY)
    assert r.status_code == 200 and r.json()["tokensLeft"] == 1200 and r.json()["refillRate"] == 20


def test_the_server_serves_many_concurrent_requests(server: SandboxServer, sandbox: Sandbox) -> None:
    import asyncio

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
            rs = await asyncio.gather(*(c.get("/token", params={"key": KEY}) for _ in range(60)))
        return [r.status_code for r in rs]

    assert asyncio.run(burst()) == [200] * 60
    assert sandbox.account(KEY).requests_to("token", 200) == 60
