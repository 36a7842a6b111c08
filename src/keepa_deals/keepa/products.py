"""/product results: :class:`Product`, :class:`Stats`, :class:`Offer`,
:class:`ProductBatch`, and their parsers.

See ``models.py`` for the conventions (times, sentinels, indexing by name).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import Any

from keepa_deals.keepa import _shape
from keepa_deals.keepa.errors import MalformedResponse
from keepa_deals.keepa.series import CsvHistory, CsvPoint, CsvValues, parse_points
from keepa_deals.tokens.status import TokenStatus

_EMPTY: list[int] = []


class OfferCondition(IntEnum):
    UNKNOWN = 0
    NEW = 1
    USED_NEW = 2
    USED_VERY_GOOD = 3
    USED_GOOD = 4
    USED_ACCEPTABLE = 5
    REFURBISHED = 6
    COLLECTIBLE_NEW = 7
    COLLECTIBLE_VERY_GOOD = 8
    COLLECTIBLE_GOOD = 9
    COLLECTIBLE_ACCEPTABLE = 10


class AmazonAvailability(IntEnum):
    """``availabilityAmazon``; -1 (no Amazon offer) reads as None on Product."""

    IN_STOCK = 0
    PREORDER = 1
    UNKNOWN = 2
    BACKORDER = 3
    DELAYED = 4


@dataclass(frozen=True, slots=True)
class Offer:
    """One marketplace offer; ``price``/``shipping`` are the latest from ``offerCSV``."""

    offer_id: int | None
    seller_id: str | None
    condition: OfferCondition | int
    condition_comment: str | None
    price: int | None
    shipping: int | None
    last_seen: datetime | None
    is_fba: bool
    is_prime: bool
    is_amazon: bool
    is_prime_excl: bool
    is_warehouse_deal: bool
    is_shippable: bool
    is_live: bool
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def landed_price(self) -> int | None:
        """Price plus shipping (shipping unknown or not shippable counts as 0)."""
        if self.price is None:
            return None
        return self.price + (self.shipping or 0)

    @property
    def history(self) -> tuple[CsvPoint, ...]:
        """The offer's (time, landed price) history from ``offerCSV``."""
        raw = self.raw.get("offerCSV")
        return () if raw is None else parse_points(raw, "offer offerCSV", shipping=True)


def parse_offer(value: Any, *, live: bool, what: str) -> Offer:
    o = _shape.obj(value, what)
    csv = _shape.opt_int_list(o, "offerCSV", what) or _EMPTY
    if len(csv) % 3:
        _shape.fail(f"{what} offerCSV", f"length {len(csv)} is not a multiple of 3")
    price = shipping = None
    if csv:
        price = None if csv[-2] in (-1, -2) else csv[-2]
        shipping = None if csv[-1] in (-1, -2) else csv[-1]
    cond = _shape.opt_int(o, "condition", what) or 0
    return Offer(
        offer_id=_shape.opt_int(o, "offerId", what),
        seller_id=_shape.opt_str(o, "sellerId", what),
        condition=OfferCondition(cond) if 0 <= cond <= 10 else cond,
        condition_comment=_shape.opt_str(o, "conditionComment", what),
        price=price,
        shipping=shipping,
        last_seen=_shape.opt_time(o, "lastSeen", what),
        is_fba=bool(_shape.opt_bool(o, "isFBA", what)),
        is_prime=bool(_shape.opt_bool(o, "isPrime", what)),
        is_amazon=bool(_shape.opt_bool(o, "isAmazon", what)),
        is_prime_excl=bool(_shape.opt_bool(o, "isPrimeExcl", what)),
        is_warehouse_deal=bool(_shape.opt_bool(o, "isWarehouseDeal", what)),
        is_shippable=bool(_shape.opt_bool(o, "isShippable", what)),
        is_live=live,
        raw=o,
    )


@dataclass(frozen=True, slots=True)
class Stats:
    """``product.stats`` (present when the request asked for ``stats``)."""

    current: CsvValues
    avg: CsvValues
    avg30: CsvValues
    avg90: CsvValues
    avg180: CsvValues
    avg365: CsvValues
    sales_rank_drops30: int | None
    sales_rank_drops90: int | None
    sales_rank_drops180: int | None
    sales_rank_drops365: int | None
    total_offer_count: int | None
    offer_count_fba: int | None
    offer_count_fbm: int | None
    buy_box_price: int | None
    buy_box_shipping: int | None
    buy_box_seller_id: str | None
    buy_box_is_fba: bool | None
    buy_box_is_amazon: bool | None
    last_offers_update: datetime | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)


