"""``/bestsellers``: a category's (or product group's) ASINs, best-selling first.

``category`` is a category node id of the marketplace (a root: every product
of it; a leaf: the products listed in it, ordered by their primary rank, as
Keepa orders sub-category lists by default) or a product group name
(``productGroup``, case-insensitive).  ``range`` 0 orders by the current
sales rank, 30/90/180 by that average; ``month`` and ``year`` (one of the
last 36 months, not with ``range``) by the 30-day average.  Products
without a rank are left out.  ``variations`` and ``sublist`` are accepted
(the sandbox has no variations and no sub-category ranks).

Cost [C: keepa-api.md §3.5]: 50 per list; no list for the category (unknown,
or empty) is an empty response (no ``bestSellersList``) and costs nothing.
Brazil (12) is not served (400).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from keepa_deals.keepa.time import unix_ms_to_keepa_minutes
from keepa_deals.sandbox.catalog import Catalog
from keepa_deals.sandbox.costs import bestsellers_cost
from keepa_deals.sandbox.params import NO_BR_DOMAINS, domain_param, flag_param, int_param
from keepa_deals.sandbox.universe import SALES, ProductSpec
from keepa_deals.sandbox.wire import bad_request, out_of_range

RANGES = {0: None, 30: 0, 90: 1, 180: 2}  # range → index into the SALES averages
#: The longest list (a root category's). [C]
MAX_LIST = 500_000
HISTORY_MONTHS = 36


@dataclass(frozen=True, slots=True)
class BestsellersQuery:
    domain: int
    category: str
    range: int = 0
    month: tuple[int, int] | None = None


def parse_bestsellers_query(params: Mapping[str, str]) -> BestsellersQuery:
    domain = domain_param(params.get("domain"), "domain", NO_BR_DOMAINS)
    category = (params.get("category") or "").strip()
    if not category:
        raise bad_request("category is required", type="missingParameter")
    rng = int_param(params, "range", 0)
    assert rng is not None
    if rng not in RANGES:
        raise out_of_range("range must be 0, 30, 90 or 180", details=f"got {rng}")
    month, year = int_param(params, "month"), int_param(params, "year")
    when: tuple[int, int] | None = None
    if (month is None) != (year is None):
        raise bad_request("month and year go together")
    if month is not None and year is not None:
        if params.get("range") not in (None, ""):
            raise bad_request("range cannot be used with month and year")
        if not 1 <= month <= 12:
            raise out_of_range("month must be 1-12")
        when = (year, month)
    flag_param(params, "variations")
    flag_param(params, "sublist")
    return BestsellersQuery(domain, category, rng, when)


def _check_month(when: tuple[int, int], now_ms: int) -> None:
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    back = (now.year - when[0]) * 12 + (now.month - when[1])
    if not 1 <= back <= HISTORY_MONTHS:
        raise out_of_range(f"month and year must be one of the last {HISTORY_MONTHS} months, "
                           "not the current one")


def _members(q: BestsellersQuery, catalog: Catalog) -> tuple[int, list[ProductSpec]]:
    """(categoryId, products) of the list; categoryId 0 for a product group."""
    try:
        cat = int(q.category)
    except ValueError:
        group = q.category.lower()
        return 0, [p for p in catalog.products if p.product_group.lower() == group]
    return cat, [p for p in catalog.products if p.root_category == cat or cat in p.categories]


def run_bestsellers(q: BestsellersQuery, catalog: Catalog | None, now_ms: int) -> tuple[dict[str, Any], int]:
    if q.month is not None:
        _check_month(q.month, now_ms)
    if catalog is None:
        return {}, bestsellers_cost(False)
    category_id, members = _members(q, catalog)
    index = RANGES[q.range] if q.month is None else 0

    def rank(p: ProductSpec) -> int:
        return p.normal[SALES] if index is None else p.avgs[SALES][index]

    ranked = sorted((p for p in members if rank(p) > 0), key=lambda p: (rank(p), p.asin))
    if not ranked:
        return {}, bestsellers_cost(False)
    return {
        "bestSellersList": {
            "domainId": q.domain,
            "lastUpdate": unix_ms_to_keepa_minutes(now_ms) - 30,
            "categoryId": category_id,
            "asinList": [p.asin for p in ranked[:MAX_LIST]],
        }
    }, bestsellers_cost(True)
