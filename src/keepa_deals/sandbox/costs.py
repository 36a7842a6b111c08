"""What each Keepa request costs, as the sandbox charges it.

Written from Keepa's documented costs (sections 3 and 7 of the Keepa facts,
``keepa-api.md``), and from nothing else: this module must never import the
client's cost code (``keepa_deals.tokens.costs``).  The client estimates
what a call will cost before it sends it; the sandbox charges what the call
did cost after the work.  When both read one table, a wrong constant is wrong
on both sides and every test passes; with two tables written separately from
the same documentation, ``tests/sandbox/test_costs_agree.py`` catches it.

The token bucket itself (refills once a minute, a cap of 60 × rate, admission
while the balance is positive) is not a cost and is not shared either: the
sandbox keeps its own copy in :mod:`keepa_deals.sandbox.accounts`, so the
budget's projections are checked against an independent bucket as well.

Tags in the comments are those of the facts document: [C] confirmed by
Keepa's own text or clients, [S] secondary, [I] inferred, [U] uncertain.
"""

from __future__ import annotations

import math

# --- /token ---------------------------------------------------------------------------------

#: ``/token`` is free. [C]
TOKEN_COST = 0

# --- /deal ----------------------------------------------------------------------------------

#: One ``/deal`` page ("5 per request providing up to 150 deals"). [C]
#: [U] whether an empty page past the end of the results costs 5 as well (one
#: third-party note says 1); the sandbox charges 5 for every page.
DEAL_PAGE_COST = 5
#: Deals on one page. [C]
DEALS_PER_PAGE = 150

# --- /product (all per returned product) --------------------------------------------------

#: The base cost of one returned product. [C]
PRODUCT_COST = 1
#: A requested product that is not returned costs nothing. [C for ``update=-1``
#: on a product missing from Keepa's database; I for unknown ASINs, which Keepa
#: does not return]
MISSING_PRODUCT_COST = 0
#: ``offers``: 6 per page of up to 10 offers found, **replacing** the base 1. [C]
OFFER_PAGE_COST = 6
OFFERS_PER_PAGE = 10
#: ``offers`` whose fetch failed: 1 token, and historical data only. [C]
OFFER_FETCH_FAILED_COST = 1
#: ``rating=1``: up to 1 more, charged only when the rating data was updated
#: less than 14 days ago. [C; S: a live call cost 2 instead of 1]
RATING_COST = 1
#: ``buybox=1``: 2 more; ignored when ``offers`` is used. [C]
BUYBOX_COST = 2
#: ``update=0`` (force live data): 1 more when the last update is less than an
#: hour old (older data is refreshed at no cost anyway). [C]
LIVE_UPDATE_COST = 1
#: ``stats``, ``history``, ``days``, ``code-limit``, ``only-live-offers``,
#: ``rental``, ``videos``, ``aplus``: no cost. [C]
FREE_PARAMETER_COST = 0
#: ``stock=1`` with ``offers``: 2 more when ``lastStockUpdate`` is < 7 days old;
#: nothing without ``offers``, nothing when the offer fetch failed. [C; I: the last]
STOCK_COST = 2
#: ``code=``: each product a code matches is returned and charged like an
#: ``asin=`` product (one GTIN once cost ~1500 tokens before ``code-limit``). [C/S]

# Documented, not simulated by the sandbox (listed so the table is complete):
#: ``historical-variations=1``: 1 more per product that has a parent. [C]
HISTORICAL_VARIATIONS_COST = 1
#: ``update`` set and offer data fresher than it: offers cost 5, no refresh. [C]
FRESH_OFFERS_COST = 5


def offer_pages(found: int) -> int:
    """Pages of offers for ``found`` offers: ⌈found / 10⌉, and at least one.

    [I] Keepa documents "6 per found offer page"; a product with no offer at
    all is charged one page by the sandbox (the fetch ran).
    """
    return max(1, math.ceil(max(0, found) / OFFERS_PER_PAGE))


