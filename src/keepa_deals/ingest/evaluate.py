"""What a deal is worth: feed, product and offer data turned into filter verdicts and rows.

Pure functions, no I/O.  The three verdicts follow the query's stages:

* :func:`feed_verdict`: free, on what the ``/deal`` page says;
* :func:`stats_verdict`: after the 1-token product check (stats, no offers);
  it also prices the deal at the current price from the stats, which can
  only be *lower* than a live offer with its shipping, so a deal whose
  thresholds fail at that price can never pass with offers: no offers are
  bought for it (a lossless pre-screen);
* :func:`offers_verdict`: the profit thresholds on the final price (the
  cheapest matching live offer with shipping, or the stats price when the
  query does not buy offers).

Prices are never invented: no price, or no average to sell at, rejects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from keepa_deals.keepa.csvtypes import SHIPPING_TYPES, CsvType
from keepa_deals.keepa.deals import IMAGE_BASE_URL
from keepa_deals.keepa.products import AmazonAvailability, Offer, OfferCondition, Product
from keepa_deals.keepa.time import keepa_minutes_to_datetime
from keepa_deals.marketplaces import currency_of
from keepa_deals.profit import ProfitEstimate, estimate_profit
from keepa_deals.query import DealQuery
from keepa_deals.store import DealRow

#: ``stats=`` days per deal ``dateRange``: the product's ``stats.avg`` is then the
#: average the deal was measured against.
STATS_DAYS = {0: 1, 1: 7, 2: 30, 3: 90}

_SHIPPING = frozenset(int(t) for t in SHIPPING_TYPES)
_USED = frozenset({OfferCondition.USED_NEW, OfferCondition.USED_VERY_GOOD,
                   OfferCondition.USED_GOOD, OfferCondition.USED_ACCEPTABLE})
_COLLECTIBLE = frozenset({OfferCondition.COLLECTIBLE_NEW, OfferCondition.COLLECTIBLE_VERY_GOOD,
                          OfferCondition.COLLECTIBLE_GOOD, OfferCondition.COLLECTIBLE_ACCEPTABLE})


def stats_days(query: DealQuery) -> int:
    return STATS_DAYS.get(query.selection.date_range, 30)


def minute_to_datetime(minute: int | None) -> datetime | None:
    return keepa_minutes_to_datetime(minute)


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


# --- the feed ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedView:
    """What a ``/deal`` page said about one deal: the filter's inputs and the row's feed part."""

    title: str | None
    image_url: str | None
    root_category: int | None
    category_name: str | None
    price_cents: int | None
    percent_below: float | None
    sales_rank: int | None

    def to_json(self) -> dict[str, Any]:
        """Short keys, and Amazon's image URL as its file name: the ledger carries one of
        these per pending candidate and is written with every commit."""
        image = self.image_url
        if image is not None and image.startswith(IMAGE_BASE_URL):
            image = image[len(IMAGE_BASE_URL):]
        return {"t": self.title, "i": image, "r": self.root_category,
                "c": self.category_name, "p": self.price_cents, "b": self.percent_below,
                "s": self.sales_rank}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> FeedView:
        raw = raw or {}
        image = raw.get("i")
        if isinstance(image, str) and image and not image.startswith(("http://", "https://")):
            image = IMAGE_BASE_URL + image
        return cls(raw.get("t"), image, raw.get("r"), raw.get("c"), raw.get("p"),
                   raw.get("b"), raw.get("s"))


def feed_view(deal: Any, query: DealQuery, category_names: Mapping[int, str]) -> FeedView:
    pt = query.price_type
    pct = deal.delta_percent[query.selection.date_range][pt]
    root = deal.root_category
    return FeedView(
        title=deal.title,
        image_url=deal.image_url,
        root_category=root,
        category_name=category_names.get(root) if root is not None else None,
        price_cents=deal.current[pt],
        percent_below=None if pct is None else float(pct),
        sales_rank=deal.current[CsvType.SALES],
    )


def feed_verdict(view: FeedView, query: DealQuery) -> str | None:
    return query.filters.feed.check(
        price_cents=view.price_cents, percent_below=view.percent_below,
        sales_rank=view.sales_rank, root_category=view.root_category, title=view.title,
    )


# --- the product check ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProductFacts:
    """What a product reply (with stats) says, in the units the row and filters take."""

    sales_rank: int | None
    rank_drops: tuple[int | None, int | None, int | None, int | None]
    offers_used: int | None
    offers_new: int | None
    offers_fba: int | None
    offers_fbm: int | None
    amazon_in_stock: bool | None
    referral_percent: float | None
    fba_fee_cents: int | None
    #: avg30/90/180/365 of the deal's price type
    price_avgs: tuple[int | None, int | None, int | None, int | None]
    #: window days -> average of the profit model's sale price type
    sale_avgs: dict[int, int | None]
    #: the current price of the deal's price type, per the stats
    stats_price: int | None
    #: the average over ``stats_days`` (what the deal's percent is measured against)
    interval_avg: int | None
    last_update: datetime | None
    title: str | None
    root_category: int | None
    #: Keepa's ``monthlySold`` (None: Keepa has no figure for it).
    monthly_sold: int | None = None
    #: Keepa's ``lastPriceChange``.
    price_changed_at: datetime | None = None

    @property
    def sales_per_month(self) -> int | None:
        """Keepa's ``monthlySold``, else the 30-day rank drops (each drop about one sale)."""
        return self.monthly_sold if self.monthly_sold is not None else self.rank_drops[0]


