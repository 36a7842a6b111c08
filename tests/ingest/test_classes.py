"""The failure classes of the system we replace (docs/failure-classes.md), end to end.

Each test names the class and the invariant it defends; every one runs over
real HTTP against the sandbox and a real store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from keepa_deals.clock import FakeClock
from keepa_deals.ingest import IngestEnv, IngestReport, open_env, smart_ingestor
from keepa_deals.ingest.ledger import LEDGER_KEY, Ledger
from keepa_deals.ingest.plan import MAX_STATS_BATCH, unit_cost
from keepa_deals.query import DealQuery
from keepa_deals.sandbox import Sandbox
from keepa_deals.settings import Settings
from keepa_deals.store import RunOutcome
from tests.ingest import _oracle as oracle
from tests.ingest.conftest import (
    KEY,
    START_MS,
    Call,
    Recorder,
    open_feed,
    stored,
    with_offers,
    with_pages,
)


def ledger_of(env: IngestEnv, query: DealQuery) -> Ledger:
    return Ledger.loads(str(env.store.get_state(query.name, LEDGER_KEY) or ""))


def until_done(env: IngestEnv, query: DealQuery, clock: FakeClock, *, runs: int = 30,
               first: IngestReport | None = None) -> IngestReport:
    """Run again whenever told to come back, as the scheduler does, until a run is ok."""
    report = first or smart_ingestor(env, query)
    n = 1
    while report.outcome is RunOutcome.WAITING_FOR_TOKENS and n < runs:
        assert report.retry_after_s is not None
        clock.advance(int(report.retry_after_s * 1000))
        report = smart_ingestor(env, query)
        n += 1
    return report


# --- FC-8: batches bigger than the budget --------------------------------------------


def test_fc8_no_batch_costs_more_than_the_bucket_holds(
    sqlite_url: str, make_env: Callable[..., IngestEnv], sandbox: Sandbox, clock: FakeClock,
    query: DealQuery,
) -> None:
    """A 1-token-a-minute plan holds 60 tokens: no call may ever cost more."""
    sandbox.update_account(KEY, tokens=60, refill_rate=1)
    rec = Recorder()
    env = make_env(sqlite_url, transport=rec)
    q = with_offers(query)
    report = smart_ingestor(env, q)
    for _ in range(12):
        assert report.outcome in (RunOutcome.OK, RunOutcome.WAITING_FOR_TOKENS), report.error
        clock.advance(int((report.retry_after_s or 60) * 1000))
        report = smart_ingestor(env, q)
    products = rec.products()
    assert products
    for call in products:
        assert len(call.asins) * unit_cost(call.offers) <= 60, call
    assert max(len(c.asins) for c in rec.products(offers=True)) <= 60 // unit_cost(20)
    assert sandbox.account(KEY).min_balance >= -180  # never under the budget's floor
    assert stored(env.store), "a small plan still makes progress"


def test_fc8_stats_paid_for_are_kept_when_the_run_stops_before_the_offers(
    sqlite_url: str, make_env: Callable[..., IngestEnv], sandbox: Sandbox, clock: FakeClock,
    query: DealQuery,
) -> None:
    """The product check's verdicts survive a run that ends waiting: never bought twice."""
    sandbox.update_account(KEY, tokens=60, refill_rate=1)
    rec = Recorder()
    env = make_env(sqlite_url, transport=rec, budget_floor=0)
    q = with_offers(query)
    first = smart_ingestor(env, q)
    assert first.outcome is RunOutcome.WAITING_FOR_TOKENS
    waiting = [c.asin for c in ledger_of(env, q).pending("offers")]
    assert waiting, "the product check passed some; their offers were not affordable"
    n_calls = len(rec.calls)

    assert first.retry_after_s is not None
    clock.advance(int(first.retry_after_s * 1000))
    second = smart_ingestor(env, q)
    assert second.outcome in (RunOutcome.OK, RunOutcome.WAITING_FOR_TOKENS), second.error
    later = rec.calls[n_calls:]
    rechecked = {a for c in later if c.endpoint == "product" and c.offers is None
                 for a in c.asins}
    assert not rechecked & set(waiting), "a paid-for product check was bought again"
    offered = [a for c in later if c.endpoint == "product" and c.offers for a in c.asins]
    assert offered and set(offered) <= set(waiting), "the next run finishes them first"


