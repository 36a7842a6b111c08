"""A product's ``csv`` as the deal history the store keeps (store/history.py).

The histories come with the paid call whose verdict saves the deal: Keepa charges
``/product`` per product, and ``history=1`` (with ``days`` trimming it) adds no
token to it (docs/history.md).  So :func:`wants_history` asks for them on the call
that can store a deal (the product check without offers, the offers call, the
re-check without offers) and nowhere else, and :func:`histories_of` reads them from
the reply for the deals a stage saves or refreshes.

A series Keepa sends malformed is left out (the deal is still saved): the history
is an aid to the reader, never a reason to lose a deal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from keepa_deals.keepa.csvtypes import SHIPPING_TYPES, CsvType
from keepa_deals.keepa.products import Product
from keepa_deals.keepa.time import unix_ms_to_keepa_minutes
from keepa_deals.store import DealHistory, DealRow
from keepa_deals.store.history import HISTORY_DAYS, Point

#: Stored series → the csv type it is read from.
SOURCES: dict[str, CsvType] = {
    "amazon": CsvType.AMAZON,
    "new": CsvType.NEW,
    "used": CsvType.USED,
    "buy_box": CsvType.BUY_BOX_SHIPPING,
    "sales_rank": CsvType.SALES,
    "count_new": CsvType.COUNT_NEW,
    "count_used": CsvType.COUNT_USED,
}
#: ``days`` sent with ``history=1``: Keepa trims the reply to what the store keeps.
REQUEST_DAYS = HISTORY_DAYS


def wants_history(offers: int | None, fetch_offers: bool) -> bool:
    """Whether a stage's call carries histories: when its verdict can save a deal."""
    return offers is not None or not fetch_offers


def series_points(raw: object, shipping: bool) -> list[Point] | None:
    """``[t, v, …]`` (``[t, price, ship, …]``) as points; None when malformed."""
    if not isinstance(raw, list):
        return None
    step = 3 if shipping else 2
    if len(raw) % step or not all(type(v) is int for v in raw):
        return None
    out: list[Point] = []
    for i in range(0, len(raw), step):
        value = raw[i + 1]
        if value < 0:
            out.append((raw[i], None))
        elif shipping and raw[i + 2] > 0:
            out.append((raw[i], value + raw[i + 2]))
        else:
            out.append((raw[i], value))
    return out


def history_of(product: Product, domain_id: int, now_ms: int) -> DealHistory | None:
    """The bounded history of one product (None when the reply carried no csv)."""
    raw = product.csv.raw
    if not raw:
        return None
    series: dict[str, list[Point]] = {}
    for name, t in SOURCES.items():
        if int(t) < len(raw) and raw[t] is not None:
            points = series_points(raw[t], t in SHIPPING_TYPES)
            if points:
                series[name] = points
    if not series:
        return None
    return DealHistory.bounded(product.asin, domain_id, series,
                               unix_ms_to_keepa_minutes(now_ms))


def histories_of(rows: Iterable[DealRow], found: Mapping[str, Product],
                 now_ms: int) -> tuple[DealHistory, ...]:
    """The histories of the deals a stage saves or refreshes, from its reply."""
    out: list[DealHistory] = []
    for row in rows:
        product = found.get(row.asin)
        if product is not None:
            h = history_of(product, row.domain_id, now_ms)
            if h is not None:
                out.append(h)
    return tuple(out)
