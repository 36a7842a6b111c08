"""A product's ``csv`` history: modest, deterministic, consistent with its stats.

About a year of points per price or rank series, each near the average of
the span it falls in (avg365 a year ago, avg30 in the last month), then the
normal value since ``since_ms`` before the catalog start, then the deal
event's value.  Times are Keepa minutes; -1 is "no offer".  Shipping types
are triplets ``[t, price, shipping]``.
"""

from __future__ import annotations

import random

from keepa_deals.keepa.csvtypes import SHIPPING_TYPES
from keepa_deals.keepa.time import unix_ms_to_keepa_minutes
from keepa_deals.sandbox.catalog import ProductState
from keepa_deals.sandbox.universe import (
    AMAZON,
    COUNT_NEW,
    COUNT_NEW_FBA,
    COUNT_NEW_FBM,
    COUNT_REVIEWS,
    COUNT_USED,
    CSV_TYPES,
    DAY_MS,
    LISTPRICE,
    NEW,
    RATING,
    SALES,
    USED,
)

Series = list[int]
POINTS_PER_YEAR = 12
_SERIES_TYPES = (AMAZON, NEW, USED, SALES)
_STEP_TYPES = (COUNT_NEW, COUNT_USED, COUNT_NEW_FBA, COUNT_NEW_FBM)
RATING_TYPES = (RATING, COUNT_REVIEWS)


def _avg_for_age(avgs: tuple[int, int, int, int], age_days: float) -> int:
    if age_days > 180:
        return avgs[3]
    if age_days > 90:
        return avgs[2]
    if age_days > 30:
        return avgs[1]
    return avgs[0]


def normal_since_ms(state: ProductState, start_ms: int) -> int:
    """When the product's normal (pre-event) values were set."""
    since = start_ms - state.spec.since_ms
    if state.event is not None:
        since = min(since, state.event.time_ms - 60_000)
    return since


def build_csv(state: ProductState, seed: int, start_ms: int, *, rating: bool) -> list[Series | None]:
    """The 36 csv series (None where the product has no data for a type)."""
    spec = state.spec
    rng = random.Random(f"keepa-sandbox:{seed}:csv:{spec.asin}")
    csv: list[Series | None] = [None] * CSV_TYPES
    normal_from = normal_since_ms(state, start_ms)
    year_ago = max(spec.tracking_since_ms, start_ms - 365 * DAY_MS)
    span = max(normal_from - year_ago, DAY_MS)
    for t in _SERIES_TYPES:
        avgs = spec.avgs[t]
        if spec.normal[t] < 0 and avgs[3] < 0:
            continue
        series: Series = []
        for j in range(POINTS_PER_YEAR):
            at = year_ago + span * j // POINTS_PER_YEAR
            base = _avg_for_age(avgs, (start_ms - at) / DAY_MS)
            value = -1 if base < 0 else max(1, round(base * rng.uniform(0.9, 1.1)))
            series += [unix_ms_to_keepa_minutes(at), value]
        series += [unix_ms_to_keepa_minutes(normal_from), spec.normal[t]]
        if state.lowered(t):
            assert state.event is not None
            series += [unix_ms_to_keepa_minutes(state.event.time_ms), state.current[t]]
        csv[t] = series
    csv[LISTPRICE] = [unix_ms_to_keepa_minutes(spec.tracking_since_ms), spec.normal[LISTPRICE]]
    for t in _STEP_TYPES + (RATING_TYPES if rating else ()):
        csv[t] = [unix_ms_to_keepa_minutes(normal_from), spec.normal[t]]
    return csv


def trim(csv: list[Series | None], days: int, now_ms: int) -> list[Series | None]:
    """Keep only the points of the last ``days`` days (Keepa's ``days`` parameter)."""
    since = unix_ms_to_keepa_minutes(now_ms) - days * 1440
    out: list[Series | None] = []
    for t, series in enumerate(csv):
        if series is None:
            out.append(None)
            continue
        width = 3 if t in SHIPPING_TYPES else 2
        kept: Series = []
        for i in range(0, len(series), width):
            if series[i] >= since:
                kept += series[i:i + width]
        out.append(kept or None)
    return out



def extremes(csv: list[Series | None]) -> tuple[list[list[int] | None], list[list[int] | None]]:
    """Per type, ``[t, value]`` of the lowest and of the highest value (None if no data)."""
    lows: list[list[int] | None] = []
    highs: list[list[int] | None] = []
    for t, series in enumerate(csv):
        width = 3 if t in SHIPPING_TYPES else 2
        points = [] if series is None else [
            (series[i], series[i + 1]) for i in range(0, len(series), width) if series[i + 1] >= 0
        ]
        if not points:
            lows.append(None)
            highs.append(None)
            continue
        lo = min(points, key=lambda p: (p[1], -p[0]))
        hi = max(points, key=lambda p: (p[1], p[0]))
        lows.append([lo[0], lo[1]])
        highs.append([hi[0], hi[1]])
    return lows, highs
