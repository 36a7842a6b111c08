"""The Smart Ingestor end to end: real HTTP to the sandbox, a real store (SQLite and PostgreSQL).

Stored rows are compared with the sandbox catalog's products, number by
number (tests/ingest/_oracle.py); the calls the ingestor made are recorded
at the transport, under the real HTTP client.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from keepa_deals.clock import FakeClock
from keepa_deals.ingest import IngestEnv, smart_ingestor
from keepa_deals.ingest.ledger import LEDGER_KEY, Ledger
from keepa_deals.query import DealQuery
from keepa_deals.sandbox import Sandbox
from keepa_deals.store import RunOutcome
from tests.ingest import _oracle as oracle
from tests.ingest.conftest import KEY, Recorder, stored, with_offers


def test_deals_appear_with_the_catalogs_numbers(
    db_url: str, make_env: Callable[..., IngestEnv], sandbox: Sandbox, clock: FakeClock,
    query: DealQuery,
) -> None:
    env = make_env(db_url)
    report = smart_ingestor(env, query)
    assert report.outcome is RunOutcome.OK, report.error
    expected = oracle.expected(sandbox, query, clock.now_ms())
    assert len(expected) >= 3, "the catalog should give a few deals"
    rows = stored(env.store)
    assert set(rows) == set(expected)
    for asin, e in expected.items():
        oracle.check_row(rows[asin], e, query)

    run = env.store.last_run(query.name)
    assert run is not None and run.outcome == "ok" and run.version
    assert run.deals_added == len(expected) and run.deals_updated == 0
    assert run.pages == 1
    assert run.tokens_spent == sandbox.account(KEY).tokens_consumed == report.counts.tokens_spent
    feed = oracle.feed(sandbox, query, clock.now_ms())
    assert run.deals_rejected == len(feed) - len(expected)
    points = env.store.metrics_since(env.store.now() - timedelta(minutes=1))
    assert points and points[-1].deal_count == len(expected)
    assert points[-1].token_balance == sandbox.account(KEY).tokens


def test_offers_are_bought_for_the_survivors_only(
    db_url: str, make_env: Callable[..., IngestEnv], sandbox: Sandbox, clock: FakeClock,
    query: DealQuery,
) -> None:
    rec = Recorder()
    env = make_env(db_url, transport=rec)
    q = with_offers(query)
    report = smart_ingestor(env, q)
    assert report.outcome is RunOutcome.OK, report.error
    now = clock.now_ms()
    expected = oracle.expected(sandbox, q, now)
    rows = stored(env.store)
    assert set(rows) == set(expected) and expected
    for asin, e in expected.items():
        oracle.check_row(rows[asin], e, q)

    # The stats check saw every feed candidate once; offers only those that could still pay.
    feed = oracle.feed(sandbox, q, now)
    candidates = {d["asin"] for d in feed
                  if not str(oracle.judge(sandbox, q, d, now)).startswith("feed:")}
    stats_asins = [a for c in rec.products(offers=False) for a in c.asins]
    assert sorted(stats_asins) == sorted(candidates)
    could_pay = set(oracle.expected(sandbox, query, now))  # profit at the stats price
    offer_asins = [a for c in rec.products(offers=True) for a in c.asins]
    assert sorted(offer_asins) == sorted(could_pay)
    assert len(could_pay) < len(candidates) / 2
    assert all(len(c.asins) <= 20 and c.offers == 20 for c in rec.products(offers=True))
    assert report.counts.tokens_spent == sandbox.account(KEY).tokens_consumed


def test_a_second_tick_adds_only_the_new_deals(
    db_url: str, make_env: Callable[..., IngestEnv], sandbox: Sandbox, clock: FakeClock,
    query: DealQuery,
) -> None:
    rec = Recorder()
    env = make_env(db_url, transport=rec)
    first = smart_ingestor(env, query)
    assert first.outcome is RunOutcome.OK
    before = stored(env.store)
    mark = first.watermark
    assert mark is not None
    checked_first = [a for c in rec.products() for a in c.asins]
    n_calls = len(rec.calls)

    clock.advance(45 * 60_000)  # the feed grows
    second = smart_ingestor(env, query)
    assert second.outcome is RunOutcome.OK
    now = clock.now_ms()
    feed = oracle.feed(sandbox, query, now)
    newer = {d["asin"] for d in feed if d["lastUpdate"] > mark}
    assert newer, "the feed grew"
    expected_new = {a: e for a, e in oracle.expected(sandbox, query, now).items() if a in newer}
    rows = stored(env.store)
    assert set(rows) == set(before) | set(expected_new)
    assert second.counts.added == len(set(expected_new) - set(before))
    assert second.counts.updated == len(set(expected_new) & set(before))
    for asin, e in expected_new.items():
        oracle.check_row(rows[asin], e, query)
    # Only deals newer than the watermark were checked again.
    checked_second = [a for c in rec.calls[n_calls:] if c.endpoint == "product" for a in c.asins]
    assert set(checked_second) <= newer
    assert Counter(checked_first + checked_second).most_common(1)[0][1] <= 2
    assert second.watermark is not None and second.watermark > mark


def test_waiting_for_tokens_ends_the_run_and_the_next_one_finishes(
    db_url: str, make_env: Callable[..., IngestEnv], sandbox: Sandbox, clock: FakeClock,
    query: DealQuery,
) -> None:
    sandbox.update_account(KEY, tokens=3, refill_rate=2)  # the first page leaves -2: two refills away
    rec = Recorder()
    env = make_env(db_url, transport=rec)
    report = smart_ingestor(env, query)
    assert report.outcome is RunOutcome.WAITING_FOR_TOKENS
    assert report.retry_after_s is not None and report.retry_after_s > 5
    assert report.pending_stats > 0 and stored(env.store) == {}
    run = env.store.last_run(query.name)
    assert run is not None and run.outcome == "waiting_for_tokens"
    assert run.retry_after_s == report.retry_after_s and run.pages == 1
    sandbox.update_account(KEY, refill_rate=20)  # back to the plan the other tests use

    runs = 1
    while report.outcome is RunOutcome.WAITING_FOR_TOKENS and runs < 40:
        assert report.retry_after_s is not None
        clock.advance(int(report.retry_after_s * 1000))  # come back when told, not before
        report = smart_ingestor(env, query)
        runs += 1
    assert report.outcome is RunOutcome.OK, report.error
    assert runs > 2
    expected = oracle.expected(sandbox, query, clock.now_ms())
    assert set(stored(env.store)) == set(expected)
    checked = Counter(a for c in rec.products() for a in c.asins)
    events = Counter(e.product for e in sandbox.catalog.events(clock.now_ms()))
    for asin, n in checked.items():  # checked again only after a new deal event
        spec = sandbox.catalog.spec(asin)
        assert spec is not None and n <= events[spec.index], asin


def test_the_ledger_is_small_once_the_scan_is_complete(
    sqlite_url: str, make_env: Callable[..., IngestEnv], clock: FakeClock, query: DealQuery,
) -> None:
    env = make_env(sqlite_url)
    smart_ingestor(env, query)
    clock.advance(3 * 3600_000)
    smart_ingestor(env, query)
    ledger = Ledger.loads(str(env.store.get_state(query.name, LEDGER_KEY)))
    assert ledger.segments == [] and ledger.count("stats") == ledger.count("offers") == 0
    mark = env.store.get_watermark(query.name)
    assert mark is not None
    assert all((c.last_update or 0) >= mark.keepa_minute - 10 for c in ledger.candidates.values())