def _values(d: Mapping[str, Any], key: str, what: str) -> CsvValues:
    """A stats array: its shape is checked now, each value when it is read (CsvValues)."""
    value = d.get(key)
    if value is None:
        return CsvValues(_EMPTY)
    if type(value) is not list:
        _shape.fail(f"{what} {key}", f"expected a list of integers, got {type(value).__name__}")
    return CsvValues(value, what=f"{what} {key}")


def parse_stats(value: Any, what: str) -> Stats:
    s = _shape.obj(value, what)
    seller = _shape.opt_str(s, "buyBoxSellerId", what)
    return Stats(
        current=_values(s, "current", what),
        avg=_values(s, "avg", what),
        avg30=_values(s, "avg30", what),
        avg90=_values(s, "avg90", what),
        avg180=_values(s, "avg180", what),
        avg365=_values(s, "avg365", what),
        sales_rank_drops30=_shape.opt_value(s, "salesRankDrops30", what),
        sales_rank_drops90=_shape.opt_value(s, "salesRankDrops90", what),
        sales_rank_drops180=_shape.opt_value(s, "salesRankDrops180", what),
        sales_rank_drops365=_shape.opt_value(s, "salesRankDrops365", what),
        total_offer_count=_shape.opt_value(s, "totalOfferCount", what),
        offer_count_fba=_shape.opt_value(s, "offerCountFBA", what),
        offer_count_fbm=_shape.opt_value(s, "offerCountFBM", what),
        buy_box_price=_shape.opt_value(s, "buyBoxPrice", what),
        buy_box_shipping=_shape.opt_value(s, "buyBoxShipping", what),
        buy_box_seller_id=None if seller in (None, "", "-1", "-2") else seller,
        buy_box_is_fba=_shape.opt_bool(s, "buyBoxIsFBA", what),
        buy_box_is_amazon=_shape.opt_bool(s, "buyBoxIsAmazon", what),
        last_offers_update=_shape.opt_time(s, "lastOffersUpdate", what),
        raw=s,
    )


class SalesRanks(Mapping[int, tuple[CsvPoint, ...]]):
    """``salesRanks``: category id → (time, rank) history, parsed when read."""

    __slots__ = ("raw", "_what")

    def __init__(self, raw: Mapping[str, Any], what: str) -> None:
        self.raw = raw
        self._what = what

    def __getitem__(self, category: int) -> tuple[CsvPoint, ...]:
        key = str(category)
        if key not in self.raw:
            raise KeyError(category)
        series = self.raw[key]
        return () if series is None else parse_points(series, f"{self._what}[{category}]")

    def __iter__(self) -> Iterator[int]:
        for k in self.raw:
            try:
                yield int(k)
            except ValueError:
                _shape.fail(self._what, f"category id {k!r} is not a number")

    def __len__(self) -> int:
        return len(self.raw)


@dataclass(frozen=True, slots=True)
class Product:
    asin: str
    domain_id: int | None
    title: str | None
    parent_asin: str | None
    brand: str | None
    manufacturer: str | None
    product_group: str | None
    product_type: int | None
    root_category: int | None
    categories: tuple[int, ...]
    sales_rank_reference: int | None
    sales_ranks: SalesRanks
    stats: Stats | None
    fba_pick_and_pack_fee: int | None
    referral_fee_percentage: float | None
    availability_amazon: AmazonAvailability | int | None
    monthly_sold: int | None
    tracking_since: datetime | None
    listed_since: datetime | None
    last_update: datetime | None
    last_price_change: datetime | None
    offers: tuple[Offer, ...]
    csv: CsvHistory
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def live_offers(self) -> tuple[Offer, ...]:
        return tuple(o for o in self.offers if o.is_live)


