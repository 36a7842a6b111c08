"""doctor's ingestion checks: stalls, a diminishing deal count, yield collapse, empty queries.

Invariants defended: health is progress, not "process alive" (docs/failure-classes.md, FC-18); the deal count cannot slide while everything looks healthy without an
alert (the 182 → 169 incident, FC-11); a collapse of the acceptance rate
alerts (FC-12); a query that finds nothing is visible.
"""

from __future__ import annotations

from datetime import timedelta

from keepa_deals.ops.doctor import CheckResult, Verdict, run_checks
from keepa_deals.store import DealStore, RunCounts
from tests.ops.conftest import Deployment, deal

MINUTE = 60_000
HOUR = 60 * MINUTE


def one(dep: Deployment, name: str, **kwargs: object) -> CheckResult:
    [result] = run_checks(dep.settings, only=[name], clock=dep.clock,
                          **kwargs)  # type: ignore[arg-type]
    return result


def feed(store: DealStore, n: int, query: str = "test-books", **kwargs: object) -> None:
    """The feed lists deals 0..n-1 now."""
    store.save_batch([deal(i, last_seen_in_feed=store.now()) for i in range(n)], query=query,
                     **kwargs)  # type: ignore[arg-type]


def run(store: DealStore, outcome: str = "ok", *, query: str = "test-books",
        took_ms: int = 20_000, clock: object = None, **counts: int) -> int:
    run_id = store.start_run(query)
    if took_ms:
        store.clock.advance(took_ms)  # type: ignore[attr-defined]
    store.finish_run(run_id, outcome, RunCounts(**counts),
                     retry_after_s=600.0 if outcome == "waiting_for_tokens" else None,
                     error="boom" if outcome == "error" else None)
    return run_id


# --- ingestion ------------------------------------------------------------------------


def test_progress_then_a_stall_of_waiting_runs_fails(deployment: Deployment) -> None:
    """Every run exits "waiting for tokens" and nothing moves: the diminishing-deals loop."""
    store = deployment.store()
    store.save_batch([deal(i) for i in range(5)], query="test-books", watermark=9_000_000)
    run(store, added=5, pages=1)
    assert one(deployment, "ingestion").verdict == Verdict.OK
    for _ in range(4):  # 20 minutes of runs that each give up
        deployment.clock.advance(5 * MINUTE)
        run(store, "waiting_for_tokens", took_ms=1_000)
    result = one(deployment, "ingestion")
    assert result.verdict == Verdict.FAIL
    assert "stalled" in result.summary and "waiting for tokens" in result.fix
    assert result.evidence["last_runs"][0]["outcome"] == "waiting_for_tokens"


def test_waiting_streak_warns_while_progress_is_recent(deployment: Deployment) -> None:
    store = deployment.store()
    run(store, added=3)
    for _ in range(3):
        deployment.clock.advance(MINUTE)
        run(store, "waiting_for_tokens", took_ms=1_000)
    result = one(deployment, "ingestion")
    assert result.verdict == Verdict.WARN
    assert "last 3 runs ended waiting_for_tokens" in result.summary


def test_nothing_ever_ran_fails_and_a_first_run_counts_as_starting(deployment: Deployment) -> None:
    store = deployment.store()
    result = one(deployment, "ingestion")
    assert result.verdict == Verdict.FAIL and "no run has ever started" in result.summary
    store.start_run("test-books")
    assert one(deployment, "ingestion").verdict == Verdict.OK


def test_a_run_left_running_warns(deployment: Deployment) -> None:
    store = deployment.store()
    run(store, added=1)
    store.start_run("test-books")  # its process dies
    deployment.clock.advance(16 * MINUTE)
    store.save_batch([deal(1)], query="test-books")  # another path still writes
    result = one(deployment, "ingestion")
    assert result.verdict == Verdict.WARN and "still marked running" in result.summary


# --- deal count -----------------------------------------------------------------------


def test_deal_count_sliding_while_runs_exit_fails(deployment: Deployment) -> None:
    """182 deals a day ago, 169 now, the janitor deleting, no successful run."""
    store = deployment.store()
    feed(store, 182)
    store.record_metrics(deal_count=182)
    fresh = one(deployment, "deal_count")
    assert fresh.verdict == Verdict.OK and "no count recorded 24 h ago" in fresh.summary
    deployment.clock.advance(24 * HOUR)
    feed(store, 169)  # still listed
    assert store.retire_deals(store.now() - timedelta(hours=1)) == 13  # the janitor
    for _ in range(3):
        run(store, "waiting_for_tokens", took_ms=1_000, removed=5)
    result = one(deployment, "deal_count")
    assert result.verdict == Verdict.FAIL
    assert "the deals fell from 182 to 169" in result.summary
    assert result.evidence["removed_24h"] == 15 and result.evidence["ok_runs_24h"] == 0


