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
    stock: bool = False,
) -> int:
    """An upper estimate of what a /product call for ``n`` products costs.

    Per product: 1, or with ``offers`` 6 per page of up to 10 offers instead of
    the 1; ``rating`` +1; ``buybox`` +2 (ignored by Keepa when ``offers`` is
    used); ``update=0`` +1; ``stock`` +2 with ``offers`` (ignored without).
    Keepa charges the real cost afterwards (fewer
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
    if stock and offers:
        per += STOCK_COST
    return n * per


#: ``stock=1`` (only with ``offers``): 2 more per product when the stock data is fresh.
STOCK_COST = 2

# --- /query, /bestsellers, /seller, /category, /search ----------------------------------

#: Product Finder: 10 per request, plus 1 per 100 ASINs of the result page.
QUERY_BASE_COST = 10
QUERY_ASINS_PER_TOKEN = 100
#: ``perPage``: the default and minimum, and the most one page may hold.
QUERY_MIN_PER_PAGE = 50
QUERY_MAX_PER_PAGE = 10_000
#: One best-seller list; a category without a list costs nothing (settled from the reply).
BESTSELLERS_COST = 50
#: Per seller found (a seller not found costs nothing); at most 100 per call.
SELLER_COST = 1
MAX_SELLERS = 100
#: ``/category``: up to 10 ids at the cost of one; ``/search?type=category``: 1.
CATEGORY_LOOKUP_COST = 1
MAX_CATEGORY_IDS = 10
CATEGORY_SEARCH_COST = 1


def estimate_query_cost(per_page: int) -> int:
    """An upper estimate of one Product Finder page of ``per_page`` ASINs: 10, plus 1 per
    (started) 100 ASINs.  Keepa documents "1 per 100 ASINs" without the rounding; a
    short last page costs less and ``tokensConsumed`` settles it."""
    return QUERY_BASE_COST + -(-max(0, per_page) // QUERY_ASINS_PER_TOKEN)


def estimate_seller_cost(n: int) -> int:
    """``n`` sellers, each found (the ones not found cost nothing)."""
    return SELLER_COST * max(0, n)


def estimate_category_cost(n: int) -> int:
    """``n`` category ids, looked up in batches of up to 10 at the price of one."""
    return CATEGORY_LOOKUP_COST * -(-max(0, n) // MAX_CATEGORY_IDS)


def estimate_code_cost(n_codes: int, code_limit: int, *, offers: int | None = None,
                       stock: bool = False) -> int:
    """``/product`` by ``code``: every product a code matches is charged, so a code may
    cost up to ``code_limit`` products (``code-limit`` is what bounds it)."""
    return estimate_product_cost(max(0, n_codes) * max(1, code_limit), offers=offers,
                                 stock=stock)