def parse_product(value: Any) -> Product:
    p = _shape.obj(value, "product")
    asin = p.get("asin")
    if type(asin) is not str or not asin:
        _shape.fail("product", f"asin missing or not a string: {asin!r}")
    what = f"product {asin}"

    stats = p.get("stats")
    fees = p.get("fbaFees")
    fee = None if fees is None else _shape.opt_value(_shape.obj(fees, f"{what} fbaFees"),
                                                     "pickAndPackFee", f"{what} fbaFees")
    live = set(_shape.opt_int_list(p, "liveOffersOrder", what) or ())
    raw_offers = p.get("offers")
    if raw_offers is None:
        raw_offers = []
    if type(raw_offers) is not list:
        _shape.fail(f"{what} offers", f"expected a list, got {type(raw_offers).__name__}")
    csv = p.get("csv")
    if csv is None:
        csv = []
    if type(csv) is not list:
        _shape.fail(f"{what} csv", f"expected a list, got {type(csv).__name__}")
    ranks = p.get("salesRanks")
    if ranks is None:
        ranks = {}
    avail = _shape.opt_value(p, "availabilityAmazon", what)
    if avail is not None and 0 <= avail <= 4:
        avail = AmazonAvailability(avail)
    categories = _shape.opt_int_list(p, "categories", what)
    return Product(
        asin=asin,
        domain_id=_shape.opt_int(p, "domainId", what),
        title=_shape.opt_str(p, "title", what),
        parent_asin=_shape.opt_str(p, "parentAsin", what),
        brand=_shape.opt_str(p, "brand", what),
        manufacturer=_shape.opt_str(p, "manufacturer", what),
        product_group=_shape.opt_str(p, "productGroup", what),
        product_type=_shape.opt_int(p, "productType", what),
        root_category=_shape.category(_shape.opt_int(p, "rootCategory", what)),
        categories=tuple(categories) if categories else (),
        sales_rank_reference=_shape.opt_value(p, "salesRankReference", what),
        sales_ranks=SalesRanks(_shape.obj(ranks, f"{what} salesRanks"), f"{what} salesRanks"),
        stats=None if stats is None else parse_stats(stats, f"{what} stats"),
        fba_pick_and_pack_fee=fee,
        referral_fee_percentage=_shape.opt_number(p, "referralFeePercentage", what),
        availability_amazon=avail,
        monthly_sold=_shape.opt_value(p, "monthlySold", what) or None,
        tracking_since=_shape.opt_time(p, "trackingSince", what),
        listed_since=_shape.opt_time(p, "listedSince", what),
        last_update=_shape.opt_time(p, "lastUpdate", what),
        last_price_change=_shape.opt_time(p, "lastPriceChange", what),
        offers=tuple(
            parse_offer(o, live=i in live, what=f"{what} offers[{i}]")
            for i, o in enumerate(raw_offers)
        ),
        csv=CsvHistory(csv, f"{what} csv"),
        raw=p,
    )


@dataclass(frozen=True, slots=True)
class ProductBatch:
    products: tuple[Product, ...]
    status: TokenStatus | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    #: Products of the reply that could not be read: (ASIN or None, what is wrong).  One
    #: malformed product does not cost the rest of the batch (they were paid for).
    malformed: tuple[tuple[str | None, str], ...] = ()

    def __len__(self) -> int:
        return len(self.products)

    def __iter__(self) -> Iterator[Product]:
        return iter(self.products)

    def by_asin(self) -> dict[str, Product]:
        return {p.asin: p for p in self.products}


def parse_product_batch(body: Mapping[str, Any], status: TokenStatus | None) -> ProductBatch:
    """A /product reply.  No ``products`` key means no product was found (Keepa
    answers so for unknown ASINs)."""
    products = body.get("products")
    if products is None:
        products = []
    elif type(products) is not list:
        _shape.fail("/product products", f"expected a list, got {type(products).__name__}")
    parsed: list[Product] = []
    malformed: list[tuple[str | None, str]] = []
    for value in products:
        try:
            parsed.append(parse_product(value))
        except MalformedResponse as exc:
            asin = value.get("asin") if isinstance(value, Mapping) else None
            malformed.append((asin if isinstance(asin, str) else None, str(exc)))
    return ProductBatch(products=tuple(parsed), status=status, raw=body,
                        malformed=tuple(malformed))
