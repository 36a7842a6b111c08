"""The stored deal history is bounded and goes with its deal (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from keepa_deals.keepa.time import unix_ms_to_keepa_minutes
from keepa_deals.store import Changes, DealHistory, DealRow, DealStore, StoreError
from keepa_deals.store.history import (
    HISTORY_DAYS,
    MAX_POINTS_PER_SERIES,
    SERIES,
    decode,
    downsample,
    encode,
)

NOW_MS = 1_800_000_000_000
NOW_MIN = unix_ms_to_keepa_minutes(NOW_MS)


def years_of_hourly_points(years: int, seed: int = 1) -> list[tuple[int, int | None]]:
    rnd = random.Random(seed)
    out: list[tuple[int, int | None]] = []
    for i in range(years * 365 * 24):
        value = None if rnd.random() < 0.02 else rnd.randint(500, 5000)
        out.append((NOW_MIN - (years * 365 * 24 - i) * 60, value))
    return out


def test_years_of_csv_store_a_bounded_number_of_points() -> None:
    raw = {name: years_of_hourly_points(5, seed=i) for i, name in enumerate(SERIES)}
    assert len(raw["used"]) == 43_800
    h = DealHistory.bounded("B000000001", 1, raw, NOW_MIN)
    assert set(h.series) == set(SERIES)
    for name, points in h.series.items():
        assert 2 <= len(points) <= MAX_POINTS_PER_SERIES, name
        assert points[0][0] >= NOW_MIN - HISTORY_DAYS * 1440  # nothing older than a year
        times = [t for t, _ in points]
        assert times == sorted(times)
    assert h.points <= len(SERIES) * MAX_POINTS_PER_SERIES
    assert MAX_POINTS_PER_SERIES <= 700
    assert len(encode(h.series)) < 48_000  # bytes, all seven series


def test_downsampling_keeps_the_lows_the_highs_and_the_last_value() -> None:
    raw = years_of_hourly_points(2)
    year = [p for p in raw if p[0] >= NOW_MIN - HISTORY_DAYS * 1440]
    values = [v for _, v in year if v is not None]
    kept = downsample(raw, NOW_MIN)
    kept_values = [v for _, v in kept if v is not None]
    assert min(kept_values) == min(values) and max(kept_values) == max(values)
    assert kept[-1] == raw[-1]
    # the value in force when the year opens is kept at its start
    before = [p for p in raw if p[0] < NOW_MIN - HISTORY_DAYS * 1440][-1]
    assert kept[0] == (NOW_MIN - HISTORY_DAYS * 1440, before[1])


def test_a_short_history_is_kept_as_it_is() -> None:
    raw = [(NOW_MIN - 3000, 1200), (NOW_MIN - 2000, None), (NOW_MIN - 10, 900)]
    assert downsample(raw, NOW_MIN) == tuple(raw)


def test_the_stored_form_round_trips() -> None:
    series = {"used": ((NOW_MIN - 100, 1500), (NOW_MIN - 50, None), (NOW_MIN, 1400)),
              "sales_rank": ((NOW_MIN - 10, 12_345_678),)}
    assert decode(encode(series)) == series
    with pytest.raises(StoreError, match="cannot be read"):
        decode(b"not zlib")


def test_an_unknown_series_is_refused() -> None:
    with pytest.raises(StoreError, match="unknown history series"):
        DealHistory.bounded("B000000001", 1, {"used_price": [(NOW_MIN, 1)]}, NOW_MIN)


def _history(asin: str) -> DealHistory:
    return DealHistory.bounded(asin, 1, {"used": years_of_hourly_points(1),
                                         "sales_rank": [(NOW_MIN - 60, 5000)]}, NOW_MIN)


def test_a_history_is_saved_with_its_deal_and_goes_with_it(store: DealStore) -> None:
    now = store.now()
    rows = tuple(DealRow(asin=f"B00000000{i}", last_seen_in_feed=now) for i in range(3))
    store.commit("q", Changes(rows=rows, histories=tuple(_history(r.asin) for r in rows)
                              + (_history("B000000099"),)))  # not a stored deal: ignored
    saved = store.deal_history("B000000000")
    assert saved is not None and saved.series == _history("B000000000").series
    assert store.deal_history("B000000099") is None
    # a re-check replaces it
    store.commit("q", Changes(refreshed=rows[:1], histories=(DealHistory(
        "B000000000", 1, {"used": ((NOW_MIN, 777),)}),)))
    again = store.deal_history("B000000000")
    assert again is not None and again.series == {"used": ((NOW_MIN, 777),)}
    # a re-check that retires the deal drops its history
    store.commit("q", Changes(retire=(("B000000001", 1),)))
    assert store.deal_history("B000000001") is None
    # so does the janitor
    assert store.retire_deals(now + timedelta(days=1)) == 2
    assert store.deal_history("B000000000") is None and store.deal_history("B000000002") is None
