"""Alerts end to end: ``keepa-deals run`` with a refused key, ingest runs announcing deals,
and a courier killed with SIGKILL mid-delivery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from keepa_deals.alerts.courier import Courier
from keepa_deals.clock import FakeClock
from keepa_deals.ingest import smart_ingestor
from keepa_deals.query import default_query
from keepa_deals.sandbox import CatalogConfig, Sandbox, SandboxServer
from keepa_deals.settings import Settings
from keepa_deals.store import Changes, DealStore
from keepa_deals.store.alerting import AlertBook
from tests.alerts._receivers import WebhookReceiver
from tests.alerts.test_deal_alerts import QUERY, _alert, row
from tests.ingest.conftest import KEY, backlog_sandbox

REPORT = Path(os.environ.get("KEEPA_DEALS_TEST_REPORT_DIR", "/tmp"))


@pytest.fixture
def sandbox(clock: FakeClock) -> Sandbox:
    return backlog_sandbox(clock)


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPA")}
    env["KEEPA_DEALS_DATA_DIR"] = str(tmp)
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    env.update(extra)
    return env


def _wait(pred: object, timeout_s: float) -> float | None:
    """Seconds until ``pred()`` holds, or None after ``timeout_s``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if pred():  # type: ignore[operator]
            return time.monotonic() - start
        time.sleep(0.1)
    return None


def test_fc25_run_with_a_refused_key_alerts_within_a_minute_and_says_when_resolved(
        tmp_path: Path) -> None:
    sandbox = Sandbox(catalog=CatalogConfig(seed=4, backlog_s=3600), demo_account=False)
    sandbox.add_account(KEY, tokens=1200, refill_rate=20, expired=True)
    with SandboxServer(sandbox) as server, WebhookReceiver() as hook:
        proc = subprocess.Popen(
            [sys.executable, "-m", "keepa_deals", "run", "--interval", "5"], cwd=tmp_path,
            env=_env(tmp_path, KEEPA_API_KEY=KEY, KEEPA_API_URL=server.url,
                     KEEPA_DEALS_ALERT_URLS=hook.url("health"),
                     KEEPA_DEALS_ALERT_CHECK_INTERVAL_S="5", KEEPA_DEALS_HTTP_RETRIES="0"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            def titles() -> list[str]:
                return [str(r["body"].get("title")) for r in hook.received]

            fired = _wait(lambda: any("PROBLEM: Keepa refuses the key" in t for t in titles()), 60)
            assert fired is not None, titles()
            sandbox.update_account(KEY, expired=False)
            resolved = _wait(lambda: any("RESOLVED: Keepa refuses the key" in t
                                         for t in titles()), 60)
            assert resolved is not None, titles()
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=60)
        problem = next(r["body"]["message"] for r in hook.received
                       if "PROBLEM" in str(r["body"].get("title")))
        for part in ("What is wrong:", "Since:", "Evidence:", "Fix:", "402", "id: "):
            assert part in problem, part
        for text in [out, err, *(json.dumps(r) for r in hook.received)]:
            assert KEY not in text and KEY[:16] not in text
        (REPORT / "alerts-refused-key.txt").write_text(
            f"health alert {fired:.1f} s after start; resolved {resolved:.1f} s after the key "
            f"worked\n")




def test_a_run_announces_each_matching_deal_once_and_the_next_run_none_again(
        server: SandboxServer, sqlite_url: str, clock: FakeClock) -> None:
    from keepa_deals.ingest import open_env

    with WebhookReceiver() as hook:
        settings = Settings(keepa_api_key=KEY, keepa_api_url=server.url,
                            database_url=sqlite_url, http_retries=1)
        with open_env(settings, clock=clock) as env:
            _alert(env.store, settings, "good", "min_profit=5", [hook.url()])
            first = smart_ingestor(env, default_query())
            assert first.counts.added > 0
            courier = Courier(settings, AlertBook(env.store))
            sent = courier.drain().sent
            with env.store.engine.connect() as conn:  # the built-in query's thresholds
                n = conn.execute(text(
                    "select count(*) from deals where profit_cents >= 500 and "
                    "roi_percent >= 50 and margin_percent >= 20")).scalar_one()
            assert sent == n > 0 and len(hook.wait_for(n)) == n and hook.duplicates() == 0
            clock.advance(600_000)
            second = smart_ingestor(env, default_query())
            assert second.ok
            assert courier.drain().sent == 0, "the next run announces nothing again"
            assert len(hook.received) == n


def test_fc26_a_courier_killed_mid_delivery_loses_nothing_and_repeats_carry_their_id(
        tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'deals.sqlite3'}"
    total = 30
    with WebhookReceiver(delay_s=0.3) as hook:
        settings = Settings(database_url=db)
        with DealStore.open(db) as store:
            _alert(store, settings, "all", "", [hook.url()])
            store.commit(QUERY, Changes(rows=tuple(row(i, last_seen_in_feed=store.now())
                                                   for i in range(1, total + 1))))
        env = _env(tmp_path, DATABASE_URL=db, KEEPA_DEALS_ALERT_LEASE_S="2")
        drain = [sys.executable, "-m", "keepa_deals", "alerts", "drain", "--no-health"]
        proc = subprocess.Popen(drain, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        assert _wait(lambda: len(hook.received) >= 5, 30) is not None
        time.sleep(0.15)  # mid-send: the receiver holds a request
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        before = len(hook.received)
        time.sleep(2.5)  # the killed process's lease runs out
        done = subprocess.run(drain, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        time.sleep(0.5)
        ids = hook.ids()
        assert len(set(ids)) == total, "every message arrived"
        dups = hook.duplicates()
        assert dups <= 2, "only what was in flight is sent twice"
        (REPORT / "alerts-kill9.txt").write_text(
            f"{total} messages; {before} arrived before SIGKILL; after the restart all "
            f"{len(set(ids))} distinct ids arrived, {dups} twice (same id)\n")
