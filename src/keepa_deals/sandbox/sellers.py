"""Sellers: a pool per marketplace, and ``/seller``.

Every third-party offer in a marketplace is sold by one of the
:data:`POOL_SIZE` sellers of its pool (drawn from the seed and the domain), so
the same seller turns up on many products, as on Amazon; Amazon itself is a
seller too.  A seller has a name, a positive-rating percentage (0-100, as
Keepa's seller ``csv`` RATING) and a rating count: most are established and
well rated, some are new with a handful of ratings, some are poorly rated.

``/seller`` cost [C: keepa-api.md §3.6]: 1 per seller found, 0 for a seller
not found; with ``storefront=1`` (one seller only; a batch is an error) +9
when the storefront holds at least 2 ASINs; with ``update`` as well, 50 when a
collection from Amazon is triggered (the last one is older than ``update``
hours; every sandbox storefront was last collected :data:`STOREFRONT_AGE_H`
hours ago) and 10 when none is needed.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from keepa_deals.keepa.time import unix_ms_to_keepa_minutes
from keepa_deals.sandbox.catalog import Catalog
from keepa_deals.sandbox.costs import seller_cost
from keepa_deals.sandbox.marketplaces import MARKETPLACES
from keepa_deals.sandbox.params import NO_BR_DOMAINS, domain_param, flag_param, int_param
from keepa_deals.sandbox.wire import bad_request, out_of_range

POOL_SIZE = 400
MAX_SELLERS = 100
#: Hours since every sandbox storefront was last collected from Amazon.
STOREFRONT_AGE_H = 30
DAY_MS = 86_400_000
#: Seller ids: Amazon's are upper-case letters and digits, 10 to 20 long. [I]
_SELLER_ID_RE = re.compile(r"[A-Z0-9]{10,20}")
_FIRST = ("Book", "Page", "Media", "Second", "Blue", "Prime", "Shelf", "Corner", "Star", "River",
          "North", "Oak", "Maple", "Golden", "Urban", "Happy", "Quick", "Value", "Smart", "Lucky")
_LAST = ("Books", "Outlet", "Deals", "Store", "Trading", "Supply", "Traders", "Market", "Goods",
         "Emporium", "Warehouse", "Direct", "Co", "Resale", "Finds", "Shop")


@dataclass(frozen=True, slots=True)
class SellerSpec:
    seller_id: str
    name: str
    #: Positive ratings, percent (0-100); -1 when there is no rating yet.
    rating: int
    rating_count: int
    #: Days before the catalogue's start that Keepa began tracking the seller.
    tracked_days: int
    has_fba: bool
    is_amazon: bool = False


def drawn_seller_id(rng: random.Random) -> str:
    """A seller id as Keepa writes them (``A`` and 13 characters), drawn from ``rng``."""
    return "A" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=13))


@lru_cache(maxsize=16)
def seller_pool(seed: int, domain: int) -> tuple[SellerSpec, ...]:
    """The third-party sellers of a marketplace."""
    rng = random.Random(f"keepa-sandbox:{seed}:sellers:{domain}")
    pool = []
    for _ in range(POOL_SIZE):
        kind = rng.random()
        if kind < 0.1:  # new: a handful of ratings
            count = rng.randrange(1, 10)
            rating = 100 if rng.random() < 0.7 else rng.randrange(60, 100)
        elif kind < 0.25:  # poorly rated
            count = int(math.exp(rng.uniform(math.log(20), math.log(5000))))
            rating = rng.randrange(60, 89)
        else:
            count = int(math.exp(rng.uniform(math.log(50), math.log(200_000))))
            rating = rng.randrange(89, 101)
        pool.append(SellerSpec(
            seller_id=drawn_seller_id(rng),
            name=f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
            rating=rating,
            rating_count=count,
            tracked_days=rng.randrange(30, 3000),
            has_fba=rng.random() < 0.5,
        ))
    return tuple(pool)


def pool_seller(drawn: str, seed: int, domain: int) -> str:
    """The pool's seller for an offer whose seller was drawn as ``drawn``."""
    pool = seller_pool(seed, domain)
    return pool[int(hashlib.sha256(drawn.encode()).hexdigest()[:8], 16) % len(pool)].seller_id


def amazon_seller(domain: int) -> SellerSpec:
    m = MARKETPLACES[domain]
    return SellerSpec(m.amazon_seller_id, m.amazon_seller_name, 93, 1_500_000, 4000, True, is_amazon=True)


