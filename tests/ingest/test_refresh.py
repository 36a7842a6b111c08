"""Stage 3, the refresh of stored deals, and the janitor against a real ingestor (FC-11)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from keepa_deals.clock import FakeClock
from keepa_deals.ingest import IngestEnv, smart_ingestor
from keepa_deals.janitor import run_janitor
from keepa_deals.profit import estimate_profit
from keepa_deals.query import DealQuery
from keepa_deals.sandbox import Sandbox
from keepa_deals.store import DealRow, RunOutcome
from keepa_deals.store.state import REFRESH_COVERED_KEY
from tests.ingest import _oracle as oracle
from tests.ingest.conftest import KEY, stored, with_offers

HOUR = 3_600_000


def still_pays(sandbox: Sandbox, query: DealQuery, asin: str, now_ms: int) -> bool:
    """Per the catalog: does the product pass the product check at its current price?"""
    state = sandbox.catalog.state(asin, now_ms)
    assert state is not None
    spec = state.spec
    price = state.current[oracle.USED] if state.current[oracle.USED] > 0 else None
    if query.filters.stats.check(
            sales_rank=state.current[oracle.SALES], rank_drops_30=spec.rank_drops[0],
            rank_drops_90=spec.rank_drops[1], offers_used=state.current[oracle.COUNT_USED],
            offers_fba=spec.normal[oracle.FBA], amazon_in_stock=spec.has_amazon):
        return False
    a = spec.avgs[query.profit.sale_price_type]
    est = estimate_profit(price, {30: a[0], 90: a[1], 180: a[2], 365: a[3]},
                          referral_fee_percent=float(spec.referral_fee_pct),
                          fba_fee_cents=spec.pick_and_pack_fee, settings=query.profit_settings())
    return est is not None and query.filters.offers.check(
        profit_cents=est.profit_cents, roi_percent=est.roi_percent,
        margin_percent=est.margin_percent) is None


def test_refresh_rechecks_every_deal_and_retires_those_that_no_longer_pay(
    db_url: str, make_env: Callable[..., IngestEnv], sandbox: Sandbox, clock: FakeClock,
    query: DealQuery,
) -> None:
    env = make_env(db_url)
    assert smart_ingestor(env, query).outcome is RunOutcome.OK
    first = stored(env.store)
    clock.advance(25 * HOUR)  # past the refresh age; many products have moved since
    report = smart_ingestor(env, query)
    assert report.outcome is RunOutcome.OK
    now = clock.now_ms()
    after = stored(env.store)
    for asin in first:
        if asin in after:
            row = after[asin]
            assert row.last_refreshed == env.store.now(), "re-checked"
            state = sandbox.catalog.state(asin, now)
            assert state is not None and row.current_price_cents == state.current[oracle.USED]
            assert row.title == first[asin].title, "the feed's fields are kept"
        else:
            assert not still_pays(sandbox, query, asin, now), f"{asin} retired while it pays"
    retired = set(first) - set(after)
    assert report.counts.removed == len(retired)
    # updated: re-checked by the refresh, or listed again by the feed and checked anew
    assert report.counts.updated == len(set(first) & set(after))
    assert 0 < report.refreshed <= report.counts.updated


def test_refresh_with_offers_buys_offers_only_for_deals_that_can_still_pay(
    sqlite_url: str, make_env: Callable[..., IngestEnv], sandbox: Sandbox, clock: FakeClock,
    query: DealQuery,
) -> None:
    q = with_offers(query)
    env = make_env(sqlite_url)
    assert smart_ingestor(env, q).outcome is RunOutcome.OK
    first = stored(env.store)
    assert first
    clock.advance(25 * HOUR)
    report = smart_ingestor(env, q)
    assert report.outcome is RunOutcome.OK
    after = stored(env.store)
    for asin, row in after.items():
        if asin in first:
            assert row.last_refreshed == env.store.now() and row.price_includes_shipping
    assert report.pending_offers == 0


def test_fc11_an_outage_of_our_own_never_shrinks_the_deal_set(
    sqlite_url: str, make_env: Callable[..., IngestEnv], sandbox: Sandbox, clock: FakeClock,
    query: DealQuery,
) -> None:
    """The diminishing-deals incident: the budget stuck for days while the janitor ran."""
    env = make_env(sqlite_url)
    assert smart_ingestor(env, query).outcome is RunOutcome.OK
    count = env.store.count_deals()
    assert count > 0
    sandbox.update_account(KEY, tokens=-65, refill_rate=0)  # our own outage: nothing refills
    for _ in range(16):  # four days
        clock.advance(6 * HOUR)
        report = smart_ingestor(env, query)
        assert report.outcome is RunOutcome.WAITING_FOR_TOKENS
        [janitor] = run_janitor(env.store, env.settings, [query.name])
        assert janitor.removed == 0 and janitor.held_back
        assert env.store.count_deals() == count, "the deal set never shrinks meanwhile"

    sandbox.update_account(KEY, tokens=1200, refill_rate=20)  # back to normal
    assert report.retry_after_s is not None
    clock.advance(int(report.retry_after_s * 1000))  # the scheduler comes back when told
    report = smart_ingestor(env, query)
    assert report.outcome is RunOutcome.OK
    kept = stored(env.store)
    assert all(r.last_refreshed == env.store.now() for r in kept.values()), "all re-checked"
    [janitor] = run_janitor(env.store, env.settings, [query.name])
    assert janitor.held_back is None and janitor.removed == 0
    assert set(stored(env.store)) == set(kept)


def test_refresh_capacity_that_cannot_cover_the_deals_is_logged_and_holds_the_janitor(
    sqlite_url: str, make_env: Callable[..., IngestEnv], sandbox: Sandbox, clock: FakeClock,
    query: DealQuery,
) -> None:
    sandbox.update_account(KEY, tokens=60, refill_rate=1)
    env = make_env(sqlite_url)
    q = with_offers(query)  # 1 + 12 tokens to re-check a deal: 166 per grace at 1/min
    env.store.save_batch([DealRow(asin=f"B{i:09d}", last_refreshed=env.store.now())
                          for i in range(200)], query=q.name)
    report = smart_ingestor(env, q)
    assert report.refresh is not None and not report.refresh.covered
    assert report.refresh.capacity_rows == int(1 * 60 * 72 * 0.5) // 13
    assert env.store.get_state(q.name, REFRESH_COVERED_KEY) == 0
    clock.advance(int(timedelta(hours=80).total_seconds() * 1000))
    rid = env.store.start_run(q.name)
    env.store.finish_run(rid, RunOutcome.OK)
    [janitor] = run_janitor(env.store, env.settings, [q.name])
    assert janitor.removed == 0 and "refresh capacity" in str(janitor.held_back)
