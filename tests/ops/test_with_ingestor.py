"""doctor, health, status and the logs while the real ingestor runs against the sandbox.

Each condition is created by the Smart Ingestor itself, on the SQLite and the
Redis deployment: a budget that cannot pay (runs end waiting for tokens, and
health and doctor see no progress), a query Keepa answers with nothing, a
lock left behind by a runner that died.  The scheduler is played by the
test: one run every ingest interval on the fake clock.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from keepa_deals.ingest import IngestEnv, open_env, smart_ingestor
from keepa_deals.locks import lock_name, open_runner_lock
from keepa_deals.ops import logging as ops_logging
from keepa_deals.ops.doctor import Verdict, run_checks
from keepa_deals.ops.health import health_report
from keepa_deals.ops.locks import short_host
from keepa_deals.ops.status import collect_status
from keepa_deals.query import DealQuery, default_query
from keepa_deals.sandbox import Sandbox
from tests.ops.conftest import KEY, Deployment

INTERVAL_MS = 300_000


@pytest.fixture
def env(deployment: Deployment) -> Iterator[IngestEnv]:
    ingest_env = open_env(deployment.settings, clock=deployment.clock)
    try:
        yield ingest_env
    finally:
        ingest_env.close()


def nothing_query() -> DealQuery:
    """The built-in query with a title no book has: Keepa returns an empty feed."""
    q = default_query()
    sel = q.selection.model_copy(update={"title_search": "zzqxv nosuchtitle"})
    return q.model_copy(update={"name": "nothing-matches", "selection": sel})


def tick(env: IngestEnv, deployment: Deployment, query: DealQuery | None = None) -> str:
    report = smart_ingestor(env, query)
    deployment.clock.advance(INTERVAL_MS)
    return report.outcome.value


def test_a_budget_that_cannot_pay_stalls_and_doctor_says_why(
        deployment: Deployment, env: IngestEnv, sandbox: Sandbox) -> None:
    assert tick(env, deployment) == "ok"
    sandbox.update_account(KEY, tokens=-100, refill_rate=1)  # a plan downgrade, spent deep
    outcomes = [tick(env, deployment) for _ in range(4)]
    assert set(outcomes) == {"waiting_for_tokens"}
    report = health_report(deployment.settings, clock=deployment.clock)
    assert report.state == "stalled"
    results = {r.name: r for r in run_checks(deployment.settings, clock=deployment.clock,
                                             keepa=True)}
    assert results["ingestion"].verdict == Verdict.FAIL
    assert "waiting for tokens" in results["ingestion"].fix
    assert results["token_state"].verdict == Verdict.OK, results["token_state"]
    status = collect_status(deployment.settings, clock=deployment.clock)
    assert status["runs"][0]["outcome"] == "waiting_for_tokens"
    assert status["budget"]["state"] in ("low", "recharging")
    assert status["progress"]["ok"] is False


def test_a_query_keepa_answers_with_nothing_is_reported(deployment: Deployment,
                                                        env: IngestEnv) -> None:
    query = nothing_query()
    for _ in range(3):
        assert tick(env, deployment) == "ok"
        assert tick(env, deployment, query) == "ok"
    [result] = run_checks(deployment.settings, only=["queries"], clock=deployment.clock)
    assert result.verdict == Verdict.WARN
    assert result.summary.startswith("returns nothing: nothing-matches")
    [ingestion] = run_checks(deployment.settings, only=["ingestion"], clock=deployment.clock)
    assert ingestion.verdict == Verdict.OK


def test_the_lock_of_a_runner_that_died_is_found_and_released(deployment: Deployment,
                                                               env: IngestEnv) -> None:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    lock = open_runner_lock(deployment.settings, env.store)
    name = lock_name("ingest", default_query().name)
    assert lock.acquire(name, f"{short_host()}-{proc.pid}-dead", ttl_s=3600)
    assert tick(env, deployment) == "locked"
    [found] = run_checks(deployment.settings, only=["locks"], clock=deployment.clock)
    assert found.verdict == Verdict.FAIL and "is gone" in found.summary
    [fixed] = run_checks(deployment.settings, only=["locks"], clock=deployment.clock, fix=True)
    assert fixed.verdict == Verdict.OK and fixed.repaired
    assert tick(env, deployment) == "ok"


def test_the_logs_of_a_day_of_waiting_stay_small(deployment: Deployment, env: IngestEnv,
                                                 sandbox: Sandbox) -> None:
    """A scheduler ticking every 5 minutes for 24 h while no token can be spent."""
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    ops_logging.configure(deployment.settings.model_copy(update={"log_format": "json"}),
                          stream=stream, force=True)
    try:
        sandbox.update_account(KEY, tokens=-3_000, refill_rate=1)
        ticks = 24 * 12
        outcomes = {tick(env, deployment) for _ in range(ticks)}
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
        structlog.reset_defaults()
        ops_logging._configured = None
    assert outcomes == {"waiting_for_tokens"}
    lines = [json.loads(x) for x in stream.getvalue().splitlines() if x.strip()]
    per_tick = len(lines) / ticks
    assert per_tick <= 4, f"{per_tick:.1f} lines per tick"
    assert len(stream.getvalue()) < ticks * 4 * 400  # bytes: a few short lines per tick
    assert all("run_id" in x for x in lines if x["logger"] == "keepa_deals.ingest")
    assert KEY not in stream.getvalue()
