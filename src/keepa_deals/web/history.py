"""A deal's price, rank and offer-count history: ``GET /api/deals/{asin}/history``.

The series are those the store keeps (store/history.py): up to 365 days, each
downsampled to a few hundred points, as ``[unix seconds, value]`` pairs (value null:
no offer / no rank then).  Prices are integer cents, like every price of the API.
The deal page draws them with uPlot (static/charts.js); :func:`summary` is the table
the page shows without JavaScript (and to screen readers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from keepa_deals.keepa.time import keepa_minutes_to_unix_ms
from keepa_deals.store.history import HISTORY_DAYS, SERIES, DealHistory, load_history
from keepa_deals.web import api, listing
from keepa_deals.web.models import DealDetail

router = APIRouter(prefix="/api")

Kind = Literal["price", "rank", "count"]
#: name → (label, kind)
LABELS: dict[str, tuple[str, Kind]] = {
    "amazon": ("Amazon", "price"),
    "new": ("New", "price"),
    "used": ("Used", "price"),
    "buy_box": ("Buy box", "price"),
    "sales_rank": ("Sales rank", "rank"),
    "count_new": ("New offers", "count"),
    "count_used": ("Used offers", "count"),
}
assert set(LABELS) == set(SERIES)
#: The ranges the deal page offers (days).
RANGES = (30, 90, 180, 365)


class HistorySeries(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="amazon, new, used, buy_box, sales_rank, count_new or "
                                  "count_used.")
    label: str
    kind: Kind = Field(description="price (integer cents), rank (sales rank, lower sells "
                                   "more) or count (offers).")
    points: list[tuple[int, int | None]] = Field(
        description="[unix seconds, value] pairs, oldest first; a value holds until the "
                    "next point; null: no offer (or no rank) then.")


class DealHistoryOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    asin: str
    domain_id: int
    as_of: datetime = Field(description="The server's time now (the series end here).")
    days: int = Field(description="How far back the series go (at most 365).")
    updated_at: datetime | None = Field(description="When the history was last stored "
                                                    "(null: none stored yet).")
    buy_price_cents: int | None = Field(description="The deal's price now (the buy price).")
    sale_price_cents: int | None = Field(description="The expected sale price.")
    series: list[HistorySeries]


class HistoryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: Annotated[int, Field(ge=1, le=12)] | None = Field(
        None, description="Keepa domain id (default: the lowest storing this ASIN).")
    days: Annotated[int, Field(ge=1, le=HISTORY_DAYS)] = Field(
        HISTORY_DAYS, description="Only the last this many days.")


def unix_s(minute: int) -> int:
    return keepa_minutes_to_unix_ms(minute) // 1000


def series_out(history: DealHistory | None, days: int, now: datetime) -> list[HistorySeries]:
    if history is None:
        return []
    since = int(now.timestamp()) - days * 86400
    out: list[HistorySeries] = []
    for name in SERIES:
        points = history.series.get(name)
        if not points:
            continue
        pairs = [(unix_s(m), v) for m, v in points]
        inside = [p for p in pairs if p[0] >= since]
        before = [p for p in pairs if p[0] < since]
        if before:  # the value in force when the range opens
            inside.insert(0, (since, before[-1][1]))
        label, kind = LABELS[name]
        out.append(HistorySeries(name=name, label=label, kind=kind, points=inside))
    return out


def read(conn: Connection, deal: DealDetail, days: int, now: datetime) -> DealHistoryOut:
    found = load_history(conn, deal.asin, deal.domain_id)
    history, updated = found if found is not None else (None, None)
    return DealHistoryOut(
        asin=deal.asin, domain_id=deal.domain_id, as_of=now, days=days, updated_at=updated,
        buy_price_cents=deal.price_cents, sale_price_cents=deal.est_sale_price_cents,
        series=series_out(history, days, now),
    )


@router.get(
    "/deals/{asin}/history", response_model=DealHistoryOut,
    summary="One deal's price, sales-rank and offer-count history",
    responses={404: {"description": "No deal with this ASIN is stored."}},
)
def get_history(
    request: Request,
    asin: Annotated[str, Path(pattern=api.ASIN_PATTERN, description="The ASIN (10 characters).")],
    q: Annotated[HistoryQuery, Query()],
) -> DealHistoryOut:
    """The deal's history from Keepa's ``csv``, stored with the product check that saved
    or re-checked it: used, new, buy-box and Amazon prices, the sales rank and the
    used/new offer counts, with the buy price and the expected sale price to compare."""
    ctx = api.context(request)
    with ctx.read() as conn:
        row = listing.find_deal(conn, asin.upper(), q.domain)
        if row is None:
            raise HTTPException(status_code=404,
                                detail=f"no deal with ASIN {asin.upper()} is stored")
        return read(conn, api.deal_detail(ctx, row), q.days, ctx.now())


# --- the table without JavaScript -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SummaryRow:
    label: str
    kind: Kind
    now: int | None
    #: (days, lowest, highest) per range
    ranges: tuple[tuple[int, int | None, int | None], ...]


def summary(history: DealHistoryOut, now: datetime) -> list[SummaryRow]:
    """Per series: the value now and the lowest and highest of each range."""
    rows: list[SummaryRow] = []
    end = int(now.timestamp())
    for s in history.series:
        ranges = []
        for days in RANGES:
            since = end - days * 86400
            values = [v for t, v in s.points if t >= since and v is not None]
            ranges.append((days, min(values, default=None), max(values, default=None)))
        rows.append(SummaryRow(s.label, s.kind, s.points[-1][1] if s.points else None,
                               tuple(ranges)))
    return rows


def page_values(conn: Connection, deal: DealDetail, now: datetime) -> dict[str, Any]:
    """What the deal page's history block needs (deal_history.html)."""
    history = read(conn, deal, HISTORY_DAYS, now)
    first = min((s.points[0][0] for s in history.series if s.points), default=None)
    return {
        "history": history,
        "history_rows": summary(history, now),
        "history_ranges": RANGES,
        "history_since": None if first is None else datetime.fromtimestamp(first, now.tzinfo),
        "history_span_days": 0 if first is None
        else max(0, (now - datetime.fromtimestamp(first, now.tzinfo)) // timedelta(days=1)),
    }
