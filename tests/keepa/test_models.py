"""Parsing Keepa bodies into typed results (docs/failure-classes.md, FC-10: Keepa time, integer cents)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from keepa_deals.keepa.csvtypes import PRICE_TYPES, SHIPPING_TYPES, CsvType, csv_index
from keepa_deals.keepa.errors import MalformedResponse
from keepa_deals.keepa.models import (
    AmazonAvailability,
    DateRange,
    OfferCondition,
    parse_deal,
    parse_deal_page,
    parse_product,
    parse_product_batch,
)
from keepa_deals.tokens.status import TokenStatus
from tests.keepa import samples
from tests.keepa.samples import JAN_2026

JAN_2026_DT = datetime(2026, 1, 1, tzinfo=UTC)


def test_csv_types_match_the_keepa_table() -> None:
    assert len(CsvType) == 36
    assert CsvType.USED == 2 and CsvType.COUNT_NEW_FBM == 35 and CsvType.BUY_BOX_USED_SHIPPING == 32
    assert {int(t) for t in SHIPPING_TYPES} == {7, *range(18, 30), 32}
    assert CsvType.SALES not in PRICE_TYPES and CsvType.NEW_FBA in PRICE_TYPES
    assert csv_index("used") == csv_index(CsvType.USED) == csv_index(2) == 2
    with pytest.raises(KeyError):
        csv_index("NOT_A_TYPE")
    with pytest.raises(KeyError):
        csv_index(36)


# --- deals -------------------------------------------------------------------


def test_deal_fields_are_typed() -> None:
    d = parse_deal(samples.deal())
    assert d.asin == "B00TEST001"
    assert d.title == "A Book About Deals"
    assert d.root_category == 283155
    assert d.categories == (283155, 1000)
    assert d.image_url == "https://m.media-amazon.com/images/I/51abcDEF.jpg"
    assert d.last_update == JAN_2026_DT
    assert d.last_update.tzinfo is UTC
    assert d.creation_date == JAN_2026_DT - timedelta(hours=2)
    assert d.lightning_end is None  # 0 = not a lightning deal
    assert d.warehouse_condition is None
    assert d.raw["asin"] == "B00TEST001"


def test_deal_values_by_name_with_sentinels_as_none() -> None:
    d = parse_deal(samples.deal())
    assert d.current["USED"] == 1250
    assert d.current[CsvType.NEW] == 1999
    assert d.current["sales"] == 45_000
    assert d.current["AMAZON"] is None  # -1: no offer
    assert d.current["COUNT_NEW"] == 7
    assert d.current["WAREHOUSE"] is None
    assert d.avg[DateRange.MONTH]["USED"] == 1700
    assert d.avg[2]["NEW"] == 2100
    assert d.avg["week"]["USED"] == 1500
    assert d.avg[DateRange.NINETY_DAYS]["USED"] is None  # -2: not set


def test_deal_deltas_keep_minus_one() -> None:
    """In deltas -1 is a one-cent difference, not a sentinel."""
    d = parse_deal(samples.deal())
    assert d.delta[DateRange.NINETY_DAYS]["USED"] == -1
    assert d.delta[DateRange.DAY]["USED"] == 50
    assert d.delta_percent[DateRange.MONTH]["USED"] == 26
    assert d.delta_last["USED"] == -1
    assert d.delta_last["NEW"] == 150


def test_deal_with_short_or_missing_arrays_reads_none() -> None:
    d = parse_deal({"asin": "B00TEST001", "current": [100, 200]})
    assert d.current["NEW"] == 200
    assert d.current["USED"] is None
    assert d.avg[DateRange.WEEK]["USED"] is None
    assert d.categories == () and d.root_category is None and d.image_url is None
    assert d.last_update is None


def test_unknown_root_category_is_none() -> None:
    assert parse_deal(samples.deal(rootCat=9223372036854775807)).root_category is None
    assert parse_deal(samples.deal(rootCat=0)).root_category is None


def test_deal_page() -> None:
    status = TokenStatus.from_body(samples.deal_body())
    page = parse_deal_page(samples.deal_body(3), status, page=4)
    assert len(page) == 3 and [d.asin for d in page] == ["B00TEST000", "B00TEST001", "B00TEST002"]
    assert page.category_ids == (283155, 9223372036854775807)
    assert page.category_names == ("Books", "?")
    assert page.category_counts == (3, 0)
    assert page.status is status and page.page == 4
    assert page.is_last


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"tokensLeft": 1}, "no 'deals'"),
        ({"deals": []}, "expected an object"),
        ({"deals": {"dr": {}}}, "deals.dr"),
        ({"deals": {"dr": [None]}}, "deal: expected an object"),
        ({"deals": {"dr": [{"title": "x"}]}}, "asin missing"),
        ({"deals": {"dr": [samples.deal(current="1,2")]}}, "current"),
        ({"deals": {"dr": [samples.deal(current=[1, "2"])]}}, "current"),
        ({"deals": {"dr": [samples.deal(current=[1, 2.5])]}}, "current"),
        ({"deals": {"dr": [samples.deal(current=[1, True])]}}, "current"),
        ({"deals": {"dr": [samples.deal(avg=[[1], "x"])]}}, "avg"),
        ({"deals": {"dr": [samples.deal(avg=5)]}}, "avg"),
        ({"deals": {"dr": [samples.deal(lastUpdate="2026-01-01")]}}, "lastUpdate"),
        ({"deals": {"dr": [samples.deal(title=5)]}}, "title"),
        ({"deals": {"dr": [samples.deal(image=[300, 1])]}}, "image"),
        ({"deals": {"dr": [], "categoryNames": [1]}}, "categoryNames"),
        ({"deals": {"dr": [], "categoryIds": "1,2"}}, "categoryIds"),
    ],
)
def test_malformed_deal_bodies_raise_malformed_response(body: dict[str, Any], where: str) -> None:
    with pytest.raises(MalformedResponse) as info:
        parse_deal_page(body, None)
    assert where in str(info.value)


# --- products -----------------------------------------------------------------


def test_product_identity_and_fields() -> None:
    p = parse_product(samples.product())
    assert (p.asin, p.domain_id, p.title, p.brand) == ("B00PROD001", 1, "A Product", "Acme")
    assert p.root_category == 283155 and p.categories == (283155, 5)
    assert p.sales_rank_reference == 283155
    assert p.fba_pick_and_pack_fee == 322
    assert p.referral_fee_percentage == 15.0
    assert p.availability_amazon is None  # -1: no Amazon offer
    assert p.monthly_sold is None
    assert p.last_update == JAN_2026_DT
    assert p.listed_since is None
    assert p.raw["brand"] == "Acme"


def test_product_stats_by_name() -> None:
    s = parse_product(samples.product()).stats
    assert s is not None
    assert s.current["USED"] == 1250 and s.current["SALES"] == 4200
    assert s.avg30["USED"] == 1300 and s.avg90["NEW"] == 2100
    assert s.avg180["USED"] is None and s.avg365["USED"] == 1600
    assert (s.sales_rank_drops30, s.sales_rank_drops90) == (12, 40)
    assert s.sales_rank_drops180 is None and s.sales_rank_drops365 == 150
    assert s.offer_count_fba == 2 and s.offer_count_fbm is None and s.total_offer_count == 9
    assert s.buy_box_price == 1999 and s.buy_box_shipping == 0
    assert s.buy_box_seller_id == "ATVPDKIKX0DER"
    assert s.buy_box_is_fba is True and s.buy_box_is_amazon is True
    assert s.last_offers_update == JAN_2026_DT - timedelta(minutes=3)


def test_product_csv_is_parsed_lazily_into_points() -> None:
    p = parse_product(samples.product())
    assert p.csv._cache == {}
    amazon = p.csv["AMAZON"]
    assert amazon == (
        (JAN_2026_DT - timedelta(minutes=20), 1999),
        (JAN_2026_DT - timedelta(minutes=10), None),
    )
    assert set(p.csv._cache) == {0}
    assert p.csv["NEW"] == ()
    assert p.csv["USED"] == ((JAN_2026_DT - timedelta(minutes=20), 1250),)
    # shipping types are triplets: the value is price + shipping
    assert p.csv["NEW_FBM_SHIPPING"] == (
        (JAN_2026_DT - timedelta(minutes=5), 1899),
        (JAN_2026_DT, 1400),
    )
    assert p.csv["COUNT_NEW_FBM"] == ()


def test_product_csv_of_the_wrong_shape_raises_when_read() -> None:
    p = parse_product(samples.product(csv=[[JAN_2026, 100, JAN_2026]]))
    with pytest.raises(MalformedResponse, match=r"csv\[AMAZON\]"):
        p.csv["AMAZON"]


def test_sales_ranks() -> None:
    p = parse_product(samples.product())
    assert list(p.sales_ranks) == [283155]
    assert p.sales_ranks[283155][-1] == (JAN_2026_DT, 4200)


def test_offers_from_offer_csv() -> None:
    p = parse_product(samples.product())
    first, second = p.offers
    assert first.condition is OfferCondition.USED_VERY_GOOD
    assert (first.price, first.shipping, first.landed_price) == (1250, 0, 1250)
    assert first.is_fba and first.is_prime and not first.is_amazon and first.is_live
    assert first.last_seen == JAN_2026_DT - timedelta(minutes=3)
    assert first.history[0] == (JAN_2026_DT - timedelta(minutes=100), 1699)
    assert second.condition is OfferCondition.NEW
    assert second.shipping is None  # -1: not shippable / unspecified
    assert second.landed_price == 2000
    assert not second.is_live and not second.is_shippable
    assert p.live_offers == (first,)


def test_product_without_optional_parts() -> None:
    p = parse_product({"asin": "B00PROD001"})
    assert p.stats is None and p.offers == () and len(p.csv) == 0
    assert p.fba_pick_and_pack_fee is None and p.referral_fee_percentage is None
    assert p.availability_amazon is None


def test_availability() -> None:
    assert parse_product(samples.product(availabilityAmazon=0)).availability_amazon is (
        AmazonAvailability.IN_STOCK
    )


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"asin": None}, "asin missing"),
        ({"stats": []}, "stats: expected an object"),
        ({"stats": {"current": {"USED": 1}}}, "stats current"),
        ({"stats": {"salesRankDrops30": "12"}}, "salesRankDrops30"),
        ({"offers": {}}, "offers"),
        ({"offers": [{"offerCSV": [1, 2]}]}, "offerCSV"),
        ({"offers": [{"offerCSV": [1, 2, 3], "isFBA": "yes"}]}, "isFBA"),
        ({"csv": {}}, "csv"),
        ({"fbaFees": 322}, "fbaFees"),
        ({"referralFeePercentage": "15%"}, "referralFeePercentage"),
        ({"salesRanks": []}, "salesRanks"),
        ({"liveOffersOrder": [0.5]}, "liveOffersOrder"),
    ],
)
def test_malformed_products_raise_malformed_response(changes: dict[str, Any], where: str) -> None:
    with pytest.raises(MalformedResponse) as info:
        parse_product(samples.product(**changes))
    assert where in str(info.value)
    # in a batch, the malformed product is reported and the others are kept
    good = samples.product(asin="B00PROD002")
    batch = parse_product_batch({"products": [samples.product(**changes), good]}, None)
    assert [p.asin for p in batch.products] == ["B00PROD002"]
    ((asin, problem),) = batch.malformed
    assert where in problem
    assert asin == (None if changes.get("asin", "x") is None else samples.product()["asin"])


def test_product_batch() -> None:
    two = [samples.product(), samples.product(asin="B00PROD002")]
    batch = parse_product_batch({"products": two}, None)
    assert len(batch) == 2
    assert set(batch.by_asin()) == {"B00PROD001", "B00PROD002"}
    # Keepa answers unknown ASINs without a products key
    assert len(parse_product_batch({"tokensLeft": 3}, None)) == 0
    with pytest.raises(MalformedResponse):
        parse_product_batch({"products": {}}, None)


def test_a_bad_value_in_a_date_range_row_raises_when_the_row_is_read() -> None:
    rows = samples.deal()["avg"]
    rows[1] = [1, "2", 3]
    page = parse_deal_page({"deals": {"dr": [samples.deal(avg=rows)]}}, None)
    deal = page.deals[0]
    assert len(deal.avg[0]) > 0  # the good rows read as ever
    with pytest.raises(MalformedResponse) as info:
        deal.avg[1]
    assert "avg[1]" in str(info.value)


def test_a_bad_value_in_a_stats_array_raises_when_it_is_read() -> None:
    stats = samples.product()["stats"]
    stats["avg90"] = [1, 2, "3"]
    s = parse_product(samples.product(stats=stats)).stats
    assert s is not None and s.avg90["AMAZON"] == 1  # the good values read as ever
    with pytest.raises(MalformedResponse, match=r"stats avg90\[USED\]: expected an integer"):
        s.avg90["USED"]
