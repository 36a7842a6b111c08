"""Health is progress: the report, /healthz in process and over real HTTP.

Invariant defended (docs/failure-classes.md, FC-18): a system whose processes are alive
but whose ingestion makes no progress is unhealthy; progress is a successful
run, a watermark move or a deal row written within N intervals.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from keepa_deals.clock import FakeClock
from keepa_deals.ops.health import health_report
from keepa_deals.ops.health_app import HealthServer, create_health_app
from keepa_deals.store import DealStore, RunCounts
from tests._services import RedisServer
from tests.ops.conftest import Deployment, deal, make_settings

MINUTE = 60_000


def healthz(dep: Deployment) -> httpx.Response:
    app = create_health_app(dep.settings, clock=dep.clock)

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://ops") as http:
            return await http.get("/healthz")

    try:
        return asyncio.run(get())
    finally:
        app.state.stores.close()


def test_each_kind_of_progress_counts(deployment: Deployment) -> None:
    store = deployment.store()
    window = 15 * MINUTE  # 3 intervals of 300 s
    store.start_run("test-books")
    assert health_report(deployment.settings, clock=deployment.clock).reason.startswith("starting")
    deployment.clock.advance(window + 1)
    stalled = health_report(deployment.settings, clock=deployment.clock)
    assert stalled.state == "stalled" and stalled.exit_code == 1
    assert "no progress ever recorded" in stalled.reason

    store.save_batch([deal(1)], query="test-books")  # a row written
    report = health_report(deployment.settings, clock=deployment.clock)
    assert report.ok and "deal written" in report.reason

    deployment.clock.advance(window + 1)
    store.save_batch([], query="test-books", watermark=9_000_000)  # the watermark moved
    report = health_report(deployment.settings, clock=deployment.clock)
    assert report.ok and "watermark moved" in report.reason

    deployment.clock.advance(window + 1)
    store.finish_run(store.start_run("test-books"), "ok", RunCounts())  # a successful run
    report = health_report(deployment.settings, clock=deployment.clock)
    assert report.ok and "successful run" in report.reason

    for _ in range(4):  # alive, running every 5 minutes, achieving nothing
        deployment.clock.advance(5 * MINUTE)
        store.finish_run(store.start_run("test-books"), "waiting_for_tokens", RunCounts(),
                         retry_after_s=1200)
    report = health_report(deployment.settings, clock=deployment.clock)
    assert report.state == "stalled" and "no progress for 20 min" in report.reason
    assert report.progress is not None
    assert report.progress["signals"]["successful_run"] is not None


def test_healthz_answers_200_or_503(deployment: Deployment) -> None:
    missing = healthz(deployment)
    assert missing.status_code == 503 and missing.json()["state"] == "unknown"
    store = deployment.store()
    store.finish_run(store.start_run("test-books"), "ok", RunCounts(added=1))
    ok = healthz(deployment)
    assert ok.status_code == 200 and ok.json()["ok"] is True
    assert ok.headers["cache-control"] == "no-store"
    deployment.clock.advance(16 * MINUTE)
    stalled = healthz(deployment)
    assert stalled.status_code == 503 and stalled.json()["state"] == "stalled"


def test_health_server_over_real_http(deployment: Deployment) -> None:
    store = deployment.store()
    store.finish_run(store.start_run("test-books"), "ok", RunCounts(added=1))
    with HealthServer(deployment.settings, port=0, clock=deployment.clock) as server:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            reply: Any = http.get("/healthz")
            assert reply.status_code == 200 and reply.json()["state"] == "healthy"
            metrics = http.get("/metrics")
            assert metrics.status_code == 200
            assert "keepa_deals_healthy 1.0" in metrics.text
            assert metrics.headers["content-type"].startswith("text/plain")


@pytest.mark.redis
def test_healthz_and_metrics_answer_with_redis_down(own_redis: RedisServer, tmp_path: Path,
                                                    keepa_url: str, clock: FakeClock) -> None:
    settings = make_settings(tmp_path, keepa_url, own_redis.url)
    with DealStore.open(settings, clock=clock) as store:
        store.finish_run(store.start_run("test-books"), "ok", RunCounts(added=1))
    own_redis.stop()
    try:
        with HealthServer(settings, port=0, clock=clock) as server:
            with httpx.Client(base_url=server.url, timeout=20) as http:
                assert http.get("/healthz").status_code == 200  # progress is the database's
                text = http.get("/metrics").text
        assert "keepa_deals_database_up 1.0" in text
        assert "keepa_deals_tokens_projected" not in text  # the budget is unreachable
    finally:
        own_redis.start()
