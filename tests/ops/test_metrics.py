"""Metrics: names and units, and agreement with the sandbox's own counters.

Invariants defended: one prefix, base units, ``_total`` on counters and no
per-ASIN label; the requests and tokens the metrics count are the ones Keepa
(the sandbox) counted, faults and retries included.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from keepa_deals.budget.factory import open_budget
from keepa_deals.keepa.client import KeepaClient
from keepa_deals.keepa.errors import KeepaError
from keepa_deals.keepa.http import KeepaHTTP
from keepa_deals.ops import metrics
from keepa_deals.ops.health_app import create_health_app
from keepa_deals.sandbox import Sandbox
from keepa_deals.store import RunCounts
from keepa_deals.tokens.errors import TokenRechargeError
from tests.ops.conftest import KEY, Deployment, deal

SELECTION = {"domainId": 1, "priceTypes": [2], "page": 0}


def asgi_get(app: Any, path: str) -> httpx.Response:
    """One in-process request through httpx's ASGI transport."""

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://ops") as http:
            return await http.get(path)

    try:
        return asyncio.run(get())
    finally:
        app.state.stores.close()


def counter(name: str, **labels: str) -> float:
    return metrics.value(name, **labels) or 0.0


def requests_counted() -> dict[tuple[str, str], float]:
    return {(labels["endpoint"], labels["status"]): value
            for name, labels, value in metrics.samples("keepa_deals_keepa_requests_total")}


def delta(before: dict[Any, float], after: dict[Any, float]) -> dict[Any, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0)}


@pytest.fixture
def client(deployment: Deployment) -> Iterator[KeepaClient]:
    http = KeepaHTTP(KEY, base_url=deployment.settings.keepa_api_url, retries=3,
                     sleep=deployment.clock.sleep)
    budget = open_budget(deployment.settings, sync=http.token_status, clock=deployment.clock)
    try:
        yield KeepaClient(metrics.instrument_http(http), metrics.instrument_budget(budget),
                          max_wait_s=0)
    finally:
        http.close()
        budget.store.close()


def test_names_follow_the_conventions() -> None:
    for family in metrics.REGISTRY.collect():
        assert family.name.startswith("keepa_deals_"), family.name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
        for sample in family.samples:
            assert not {"asin", "asins"} & set(sample.labels), sample
    text = metrics.exposition().decode()
    for name in ("keepa_deals_tokens_balance", "keepa_deals_tokens_consumed_total",
                 "keepa_deals_budget_grants_total", "keepa_deals_budget_waits_total",
                 "keepa_deals_budget_wait_seconds_bucket", "keepa_deals_deals_added_total",
                 "keepa_deals_deals_updated_total", "keepa_deals_deals_removed_total",
                 "keepa_deals_last_success_timestamp_seconds"):
        assert name in text


def test_requests_and_tokens_agree_with_the_sandbox(client: KeepaClient, sandbox: Sandbox) -> None:
    sandbox.set_faults(error_rates={503: 0.3}, truncate_rate=0.0, seed=3)
    before_req = requests_counted()
    before_consumed = counter("keepa_deals_tokens_consumed_total")
    before_grants = counter("keepa_deals_budget_grants_total")
    calls = 0
    for page in range(8):
        try:
            client.deals(SELECTION, page=page)
        except KeepaError:
            pass
        calls += 1
    page0 = client.deals(SELECTION, page=0)
    asins = [d.asin for d in page0.deals[:5]]
    client.products(asins)
    calls += 2
    account = sandbox.account(KEY)
    counted = delta(before_req, requests_counted())
    assert counted == {(ep, str(st)): float(n) for (ep, st), n in account.requests.items()}
    assert counted[("deal", "503")] > 0  # the faults were met, and retried
    consumed = counter("keepa_deals_tokens_consumed_total") - before_consumed
    assert consumed == account.tokens_consumed > 0
    # a paid 503 may have run: it is sent once more, through a new grant
    # (docs/failure-classes.md, FC-26)
    sent = sum(n for (ep, _), n in account.requests.items() if ep != "token")
    assert counter("keepa_deals_budget_grants_total") - before_grants == sent >= calls
    assert metrics.value("keepa_deals_tokens_balance") == account.tokens


@pytest.mark.parametrize("deployment", ["sqlite"], indirect=True)
def test_waits_and_deferrals_are_counted(client: KeepaClient, sandbox: Sandbox) -> None:
    """On the SQLite budget only: its clock is the test's fake one, on which the wait is
    slept.  A Redis budget reads Redis's own clock, which a fake sleep does not move, so
    the sandbox (on the fake clock) and the budget would disagree by however long the
    test's real time took (the counting is the same code for both stores)."""
    sandbox.update_account(KEY, tokens=0)
    waits = counter("keepa_deals_budget_waits_total")
    waited = counter("keepa_deals_budget_wait_seconds_sum")
    client.max_wait_s = 600  # a wait for the next refills: slept on the fake clock
    client.deals(SELECTION)
    assert counter("keepa_deals_budget_waits_total") == waits + 1
    assert counter("keepa_deals_budget_wait_seconds_sum") - waited > 0
    sandbox.update_account(KEY, tokens=-200)
    client.budget.observe(client.http.token_status())
    client.max_wait_s = 0
    deferrals = counter("keepa_deals_budget_deferrals_total")
    with pytest.raises(TokenRechargeError):
        client.deals(SELECTION)
    assert counter("keepa_deals_budget_deferrals_total") == deferrals + 1


def test_deal_and_run_helpers() -> None:
    added = counter("keepa_deals_deals_added_total")
    metrics.deals_added(3)
    metrics.deals_added(0)
    metrics.deals_added(-2)  # nonsense is ignored, never raised
    metrics.deals_updated(2)
    metrics.deals_removed(1)
    metrics.deals_rejected(4)
    assert counter("keepa_deals_deals_added_total") == added + 3
    ok_runs = counter("keepa_deals_runs_total", outcome="ok")
    metrics.run_finished("ok", at_s=2_000_000_000.0)
    metrics.run_finished("waiting_for_tokens")
    assert counter("keepa_deals_runs_total", outcome="ok") == ok_runs + 1
    assert metrics.value("keepa_deals_last_success_timestamp_seconds") >= 2_000_000_000.0
    metrics.set_last_success(1.0)  # never moves back
    assert metrics.value("keepa_deals_last_success_timestamp_seconds") >= 2_000_000_000.0


def test_metrics_endpoint_serves_counters_and_store_gauges(deployment: Deployment) -> None:
    store = deployment.store()
    store.save_batch([deal(i, last_seen_in_feed=store.now()) for i in range(4)],
                     query="test-books", watermark=9_000_000)
    store.finish_run(store.start_run("test-books"), "ok", RunCounts(added=4))
    reply = asgi_get(create_health_app(deployment.settings, clock=deployment.clock), "/metrics")
    assert reply.status_code == 200
    text = reply.text
    assert "keepa_deals_deals 4.0" in text and "keepa_deals_deal_rows 4.0" in text
    assert "keepa_deals_healthy 1.0" in text and "keepa_deals_database_up 1.0" in text
    assert 'keepa_deals_watermark_timestamp_seconds{query="test-books"}' in text
    assert "keepa_deals_keepa_requests_total" in text
    assert KEY not in text
