"""A catalogue of deals for the dashboard's tests, and the list's semantics in plain Python.

``seed(store, clock)`` saves ``N_CURRENT`` current deals with varied values (some with
an unknown rank, drops, below-average or feed time: NULLs the sort must put last), and
rows that are not deals: stale past the janitor's grace, priced below the query's
thresholds, without a profit estimate.  ``expected`` is the oracle the API is checked
against: the definition (its Python reading) and each filter, sorted with unknown
values last and ties broken by row id.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from keepa_deals.clock import FakeClock
from keepa_deals.deals_view import DealDefinition
from keepa_deals.store import DealRecord, DealRow, DealStore
from tests.web.conftest import NOW, QUERY, START_MS

N_CURRENT = 64
CATEGORIES = {283155: "Books", 5174: "CDs & Vinyl", 2350149011: "Apps & Games"}
WORDS = ["garden", "history", "python", "atlas", "poems", "war", "physics", "cooking"]


def asin(i: int) -> str:
    return f"B0{i:08d}"


def current_row(i: int, rnd: random.Random) -> DealRow:
    avg90 = rnd.randint(1500, 6000)
    price = int(avg90 * rnd.uniform(0.15, 0.4))
    profit = rnd.randint(500, 4000)
    category = rnd.choice(list(CATEGORIES))
    seen = NOW - timedelta(minutes=rnd.randint(0, 60 * 48))
    return DealRow(
        asin=asin(i),
        title=f"The {rnd.choice(WORDS).title()} Book of {rnd.choice(WORDS)}, part {i}",
        image_url=f"https://m.media-amazon.com/images/I/{i}x.jpg",
        root_category=category,
        category_name=CATEGORIES[category],
        price_type=2,
        current_price_cents=price,
        price_includes_shipping=True,
        avg30_cents=avg90 + 100,
        avg90_cents=avg90,
        avg180_cents=avg90 - 50,
        percent_below_avg=None if i % 17 == 5 else round(100 * (1 - price / avg90), 1),
        sales_rank=None if i % 11 == 3 else rnd.randint(1_000, 2_000_000),
        rank_drops_30=None if i % 13 == 7 else rnd.randint(0, 12),
        rank_drops_90=rnd.randint(0, 40),
        rank_drops_180=rnd.randint(0, 80),
        offers_used=rnd.randint(1, 60),
        offers_new=rnd.randint(0, 10),
        offers_fba=rnd.randint(0, 5),
        offers_fbm=rnd.randint(0, 50),
        amazon_in_stock=False,
        referral_fee_percent=15.0,
        fba_fee_cents=306,
        est_sale_price_cents=avg90,
        profit_cents=profit,
        roi_percent=round(50 + rnd.uniform(0, 400), 2),
        margin_percent=round(20 + rnd.uniform(0, 60), 2),
        # A few rows only refreshed, never seen in the feed (current through last_refreshed).
        last_seen_in_feed=None if i % 19 == 2 else seen,
        last_refreshed=seen if i % 19 == 2 or i % 3 == 0 else None,
        keepa_last_update=seen,
    )


@dataclass(frozen=True)
class Seeded:
    current: list[str]
    stale: list[str]
    below: list[str]
    unpriced: list[str]


def seed(store: DealStore, clock: FakeClock, *, seed_value: int = 7) -> Seeded:
    rnd = random.Random(seed_value)
    # Stale rows: saved long ago, never seen since.
    clock.set(START_MS - 200 * 3600 * 1000)
    stale = [asin(1000 + i) for i in range(4)]
    store.save_batch(
        [current_row(1000 + i, rnd) for i in range(4)], query=QUERY,
    )
    store.upsert_deals(
        [_replace(current_row(1000 + i, rnd), last_seen_in_feed=NOW - timedelta(hours=150),
                  last_refreshed=NOW - timedelta(hours=100)) for i in range(4)], query=QUERY,
    )
    clock.set(START_MS - 60 * 1000)
    rows = [current_row(i, rnd) for i in range(N_CURRENT)]
    store.save_batch(rows, query=QUERY)
    below = [asin(2000 + i) for i in range(3)]
    store.save_batch(
        [
            _replace(current_row(2000, rnd), profit_cents=499),
            _replace(current_row(2001, rnd), roi_percent=49.99),
            _replace(current_row(2002, rnd), margin_percent=10.0),
        ],
        query=QUERY,
    )
    unpriced = [asin(3000)]
    store.save_batch([_replace(current_row(3000, rnd), profit_cents=None, roi_percent=None,
                               margin_percent=None)], query=QUERY)
    clock.set(START_MS)
    return Seeded([r.asin for r in rows], stale, below, unpriced)


def _replace(row: DealRow, **changes: Any) -> DealRow:
    from dataclasses import replace

    return replace(row, **changes)


def records(store: DealStore) -> list[DealRecord]:
    from sqlalchemy.orm import Session

    with Session(store.engine) as session:
        return list(session.scalars(select(DealRecord)))


#: API filter → (column, comparison).
FILTERS: dict[str, tuple[str, str]] = {
    "min_profit_cents": ("profit_cents", ">="),
    "max_profit_cents": ("profit_cents", "<="),
    "min_roi": ("roi_percent", ">="),
    "max_rank": ("sales_rank", "<="),
    "min_drops_30": ("rank_drops_30", ">="),
    "min_drops_90": ("rank_drops_90", ">="),
    "min_price_cents": ("current_price_cents", ">="),
    "max_price_cents": ("current_price_cents", "<="),
    "min_below_avg": ("percent_below_avg", ">="),
    "category": ("root_category", "=="),
}
SORT_COLUMNS = {
    "profit": ("profit_cents", "desc"), "roi": ("roi_percent", "desc"),
    "margin": ("margin_percent", "desc"), "rank": ("sales_rank", "asc"),
    "drops30": ("rank_drops_30", "desc"), "drops90": ("rank_drops_90", "desc"),
    "price": ("current_price_cents", "asc"), "below_avg": ("percent_below_avg", "desc"),
    "last_seen": ("last_seen_in_feed", "desc"),
}


def expected(
    recs: list[DealRecord], definition: DealDefinition, now: datetime, *,
    sort: str = "profit", order: str | None = None, q: str | None = None, **filters: Any,
) -> list[str]:
    """The ASINs the list should show, in order (every page)."""
    out = [r for r in recs if definition.is_current(r, now)]
    for name, value in filters.items():
        column, op = FILTERS[name]
        out = [r for r in out if _passes(getattr(r, column), op, value)]
    if q is not None:
        text = q.strip().lower()
        if len(text) == 10 and text.upper() == text.upper() and any(c.isdigit() for c in text) \
                and (text.upper().startswith("B") or text[:9].isdigit()):
            out = [r for r in out if r.asin == text.upper()]
        else:
            out = [r for r in out if r.title and text in r.title.lower()]
    column, natural = SORT_COLUMNS[sort]
    desc = (order or natural) == "desc"
    known = [r for r in out if getattr(r, column) is not None]
    unknown = [r for r in out if getattr(r, column) is None]
    known.sort(key=lambda r: (getattr(r, column), r.id), reverse=desc)
    unknown.sort(key=lambda r: r.id, reverse=desc)
    return [r.asin for r in known + unknown]


def _passes(value: Any, op: str, bound: Any) -> bool:
    if value is None:
        return False
    return {">=": value >= bound, "<=": value <= bound, "==": value == bound}[op]
