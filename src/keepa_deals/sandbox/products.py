"""``/product``: parameters, product objects and their real cost.

Cost per returned product, charged from the sandbox's own table
(:func:`keepa_deals.sandbox.costs.product_cost`):

* 1; with ``offers`` instead 6 per page of up to 10 offers found, where the
  offers found are min(the product's offers, the number requested), and at
  least one page; 1 if the offer fetch fails (a fault);
* ``rating=1``: +1 when the product's rating data is fresh (< 14 days);
* ``buybox=1``: +2, ignored with ``offers``;
* ``update=0``: +1 (every sandbox product was updated within the hour).

* ``stock=1`` with ``offers``: +2 when the product's stock data is fresh
  (< 7 days; about 80 % of products); ``only-live-offers`` is free (every
  sandbox offer is live, so it changes nothing).

Products are asked for by ``asin`` or by ``code`` (not both): EAN-13,
ISBN-13, UPC-12 or ISBN-10, up to 100.  A code matches every product listed
under it (duplicate listings share a UPC), each returned and charged;
``code-limit`` caps the products per code.  Unknown ASINs and codes, and
every product of a locale the sandbox has no world for, are not returned and
cost 0.  A malformed code is a 400; more than 100 ASINs or codes, ``offers``
outside 20-100, or ``code-limit`` below 1 is a 405.  ``history=0`` gives
``"csv": null``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keepa_deals.keepa.csvtypes import CsvType
from keepa_deals.keepa.time import unix_ms_to_keepa_minutes
from keepa_deals.sandbox.catalog import Catalog, ProductState
from keepa_deals.sandbox.costs import product_cost
from keepa_deals.sandbox.history import RATING_TYPES, build_csv, extremes, normal_since_ms, trim
from keepa_deals.sandbox.offers import Offer, all_offers, buy_box, render_offer
from keepa_deals.sandbox.marketplaces import MARKETPLACES
from keepa_deals.sandbox.params import domain_param, flag_param, int_param
from keepa_deals.sandbox.universe import (
    AMAZON,
    COUNT_NEW_FBA,
    COUNT_NEW_FBM,
    CSV_TYPES,
    DAY_MS,
    NEW,
    USED,
    ProductSpec,
    ean_check_digit,
    is_isbn10,
    isbn10_to_13,
)
from keepa_deals.sandbox.wire import bad_request, out_of_range

MAX_ASINS = 100
OFFERS_RANGE = (20, 100)

# csv types filled from offers.
NEW_FBM_SHIPPING, NEW_FBA, BUY_BOX_SHIPPING = (
    CsvType.NEW_FBM_SHIPPING, CsvType.NEW_FBA, CsvType.BUY_BOX_SHIPPING)
USED_SHIPPING_BY_CONDITION = {
    2: CsvType.USED_NEW_SHIPPING, 3: CsvType.USED_VERY_GOOD_SHIPPING,
    4: CsvType.USED_GOOD_SHIPPING, 5: CsvType.USED_ACCEPTABLE_SHIPPING,
}


@dataclass(frozen=True, slots=True)
class ProductQuery:
    domain: int
    asins: tuple[str, ...]
    stats_days: int | None = None
    history: bool = True
    offers: int | None = None
    rating: bool = False
    buybox: bool = False
    update: int | None = None
    days: int | None = None
    #: Product codes as EAN-13 (``asins`` is then empty), and the cap per code.
    codes: tuple[str, ...] = ()
    code_limit: int | None = None
    stock: bool = False
    only_live_offers: bool = False


def _stats_days(raw: str) -> int:
    """``stats``: a number of days, or ``start,end`` as ISO dates or epoch ms."""
    raw = raw.strip()
    if "," not in raw:
        try:
            days = int(raw)
        except ValueError:
            raise bad_request("stats must be a number of days or 'start,end'") from None
        if days < 1:
            raise out_of_range("stats must be at least 1 day")
        return days
    start_s, _, end_s = raw.partition(",")
    stamps = []
    for part in (start_s.strip(), end_s.strip()):
        try:
            stamps.append(int(part))
        except ValueError:
            try:
                stamps.append(int(datetime.fromisoformat(part).timestamp() * 1000))
            except ValueError:
                raise bad_request("stats dates must be ISO-8601 or epoch milliseconds") from None
    if stamps[1] <= stamps[0]:
        raise out_of_range("stats: the end must come after the start")
    return max(1, math.ceil((stamps[1] - stamps[0]) / DAY_MS))


def normalise_code(code: str) -> str:
    """A product code as an EAN-13: UPC-12 gains a leading 0, ISBN-10 becomes
    its ISBN-13, a GTIN-14 with a leading 0 loses it; 400 when it is none of these."""
    c = code.strip().replace("-", "").upper()
    if is_isbn10(c):
        return isbn10_to_13(c)
    if c.isdigit() and len(c) == 14 and c[0] == "0":
        c = c[1:]
    if c.isdigit() and len(c) == 12:
        c = "0" + c
    if c.isdigit() and len(c) == 13 and ean_check_digit(c[:12]) == c[12]:
        return c
    raise bad_request("code must be an EAN-13, ISBN-13, UPC-12 or ISBN-10 with a valid check digit",
                      details=f"got {code.strip()[:20]!r}")


def _ids(raw: str) -> list[str]:
    return [a.strip() for a in raw.split(",") if a.strip()]


def parse_product_query(params: Mapping[str, str]) -> ProductQuery:
    domain = domain_param(params.get("domain"), "domain")
    raw, raw_codes = params.get("asin"), params.get("code")
    if raw and raw_codes:
        raise bad_request("asin and code cannot be used together")
    if not raw and not raw_codes:
        raise bad_request("asin (or code) is required", type="missingParameter")
    asins: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    if raw:
        asins = tuple(dict.fromkeys(a.upper() for a in _ids(raw)))
        if not asins:
            raise bad_request("asin is required", type="missingParameter")
    else:
        items = _ids(raw_codes or "")
        if not items:
            raise bad_request("code is required", type="missingParameter")
        if len(items) > MAX_ASINS:
            raise out_of_range(f"at most {MAX_ASINS} codes per request", details=f"got {len(items)}")
        codes = tuple(dict.fromkeys(normalise_code(c) for c in items))
    if len(asins) > MAX_ASINS:
        raise out_of_range(f"at most {MAX_ASINS} ASINs per request", details=f"got {len(asins)}")
    code_limit = int_param(params, "code-limit")
    if code_limit is not None and code_limit < 1:
        raise out_of_range("code-limit must be at least 1")
    offers = int_param(params, "offers")
    if offers is not None and not OFFERS_RANGE[0] <= offers <= OFFERS_RANGE[1]:
        raise out_of_range("offers must be between 20 and 100", details=f"got {offers}")
    days = int_param(params, "days")
    if days is not None and days < 1:
        raise out_of_range("days must be at least 1")
    update = int_param(params, "update")
    if update is not None and update < -1:
        raise out_of_range("update must be -1 or more")
    history = int_param(params, "history", 1)
    if history not in (0, 1):
        raise out_of_range("history must be 0 or 1")
    stats = params.get("stats")
    return ProductQuery(
        domain=domain,
        asins=asins,
        stats_days=_stats_days(stats) if stats else None,
        history=history == 1,
        offers=offers,
        rating=flag_param(params, "rating"),
        buybox=flag_param(params, "buybox"),
        update=update,
        days=days,
        codes=codes,
        code_limit=code_limit,
        stock=flag_param(params, "stock"),
        only_live_offers=flag_param(params, "only-live-offers"),
    )


def _avg_for_interval(avgs: tuple[int, int, int, int], days: int) -> int:
    for span, value in zip((30, 90, 180, 365), avgs, strict=True):
        if days <= span:
            return value
    return avgs[3]


def _stats(state: ProductState, q: ProductQuery, csv: list[list[int] | None],
           offers: list[Offer], show_offers: bool, bb_shown: bool, now_ms: int,
           current: list[int]) -> dict[str, Any]:
    spec = state.spec
    avgs = spec.avgs
    days = q.stats_days or 90
    lows, highs = extremes(csv)
    oos = [-1] * CSV_TYPES
    oos[AMAZON] = spec.amazon_oos_pct90
    oos[NEW] = 0 if current[NEW] > 0 else 100
    oos[USED] = 0 if current[USED] > 0 else 100
    bb = buy_box(offers) if bb_shown else None
    stats: dict[str, Any] = {
        "current": current,
        "avg": [_avg_for_interval(a, days) for a in avgs],
        "atIntervalStart": [_avg_for_interval(a, days) for a in avgs],
        "avg30": [a[0] for a in avgs],
        "avg90": [a[1] for a in avgs],
        "avg180": [a[2] for a in avgs],
        "avg365": [a[3] for a in avgs],
        "min": lows,
        "max": highs,
        "outOfStockPercentage30": oos,
        "outOfStockPercentage90": oos,
        "salesRankDrops30": spec.rank_drops[0],
        "salesRankDrops90": spec.rank_drops[1],
        "salesRankDrops180": spec.rank_drops[2],
        "salesRankDrops365": spec.rank_drops[3],
        "totalOfferCount": len(offers),
        "offerCountFBA": spec.normal[COUNT_NEW_FBA],
        "offerCountFBM": spec.normal[COUNT_NEW_FBM],
        "lastOffersUpdate": unix_ms_to_keepa_minutes(now_ms) if show_offers else -1,
        "retrievedOfferCount": min(len(offers), q.offers or 0) if show_offers else -2,
        "buyBoxPrice": -2,
        "buyBoxShipping": -2,
        "buyBoxSellerId": None,
        "buyBoxIsFBA": None,
        "buyBoxIsAmazon": None,
    }
    if bb_shown:
        stats.update(
            buyBoxPrice=bb.price if bb else -1,
            buyBoxShipping=bb.shipping if bb else -1,
            buyBoxSellerId=bb.seller_id if bb else None,
            buyBoxIsFBA=bb.is_fba if bb else None,
            buyBoxIsAmazon=bb.is_amazon if bb else None,
        )
    return stats


def _offer_series(csv: list[list[int] | None], current: list[int], offers: list[Offer], now_min: int) -> None:
    """Fill the offer-derived csv types (and their current values) from live offers."""
    new_fba = [o for o in offers if o.is_new and o.is_fba and not o.is_amazon]
    new_fbm = [o for o in offers if o.is_new and not o.is_fba]
    if new_fba:
        current[NEW_FBA] = new_fba[0].price
        csv[NEW_FBA] = [now_min, new_fba[0].price]
    if new_fbm:
        current[NEW_FBM_SHIPPING] = new_fbm[0].total
        csv[NEW_FBM_SHIPPING] = [now_min, new_fbm[0].price, new_fbm[0].shipping]
    for cond, t in USED_SHIPPING_BY_CONDITION.items():
        used = [o for o in offers if o.condition == cond]
        if used:
            current[t] = used[0].total
            csv[t] = [now_min, used[0].price, used[0].shipping]


def render_product(
    state: ProductState,
    q: ProductQuery,
    catalog: Catalog,
    now_ms: int,
    offer_fetch_fails: Callable[[], bool],
) -> tuple[dict[str, Any], int]:
    """The product object for one found ASIN, and what it costs."""
    spec = state.spec
    seed, start = catalog.config.seed, catalog.start_ms
    now_min = unix_ms_to_keepa_minutes(now_ms)
    offers = all_offers(state, seed)
    failed = q.offers is not None and offer_fetch_fails()
    show_offers = q.offers is not None and not failed
    found = min(len(offers), q.offers or 0)

    cost = product_cost(
        offers=q.offers, offers_found=found, offer_fetch_failed=failed,
        rating=q.rating, rating_fresh=spec.rating_fresh, buybox=q.buybox,
        update=q.update, updated_within_hour=True,  # lastUpdate below is < 1 h old
        stock=q.stock, stock_fresh=spec.stock_fresh,
    )

    csv = build_csv(state, seed, start, rating=q.rating)
    current = list(state.current)
    if not q.rating:
        for t in RATING_TYPES:
            current[t] = -1
    bb_shown = show_offers or (q.buybox and q.offers is None)
    if show_offers:
        _offer_series(csv, current, offers[:found], now_min)
    if bb_shown:
        bb = buy_box(offers)
        if bb is not None:
            current[BUY_BOX_SHIPPING] = bb.price + bb.shipping
            csv[BUY_BOX_SHIPPING] = [now_min, bb.price, bb.shipping]

    if q.update == 0:
        last_update = now_ms
    else:
        last_update = now_ms - ((spec.index * 7919) % 55 + 1) * 60_000
        if state.event is not None:
            last_update = max(last_update, state.event.time_ms)
    rating_age_days = 2 if spec.rating_fresh else 30
    changed = state.event.time_ms if state.event is not None else normal_since_ms(state, start)
    names = MARKETPLACES[spec.domain].names()

    product: dict[str, Any] = {
        "asin": spec.asin,
        "domainId": q.domain,
        "productType": 0,
        "title": spec.title,
        "parentAsin": None,
        "brand": spec.brand,
        "manufacturer": spec.brand,
        "productGroup": spec.product_group,
        "binding": "Paperback" if spec.is_book else spec.product_group,
        "rootCategory": spec.root_category,
        "categories": list(spec.categories),
        "categoryTree": [{"catId": spec.root_category, "name": names[spec.root_category]}]
        + [{"catId": c, "name": names[c]} for c in spec.categories],
        "imagesCSV": spec.image,
        "eanList": [spec.ean],
        "upcList": [spec.upc] if spec.upc else None,
        "trackingSince": unix_ms_to_keepa_minutes(spec.tracking_since_ms),
        "listedSince": unix_ms_to_keepa_minutes(spec.tracking_since_ms),
        "lastUpdate": unix_ms_to_keepa_minutes(last_update),
        "lastPriceChange": unix_ms_to_keepa_minutes(changed),
        "lastRatingUpdate": now_min - rating_age_days * 1440,
        "availabilityAmazon": 0 if spec.has_amazon else -1,
        "fbaFees": {"pickAndPackFee": spec.pick_and_pack_fee},
        "referralFeePercent": spec.referral_fee_pct,
        "referralFeePercentage": float(spec.referral_fee_pct),
        "monthlySold": spec.monthly_sold,
        "salesRankReference": spec.root_category,
    }
    if q.history:
        shown = trim(csv, q.days, now_ms) if q.days else csv
        product["csv"] = shown
        product["salesRanks"] = {str(spec.root_category): shown[3] or []}
    else:
        product["csv"] = None
        product["salesRanks"] = None
    if q.stats_days is not None:
        product["stats"] = _stats(state, q, csv, offers, show_offers, bb_shown, now_ms, current)
    if q.offers is not None:
        product["offersSuccessful"] = not failed
    if show_offers:
        product["offers"] = [render_offer(o, now_ms) for o in offers[:found]]
        product["liveOffersOrder"] = list(range(found))
        if q.stock:
            stock_age_days = 1 if spec.stock_fresh else 9
            product["lastStockUpdate"] = now_min - stock_age_days * 1440
            for o, rendered in zip(offers[:found], product["offers"], strict=True):
                rendered["stockCSV"] = [product["lastStockUpdate"], 1 + (o.offer_id * 7) % 30]
    return product, cost


def _specs(q: ProductQuery, catalog: Catalog) -> list[ProductSpec]:
    """The products asked for, in request order, each once."""
    if not q.codes:
        found = (catalog.spec(a) for a in q.asins)
        return [s for s in found if s is not None]
    seen: dict[str, ProductSpec] = {}
    for code in q.codes:
        matches = catalog.specs_by_code(code)
        for spec in matches[: q.code_limit] if q.code_limit else matches:
            seen.setdefault(spec.asin, spec)
    return list(seen.values())


def run_products(
    q: ProductQuery,
    catalog: Catalog | None,
    now_ms: int,
    offer_fetch_fails: Callable[[], bool],
) -> tuple[dict[str, Any], int]:
    """The ``/product`` payload and its total cost (``catalog``: the domain's, None without a world)."""
    products: list[dict[str, Any]] = []
    cost = 0
    if catalog is not None and catalog.domain == q.domain:
        for spec in _specs(q, catalog):
            state = catalog.state(spec.asin, now_ms)
            assert state is not None
            product, c = render_product(state, q, catalog, now_ms, offer_fetch_fails)
            products.append(product)
            cost += c
    return {"products": products}, cost
