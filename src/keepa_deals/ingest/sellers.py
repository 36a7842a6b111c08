"""Seller trust for the survivors: who sells the deal, and how far their ratings can be trusted.

After the offers stage (the only one whose reply names sellers), each row
gets the seller of the buy box, or else of the cheapest live offer of the
deal's kind, and that seller's trust score (:func:`keepa_deals.trust.trust_score`).
Sellers come from the store's cache (``keepa_cache`` kind ``seller``), asked
of Keepa's ``/seller`` (1 token per seller found, up to 100 per call) only
when missing or older than a day: a seller is looked up at most daily.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from datetime import timedelta

from keepa_deals.errors import KeepaDealsError
from keepa_deals.ingest.env import IngestEnv
from keepa_deals.ingest.evaluate import offer_matches
from keepa_deals.ingest.stages import StageResult
from keepa_deals.keepa.products import Product, ProductBatch
from keepa_deals.query import DealQuery
from keepa_deals.store import DealRow, StoreError
from keepa_deals.tokens import costs
from keepa_deals.tokens.errors import BudgetError
from keepa_deals.trust import trust_score

log = logging.getLogger("keepa_deals.ingest")

SELLER_CACHE = "seller"
#: A cached seller is asked again after this long.
SELLER_MAX_AGE = timedelta(days=1)


def seller_of(product: Product, price_type: int) -> str | None:
    """The buy box's seller, or the seller of the cheapest live offer of the deal's kind."""
    stats = product.stats
    if stats is not None and stats.buy_box_seller_id:
        return stats.buy_box_seller_id
    best: tuple[int, str] | None = None
    for o in product.live_offers:
        price = o.landed_price
        if o.seller_id and price is not None and price > 0 and offer_matches(price_type, o):
            if best is None or price < best[0]:
                best = (price, o.seller_id)
    return best[1] if best else None


def rate_sellers(env: IngestEnv, query: DealQuery, result: StageResult,
                 reply: ProductBatch) -> tuple[StageResult, int]:
    """``result`` with each row's seller and trust, and the tokens the look-ups cost."""
    rows = result.rows + result.refreshed
    if not rows:
        return result, 0
    products = reply.by_asin()
    who = {r.asin: seller_of(products[r.asin], query.price_type)
           for r in rows if r.asin in products}
    trust, spent = _trust(env, query.domain_id, [s for s in who.values() if s])

    def rated(row: DealRow) -> DealRow:
        sid = who.get(row.asin)
        return dataclasses.replace(row, seller_id=sid,
                                   seller_trust=trust.get(sid) if sid else None)

    return dataclasses.replace(result, rows=tuple(map(rated, result.rows)),
                               refreshed=tuple(map(rated, result.refreshed))), spent


def _trust(env: IngestEnv, domain: int, ids: Sequence[str]) -> tuple[dict[str, float | None], int]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}, 0
    store = env.store
    fresh_after = store.now() - SELLER_MAX_AGE
    out: dict[str, float | None] = {}
    try:
        cached = store.cache_read(SELLER_CACHE, domain, wanted)
    except StoreError as exc:  # the deals are paid for: saved without their sellers' trust
        log.warning("could not read the seller cache (%s): %d sellers' trust left unknown",
                    exc, len(wanted))
        return {}, 0
    for sid, entry in cached.items():
        if entry.fetched_at >= fresh_after:
            try:
                raw = json.loads(entry.text)
                out[sid] = trust_score(raw.get("rating"), raw.get("count"))
            except (ValueError, TypeError, AttributeError):  # a corrupt entry: asked again
                continue
    missing = [s for s in wanted if s not in out]
    spent = 0
    for i in range(0, len(missing), costs.MAX_SELLERS):
        batch = missing[i:i + costs.MAX_SELLERS]
        try:
            found = env.client.sellers(batch, domain=domain)
        except (KeepaDealsError, BudgetError) as exc:  # the deals are paid for: saved anyway
            log.warning("could not look up %d sellers: %s", len(batch), exc)
            continue
        spent += sum(1 for s in batch if s in found)
        try:
            store.cache_write(SELLER_CACHE, domain, {
                s.seller_id: json.dumps({"name": s.name, "rating": s.rating,
                                         "count": s.rating_count}) for s in found.values()})
        except StoreError as exc:  # looked up again next time; the deals keep their trust
            log.warning("could not cache %d sellers: %s", len(found), exc)
        for sid in batch:
            s = found.get(sid)
            out[sid] = trust_score(s.rating, s.rating_count) if s else None
    return out, spent


__all__ = ["SELLER_CACHE", "rate_sellers", "seller_of"]
