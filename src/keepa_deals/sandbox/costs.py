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

# Documented, not simulated by the sandbox (listed so the table is complete):
#: ``stock=1`` with ``offers``: 2 more when ``lastStockUpdate`` is < 7 days old. [C]
STOCK_COST = 2
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
) -> int:
    """What one **returned** product costs.

    ``offers`` is the number of offers requested (``None``: no ``offers``);
    ``offers_found`` how many the fetch found (at most ``offers``).
    ``rating_fresh``: the rating data is younger than 14 days.
    ``updated_within_hour``: Keepa's last update of the product is under an
    hour old (only then does ``update=0`` cost extra).
    """
    if offers is not None:
        if offer_fetch_failed:
            cost = OFFER_FETCH_FAILED_COST
        else:
            cost = OFFER_PAGE_COST * offer_pages(min(offers_found, offers))
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