def find_seller(seller_id: str, seed: int, domain: int) -> SellerSpec | None:
    if seller_id == MARKETPLACES[domain].amazon_seller_id:
        return amazon_seller(domain)
    return next((s for s in seller_pool(seed, domain) if s.seller_id == seller_id), None)


@dataclass(frozen=True, slots=True)
class SellerQuery:
    domain: int
    seller_ids: tuple[str, ...]
    storefront: bool = False
    update: int | None = None


def parse_seller_query(params: Mapping[str, str]) -> SellerQuery:
    domain = domain_param(params.get("domain"), "domain", NO_BR_DOMAINS)
    raw = params.get("seller")
    if not raw or not raw.strip():
        raise bad_request("seller is required", type="missingParameter")
    ids = tuple(dict.fromkeys(s.strip() for s in raw.split(",") if s.strip()))
    if len(ids) > MAX_SELLERS:
        raise out_of_range(f"at most {MAX_SELLERS} sellers per request", details=f"got {len(ids)}")
    storefront = flag_param(params, "storefront")
    if storefront and len(ids) > 1:
        raise bad_request("storefront does not take a batch of sellers: ask for one seller")
    update = int_param(params, "update")
    if update is not None and update < 0:
        raise out_of_range("update must be 0 or more hours")
    return SellerQuery(domain, ids, storefront, update)


def storefront_asins(seller_id: str, catalog: Catalog, now_ms: int) -> list[str]:
    """The ASINs the seller has a live offer on now (the catalogue is scanned: not cheap)."""
    from keepa_deals.sandbox.offers import all_offers  # offers import this module

    asins = []
    seed = catalog.config.seed
    for spec in catalog.products:
        state = catalog.state(spec.asin, now_ms)
        if state is not None and any(o.seller_id == seller_id for o in all_offers(state, seed)):
            asins.append(spec.asin)
    return asins


def render_seller(s: SellerSpec, domain: int, start_ms: int, now_ms: int) -> dict[str, Any]:
    now_min = unix_ms_to_keepa_minutes(now_ms)
    since = unix_ms_to_keepa_minutes(start_ms - s.tracked_days * DAY_MS)
    return {
        "sellerId": s.seller_id,
        "sellerName": s.name,
        "domainId": domain,
        "trackedSince": since,
        "lastUpdate": now_min - 60,
        "lastRatingUpdate": now_min - 1440,
        "isScammer": False,
        "hasFBA": s.has_fba,
        "shipsFromChina": False,
        # csv[0] RATING (percent positive), csv[1] RATING_COUNT. [C: J Seller.java]
        "csv": [[since, s.rating, now_min - 1440, s.rating], [since, 0, now_min - 1440, s.rating_count]],
        "currentRating": s.rating,
        "currentRatingCount": s.rating_count,
        "ratingsLast30Days": max(0, s.rating_count // 60),
    }


def run_sellers(q: SellerQuery, catalog: Catalog | None, now_ms: int) -> tuple[dict[str, Any], int]:
    """The ``/seller`` payload and its cost; sellers not found are left out and cost 0."""
    sellers: dict[str, Any] = {}
    cost = 0
    payload: dict[str, Any] = {"sellers": sellers}
    bad = [s for s in q.seller_ids if not _SELLER_ID_RE.fullmatch(s)]
    if bad:
        payload["error"] = {"type": "invalidParameter", "message": "Invalid seller id.",
                            "details": ",".join(bad)[:200]}
    if catalog is None:
        return payload, 0
    for seller_id in q.seller_ids:
        spec = find_seller(seller_id, catalog.config.seed, q.domain)
        if spec is None:
            continue
        obj = render_seller(spec, q.domain, catalog.start_ms, now_ms)
        front: list[str] | None = None
        if q.storefront:
            front = storefront_asins(seller_id, catalog, now_ms)
            seen = unix_ms_to_keepa_minutes(now_ms) - 60
            obj["asinList"] = front
            obj["asinListLastSeen"] = [seen] * len(front)
            obj["totalStorefrontAsinsCSV"] = [seen, len(front)]
        sellers[seller_id] = obj
        cost += seller_cost(storefront=q.storefront, storefront_asins=len(front or []),
                            update=q.update, collection_age_h=STOREFRONT_AGE_H)
    return payload, cost