def _count(v: int | None) -> int | None:
    return v if v is not None and v >= 0 else None


def _amazon_in_stock(product: Product) -> bool | None:
    avail = product.availability_amazon
    if avail is None:
        assert product.stats is not None
        return product.stats.current[CsvType.AMAZON] is not None
    return avail == AmazonAvailability.IN_STOCK


def product_facts(product: Product, query: DealQuery) -> ProductFacts | None:
    """None when the reply carries no stats (nothing to judge the deal on)."""
    s = product.stats
    if s is None:
        return None
    pt = query.price_type
    sale = query.profit.sale_price_type
    rank = s.current[CsvType.SALES]
    fba = s.offer_count_fba if s.offer_count_fba is not None else s.current[CsvType.COUNT_NEW_FBA]
    fbm = s.offer_count_fbm if s.offer_count_fbm is not None else s.current[CsvType.COUNT_NEW_FBM]
    referral = product.referral_fee_percentage
    if referral is not None and not 0 <= referral <= 100:
        referral = None
    return ProductFacts(
        sales_rank=rank if rank is not None and rank >= 1 else None,
        rank_drops=(_count(s.sales_rank_drops30), _count(s.sales_rank_drops90),
                    _count(s.sales_rank_drops180), _count(s.sales_rank_drops365)),
        offers_used=_count(s.current[CsvType.COUNT_USED]),
        offers_new=_count(s.current[CsvType.COUNT_NEW]),
        offers_fba=_count(fba),
        offers_fbm=_count(fbm),
        amazon_in_stock=_amazon_in_stock(product),
        referral_percent=referral,
        fba_fee_cents=_count(product.fba_pick_and_pack_fee),
        price_avgs=(s.avg30[pt], s.avg90[pt], s.avg180[pt], s.avg365[pt]),
        sale_avgs={30: s.avg30[sale], 90: s.avg90[sale], 180: s.avg180[sale], 365: s.avg365[sale]},
        stats_price=s.current[pt],
        interval_avg=s.avg[pt],
        last_update=product.last_update,
        title=product.title,
        root_category=product.root_category,
        monthly_sold=_count(product.monthly_sold),
        price_changed_at=product.last_price_change,
    )


def estimate(facts: ProductFacts, buy_cents: int | None, query: DealQuery) -> ProfitEstimate | None:
    return estimate_profit(
        buy_cents, facts.sale_avgs, referral_fee_percent=facts.referral_percent,
        fba_fee_cents=facts.fba_fee_cents, settings=query.profit_settings(),
    )


def stats_check(facts: ProductFacts | None, query: DealQuery
                ) -> tuple[str | None, ProfitEstimate | None]:
    """The stats filters, then the profit thresholds at the (lowest possible) stats price:
    (why it is rejected or None, the estimate at the stats price when there is one)."""
    if facts is None:
        return "no product stats", None
    why = query.filters.stats.check(
        sales_rank=facts.sales_rank, rank_drops_30=facts.rank_drops[0],
        rank_drops_90=facts.rank_drops[1], offers_used=facts.offers_used,
        offers_fba=facts.offers_fba, amazon_in_stock=facts.amazon_in_stock,
    )
    if why is not None:
        return why, None
    if facts.stats_price is None:
        return "no current price", None
    est = estimate(facts, facts.stats_price, query)
    return offers_verdict(est, query), est


def stats_verdict(facts: ProductFacts | None, query: DealQuery) -> str | None:
    """The stats filters, then the profit thresholds at the (lowest possible) stats price."""
    return stats_check(facts, query)[0]


def offers_verdict(est: ProfitEstimate | None, query: DealQuery) -> str | None:
    if est is None:
        return "no profit estimate"
    return query.filters.offers.check(
        profit_cents=est.profit_cents, roi_percent=est.roi_percent,
        margin_percent=est.margin_percent,
    )


# --- offers ---------------------------------------------------------------------------


