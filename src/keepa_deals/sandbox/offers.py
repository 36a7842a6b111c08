"""Marketplace offers of a product, consistent with its current prices.

The cheapest new third-party offer is priced at ``current[NEW]``, the cheapest
used offer at ``current[USED]``, and Amazon's own offer (when Amazon has it
in stock) at ``current[AMAZON]``; the counts match ``COUNT_NEW_FBA``,
``COUNT_NEW_FBM`` and ``COUNT_USED``.  Offers are listed cheapest first
(price plus shipping), the order in which a request for N offers finds them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from keepa_deals.keepa.time import unix_ms_to_keepa_minutes
from keepa_deals.sandbox.catalog import ProductState
from keepa_deals.sandbox.marketplaces import MARKETPLACES
from keepa_deals.sandbox.sellers import drawn_seller_id, pool_seller
from keepa_deals.sandbox.universe import (
    AMAZON,
    COUNT_NEW_FBA,
    COUNT_NEW_FBM,
    COUNT_USED,
    NEW,
    USED,
)

#: amazon.com's own seller id (each marketplace has its own: see :mod:`.marketplaces`).
AMAZON_SELLER_ID = MARKETPLACES[1].amazon_seller_id
CONDITION_NEW = 1
#: Used conditions: 2 like new, 3 very good, 4 good, 5 acceptable.
USED_CONDITIONS = (2, 3, 4, 5)


@dataclass(frozen=True, slots=True)
class Offer:
    offer_id: int
    seller_id: str
    condition: int
    is_fba: bool
    is_prime: bool
    is_amazon: bool
    price: int
    shipping: int

    @property
    def total(self) -> int:
        return self.price + self.shipping

    @property
    def is_new(self) -> bool:
        return self.condition == CONDITION_NEW


def all_offers(state: ProductState, seed: int) -> list[Offer]:
    """Every live offer of the product in this state, cheapest first; third-party
    offers are sold by the sellers of the marketplace's pool (:func:`.sellers.pool_seller`)."""
    spec = state.spec
    market = MARKETPLACES[spec.domain]
    event_k = state.event.k if state.event is not None else "none"
    rng = random.Random(f"keepa-sandbox:{seed}:offers:{spec.asin}:{event_k}")
    fbm_shipping = market.book_shipping if spec.is_book else rng.choice((0, 499, 599))
    book_shipping = market.book_shipping

    def _seller(rng: random.Random) -> str:
        return pool_seller(drawn_seller_id(rng), seed, spec.domain)

    raw: list[tuple[str, int, bool, bool, int, int]] = []  # seller, cond, fba, amazon, price, ship

    if state.current[AMAZON] > 0:
        raw.append((market.amazon_seller_id, CONDITION_NEW, True, True, state.current[AMAZON], 0))

    n_fba, n_fbm = spec.normal[COUNT_NEW_FBA], spec.normal[COUNT_NEW_FBM]
    if n_fba + n_fbm and state.current[NEW] > 0:
        cheapest = rng.randrange(n_fba + n_fbm)
        for i in range(n_fba + n_fbm):
            fba = i < n_fba
            price = state.current[NEW] if i == cheapest else round(state.current[NEW] * rng.uniform(1.0, 1.8))
            raw.append((_seller(rng), CONDITION_NEW, fba, False, price, 0 if fba else fbm_shipping))

    n_used = spec.normal[COUNT_USED]
    if n_used and state.current[USED] > 0:
        for i in range(n_used):
            fba = i < spec.used_fba
            cond = rng.choices(USED_CONDITIONS, (2, 4, 5, 2))[0]
            price = state.current[USED] if i == 0 else round(state.current[USED] * rng.uniform(1.0, 2.5))
            raw.append((_seller(rng), cond, fba, False, price, 0 if fba else book_shipping))

    offers = [
        Offer(offer_id=i, seller_id=s, condition=c, is_fba=fba, is_prime=fba, is_amazon=amz,
              price=p, shipping=sh)
        for i, (s, c, fba, amz, p, sh) in enumerate(raw)
    ]
    offers.sort(key=lambda o: (o.total, o.offer_id))
    return offers


@dataclass(frozen=True, slots=True)
class BuyBox:
    price: int
    shipping: int
    seller_id: str
    is_fba: bool
    is_amazon: bool


def buy_box(offers: list[Offer]) -> BuyBox | None:
    """Amazon's offer if any, else the cheapest new FBA offer, else the cheapest new offer."""
    new = [o for o in offers if o.is_new]
    if not new:
        return None
    pick = next((o for o in new if o.is_amazon), None) or next((o for o in new if o.is_fba), None) or new[0]
    return BuyBox(pick.price, pick.shipping, pick.seller_id, pick.is_fba, pick.is_amazon)


def render_offer(offer: Offer, now_ms: int) -> dict[str, Any]:
    seen = unix_ms_to_keepa_minutes(now_ms) - offer.offer_id % 7
    return {
        "offerId": offer.offer_id,
        "lastSeen": seen,
        "sellerId": offer.seller_id,
        "offerCSV": [seen, offer.price, offer.shipping],
        "condition": offer.condition,
        "conditionComment": None,
        "isPrime": offer.is_prime,
        "isMAP": False,
        "isShippable": True,
        "isAddonItem": False,
        "isPreorder": False,
        "isWarehouseDeal": False,
        "isScam": False,
        "isAmazon": offer.is_amazon,
        "isPrimeExcl": False,
        "isFBA": offer.is_fba,
        "shipsFromChina": False,
    }
