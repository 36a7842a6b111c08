"""Ingest runs and the metrics series: what health and charts are computed from (docs/failure-classes.md, FC-18)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from keepa_deals import __version__
from keepa_deals.clock import FakeClock
from keepa_deals.store import DealStore, RunCounts, RunOutcome, StoreError
from tests.store._rows import row


def test_a_run_is_recorded_from_start_to_finish(store: DealStore, clock: FakeClock) -> None:
    run_id = store.start_run("q")
    running = store.last_run("q")
    assert running is not None and running.id == run_id
    assert running.outcome == "running" and running.ended_at is None
    assert running.version == __version__
    clock.advance(42_000)
    counts = RunCounts(tokens_spent=25, pages=3, added=40, updated=7, rejected=300)
    counts += RunCounts(removed=2, tokens_spent=5)
    store.finish_run(run_id, RunOutcome.OK, counts)
    done = store.last_run("q", RunOutcome.OK)
    assert done is not None
    assert (done.tokens_spent, done.pages, done.deals_added, done.deals_updated,
            done.deals_rejected, done.deals_removed) == (30, 3, 40, 7, 300, 2)
    assert done.ended_at is not None and done.ended_at - done.started_at == timedelta(seconds=42)


def test_waiting_and_error_runs_keep_their_reason(store: DealStore, clock: FakeClock) -> None:
    waiting = store.start_run("q")
    store.finish_run(waiting, "waiting_for_tokens", retry_after_s=754.5)
    clock.advance(1000)
    failed = store.start_run("q")
    store.finish_run(failed, RunOutcome.ERROR, error="x" * 10_000)
    runs = store.recent_runs("q")
    assert [r.id for r in runs] == [failed, waiting]
    assert runs[1].outcome == "waiting_for_tokens" and runs[1].retry_after_s == 754.5
    assert runs[0].error is not None and len(runs[0].error) <= 4000
    assert store.last_run("q", RunOutcome.OK) is None
    assert store.last_run("q", RunOutcome.ERROR).id == failed  # type: ignore[union-attr]


def test_unknown_outcomes_and_runs_are_refused(store: DealStore) -> None:
    run_id = store.start_run("q")
    with pytest.raises(ValueError):
        store.finish_run(run_id, "fine")
    with pytest.raises(StoreError, match="no ingest run"):
        store.finish_run(run_id + 999, RunOutcome.OK)


def test_stale_running_runs_are_marked_abandoned(store: DealStore, clock: FakeClock) -> None:
    old = store.start_run("q")
    clock.advance(3_600_000)
    fresh = store.start_run("q")
    cutoff = datetime.fromtimestamp(clock.now_ms() / 1000, UTC) - timedelta(minutes=30)
    assert store.abandon_stale_runs(cutoff) == 1
    outcomes = {r.id: r.outcome for r in store.recent_runs()}
    assert outcomes == {old: "abandoned", fresh: "running"}


def test_metrics_points_with_counted_deals(store: DealStore, clock: FakeClock) -> None:
    store.save_batch([row(i) for i in range(3)], query="q")
    store.record_metrics(token_balance=-42, refill_rate=20, tokens_refilled=20)
    clock.advance(60_000)
    store.record_metrics(token_balance=17, deal_count=99)
    points = store.metrics_since(datetime(2027, 1, 1, tzinfo=UTC))
    assert [(p.token_balance, p.refill_rate, p.deal_count) for p in points] == [
        (-42, 20, 3), (17, None, 99)
    ]
    assert points[1].at - points[0].at == timedelta(minutes=1)
    assert store.prune_metrics(points[1].at) == 1
    assert len(store.metrics_since(datetime(2027, 1, 1, tzinfo=UTC))) == 1
