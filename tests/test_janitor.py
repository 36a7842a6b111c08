"""The janitor (docs/failure-classes.md, FC-11): an outage of our own must never shrink the deal set.

Deletion is measured against what ingestion has actually re-checked, and only
while the query's ingestor completes healthy cycles; otherwise it deletes
nothing and says why.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from keepa_deals.cli import app
from keepa_deals.clock import FakeClock
from keepa_deals.janitor import (
    HELD_BACK_KEY,
    REMOVED_KEY,
    REMOVED_TOTAL_KEY,
    ingest_health,
    run_janitor,
)
from keepa_deals.settings import Settings
from keepa_deals.store import DealRow, DealStore, RunOutcome
from keepa_deals.store.state import REFRESH_COVERED_KEY

START_MS = 1_800_000_000_000
Q = "used-books-us"
HOUR = 3_600_000


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START_MS)


@pytest.fixture
def store(db_url: str, clock: FakeClock) -> Iterator[DealStore]:
    with DealStore.open(db_url, clock=clock) as s:
        yield s


@pytest.fixture
def settings() -> Settings:
    return Settings(ingest_interval_s=300, janitor_grace_h=72, janitor_healthy_intervals=3)


def at(clock: FakeClock, hours_ago: float) -> datetime:
    return datetime.fromtimestamp((clock.now_ms() - hours_ago * HOUR) / 1000, tz=UTC)


def deal(asin: str, clock: FakeClock, *, refreshed_h: float | None, seen_h: float | None = None
         ) -> DealRow:
    return DealRow(asin=asin, title=asin, current_price_cents=500,
                   last_refreshed=None if refreshed_h is None else at(clock, refreshed_h),
                   last_seen_in_feed=None if seen_h is None else at(clock, seen_h))


def run(store: DealStore, clock: FakeClock, outcome: RunOutcome, *, hours_ago: float) -> None:
    now = clock.now_ms()
    clock.set(int(now - hours_ago * HOUR))
    rid = store.start_run(Q)
    store.finish_run(rid, outcome)
    clock.set(now)


def healthy(store: DealStore, clock: FakeClock) -> None:
    run(store, clock, RunOutcome.OK, hours_ago=0.05)
    store.set_state(Q, REFRESH_COVERED_KEY, 1)


def test_fc11_deletion_is_measured_against_what_ingestion_rechecked(
    store: DealStore, clock: FakeClock, settings: Settings,
) -> None:
    store.save_batch([deal(a * 10, clock, refreshed_h=0) for a in "ABCD"], query=Q)
    clock.advance(100 * HOUR)
    store.save_batch([deal("BBBBBBBBBB", clock, refreshed_h=1),
                      deal("CCCCCCCCCC", clock, refreshed_h=None, seen_h=2)], query=Q)
    healthy(store, clock)
    [report] = run_janitor(store, settings)
    assert report.held_back is None
    assert report.removed == 2  # A and D: neither listed nor re-checked for 100 h
    assert store.get_deal("BBBBBBBBBB") and store.get_deal("CCCCCCCCCC")
    assert store.get_deal("AAAAAAAAAA") is None and store.get_deal("DDDDDDDDDD") is None
    assert store.get_state(Q, REMOVED_KEY) == 2 and store.get_state(Q, REMOVED_TOTAL_KEY) == 2
    assert store.get_state(Q, HELD_BACK_KEY) is None
    [again] = run_janitor(store, settings)
    assert again.removed == 0 and store.get_state(Q, REMOVED_TOTAL_KEY) == 2


def test_fc11_no_successful_run_lately_means_nothing_is_deleted(
    store: DealStore, clock: FakeClock, settings: Settings,
) -> None:
    store.save_batch([deal(a * 10, clock, refreshed_h=0) for a in "ABC"], query=Q)
    clock.advance(100 * HOUR)
    assert "never completed" in str(ingest_health(store, Q, settings, store.now()))
    run(store, clock, RunOutcome.OK, hours_ago=2)  # the ingestor stopped two hours ago
    store.set_state(Q, REFRESH_COVERED_KEY, 1)
    [report] = run_janitor(store, settings)
    assert report.removed == 0 and "no successful ingest run for 120 min" in str(report.held_back)
    assert store.count_deals() == 3
    assert store.get_state(Q, HELD_BACK_KEY) == report.held_back


@pytest.mark.parametrize("bad", [RunOutcome.WAITING_FOR_TOKENS, RunOutcome.ERROR,
                                 RunOutcome.ABANDONED])
def test_fc11_when_the_last_runs_all_failed_or_waited_nothing_is_deleted(
    bad: RunOutcome, store: DealStore, clock: FakeClock, settings: Settings,
) -> None:
    store.save_batch([deal(a * 10, clock, refreshed_h=0) for a in "ABC"], query=Q)
    clock.advance(100 * HOUR)
    healthy(store, clock)
    for i in range(3):
        run(store, clock, bad, hours_ago=0.04 - i * 0.01)
    run(store, clock, RunOutcome.LOCKED, hours_ago=0.001)  # another runner: neither way
    [report] = run_janitor(store, settings)
    assert report.removed == 0 and "last 3 ingest runs all failed" in str(report.held_back)
    assert store.count_deals() == 3


def test_fc11_a_refresh_that_cannot_keep_up_holds_the_janitor_back(
    store: DealStore, clock: FakeClock, settings: Settings,
) -> None:
    store.save_batch([deal(a * 10, clock, refreshed_h=0) for a in "ABC"], query=Q)
    clock.advance(100 * HOUR)
    healthy(store, clock)
    store.set_state(Q, REFRESH_COVERED_KEY, 0)
    [report] = run_janitor(store, settings)
    assert report.removed == 0 and "refresh capacity" in str(report.held_back)


def test_janitor_cli_once_json(store: DealStore, clock: FakeClock,
                               monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the CLI reads the same store on both backends")
    store.save_batch([deal("AAAAAAAAAA", clock, refreshed_h=0)], query=Q)
    monkeypatch.setenv("DATABASE_URL", db_url)
    result = CliRunner().invoke(app, ["janitor", "--once", "--json"])
    assert result.exit_code == 0, result.output
    assert '"held_back": "the ingestor has never completed a run for this query"' in result.output
    assert '"removed": 0' in result.output
    plain = CliRunner().invoke(app, ["janitor", "--once"])
    assert plain.exit_code == 0 and "deleted nothing" in plain.output
    assert CliRunner().invoke(app, ["janitor"]).exit_code == 2