def product_cost(
    *,
    offers: int | None = None,
    offers_found: int = 0,
    offer_fetch_failed: bool = False,
    rating: bool = False,
    rating_fresh: bool = True,
    buybox: bool = False,
    update: int | None = None,
    updated_within_hour: bool = True,
    stock: bool = False,
    stock_fresh: bool = True,
) -> int:
    """What one **returned** product costs.

    ``offers`` is the number of offers requested (``None``: no ``offers``);
    ``offers_found`` how many the fetch found (at most ``offers``).
    ``rating_fresh``: the rating data is younger than 14 days.
    ``updated_within_hour``: Keepa's last update of the product is under an
    hour old (only then does ``update=0`` cost extra).  ``stock_fresh``: the
    product's stock data is younger than 7 days (only then does ``stock`` cost).
    """
    if offers is not None:
        if offer_fetch_failed:
            cost = OFFER_FETCH_FAILED_COST
        else:
            cost = OFFER_PAGE_COST * offer_pages(min(offers_found, offers))
            if stock and stock_fresh:
                cost += STOCK_COST
    else:
        cost = PRODUCT_COST + (BUYBOX_COST if buybox else 0)
    if rating and rating_fresh:
        cost += RATING_COST
    if update == 0 and updated_within_hour:
        cost += LIVE_UPDATE_COST
    return cost


def deal_page_cost() -> int:
    """What one ``/deal`` page costs, whatever it holds."""
    return DEAL_PAGE_COST


def token_cost() -> int:
    """What ``/token`` costs."""
    return TOKEN_COST


# --- /query (Product Finder) --------------------------------------------------------------

#: Every Product Finder request. [C]
FINDER_COST = 10
#: Plus 1 per this many ASINs returned ("per 100 ASINs in the result set");
#: [S] rounded up (a secondary summary of the docs says so); [I] the ASINs of
#: the page returned, not every match (the docs warn that a large ``perPage``
#: costs more).
FINDER_ASINS_PER_TOKEN = 100
#: ``stats=1`` (search insights): 30 more, plus 1 per million matched products
#: (the query as a whole, not the page). [C]
FINDER_STATS_COST = 30
FINDER_STATS_MATCHES_PER_TOKEN = 1_000_000


def finder_cost(returned: int, *, stats: bool = False, matched: int = 0) -> int:
    """What one ``/query`` page costs: 10 + ⌈returned / 100⌉ (+ the insights)."""
    cost = FINDER_COST + math.ceil(max(0, returned) / FINDER_ASINS_PER_TOKEN)
    if stats:
        cost += FINDER_STATS_COST + math.ceil(max(0, matched) / FINDER_STATS_MATCHES_PER_TOKEN)
    return cost


# --- /bestsellers ---------------------------------------------------------------------------

#: One best-seller list. [C]
BESTSELLERS_COST = 50
#: No list for the category: an empty response and nothing charged. [C]
NO_BESTSELLERS_COST = 0


def bestsellers_cost(found: bool) -> int:
    return BESTSELLERS_COST if found else NO_BESTSELLERS_COST


# --- /seller --------------------------------------------------------------------------------

#: Per seller found; a seller not found costs 0. [C]
SELLER_COST = 1
#: ``storefront=1``: 9 more when the storefront holds at least 2 ASINs. [C]
STOREFRONT_COST = 9
STOREFRONT_MIN_ASINS = 2
#: ``storefront`` with ``update``: 50 in all when a collection from Amazon is
#: triggered (and succeeds), 10 when none is needed. [C]
STOREFRONT_COLLECTION_COST = 50


def seller_cost(
    *,
    storefront: bool = False,
    storefront_asins: int = 0,
    update: int | None = None,
    collection_age_h: float = 0.0,
) -> int:
    """What one **found** seller costs (a seller not found costs nothing)."""
    if not storefront or storefront_asins < STOREFRONT_MIN_ASINS:
        return SELLER_COST
    if update is not None and collection_age_h > update:
        return STOREFRONT_COLLECTION_COST
    return SELLER_COST + STOREFRONT_COST


# --- /category, /search?type=category -------------------------------------------------------

#: A category lookup: up to 10 ids, with or without their parents, found or
#: not. [C: docs and Keepa's Java client; PL says "+1 for parent tree"
#: (conflict): the sandbox follows the endpoint's own page]
CATEGORY_LOOKUP_COST = 1
#: A category search. [C]
CATEGORY_SEARCH_COST = 1


def category_lookup_cost() -> int:
    return CATEGORY_LOOKUP_COST


def category_search_cost() -> int:
    return CATEGORY_SEARCH_COST
