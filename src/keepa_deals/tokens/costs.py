"""What Keepa charges per call, as the client estimates it before sending.

The estimate is an upper bound: the reply's ``tokensConsumed`` settles the
difference (Keepa documents the costs per endpoint and parameter).
"""

from __future__ import annotations

#: What one /deal page costs (up to 150 deals).
DEAL_PAGE_COST = 5
#: Offers come in pages of this many; each page costs OFFER_PAGE_COST per product.
OFFERS_PER_PAGE = 10
OFFER_PAGE_COST = 6


def estimate_product_cost(
    n: int,
    *,
    offers: int | None = None,
    rating: bool = False,
    buybox: bool = False,
    update: int | None = None,
) -> int:
    """An upper estimate of what a /product call for ``n`` products costs.

    Per product: 1, or with ``offers`` 6 per page of up to 10 offers instead of
    the 1; ``rating`` +1; ``buybox`` +2 (ignored by Keepa when ``offers`` is
    used); ``update=0`` +1.  Keepa charges the real cost afterwards (fewer
    offers found, stale rating data and missing products cost less), and the
    response's ``tokensConsumed`` settles the difference.
    """
    if n <= 0:
        return 0
    per = 1
    if offers:
        per = OFFER_PAGE_COST * -(-int(offers) // OFFERS_PER_PAGE)
    if rating:
        per += 1
    if buybox and not offers:
        per += 2
    if update == 0:
        per += 1
    return n * per
