"""Realistic deal rows for the store's tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from keepa_deals.store import DealRow

SEEN = datetime(2027, 1, 15, 7, 59, tzinfo=UTC)


def asin(i: int) -> str:
    return f"B{i:09d}"


def row(i: int, **changes: Any) -> DealRow:
    fields: dict[str, Any] = dict(
        asin=asin(i),
        domain_id=1,
        title=f"A Used Book, volume {i}",
        image_url=f"https://m.media-amazon.com/images/I/{i}abc.jpg",
        root_category=283155,
        category_name="Books",
        price_type=2,
        current_price_cents=799 + i,
        price_includes_shipping=True,
        avg30_cents=1899,
        avg90_cents=2099,
        avg180_cents=2199,
        avg365_cents=None,
        percent_below_avg=57.5,
        sales_rank=123_456 + i,
        rank_drops_30=4,
        rank_drops_90=11,
        rank_drops_180=20,
        rank_drops_365=None,
        offers_used=12,
        offers_new=3,
        offers_fba=2,
        offers_fbm=13,
        amazon_in_stock=False,
        referral_fee_percent=15.0,
        fba_fee_cents=306,
        est_sale_price_cents=2099,
        profit_cents=412,
        roi_percent=46.03,
        margin_percent=19.63,
        last_seen_in_feed=SEEN,
        keepa_last_update=datetime(2027, 1, 15, 7, 30, tzinfo=UTC),
    )
    fields.update(changes)
    return DealRow(**fields)