def _matches(price_type: int, o: Offer) -> bool:
    c = o.condition
    if price_type == CsvType.AMAZON:
        return o.is_amazon
    if price_type in (CsvType.NEW, CsvType.PRIME_EXCL):
        return c == OfferCondition.NEW and not o.is_amazon
    if price_type == CsvType.NEW_FBA:
        return c == OfferCondition.NEW and o.is_fba and not o.is_amazon
    if price_type == CsvType.NEW_FBM_SHIPPING:
        return c == OfferCondition.NEW and not o.is_fba
    if price_type in (CsvType.USED, CsvType.BUY_BOX_USED_SHIPPING):
        return c in _USED
    if CsvType.USED_NEW_SHIPPING <= price_type <= CsvType.USED_ACCEPTABLE_SHIPPING:
        return c == price_type - CsvType.USED_NEW_SHIPPING + OfferCondition.USED_NEW
    if price_type in (CsvType.COLLECTIBLE,):
        return c in _COLLECTIBLE
    if price_type in (CsvType.REFURBISHED, CsvType.REFURBISHED_SHIPPING):
        return c == OfferCondition.REFURBISHED
    if price_type == CsvType.WAREHOUSE:
        return o.is_warehouse_deal
    return False


#: Whether an offer is of the deal's kind (price type): public for the seller look-up.
offer_matches = _matches


def offers_fetched(product: Product) -> bool:
    """False when Keepa could not fetch the offers (``offersSuccessful: false``)."""
    return product.raw.get("offersSuccessful") is not False


def cheapest_offer(product: Product, price_type: int) -> Offer | None:
    """The cheapest live offer of the deal's kind, shipping included (None: none)."""
    live = [o for o in product.live_offers if _matches(price_type, o)
            and o.landed_price is not None and o.landed_price > 0]
    return min(live, key=lambda o: o.landed_price or 0) if live else None


def price_from_offers(product: Product, price_type: int) -> int | None:
    """The cheapest live offer of the deal's kind, shipping included (None: none)."""
    offer = cheapest_offer(product, price_type)
    return None if offer is None else offer.landed_price


# --- rows ------------------------------------------------------------------------------


def _percent_below(price: int | None, avg: int | None) -> float | None:
    if price is None or avg is None or avg <= 0:
        return None
    return round((avg - price) * 100 / avg, 1)


def build_row(
    asin: str,
    query: DealQuery,
    facts: ProductFacts,
    est: ProfitEstimate,
    *,
    includes_shipping: bool,
    now: datetime,
    feed: FeedView | None = None,
    seen_in_feed: datetime | None = None,
    feed_minute: int | None = None,
    offer: Offer | None = None,
) -> DealRow:
    """The stored row: a new deal (``feed`` given) or a re-check of a stored one."""
    pt = query.price_type
    avgs = facts.price_avgs
    if feed is not None:
        percent = feed.percent_below
        last_update = minute_to_datetime(feed_minute) or facts.last_update
    else:
        percent = _percent_below(est.buy_price_cents, facts.interval_avg)
        last_update = facts.last_update
    return DealRow(
        asin=asin,
        domain_id=query.domain_id,
        title=(feed.title if feed else None) or facts.title,
        image_url=feed.image_url if feed else None,
        root_category=(feed.root_category if feed else None) or facts.root_category,
        category_name=feed.category_name if feed else None,
        price_type=pt,
        current_price_cents=est.buy_price_cents,
        price_includes_shipping=includes_shipping or pt in _SHIPPING,
        avg30_cents=avgs[0], avg90_cents=avgs[1], avg180_cents=avgs[2], avg365_cents=avgs[3],
        percent_below_avg=percent,
        sales_rank=facts.sales_rank,
        rank_drops_30=facts.rank_drops[0], rank_drops_90=facts.rank_drops[1],
        rank_drops_180=facts.rank_drops[2], rank_drops_365=facts.rank_drops[3],
        offers_used=facts.offers_used, offers_new=facts.offers_new,
        offers_fba=facts.offers_fba, offers_fbm=facts.offers_fbm,
        amazon_in_stock=facts.amazon_in_stock,
        # the fees the estimate applied: the product's own, else the query's defaults
        referral_fee_percent=(facts.referral_percent if facts.referral_percent is not None
                              else query.profit.default_referral_percent),
        fba_fee_cents=est.fba_fee_cents,
        est_sale_price_cents=est.sale_price_cents,
        profit_cents=est.profit_cents,
        roi_percent=est.roi_percent,
        margin_percent=est.margin_percent,
        currency=currency_of(query.domain_id),
        buy_shipping_cents=None if offer is None else offer.shipping,
        sale_price_type=query.profit.sale_price_type,
        sale_price_window=est.sale_price_window,
        sale_price_fallback=est.sale_price_window != query.profit.sale_price_window,
        referral_fee_cents=est.referral_fee_cents,
        closing_fee_cents=est.closing_fee_cents,
        prep_cents=est.prep_cents,
        inbound_shipping_cents=est.inbound_shipping_cents,
        offer_condition=None if offer is None else int(offer.condition),
        monthly_sold=facts.monthly_sold,
        sales_per_month=facts.sales_per_month,
        price_changed_at=facts.price_changed_at,
        last_seen_in_feed=seen_in_feed,
        last_refreshed=now,
        keepa_last_update=last_update,
    )
