"""kill -9 in the middle of a paid-for batch, then run again: nothing lost, nothing twice.

A sandbox process (tests/ingest/_sandbox_proc.py) answers /product slowly and
logs the ASINs of every request; ``python -m keepa_deals ingest --once`` runs in
another process and is killed with SIGKILL while a batch is in flight.  The
rerun must leave exactly the deals an uninterrupted run would store (no gap,
no duplicate), and only the batch cut off by the kill may be asked for again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from keepa_deals.clock import FakeClock
from keepa_deals.query import load_query
from keepa_deals.sandbox import CatalogConfig, Sandbox
from keepa_deals.store import DealRecord, DealStore
from tests.ingest import _oracle as oracle
from tests.ingest.conftest import KEY, START_MS

ROOT = Path(__file__).resolve().parents[2]

QUERY = """
name = "crash-test"
[selection]
domainId = 1
priceTypes = [2]
dateRange = 2
sortType = 1
[filters.stats]
max_sales_rank = 1500000
min_rank_drops_30 = 2
min_rank_drops_90 = 6
[filters.offers]
fetch_offers = true
min_profit_cents = 300
min_roi_percent = 30
[profit]
prep_cents = 25
inbound_shipping_cents = 60
[run]
max_pages = 3
"""


@pytest.fixture
def sandbox_proc(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    log = tmp_path / "requests.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.ingest._sandbox_proc", "--log", str(log),
         "--latency-ms", "400"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), "the sandbox process did not start"
        yield url, log
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def entries(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


#: The killed run's lock frees itself after this; its renewer renews it every third.
LOCK_TTL_S = 1


def ingest(url: str, db_url: str, data_dir: Path, query: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPA_DEALS_")}
    env.update(KEEPA_API_URL=url, KEEPA_API_KEY=KEY, DATABASE_URL=db_url,
               KEEPA_DEALS_DATA_DIR=str(data_dir), KEEPA_DEALS_LOG_LEVEL="WARNING",
               KEEPA_DEALS_INGEST_LOCK_TTL_S=str(LOCK_TTL_S))
    return subprocess.Popen(
        [sys.executable, "-m", "keepa_deals", "ingest", "--once", "--json", "--query", str(query)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill_9_mid_batch_then_rerun_loses_nothing_and_pays_once(
    db_url: str, sandbox_proc: tuple[str, Path], tmp_path: Path,
) -> None:
    # Product calls go: stats, offers for its survivors, stats, ... Kill while the second
    # (offers) is in flight on one backend, while the third (stats) is on the other.
    kill_at = 3 if db_url.startswith("sqlite") else 2
    url, log = sandbox_proc
    query_file = tmp_path / "crash-test.toml"
    query_file.write_text(QUERY)
    data_dir = tmp_path / "data"

    first = ingest(url, db_url, data_dir, query_file)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        starts = [e for e in entries(log) if e["t"] == "start" and e["endpoint"] == "product"]
        if len(starts) >= kill_at:
            break
        assert first.poll() is None, first.communicate()
        time.sleep(0.02)
    else:
        pytest.fail("the ingest process never got that far")
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=10)
    assert first.returncode == -signal.SIGKILL
    killed = time.monotonic()
    killed_at = len(entries(log))

    httpx.delete(f"{url}/_sandbox/faults", timeout=5).raise_for_status()  # no more latency
    outcomes = []
    while True:  # the dead run's lock holds until its TTL runs out, never longer
        second = ingest(url, db_url, data_dir, query_file)
        out, err = second.communicate(timeout=60)
        assert second.returncode == 0, err
        report = json.loads(out)
        outcomes.append(report["outcome"])
        if report["outcome"] != "locked":
            break
        assert time.monotonic() - killed < LOCK_TTL_S + 5, "the dead run's lock outlived its TTL"
        time.sleep(0.3)
    assert report["outcome"] == "ok", report

    # No gap and no duplicate: exactly what an uninterrupted run stores.
    query = load_query(query_file)
    reference = Sandbox(clock=FakeClock(START_MS), demo_account=False,
                        catalog=CatalogConfig(seed=4, backlog_s=3 * 3600))
    expected = oracle.expected(reference, query, START_MS)
    assert expected
    with DealStore.open(db_url) as store:
        with store.engine.connect() as conn:
            asins = [a for (a,) in conn.execute(select(DealRecord.asin))]
            n = conn.execute(select(func.count()).select_from(DealRecord)).scalar_one()
        assert n == len(asins) == len(set(asins))
        assert set(asins) == set(expected)
        runs = [r.outcome for r in store.recent_runs(query.name) if r.outcome != "locked"]
        assert sorted(runs) == ["abandoned", "ok"], "the killed run is found and marked"
        # ... and booked with what its commits recorded it spent (docs/failure-classes.md,
        # FC-22): the feed page and at least the first product call, saved before the kill
        [dead] = [r for r in store.recent_runs(query.name) if r.outcome == "abandoned"]
        assert dead.pages >= 1 and dead.tokens_spent > 5 * dead.pages, (
            dead.tokens_spent, dead.pages)

    # Paid once: only the batch cut off by the kill may have been asked for again.
    log_entries = entries(log)
    before, after = log_entries[:killed_at], log_entries[killed_at:]
    asked: dict[str, list[tuple[int, frozenset[str]]]] = defaultdict(list)
    for e in before:
        if e["t"] == "start" and e["endpoint"] == "product":
            asked["offers" if e["offers"] else "stats"].append((e["id"], frozenset(e["asins"])))
    last_id = max(i for batches in asked.values() for i, _ in batches)
    cut_off = {a for batches in asked.values() for i, b in batches if i == last_id for a in b}
    for e in after:
        if e["t"] == "start" and e["endpoint"] == "product":
            kind = "offers" if e["offers"] else "stats"
            again = set(e["asins"]) & {a for _, b in asked[kind] for a in b}
            assert again <= cut_off, f"{kind} for {sorted(again - cut_off)} bought twice"
