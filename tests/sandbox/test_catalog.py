"""The catalog and its deal feed, in process: determinism, growth, consistency."""

from __future__ import annotations

from keepa_deals.sandbox.catalog import Catalog, CatalogConfig, ProductState
from keepa_deals.sandbox.deals import DealQuery, run_deals
from keepa_deals.sandbox.offers import all_offers, buy_box
from keepa_deals.sandbox.universe import AMAZON, BOOKS, NEW, SALES, USED
from tests.sandbox.conftest import START_MS

HOUR = 3_600_000
USED_QUERY = DealQuery(domain=1, price_type=USED)


def test_same_seed_same_catalog_and_events() -> None:
    a = Catalog(CatalogConfig(seed=3, size=500), start_ms=START_MS)
    b = Catalog(CatalogConfig(seed=3, size=500), start_ms=START_MS)
    c = Catalog(CatalogConfig(seed=4, size=500), start_ms=START_MS)
    assert a.products == b.products
    assert a.events(START_MS + HOUR) == b.events(START_MS + HOUR)
    assert [p.asin for p in a.products] != [p.asin for p in c.products]


def test_universe_is_mostly_books_with_varied_values() -> None:
    cat = Catalog(CatalogConfig(seed=0), start_ms=START_MS)
    products = cat.products
    assert len(products) == 3000 and len({p.asin for p in products}) == 3000
    books = [p for p in products if p.root_category == BOOKS]
    assert 0.7 < len(books) / len(products) < 0.95
    assert len({p.root_category for p in products}) >= 5
    ranks = [p.normal[SALES] for p in products]
    assert min(ranks) < 5_000 and max(ranks) > 1_000_000
    assert 0.3 < sum(p.has_amazon for p in products) / len(products) < 0.7
    used = sorted(p.normal[USED] for p in books if p.normal[USED] > 0)
    assert used[len(used) // 10] < 400 and used[-len(used) // 10] > 1500
    assert all(p.normal[NEW] > 0 or p.normal[USED] > 0 for p in products)


def test_backlog_is_present_at_start_and_the_feed_grows() -> None:
    cat = Catalog(CatalogConfig(seed=1, event_interval_s=20, backlog_s=3600), start_ms=START_MS)
    assert len(cat.events(START_MS)) in (180, 181)
    assert len(cat.events(START_MS + HOUR)) in (360, 361)
    before = {s.asin for s in cat.feed(START_MS, USED)}
    after = cat.feed(START_MS + HOUR, USED)
    assert len(after) > len(before) > 0
    newest = after[0].event
    assert newest is not None and START_MS < newest.time_ms <= START_MS + HOUR


def test_without_backlog_the_feed_starts_empty() -> None:
    cat = Catalog(CatalogConfig(seed=1, backlog_s=0), start_ms=START_MS)
    assert cat.feed(START_MS, USED) == [] and cat.feed(START_MS, NEW) == []
    assert len(cat.events(START_MS + 10 * 60_000)) in (30, 31)


def test_deals_leave_the_feed_twelve_hours_after_their_event() -> None:
    cat = Catalog(CatalogConfig(seed=1, event_interval_s=600, backlog_s=6 * 3600), start_ms=START_MS)
    backlog = {s.asin for s in cat.feed(START_MS, USED)}
    assert backlog
    now = START_MS + 13 * HOUR
    feed = cat.feed(now, USED)
    assert all(s.event is not None and s.event.time_ms > now - 12 * HOUR for s in feed)
    old = {e.product for e in cat.events(START_MS)}
    recent = {e.product for e in cat.events(now, since_ms=now - 12 * HOUR)}
    gone = {cat.products[i].asin for i in old - recent}
    assert gone and not gone & {s.asin for s in feed}


def test_a_later_event_replaces_an_earlier_one() -> None:
    cat = Catalog(CatalogConfig(seed=2, size=20, event_interval_s=60, backlog_s=0), start_ms=START_MS)
    events = cat.events(START_MS + 5 * HOUR)
    product = events[0].product
    mine = [e for e in events if e.product == product]
    assert len(mine) > 1
    state = cat.state(cat.products[product].asin, START_MS + 5 * HOUR)
    assert state is not None and state.event == mine[-1]
    for t in range(36):
        lowered = any(tt == t for tt, _ in mine[-1].drops)
        assert (state.current[t] < state.spec.normal[t]) == lowered


def test_feed_and_product_state_agree() -> None:
    cat = Catalog(CatalogConfig(seed=5), start_ms=START_MS)
    for price_type in (AMAZON, NEW, USED):
        for deal_state in cat.feed(START_MS, price_type)[:30]:
            state = cat.state(deal_state.asin, START_MS)
            assert state == deal_state
            assert 0 < state.current[price_type] < state.spec.normal[price_type]


def test_offers_agree_with_current_prices() -> None:
    cat = Catalog(CatalogConfig(seed=5), start_ms=START_MS)
    for state in cat.feed(START_MS, USED)[:40] + cat.feed(START_MS, NEW)[:40]:
        offers = all_offers(state, seed=5)
        used = [o.price for o in offers if not o.is_new]
        new = [o.price for o in offers if o.is_new and not o.is_amazon]
        spec = state.spec
        assert len(used) == spec.normal[12] and len(new) == spec.normal[11]
        assert (min(used) if used else -1) == state.current[USED]
        assert (min(new) if new else -1) == state.current[NEW]
        assert any(o.is_amazon for o in offers) == (state.current[AMAZON] > 0)
        assert [o.total for o in offers] == sorted(o.total for o in offers)
        bb = buy_box(offers)
        assert (bb is None) == (not new and state.current[AMAZON] <= 0)


def test_feed_candidates_are_a_realistic_mix() -> None:
    """Some candidates sell (rank and rank drops), some do not, as a pipeline expects."""
    cat = Catalog(CatalogConfig(seed=0, backlog_s=12 * 3600), start_ms=START_MS)
    feed = cat.feed(START_MS, USED)
    assert len(feed) > 300
    sells = [s for s in feed if s.spec.rank_drops[1] >= 4 and 0 < s.current[SALES] < 1_000_000]
    assert 0.3 < len(sells) / len(feed) < 0.75
    deep = [s for s in feed if s.current[USED] < s.spec.avgs[USED][1] * 0.6]
    assert 0.15 < len(deep) / len(feed) < 0.85

    def profit(s: ProductState) -> int:  # resell at the 90-day used average, after fees
        sale = s.spec.avgs[USED][1]
        fees = sale * s.spec.referral_fee_pct // 100 + s.spec.pick_and_pack_fee + 265
        return sale - fees - s.current[USED]

    profitable = [s for s in sells if profit(s) >= 500 and profit(s) * 2 >= s.current[USED]]
    assert 0.03 < len(profitable) / len(sells) < 0.5


def test_deal_pages_are_stable_and_sorted_newest_first() -> None:
    cat = Catalog(CatalogConfig(seed=0, backlog_s=12 * 3600), start_ms=START_MS)
    first = run_deals(USED_QUERY, cat, START_MS)["deals"]
    again = run_deals(USED_QUERY, cat, START_MS)["deals"]
    assert first == again and len(first["dr"]) == 150
    updates = [d["lastUpdate"] for d in first["dr"]]
    assert updates == sorted(updates, reverse=True)
    assert sum(first["categoryCount"]) == len(cat.feed(START_MS, USED))
    assert first["categoryNames"][0] == "Books"
