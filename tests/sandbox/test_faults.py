"""Fault injection: seeded draws in process, and every fault over real HTTP."""

from __future__ import annotations

import gzip
import json
import time

import httpx
import pytest
from pydantic import ValidationError

from keepa_deals.sandbox import FaultConfig, Faults, Sandbox, SandboxServer
from keepa_deals.sandbox.universe import COUNT_NEW
from keepa_deals.tokens.status import TokenStatus
from tests.sandbox.conftest import KEY

ASIN_PARAMS = {"domain": 1, "asin": "0000000001"}


def draws(faults: Faults, n: int = 40) -> list[int | None]:
    return [faults.error_status("product") for _ in range(n)]


def test_draws_are_seeded_and_repeatable() -> None:
    config = FaultConfig(seed=11, error_rates={500: 0.3, 503: 0.2})
    a, b = Faults(config), Faults(config)
    seq = draws(a)
    assert seq == draws(b)
    assert {500, 503, None} == set(seq)
    assert draws(Faults(config.model_copy(update={"seed": 12}))) != seq
    a.configure(config)  # reconfiguring restarts from the seed
    assert draws(a) == seq


def test_certain_and_absent_faults_do_not_shift_the_draws() -> None:
    base = FaultConfig(seed=3, error_rates={503: 0.5})
    with_more = base.model_copy(update={"zero_token_fields_rate": 1.0, "html_rate": 0.0})
    a, b = Faults(base), Faults(with_more)
    seq_a, seq_b = [], []
    for _ in range(30):
        seq_a.append(a.error_status("deal"))
        b.zero_token_fields("deal")
        b.html_page("deal")
        seq_b.append(b.error_status("deal"))
    assert seq_a == seq_b


def test_limit_and_endpoints() -> None:
    f = Faults(FaultConfig(error_rates={503: 1.0}, limit=2, endpoints=("product",)))
    assert f.error_status("deal") is None
    assert [f.error_status("product") for _ in range(4)] == [503, 503, None, None]
    assert f.injected["status_503"] == 2


def test_invalid_configurations_are_refused() -> None:
    for bad in ({"error_rates": {200: 1.0}}, {"error_rates": {500: 2.0}}, {"latency_ms": [5, 1]},
                {"endpoints": ["finder"]}, {"html_rate": -1}, {"surprise": 1}):
        with pytest.raises(ValidationError):
            FaultConfig.model_validate(bad)
    assert FaultConfig(latency_ms=250).latency_ms == (250, 250)


# --- over HTTP -------------------------------------------------------------------
@pytest.mark.parametrize("status", [400, 500, 503])
def test_injected_error_status_charges_nothing(client: httpx.Client, sandbox: Sandbox, status: int) -> None:
    sandbox.set_faults(error_rates={status: 1.0})
    r = client.get("/product", params={"key": KEY, **ASIN_PARAMS})
    assert r.status_code == status
    body = r.json()
    assert body["error"]["type"] and body["tokensConsumed"] == 0 and body["tokensLeft"] == 100
    assert sandbox.account(KEY).requests_to("product", status) == 1