# --- FC-9: the watermark stuck or skipped data ----------------------------------------


def _fail_page(page: int) -> Callable[[Call, int], bool]:
    """Every attempt at /deal ``page`` fails (the HTTP layer's retries included)."""
    return lambda call, _n: call.endpoint == "deal" and call.body["page"] == page


def test_fc9_watermark_never_advances_over_a_failed_page(
    db_url: str, make_env: Callable[..., IngestEnv], sandbox: Sandbox, clock: FakeClock,
    query: DealQuery,
) -> None:
    q = open_feed(query)
    feed = oracle.feed(sandbox, q, clock.now_ms())
    assert len(feed) > 150, "the feed spans pages"
    rec = Recorder(fail=_fail_page(1))
    env = make_env(db_url, transport=rec)
    settings = env.settings
    first = smart_ingestor(env, q)
    assert first.outcome is RunOutcome.ERROR and "cannot reach Keepa" in (first.error or "")
    assert env.store.get_watermark(q.name) is None, "a failed page is not the end of the feed"
    ledger = ledger_of(env, q)
    assert [(s.lo, s.hi) for s in ledger.segments] == [(feed[149]["lastUpdate"],
                                                       feed[0]["lastUpdate"])]
    assert first.checked_stats > 0 and ledger.count("stats") < MAX_STATS_BATCH, \
        "page 0's candidates were checked in full calls (and saved) before page 1 was " \
        "bought; fewer than a call's worth wait in the ledger for the next page's"
    env.close()

    rec2 = Recorder()
    env2 = open_env(settings, clock=clock, transport=rec2)
    try:
        second = smart_ingestor(env2, q)
        assert second.outcome is RunOutcome.OK, second.error
        mark = env2.store.get_watermark(q.name)
        assert mark is not None and mark.keepa_minute == feed[0]["lastUpdate"]
        assert set(stored(env2.store)) == set(oracle.expected(sandbox, q, clock.now_ms()))
        checked = Counter(a for r in (rec, rec2) for c in r.products() for a in c.asins)
        assert max(checked.values()) == 1, "nothing checked twice"
    finally:
        env2.close()


def test_fc9_a_429_is_not_an_empty_page(
    sqlite_url: str, make_env: Callable[..., IngestEnv], sandbox: Sandbox, clock: FakeClock,
    query: DealQuery,
) -> None:
    env = make_env(sqlite_url)
    assert smart_ingestor(env, query).outcome is RunOutcome.OK
    mark = env.store.get_watermark(query.name)
    assert mark is not None
    clock.advance(40 * 60_000)
    sandbox.set_faults(error_rates={429: 1.0}, endpoints=("deal",), limit=1)
    refused = smart_ingestor(env, query)
    assert refused.outcome is RunOutcome.WAITING_FOR_TOKENS
    assert refused.retry_after_s is not None and refused.retry_after_s > 0
    assert env.store.get_watermark(query.name) == mark, "the watermark stayed"
    after = smart_ingestor(env, query)
    assert after.outcome is RunOutcome.OK
    newer = env.store.get_watermark(query.name)
    assert newer is not None and newer.keepa_minute > mark.keepa_minute
    assert set(stored(env.store)) >= {
        a for a, e in oracle.expected(sandbox, query, clock.now_ms()).items()
        if e.deal["lastUpdate"] > mark.keepa_minute}


