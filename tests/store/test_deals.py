"""Deals: the upsert's counts and update rule, numbers as numbers, refresh order, retirement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from keepa_deals.clock import FakeClock
from keepa_deals.store import DealRow, DealStore, InvalidDealRow, StoreError
from tests.store._rows import SEEN, asin, row


def test_upsert_adds_then_updates_with_exact_counts(store: DealStore) -> None:
    first = store.save_batch([row(i) for i in range(10)], query="q")
    assert (first.added, first.updated) == (10, 0)
    second = store.save_batch([row(i, current_price_cents=555) for i in range(5, 15)], query="q")
    assert (second.added, second.updated) == (5, 5)
    assert store.count_deals() == 15
    assert store.get_deal(asin(7)).current_price_cents == 555  # type: ignore[union-attr]
    assert store.get_deal(asin(2)).current_price_cents == 801  # type: ignore[union-attr]


def test_counts_hold_across_executemany_and_lookup_chunks(store: DealStore) -> None:
    n = 2600  # more than one executemany batch (1000) and lookup chunk (500)
    assert store.save_batch([row(i) for i in range(n)], query="q").added == n
    result = store.save_batch([row(i) for i in range(n - 100, n + 300)], query="q")
    assert (result.added, result.updated) == (300, 100)
    assert store.count_deals() == n + 300


def test_same_asin_twice_in_a_batch_counts_once_and_the_last_wins(store: DealStore) -> None:
    result = store.save_batch([row(1, current_price_cents=100), row(1, current_price_cents=200)],
                              query="q")
    assert (result.added, result.updated) == (1, 0)
    assert store.get_deal(asin(1)).current_price_cents == 200  # type: ignore[union-attr]


def test_same_asin_on_two_domains_is_two_deals(store: DealStore) -> None:
    result = store.save_batch([row(1, domain_id=1), row(1, domain_id=3)], query="q")
    assert result.added == 2
    assert store.get_deal(asin(1), 3).domain_id == 3  # type: ignore[union-attr]


def test_numbers_round_trip_as_numbers(store: DealStore) -> None:
    store.save_batch([row(1, profit_cents=-250, roi_percent=-12.5)], query="q")
    d = store.get_deal(asin(1))
    assert d is not None
    assert type(d.current_price_cents) is int and d.current_price_cents == 800
    assert type(d.avg90_cents) is int and d.avg90_cents == 2099
    assert d.avg365_cents is None
    assert type(d.percent_below_avg) is float and d.percent_below_avg == 57.5
    assert type(d.roi_percent) is float and d.roi_percent == -12.5
    assert d.profit_cents == -250
    assert type(d.sales_rank) is int and d.sales_rank == 123_457
    assert d.amazon_in_stock is False and d.price_includes_shipping is True
    assert d.root_category == 283155
    assert d.keepa_last_update == datetime(2027, 1, 15, 7, 30, tzinfo=UTC)
    assert d.first_seen.tzinfo is not None and d.first_seen.utcoffset() == timedelta(0)
    assert d.amazon_url == "https://www.amazon.com/dp/B000000001"
    assert d.keepa_url.endswith("1-B000000001")
    # In the database itself, not just after the ORM: integers and reals, no strings.
    with store.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            kinds = conn.execute(text(
                "SELECT typeof(current_price_cents), typeof(percent_below_avg), "
                "typeof(sales_rank), typeof(profit_cents) FROM deals"
            )).one()
            assert tuple(kinds) == ("integer", "real", "integer", "integer")
        else:
            kinds = conn.execute(text(
                "SELECT pg_typeof(current_price_cents)::text, pg_typeof(percent_below_avg)::text, "
                "pg_typeof(last_refreshed)::text FROM deals"
            )).one()
            assert tuple(kinds) == ("integer", "double precision", "timestamp with time zone")


def test_max_values_fit(store: DealStore) -> None:
    store.save_batch([row(1, root_category=9223372036854775807, sales_rank=2**31 - 1)], query="q")
    d = store.get_deal(asin(1))
    assert d is not None and d.root_category == 2**63 - 1 and d.sales_rank == 2**31 - 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"current_price_cents": 24.99}, "current_price_cents"),
        ({"current_price_cents": "$246.26"}, "current_price_cents"),
        ({"avg90_cents": -1}, "avg90_cents"),  # Keepa's "no offer" sentinel
        ({"offers_used": -2}, "offers_used"),  # Keepa's "not set" sentinel
        ({"sales_rank": 0}, "sales_rank"),
        ({"percent_below_avg": float("nan")}, "percent_below_avg"),
        ({"percent_below_avg": "30%"}, "percent_below_avg"),
        ({"amazon_in_stock": 1}, "amazon_in_stock"),
        ({"last_seen_in_feed": datetime(2027, 1, 1)}, "last_seen_in_feed"),
        ({"asin": "b000000001"}, "asin"),
        ({"domain_id": 0}, "domain_id"),
        ({"profit_cents": 2**40}, "profit_cents"),
    ],
)
def test_rows_of_the_wrong_type_are_refused_and_nothing_is_written(
    store: DealStore, changes: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidDealRow) as info:
        store.save_batch([row(1), row(2, **changes)], query="q", watermark=500)
    assert info.value.field == field
    assert store.count_deals() == 0
    assert store.get_watermark("q") is None


def test_a_row_is_a_complete_observation_but_none_keeps_times_and_titles(
    store: DealStore, clock: FakeClock
) -> None:
    store.save_batch([row(1)], query="q")
    first = store.get_deal(asin(1))
    assert first is not None
    clock.advance(3_600_000)
    refreshed_at = datetime(2027, 1, 15, 9, 0, tzinfo=UTC)
    # A refresh from product data: not from the feed, no title, the offer count unknown now.
    store.save_batch(
        [row(1, title=None, last_seen_in_feed=None, last_refreshed=refreshed_at,
             offers_used=None, current_price_cents=650)],
        query="q",
    )
    d = store.get_deal(asin(1))
    assert d is not None
    assert d.title == first.title  # kept
    assert d.last_seen_in_feed == SEEN  # kept
    assert d.last_refreshed == refreshed_at
    assert d.offers_used is None  # replaced: the row is what is known now
    assert d.current_price_cents == 650
    assert d.first_seen == first.first_seen  # written once
    assert d.updated_at == first.updated_at + timedelta(hours=1)


def test_keep_when_none_extends_to_named_columns(store: DealStore) -> None:
    store.save_batch([row(1)], query="q")
    store.save_batch([row(1, rank_drops_90=None)], query="q", keep_when_none=["rank_drops_90"])
    assert store.get_deal(asin(1)).rank_drops_90 == 11  # type: ignore[union-attr]
    with pytest.raises(StoreError, match="unknown columns"):
        store.save_batch([row(1)], query="q", keep_when_none=["first_seen"])


def test_the_last_query_to_see_a_deal_owns_it(store: DealStore) -> None:
    store.save_batch([row(1), row(2)], query="a")
    store.save_batch([row(2)], query="b")
    assert store.count_deals("a") == 1 and store.count_deals("b") == 1
    assert store.get_deal(asin(2)).query_name == "b"  # type: ignore[union-attr]


def test_get_deal_of_an_unknown_asin_is_none(store: DealStore) -> None:
    assert store.get_deal("B0NOTTHERE") is None


def test_deals_to_refresh_come_oldest_first_never_refreshed_first(
    store: DealStore, clock: FakeClock
) -> None:
    t = lambda h: datetime(2027, 1, 10, h, tzinfo=UTC)  # noqa: E731
    store.save_batch(
        [row(1, last_refreshed=t(5)), row(2, last_refreshed=t(1)), row(3),
         row(4, last_refreshed=t(9)), row(5, last_refreshed=t(3))],
        query="q",
    )
    clock.advance(1000)
    store.save_batch([row(6)], query="other")
    keys = store.deals_to_refresh(10)
    assert [k.asin for k in keys] == [asin(3), asin(6), asin(2), asin(5), asin(1), asin(4)]
    assert [k.asin for k in store.deals_to_refresh(2, query="q")] == [asin(3), asin(2)]
    stale = store.deals_to_refresh(10, not_refreshed_since=t(4))
    assert {k.asin for k in stale} == {asin(3), asin(6), asin(2), asin(5)}
    assert keys[2].last_refreshed == t(1)


def test_deals_to_refresh_of_one_marketplace_are_not_crowded_out_by_another(
    store: DealStore,
) -> None:
    """A query moved to another marketplace keeps its old deals (the oldest) until the
    janitor retires them: a page of refresh candidates must still hold the new ones."""
    old = datetime(2027, 1, 1, tzinfo=UTC)
    store.save_batch([row(i, domain_id=1, last_refreshed=old) for i in range(1, 6)]
                     + [row(i, domain_id=3, last_refreshed=old + timedelta(days=1))
                        for i in range(6, 9)], query="q")
    keys = store.deals_to_refresh(3, query="q", domain_id=3)
    assert [(k.asin, k.domain_id) for k in keys] == [(asin(i), 3) for i in range(6, 9)]
    assert {k.domain_id for k in store.deals_to_refresh(3, query="q")} == {1}


def test_retire_deletes_only_what_ingestion_has_not_confirmed_since_the_cutoff(
    store: DealStore, clock: FakeClock
) -> None:
    old = datetime(2027, 1, 1, tzinfo=UTC)
    cutoff = datetime(2027, 1, 10, tzinfo=UTC)
    new = datetime(2027, 1, 12, tzinfo=UTC)
    clock.set(int(old.timestamp() * 1000))
    store.save_batch(
        [
            row(1, last_seen_in_feed=old),  # stale: retire
            row(2, last_seen_in_feed=old, last_refreshed=old),  # stale: retire
            row(3, last_seen_in_feed=old, last_refreshed=new),  # refreshed since: keep
            row(4, last_seen_in_feed=new),  # seen since: keep
            row(5, last_seen_in_feed=None),  # never seen nor refreshed, but old: retire
        ],
        query="q",
    )
    clock.set(int(new.timestamp() * 1000))
    store.save_batch([row(6, last_seen_in_feed=None)], query="q")  # first seen after the cutoff
    assert store.retire_deals(cutoff) == 3
    assert sorted(d.asin for d in store.deals_to_refresh(10)) == [asin(3), asin(4), asin(6)]
    assert store.retire_deals(cutoff) == 0


def test_retire_can_be_capped_and_scoped_to_a_query(store: DealStore, clock: FakeClock) -> None:
    old = datetime(2027, 1, 1, tzinfo=UTC)
    clock.set(int(old.timestamp() * 1000))
    store.save_batch([row(i, last_seen_in_feed=old) for i in range(5)], query="a")
    store.save_batch([row(i, last_seen_in_feed=old) for i in range(5, 8)], query="b")
    cutoff = datetime(2027, 1, 2, tzinfo=UTC)
    assert store.retire_deals(cutoff, query="b") == 3
    assert store.retire_deals(cutoff, limit=2) == 2
    assert store.count_deals() == 3


def test_rows_must_be_deal_rows(store: DealStore) -> None:
    with pytest.raises(InvalidDealRow):
        store.save_batch([{"asin": asin(1)}], query="q")  # type: ignore[list-item]
    with pytest.raises(StoreError, match="query name"):
        store.save_batch([row(1)], query="")
    assert DealRow(asin=asin(1)).domain_id == 1


def test_the_upsert_writes_times_exactly_as_the_orm_does(store: DealStore) -> None:
    """The upsert binds at the driver level; its stored text must equal SQLAlchemy's, or
    comparisons (retirement, refresh order) would go wrong on SQLite."""
    store.save_batch([row(1)], query="q", watermark=100)  # same clock: same instant
    with store.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            upserted = conn.execute(text("SELECT first_seen, updated_at FROM deals")).one()
            via_orm = conn.execute(text("SELECT updated_at FROM system_state")).scalar_one()
            assert upserted[0] == upserted[1] == via_orm == "2027-01-15 08:00:00.000000"
        feed = conn.execute(text("SELECT last_seen_in_feed FROM deals")).scalar_one()
    assert store.get_deal(asin(1)).last_seen_in_feed == SEEN  # type: ignore[union-attr]
    cutoff = SEEN + timedelta(microseconds=1)
    assert store.deals_to_refresh(10, not_refreshed_since=cutoff)[0].asin == asin(1)
    assert feed is not None


def test_times_in_other_zones_are_stored_as_utc(store: DealStore) -> None:
    from zoneinfo import ZoneInfo

    local = datetime(2027, 1, 15, 3, 0, tzinfo=ZoneInfo("America/New_York"))
    store.save_batch([row(1, last_refreshed=local)], query="q")
    stored = store.get_deal(asin(1))
    assert stored is not None and stored.last_refreshed == local
    assert stored.last_refreshed.tzinfo == UTC and stored.last_refreshed.hour == 8


def test_every_value_reads_back_exactly(store: DealStore) -> None:
    """The upsert's wire forms (PostgreSQL: one JSON array per batch) lose nothing."""
    from datetime import timedelta, timezone

    when = datetime(2027, 1, 15, 7, 59, 30, 123456, tzinfo=timezone(timedelta(hours=-5)))
    edge = row(1, title='Ünïcode “quotes” \\ back\\slash "double" \u2028 🙂', root_category=2**63 - 1,
               percent_below_avg=0.1 + 0.2, roi_percent=1e-300, margin_percent=-123.456789012345,
               referral_fee_percent=15.0, profit_cents=-(2**31 - 1), sales_rank=2**31 - 1,
               amazon_in_stock=None, price_includes_shipping=False, last_seen_in_feed=when,
               last_refreshed=None, keepa_last_update=when + timedelta(microseconds=1))
    store.save_batch([edge], query="q")
    got = store.get_deal(edge.asin)
    assert got is not None
    for name in ("title", "root_category", "percent_below_avg", "roi_percent", "margin_percent",
                 "referral_fee_percent", "profit_cents", "sales_rank", "amazon_in_stock",
                 "price_includes_shipping", "last_seen_in_feed", "last_refreshed",
                 "keepa_last_update", "avg365_cents"):
        assert getattr(got, name) == getattr(edge, name), name
    assert type(got.percent_below_avg) is float and type(got.profit_cents) is int
