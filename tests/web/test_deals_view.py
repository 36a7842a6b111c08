"""Invariant: one definition of a deal (docs/failure-classes.md, FC-17).

The SQL clause and its Python reading select the same rows, on SQLite and PostgreSQL,
at every boundary (exactly at the grace cutoff, exactly at a threshold, unknown values);
a row is fresh exactly when the janitor would keep it; counting agrees with listing.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import select

from keepa_deals.clock import FakeClock
from keepa_deals.deals_view import DealDefinition, Thresholds
from keepa_deals.query import load_builtin
from keepa_deals.settings import Settings
from keepa_deals.store import DealRecord, DealRow, DealStore
from tests.web._deals import records
from tests.web.conftest import NOW, QUERY, START_MS

GRACE = timedelta(hours=72)
DEFINITION = DealDefinition(
    grace=GRACE,
    thresholds={
        QUERY: Thresholds(min_profit_cents=500, min_roi_percent=50.0, min_margin_percent=20.0),
        "profit-only": Thresholds(min_profit_cents=100),
    },
)


def _time(rnd: random.Random):  # noqa: ANN202
    cutoff = NOW - GRACE
    return rnd.choice([
        None, cutoff, cutoff - timedelta(microseconds=1), cutoff + timedelta(microseconds=1),
        NOW - timedelta(hours=rnd.uniform(0, 200)), NOW,
    ])


def _random_rows(rnd: random.Random, n: int) -> list[tuple[str, DealRow]]:
    out = []
    for i in range(n):
        query = rnd.choice([QUERY, "profit-only", "unknown-query"])
        out.append((query, DealRow(
            asin=f"B1{i:08d}",
            profit_cents=rnd.choice([None, 499, 500, 501, 99, 100, -5, rnd.randint(0, 5000)]),
            roi_percent=rnd.choice([None, 49.99, 50.0, 50.01, rnd.uniform(-10, 300)]),
            margin_percent=rnd.choice([None, 19.99, 20.0, rnd.uniform(-10, 80)]),
            last_seen_in_feed=_time(rnd),
            last_refreshed=_time(rnd),
        )))
    return out


def _save_at_random_times(store: DealStore, clock: FakeClock, rows: list[tuple[str, DealRow]],
                          rnd: random.Random) -> None:
    """Each row first saved at its own time (first_seen), some exactly at the cutoff."""
    cutoff_ms = START_MS - int(GRACE.total_seconds() * 1000)
    for query, row in rows:
        clock.set(rnd.choice([cutoff_ms, cutoff_ms - 1, cutoff_ms + 1,
                              START_MS - rnd.randint(0, 300 * 3600 * 1000)]))
        store.upsert_deals([row], query=query)
    clock.set(START_MS)


@pytest.mark.parametrize("seed", [1, 2])
def test_sql_and_python_readings_select_the_same_rows(
    store: DealStore, clock: FakeClock, seed: int
) -> None:
    rnd = random.Random(seed)
    _save_at_random_times(store, clock, _random_rows(rnd, 150), rnd)
    recs = records(store)
    with store.engine.connect() as conn:
        by_sql = set(conn.scalars(select(DealRecord.asin).where(DEFINITION.where(NOW))))
        assert DEFINITION.count(conn, NOW) == len(by_sql)
    by_python = {r.asin for r in recs if DEFINITION.is_current(r, NOW)}
    assert by_sql == by_python
    # The random rows cover both sides of every rule.
    assert 0 < len(by_sql) < len(recs)


def test_explain_names_every_reason(store: DealStore) -> None:
    store.upsert_deals([DealRow(asin="B000000001", profit_cents=400, roi_percent=10.0,
                                margin_percent=5.0, last_seen_in_feed=NOW)], query=QUERY)
    (rec,) = records(store)
    reasons = DEFINITION.explain(rec, NOW + timedelta(hours=100))
    assert any("profit below 500" in r for r in reasons)
    assert any("ROI below 50" in r for r in reasons)
    assert any("margin below 20" in r for r in reasons)
    assert any("72 h" in r for r in reasons)
    assert DEFINITION.explain(rec, NOW)[:1] == ["profit below 500 cents"]


def test_unpriced_rows_are_never_deals_and_unknown_queries_need_only_a_price(
    store: DealStore
) -> None:
    store.upsert_deals([DealRow(asin="B000000001", last_seen_in_feed=NOW)], query="other")
    store.upsert_deals([DealRow(asin="B000000002", profit_cents=-100, last_seen_in_feed=NOW)],
                       query="other")
    with store.engine.connect() as conn:
        assert set(conn.scalars(select(DealRecord.asin).where(DEFINITION.where(NOW)))) == {
            "B000000002"}
    (unpriced,) = [r for r in records(store) if r.asin == "B000000001"]
    assert DEFINITION.explain(unpriced, NOW) == ["no profit estimate"]


def test_fresh_is_exactly_what_the_janitor_keeps(store: DealStore, clock: FakeClock) -> None:
    """A row the janitor would retire at the grace cutoff is not a deal, and every row it
    keeps is fresh: the count never depends on when the janitor last ran."""
    rnd = random.Random(3)
    rows = [(q, DealRow(asin=r.asin, profit_cents=10_000, roi_percent=500.0,
                        margin_percent=90.0, last_seen_in_feed=r.last_seen_in_feed,
                        last_refreshed=r.last_refreshed))
            for q, r in _random_rows(rnd, 120)]
    _save_at_random_times(store, clock, rows, rnd)
    with store.engine.connect() as conn:
        fresh = set(conn.scalars(select(DealRecord.asin).where(DEFINITION.fresh_clause(NOW))))
    everything = {r.asin for r in records(store)}
    retired = store.retire_deals(NOW - GRACE)
    assert retired == len(everything - fresh) > 0
    assert {r.asin for r in records(store)} == fresh


def test_counts_by_query_add_up(store: DealStore) -> None:
    good = dict(profit_cents=900, roi_percent=80.0, margin_percent=30.0, last_seen_in_feed=NOW)
    store.upsert_deals([DealRow(asin=f"B00000000{i}", **good) for i in range(3)], query=QUERY)
    store.upsert_deals([DealRow(asin=f"B00000001{i}", **good) for i in range(2)],
                       query="profit-only")
    with store.engine.connect() as conn:
        assert DEFINITION.count_by_query(conn, NOW) == {QUERY: 3, "profit-only": 2}
        assert DEFINITION.count(conn, NOW, query="profit-only") == 2
        assert DEFINITION.count(conn, NOW) == 5


def test_from_settings_takes_the_janitor_grace_and_the_builtin_thresholds() -> None:
    definition = DealDefinition.from_settings(Settings(janitor_grace_h=12))
    assert definition.grace == timedelta(hours=12)
    offers = load_builtin(QUERY).filters.offers
    assert definition.thresholds[QUERY] == Thresholds(
        offers.min_profit_cents, offers.min_roi_percent, offers.min_margin_percent)
    described = definition.describe()
    assert described["grace_hours"] == 12
    assert described["thresholds"][QUERY]["min_profit_cents"] == offers.min_profit_cents


def test_a_grace_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        DealDefinition(grace=timedelta(0))


def test_the_configured_query_files_bring_their_thresholds(tmp_path: object) -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "src/keepa_deals/query/builtin/used-books-us.toml"
            ).read_text()
    text = text.replace('name = "used-books-us"', 'name = "my-books"').replace(
        "min_profit_cents = 500", "min_profit_cents = 1234")
    path = Path(str(tmp_path)) / "my-books.toml"
    path.write_text(text)
    definition = DealDefinition.from_settings(Settings(queries=f"{path},used-books-us"))
    assert definition.thresholds["my-books"].min_profit_cents == 1234
    assert definition.thresholds[QUERY].min_profit_cents == 500