def test_injected_429_is_the_bare_envelope(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.set_faults(error_rates={429: 1.0}, limit=1)
    r = client.get("/token", params={"key": KEY})
    assert r.status_code == 429 and "error" not in r.json() and r.json()["tokensLeft"] == 100
    assert client.get("/token", params={"key": KEY}).status_code == 200


def test_error_limit_lets_later_requests_succeed(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.set_faults(error_rates={503: 1.0}, limit=2)
    codes = [client.get("/token", params={"key": KEY}).status_code for _ in range(4)]
    assert codes == [503, 503, 200, 200]


def test_html_error_page(server: SandboxServer, sandbox: Sandbox) -> None:
    sandbox.set_faults(html_rate=1.0, html_status=502)
    with httpx.Client(base_url=server.url) as c:
        r = c.get("/deal", params={"key": KEY, "selection": json.dumps({"domainId": 1, "priceTypes": [2]})})
    assert r.status_code == 502 and r.headers["content-type"].startswith("text/html")
    assert r.text.startswith("<html>")
    with pytest.raises(ValueError):
        r.json()
    assert sandbox.account(KEY).tokens == 100


def test_truncated_body_is_charged_all_the_same(server: SandboxServer, sandbox: Sandbox) -> None:
    sandbox.set_faults(truncate_rate=1.0)
    with httpx.Client(base_url=server.url, headers={"Accept-Encoding": "gzip"}) as c:
        with c.stream("POST", "/deal", params={"key": KEY}, json={"domainId": 1, "priceTypes": [2]}) as r:
            raw = b"".join(r.iter_raw())
    assert r.status_code == 200
    text = gzip.decompress(raw).decode()
    assert text.startswith('{"timestamp"')
    with pytest.raises(ValueError):
        json.loads(text)
    assert sandbox.account(KEY).tokens == 95


def test_zero_token_fields_on_error_replies_only(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.set_faults(zero_token_fields_rate=1.0)
    r = client.get("/finder", params={"key": KEY})
    assert r.status_code == 404
    body = r.json()
    assert body["tokensLeft"] == body["refillIn"] == body["refillRate"] == 0
    assert TokenStatus.from_body(body) is None and body["timestamp"] > 0
    ok = client.get("/token", params={"key": KEY}).json()
    assert ok["tokensLeft"] == 100 and ok["refillRate"] == 5
    sandbox.update_account(KEY, tokens=0)
    assert client.get("/token", params={"key": KEY}).json()["refillRate"] == 5  # 429 keeps its fields


def test_latency_only_for_offers_requests(client: httpx.Client, sandbox: Sandbox) -> None:
    spec = sandbox.catalog.products[0]
    sandbox.set_faults(latency_ms=[150, 200], latency_offers_only=True)
    params = {"key": KEY, "domain": 1, "asin": spec.asin}
    client.get("/product", params=params).raise_for_status()
    assert sandbox.faults.injected["latency"] == 0  # counted, not timed: a busy host is slow too
    t0 = time.monotonic()
    slow = client.get("/product", params={**params, "offers": 20}).json()
    assert time.monotonic() - t0 >= 0.15
    assert sandbox.faults.injected["latency"] == 1
    assert slow["processingTimeInMs"] >= 150  # the wait is part of the processing Keepa reports


def test_failed_offer_fetch_costs_one_and_returns_history(client: httpx.Client, sandbox: Sandbox) -> None:
    specs = [s for s in sandbox.catalog.products if s.normal[COUNT_NEW] > 0][:2]
    sandbox.set_faults(offer_fetch_failure_rate=1.0, limit=1)
    body = client.get("/product", params={"key": KEY, "domain": 1, "offers": 20, "rating": 0,
                                          "asin": ",".join(s.asin for s in specs)}).json()
    failed, ok = body["products"]
    assert failed["offersSuccessful"] is False and "offers" not in failed and failed["csv"][1]
    assert ok["offersSuccessful"] is True and ok["offers"]
    assert body["tokensConsumed"] == 1 + 6 * max(1, -(-min(len(ok["offers"]), 20) // 10))


def test_reported_refill_rate_blip(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.set_faults(reported_refill_rate=1, endpoints=("token",))
    assert client.get("/token", params={"key": KEY}).json()["refillRate"] == 1
    assert client.get("/product", params={"key": KEY, **ASIN_PARAMS}).json()["refillRate"] == 5
    assert sandbox.account(KEY).refill_rate == 5


def test_a_real_rate_change_shows_in_the_envelope(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.update_account(KEY, refill_rate=60, token_flow_reduction=2.5)
    body = client.get("/token", params={"key": KEY}).json()
    assert body["refillRate"] == 60 and body["tokenFlowReduction"] == 2.5
