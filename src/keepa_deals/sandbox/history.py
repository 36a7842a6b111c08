"""A product's ``csv`` history: modest, deterministic, consistent with its stats.

About a year of points per price or rank series, each near the average of
the span it falls in (avg365 a year ago, avg30 in the last month), then the
normal value since ``since_ms`` before the catalog start, then the deal
event's value.  Times are Keepa minutes; -1 is "no offer".  Shipping types
are triplets ``[t, price, shipping]``.
"""

from __future__ import annotations

import math
import random
from array import array
from functools import lru_cache

from keepa_deals.keepa.csvtypes import SHIPPING_TYPES, CsvType
from keepa_deals.keepa.time import unix_ms_to_keepa_minutes
from keepa_deals.sandbox.catalog import ProductState
from keepa_deals.sandbox.universe import ProductSpec
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


# --- the dense history a client asking for ``history=1`` gets -------------------------

#: Mean time between two points of a series (minutes): prices change about daily
#: (Amazon's less often), the sales rank several times a day, offer counts every few days.
MEAN_STEP_MIN = {AMAZON: 4 * 1440, NEW: 36 * 60, USED: 24 * 60, SALES: 12 * 60,
                 COUNT_NEW: 3 * 1440, COUNT_USED: 2 * 1440}
#: A price series is out of stock (-1) this often (Amazon more).
OUT_OF_STOCK = {AMAZON: 0.08, NEW: 0.02, USED: 0.01}


def _times(rng: random.Random, t0: int, t1: int, mean: int) -> list[int]:
    """Random times in [t0, t1), ``mean`` minutes apart on average (1 to 2 × mean/…)."""
    out: list[int] = []
    rand = rng.random
    t = t0 + int(rand() * mean)
    while t < t1:
        out.append(t)
        t += 1 + int(mean * (0.25 + 1.5 * rand()))
    return out


def _price_series(rng: random.Random, t: CsvType, avgs: tuple[int, int, int, int],
                  times: list[int], now_min: int) -> Series:
    series: Series = []
    walk = 1.0
    rand = rng.random
    gone = OUT_OF_STOCK.get(t, 0.0)
    for m in times:
        base = _avg_for_age(avgs, (now_min - m) / 1440)
        walk += (rand() - 0.5) * 0.1 - (walk - 1) * 0.1
        walk = 1.2 if walk > 1.2 else 0.8 if walk < 0.8 else walk
        if base < 0 or rand() < gone:
            series += (m, -1)
        else:
            series += (m, max(1, round(base * walk)))
    return series


def _rank_series(rng: random.Random, drops: tuple[int, int, int, int], base: int,
                 times: list[int], now_min: int) -> Series:
    """A sawtooth: the rank climbs between sales and falls at each, with as many falls in
    each window (30/90/180/365 days) as the product's ``rank_drops`` say."""
    sales: list[int] = []
    lo_days = 0
    prev = 0
    for days, count in zip((30, 90, 180, 365), drops, strict=True):
        for _ in range(max(0, count - prev)):
            sales.append(now_min - rng.randrange(lo_days * 1440, days * 1440))
        prev = max(prev, count)
        lo_days = days
    sales.sort()
    # between two sales the rank climbs back about as far as a sale drops it
    climb = math.exp(math.log(2.5) / max(1, len(times) // max(1, len(sales))))
    series: Series = []
    rank = float(base)
    k = 0
    n = len(sales)
    top = base * 3.0
    rand = rng.random
    for m in times:
        while k < n and sales[k] <= m:
            rank = min(rank, base * (0.3 + 0.3 * rand()))
            k += 1
        rank *= climb
        if rank > top:
            rank = top
        series += (m, round(rank) or 1)
    return series


def _count_series(rng: random.Random, normal: int, times: list[int]) -> Series:
    series: Series = []
    value = max(0, normal)
    top = normal * 2 + 3
    rand = rng.random
    for m in times:
        value = max(0, min(top, value + (1 if rand() < 0.5 else -1)))
        series += (m, value)
    return series


def dense_csv(state: ProductState, seed: int, start_ms: int, now_ms: int, *,
              days: int | None, rating: bool) -> list[Series | None]:
    """The csv a ``history=1`` client gets: a point every few hours to few days since
    the product was first tracked (or the last ``days``), near the averages of each
    span, then the normal value and the deal event's, as :func:`build_csv` has them.

    Deterministic per product and window (a re-check sees the same past).
    """
    spec = state.spec
    csv = build_csv(state, seed, start_ms, rating=rating)
    now_min = unix_ms_to_keepa_minutes(now_ms)
    from_min = unix_ms_to_keepa_minutes(spec.tracking_since_ms)
    if days is not None:
        from_min = max(from_min, now_min - days * 1440)
    normal_min = unix_ms_to_keepa_minutes(normal_since_ms(state, start_ms))
    for t in MEAN_STEP_MIN:
        coarse = csv[t]
        if coarse is None:
            continue
        body = _dense_body(spec, seed, t, from_min // 1440, min(normal_min, now_min),
                           now_min // 1440)
        skip = 0
        while skip < len(body) and body[skip] < from_min:  # the day starts before from_min
            skip += 2
        body = body[skip:]
        # the normal value and the deal event, as the coarse csv ends
        tail = [coarse[i:i + 2] for i in range(0, len(coarse), 2) if coarse[i] >= normal_min]
        csv[t] = [*body, *(v for pair in tail for v in pair)]
    return trim(csv, days, now_ms) if days else csv


@lru_cache(maxsize=2048)
def _dense_body(spec: ProductSpec, seed: int, t: CsvType, from_day: int, until_min: int,
                now_day: int) -> array[int]:
    """One series' points before its normal value (cached: a sandbox serves the same
    products again and again, and a re-check must see the same past)."""
    rng = random.Random(f"keepa-sandbox:{seed}:dense:{spec.asin}:{t}:{from_day}")
    now_min = now_day * 1440
    times = _times(rng, from_day * 1440, until_min, MEAN_STEP_MIN[t])
    if t == SALES:
        body = _rank_series(rng, spec.rank_drops, max(1, spec.normal[SALES]), times, now_min)
    elif t in (COUNT_NEW, COUNT_USED):
        body = _count_series(rng, spec.normal[t], times)
    else:
        body = _price_series(rng, t, spec.avgs[t], times, now_min)
    return array("q", body)  # compact in the cache
