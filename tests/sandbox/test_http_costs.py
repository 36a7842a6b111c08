"""What each call costs, over real HTTP: the real cost, charged after the work."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import httpx

from keepa_deals.sandbox import Sandbox, SandboxServer
from keepa_deals.sandbox.universe import COUNT_NEW, COUNT_USED, ProductSpec
from tests.sandbox.conftest import KEY

UNKNOWN_ASIN = "0000000001"


def offers_total(spec: ProductSpec) -> int:
    return spec.normal[COUNT_NEW] + spec.normal[COUNT_USED] + (1 if spec.has_amazon else 0)


def pick(sandbox: Sandbox, n: int = 1, **where: Any) -> list[ProductSpec]:
    """``n`` products whose offer total is in ``offers=(lo, hi)`` and rating freshness as given."""
    out = []
    for spec in sandbox.catalog.products:
        lo, hi = where.get("offers", (0, 10**6))
        if not lo <= offers_total(spec) <= hi:
            continue
        if "fresh" in where and spec.rating_fresh != where["fresh"]:
            continue
        out.append(spec)
        if len(out) == n:
            return out
    raise AssertionError(f"no {n} products with {where}")


def product(client: httpx.Client, specs: list[ProductSpec] | list[str], **params: Any) -> dict[str, Any]:
    asins = [s if isinstance(s, str) else s.asin for s in specs]
    r = client.get("/product", params={"key": KEY, "domain": 1, "asin": ",".join(asins), **params})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_token_is_free(client: httpx.Client, sandbox: Sandbox) -> None:
    for _ in range(3):
        assert client.get("/token", params={"key": KEY}).json()["tokensConsumed"] == 0
    assert sandbox.account(KEY).tokens == 100


def test_a_deal_page_costs_five_even_when_empty(client: httpx.Client, sandbox: Sandbox) -> None:
    for page in (0, 1, 30):
        sel = {"domainId": 1, "priceTypes": [2], "page": page}
        body = client.post("/deal", params={"key": KEY}, json=sel).json()
        assert body["tokensConsumed"] == 5
    assert body["deals"]["dr"] == []
    acc = sandbox.account(KEY)
    assert acc.tokens == 85 and acc.tokens_consumed == 15 and body["tokensLeft"] == 85


def test_one_token_per_returned_product_and_nothing_for_unknown(client: httpx.Client, sandbox: Sandbox) -> None:
    specs = pick(sandbox, 3)
    body = product(client, [*specs, UNKNOWN_ASIN, "not-an-asin"])
    assert [p["asin"] for p in body["products"]] == [s.asin for s in specs]
    assert body["tokensConsumed"] == 3 and body["tokensLeft"] == 97
    assert product(client, [UNKNOWN_ASIN])["tokensConsumed"] == 0
    assert product(client, [specs[0].asin, specs[0].asin])["tokensConsumed"] == 1  # duplicates once
    other_locale = client.get("/product", params={"key": KEY, "domain": 3, "asin": specs[0].asin}).json()
    assert other_locale["products"] == [] and other_locale["tokensConsumed"] == 0


def test_offers_replace_the_base_token_by_six_per_page_found(client: httpx.Client, sandbox: Sandbox) -> None:
    few = pick(sandbox, 1, offers=(1, 10))[0]
    some = pick(sandbox, 1, offers=(11, 19))[0]
    many = pick(sandbox, 1, offers=(35, 10**6))[0]
    for spec, requested, pages in ((few, 20, 1), (some, 20, 2), (many, 20, 2), (many, 40, 4),
                                   (some, 100, math.ceil(offers_total(some) / 10))):
        body = product(client, [spec], offers=requested)
        assert body["tokensConsumed"] == 6 * pages, (spec.asin, requested)
        p = body["products"][0]
        assert len(p["offers"]) == min(offers_total(spec), requested) == len(p["liveOffersOrder"])
        assert p["offersSuccessful"] is True


def test_offer_costs_add_up_per_product(client: httpx.Client, sandbox: Sandbox) -> None:
    specs = pick(sandbox, 5)
    expected = sum(6 * max(1, math.ceil(min(offers_total(s), 20) / 10)) for s in specs)
    assert product(client, specs, offers=20)["tokensConsumed"] == expected


def test_rating_costs_one_more_only_when_fresh(client: httpx.Client, sandbox: Sandbox) -> None:
    fresh = pick(sandbox, 2, fresh=True)
    stale = pick(sandbox, 3, fresh=False)
    body = product(client, fresh + stale, rating=1)
    assert body["tokensConsumed"] == 5 + 2
    p = body["products"][0]
    assert p["csv"][16] is not None and p["csv"][17] is not None  # RATING, COUNT_REVIEWS
    assert product(client, fresh)["products"][0]["csv"][16] is None


def test_buybox_costs_two_more_and_is_ignored_with_offers(client: httpx.Client, sandbox: Sandbox) -> None:
    spec = pick(sandbox, 1, offers=(1, 10))[0]
    body = product(client, [spec], buybox=1, stats=90)
    assert body["tokensConsumed"] == 3
    assert body["products"][0]["stats"]["buyBoxPrice"] != -2
    assert product(client, [spec], buybox=1, offers=20)["tokensConsumed"] == 6
    assert product(client, [spec], stats=90)["products"][0]["stats"]["buyBoxPrice"] == -2


def test_update_zero_costs_one_more(client: httpx.Client, sandbox: Sandbox) -> None:
    specs = pick(sandbox, 2, fresh=True)
    assert product(client, specs, update=0)["tokensConsumed"] == 4
    assert product(client, specs, update=0, rating=1, offers=20)["tokensConsumed"] == sum(
        6 * max(1, math.ceil(min(offers_total(s), 20) / 10)) + 2 for s in specs
    )
    assert product(client, specs, update=-1)["tokensConsumed"] == 2


def test_history_days_and_stats_cost_nothing(client: httpx.Client, sandbox: Sandbox) -> None:
    spec = pick(sandbox, 1)[0]
    for params in ({"history": 0}, {"days": 30}, {"stats": 180}, {"stats": "2026-01-01,2026-06-30"}):
        assert product(client, [spec], **params)["tokensConsumed"] == 1


def test_a_positive_balance_runs_a_costly_call_into_deficit(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.update_account(KEY, tokens=3)
    specs = pick(sandbox, 10, offers=(11, 10**6))
    body = product(client, specs, offers=20)
    assert body["tokensConsumed"] == 120 and body["tokensLeft"] == -117
    r = client.get("/product", params={"key": KEY, "domain": 1, "asin": specs[0].asin})
    assert r.status_code == 429
    acc = sandbox.account(KEY)
    assert acc.min_balance == -117 and acc.tokens_consumed == 120 and acc.refused == 1


def test_concurrent_requests_are_admitted_on_arrival(server: SandboxServer, sandbox: Sandbox) -> None:
    """Three /deal pages arrive at 6 tokens; the latency sits between admission and
    charge, so all three run and the balance ends at 6 − 15."""
    sandbox.update_account(KEY, tokens=6)
    sandbox.set_faults(latency_ms=200)
    sel = json.dumps({"domainId": 1, "priceTypes": [2]})

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
            rs = await asyncio.gather(
                *(c.get("/deal", params={"key": KEY, "selection": sel}) for _ in range(3))
            )
        return [r.status_code for r in rs]

    assert asyncio.run(burst()) == [200, 200, 200]
    acc = sandbox.account(KEY)
    assert acc.tokens == -9 and acc.min_balance == -9 and acc.requests_to("deal", 200) == 3


def test_charge_happens_after_the_work_at_the_time_of_the_charge(
    server: SandboxServer, sandbox: Sandbox
) -> None:
    """A refill falling during a slow request is applied before the charge: at the
    cap it is lost, and the charge then comes off the full bucket."""
    sandbox.update_account(KEY, tokens=300, phase_ms=1_000)  # the cap at 5/min
    sandbox.set_faults(latency_ms=200)
    sel = json.dumps({"domainId": 1, "priceTypes": [2]})

    async def slow_and_refill() -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
            task = asyncio.create_task(c.get("/deal", params={"key": KEY, "selection": sel}))
            await asyncio.sleep(0.05)
            sandbox.clock.advance(1_000)  # type: ignore[attr-defined]  # a refill mid-request
            body: dict[str, Any] = (await task).json()
            return body

    body = asyncio.run(slow_and_refill())
    assert body["tokensConsumed"] == 5 and body["tokensLeft"] == 295
    assert body["processingTimeInMs"] >= 200
    assert sandbox.account(KEY).tokens_refilled == 0