def test_fc9_a_backlog_bigger_than_the_page_cap_is_worked_through(
    db_url: str, make_env: Callable[..., IngestEnv], sandbox: Sandbox, clock: FakeClock,
    query: DealQuery,
) -> None:
    q = with_pages(open_feed(query), 1)
    rec = Recorder()
    env = make_env(db_url, transport=rec)
    reports = [smart_ingestor(env, q)]
    assert reports[0].scan_complete is False
    while reports[-1].scan_complete is False and len(reports) < 8:
        clock.advance(6 * 60_000)
        reports.append(smart_ingestor(env, q))
    assert reports[-1].scan_complete and all(r.outcome is RunOutcome.OK for r in reports)
    now = clock.now_ms()
    expected = set(oracle.expected(sandbox, q, now))
    assert expected <= set(stored(env.store))
    checked = Counter(a for c in rec.products() for a in c.asins)
    events = Counter(e.product for e in sandbox.catalog.events(now))
    for asin, n in checked.items():
        spec = sandbox.catalog.spec(asin)
        assert spec is not None and n <= events[spec.index], f"{asin} checked {n} times"
    assert len(rec.deals()) <= 2 * len(reports) + 2


# --- FC-10: wrong query types or clock ---------------------------------------------------


def test_fc10_the_selection_goes_out_with_keepa_types(
    sqlite_url: str, make_env: Callable[..., IngestEnv], query: DealQuery,
) -> None:
    rec = Recorder()
    env = make_env(sqlite_url, transport=rec)
    smart_ingestor(env, query)
    body = rec.deals()[0].body
    assert body["priceTypes"] == [2] and body["sortType"] == 1 and body["page"] == 0
    for key in ("domainId", "dateRange", "sortType", "page"):
        assert type(body[key]) is int, key
    for key in ("currentRange", "deltaPercentRange", "salesRankRange", "includeCategories"):
        assert all(type(v) is int for v in body[key]), key
    params = rec.products()[0].params
    assert params["domain"] == "1" and params["stats"] == "30"
    # without offers, the product check's verdict saves the deal: its history comes along
    assert params["history"] == "1" and params["days"] == "365"
    assert "offers" not in params


def test_fc10_a_query_that_is_not_newest_first_is_refused_before_spending(
    sqlite_url: str, make_env: Callable[..., IngestEnv], sandbox: Sandbox, query: DealQuery,
) -> None:
    rec = Recorder()
    env = make_env(sqlite_url, transport=rec)
    q = query.model_copy(update={"selection": query.selection.model_copy(update={"sort_type": 4})})
    report = smart_ingestor(env, q)
    assert report.outcome is RunOutcome.ERROR and "sortType" in (report.error or "")
    assert rec.calls == [] and sandbox.account(KEY).tokens_consumed == 0


@pytest.mark.parametrize("skew_h", [-5, 3])
def test_fc10_the_watermark_is_keepa_time_whatever_our_clock_says(
    skew_h: int, sqlite_url: str, make_settings: Callable[..., Settings], sandbox: Sandbox,
    clock: FakeClock, query: DealQuery,
) -> None:
    ours = FakeClock(START_MS + skew_h * 3_600_000)  # our clock is hours off Keepa's
    with open_env(make_settings(sqlite_url), clock=ours) as env:
        assert smart_ingestor(env, query).outcome is RunOutcome.OK
        feed = oracle.feed(sandbox, query, clock.now_ms())
        mark = env.store.get_watermark(query.name)
        assert mark is not None and mark.keepa_minute == feed[0]["lastUpdate"]
        clock.advance(30 * 60_000)
        ours.advance(30 * 60_000)
        second = smart_ingestor(env, query)
        assert second.outcome is RunOutcome.OK
        now = clock.now_ms()
        expected = oracle.expected(sandbox, query, now)
        newer = {a for a, e in expected.items() if e.deal["lastUpdate"] > mark.keepa_minute}
        assert newer <= set(stored(env.store)) <= set(expected) | set(
            oracle.expected(sandbox, query, START_MS))