def test_deal_count_falling_with_healthy_ingestion_warns(deployment: Deployment) -> None:
    store = deployment.store()
    feed(store, 100)
    store.record_metrics(deal_count=100)
    deployment.clock.advance(24 * HOUR)
    feed(store, 90)
    store.retire_deals(store.now() - timedelta(hours=1))
    run(store, updated=90, removed=10)
    result = one(deployment, "deal_count")
    assert result.verdict == Verdict.WARN and result.evidence["drop_percent"] == 10.0


def test_deal_count_steady_is_ok(deployment: Deployment) -> None:
    store = deployment.store()
    feed(store, 50)
    store.record_metrics(deal_count=50)
    deployment.clock.advance(24 * HOUR)
    feed(store, 50)
    store.save_batch([deal(0, profit_cents=None, last_seen_in_feed=store.now())],
                     query="test-books", keep_when_none=())
    result = one(deployment, "deal_count")
    # 50 rows, one without a profit estimate: not a deal by the one definition
    assert result.verdict == Verdict.OK and result.evidence["count"] == 49
    assert result.summary == "49 deals, 50 stored (-1 in 24 h)"  # the trend counts deals


def test_deals_aging_past_the_grace_while_the_janitor_holds_back_fail(
        deployment: Deployment) -> None:
    """Nothing deleted, yet the dashboard's count is gone: ingestion stopped refreshing."""
    store = deployment.store()
    feed(store, 40)
    run(store, added=40)
    deployment.clock.advance(int((deployment.settings.janitor_grace_h + 1) * HOUR))
    run(store, "waiting_for_tokens", took_ms=1_000)
    result = one(deployment, "deal_count")
    assert result.verdict == Verdict.FAIL, result
    assert "40 of 40 stored deals were not seen or refreshed" in result.summary
    assert result.evidence["count"] == 0 and result.evidence["rows"] == 40


# --- yield ----------------------------------------------------------------------------


def history(dep: Deployment, store: DealStore, *, accepted: int, rejected: int, runs: int) -> None:
    for _ in range(runs):
        run(store, added=accepted, rejected=rejected)
        dep.clock.advance(10 * MINUTE)


def test_yield_collapse_fails_and_a_drop_warns(deployment: Deployment) -> None:
    store = deployment.store()
    history(deployment, store, accepted=10, rejected=10, runs=60)  # 10 h at 50 %
    deployment.clock.advance(HOUR)
    assert one(deployment, "yield").verdict == Verdict.SKIPPED  # nothing recent
    history(deployment, store, accepted=0, rejected=20, runs=3)
    result = one(deployment, "yield")
    assert result.verdict == Verdict.FAIL and "collapsed" in result.summary
    assert result.evidence["baseline"]["rate"] == 0.5


def test_yield_drop_warns_and_steady_is_ok(deployment: Deployment) -> None:
    store = deployment.store()
    history(deployment, store, accepted=10, rejected=10, runs=60)
    assert one(deployment, "yield").verdict == Verdict.OK
    deployment.clock.advance(2 * HOUR)
    history(deployment, store, accepted=2, rejected=18, runs=4)
    result = one(deployment, "yield")
    assert result.verdict == Verdict.WARN and result.evidence["recent"]["rate"] == 0.1


# --- queries --------------------------------------------------------------------------


def test_a_query_that_returns_nothing_warns(deployment: Deployment) -> None:
    store = deployment.store()
    store.save_batch([deal(i) for i in range(3)], query="test-books", watermark=9_000_000)
    for _ in range(3):
        run(store, added=1, query="test-books", pages=1)
        run(store, query="no-such-books", pages=1)  # the feed answers an empty page
        deployment.clock.advance(5 * MINUTE)
    result = one(deployment, "queries")
    assert result.verdict == Verdict.WARN
    assert result.summary.startswith("returns nothing: no-such-books")
    rows = {q["query"]: q for q in result.evidence["queries"]}
    assert rows["test-books"]["deals"] == 3 and rows["no-such-books"]["candidates_24h"] == 0


def test_queries_finding_deals_are_ok(deployment: Deployment) -> None:
    store = deployment.store()
    assert one(deployment, "queries").verdict == Verdict.SKIPPED
    for _ in range(3):
        run(store, added=1, rejected=2)
    assert one(deployment, "queries").verdict == Verdict.OK


# --- the whole doctor -----------------------------------------------------------------


def test_fix_never_deletes_a_deal(deployment: Deployment) -> None:
    store = deployment.store()
    store.save_batch([deal(i) for i in range(20)], query="test-books")
    run(store, added=20)
    deployment.clock.advance(48 * HOUR)  # everything stale, stalled, unknown
    before = store.count_deals()
    results = run_checks(deployment.settings, fix=True, clock=deployment.clock)
    assert store.count_deals() == before == 20
    names = [r.name for r in results]
    assert names == ["database", "redis", "locks", "version", "corrupt_rows", "key",
                     "token_state", "recharge", "clock_skew", "ingestion", "deal_count", "yield",
                     "queries", "new_store", "alerts"]
