"""``/query``: Keepa's Product Finder over the marketplace's catalogue.

The query JSON (GET ``selection=``, or the POST body; ``domain`` in the query
string) holds filters, ``sort``, ``page`` and ``perPage``.  Filters are
ANDed, list entries ORed (at most 50); at least one filter is required
(400 otherwise), and a filter the sandbox does not simulate is a 400 naming
it, rather than a silently wider result.  Supported filters, with ``_lte``
/ ``_gte`` bounds on integers (values in the marketplace's minor units,
ranks, counts, percent):

* ``current_<TYPE>``, ``avg{7,30,90,180,365}_<TYPE>``,
  ``delta{1,7,30,90}_<TYPE>`` and ``deltaPercent{1,7,30,90}_<TYPE>`` (the
  average minus the current value: positive when it went down, as in /deal),
  ``deltaLast_<TYPE>``, for every csv type name (``AMAZON``, ``NEW``,
  ``USED``, ``SALES``, ``COUNT_NEW``, ...); a product without data for the
  type (-1) never matches a bound on it;
* ``salesRankDrops{30,90,180,365}``, ``offerCountFBA``, ``offerCountFBM``,
  ``totalOfferCount``, ``monthlySold``, ``outOfStockPercentage90``,
  ``trackingSince``;
* lists: ``rootCategory``, ``categories_include``, ``categories_exclude``
  (listed directly in the category), ``productGroup``, ``brand``,
  ``availabilityAmazon``, ``productType``; ``title`` (every keyword, as a
  whole word: no partial matches);
  ``hasReviews``, ``singleVariation``.

``sort``: up to three ``[field, "asc"|"desc"]`` over the numeric fields
above (without ``_lte``/``_gte``); by default ``current_SALES`` ascending,
products without the value last.  ``perPage`` defaults to 50 and is at least
50 (smaller values give 50 [I]); page 0 may ask for up to 10 000, other pages
need ``(page + 1) × perPage ≤ 10 000`` (405 otherwise).  The reply has
``asinList`` (this page) and ``totalResults`` (every match).

Cost [C: keepa-api.md §3.4]: 10 + ⌈ASINs returned / 100⌉, an empty page
included.  ``stats=1`` (search insights) is not simulated (400).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from keepa_deals.keepa.csvtypes import CsvType
from keepa_deals.keepa.time import unix_ms_to_keepa_minutes
from keepa_deals.sandbox.catalog import Catalog, ProductState
from keepa_deals.sandbox.costs import finder_cost
from keepa_deals.sandbox.deals import avg_row, delta_of, delta_percent_of
from keepa_deals.sandbox.params import as_int, domain_param, flag_param
from keepa_deals.sandbox.universe import AMAZON, COUNT_NEW_FBA, COUNT_NEW_FBM, COUNT_REVIEWS, COUNT_USED
from keepa_deals.sandbox.wire import bad_request, out_of_range

DEFAULT_PER_PAGE = 50
MAX_RESULTS = 10_000
MAX_LIST_ENTRIES = 50
MAX_SORTS = 3
#: Keepa's default order: current sales rank, ascending.
DEFAULT_SORT = (("current_SALES", False),)

Value = Callable[[ProductState], int]
_TYPES = {t.name: int(t) for t in CsvType}
_AVG_INDEX = {"30": 0, "90": 1, "180": 2, "365": 3}
_DELTA_INDEX = {"1": 0, "7": 1, "30": 2, "90": 3}
_WORD = re.compile(r"\w+")
_TYPED = re.compile(
    r"(current|avg(?:7|30|90|180|365)|delta(?:1|7|30|90)|deltaPercent(?:1|7|30|90)|deltaLast)_(\w+)")


def _total_offers(s: ProductState) -> int:
    n = s.spec.normal
    new = n[COUNT_NEW_FBA] + n[COUNT_NEW_FBM] if s.current[1] > 0 else 0
    used = n[COUNT_USED] if s.current[2] > 0 else 0
    return new + used + (1 if s.current[AMAZON] > 0 else 0)


_PLAIN: dict[str, Value] = {
    "salesRankDrops30": lambda s: s.spec.rank_drops[0],
    "salesRankDrops90": lambda s: s.spec.rank_drops[1],
    "salesRankDrops180": lambda s: s.spec.rank_drops[2],
    "salesRankDrops365": lambda s: s.spec.rank_drops[3],
    "offerCountFBA": lambda s: s.spec.normal[COUNT_NEW_FBA],
    "offerCountFBM": lambda s: s.spec.normal[COUNT_NEW_FBM],
    "totalOfferCount": _total_offers,
    "monthlySold": lambda s: s.spec.monthly_sold,
    "outOfStockPercentage90": lambda s: s.spec.amazon_oos_pct90,
    "trackingSince": lambda s: unix_ms_to_keepa_minutes(s.spec.tracking_since_ms),
}


def _typed_value(kind: str, t: int) -> Value:
    if kind == "current":
        return lambda s: s.current[t]
    if kind == "avg7":
        return lambda s: avg_row(s, t)[1]
    if kind.startswith("avg"):
        i = _AVG_INDEX[kind[3:]]
        return lambda s: s.spec.avgs[t][i]
    if kind == "deltaLast":
        return lambda s: s.spec.normal[t] - s.current[t] if s.lowered(t) else 0
    if kind.startswith("deltaPercent"):
        j = _DELTA_INDEX[kind[len("deltaPercent"):]]
        return lambda s: delta_percent_of(avg_row(s, t)[j], s.current[t])
    j = _DELTA_INDEX[kind[len("delta"):]]
    return lambda s: delta_of(avg_row(s, t)[j], s.current[t])


def numeric_field(name: str) -> tuple[Value, bool] | None:
    """The value of a numeric field, and whether -1 means "no data" for it."""
    if name in _PLAIN:
        return _PLAIN[name], False
    m = _TYPED.fullmatch(name)
    if m is None or m.group(2) not in _TYPES:
        return None
    kind = m.group(1)
    return _typed_value(kind, _TYPES[m.group(2)]), kind in ("current",) or kind.startswith("avg")


@dataclass(frozen=True, slots=True)
class FinderQuery:
    domain: int
    bounds: tuple[tuple[str, int, int], ...] = ()  # field, lo, hi
    lists: dict[str, frozenset[Any]] = field(default_factory=dict)
    title_words: tuple[str, ...] = ()
    has_reviews: bool | None = None
    sort: tuple[tuple[str, bool], ...] = DEFAULT_SORT  # field, descending
    page: int = 0
    per_page: int = DEFAULT_PER_PAGE


_INT_LISTS = ("rootCategory", "categories_include", "categories_exclude", "availabilityAmazon", "productType")
_STR_LISTS = ("productGroup", "brand")
_IGNORED = ("page", "perPage", "sort", "singleVariation")


def _list(value: Any, name: str, as_str: bool) -> frozenset[Any]:
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_LIST_ENTRIES:
        raise out_of_range(f"{name}: at most {MAX_LIST_ENTRIES} entries")
    if as_str:
        if not all(isinstance(v, str) for v in items):
            raise bad_request(f"{name} must be strings")
        return frozenset(v.lower() for v in items)
    return frozenset(as_int(v, name) for v in items)


def _sort(value: Any) -> tuple[tuple[str, bool], ...]:
    if not isinstance(value, list) or not value or len(value) > MAX_SORTS:
        raise bad_request(f"sort must be 1-{MAX_SORTS} [field, \"asc\"|\"desc\"] pairs")
    out = []
    for entry in value:
        if (not isinstance(entry, list) or len(entry) != 2 or entry[1] not in ("asc", "desc")
                or not isinstance(entry[0], str) or numeric_field(entry[0]) is None):
            raise bad_request("sort: each entry is [field, \"asc\"|\"desc\"] over a supported field",
                              details=str(entry)[:80])
        out.append((entry[0], entry[1] == "desc"))
    return tuple(out)


def parse_finder_query(selection: dict[str, Any], params: Mapping[str, str]) -> FinderQuery:
    domain = domain_param(params.get("domain"), "domain")
    if flag_param(params, "stats"):
        raise bad_request("stats=1 (search insights) is not simulated by the sandbox")
    bounds: dict[str, list[int]] = {}
    lists: dict[str, frozenset[Any]] = {}
    title: tuple[str, ...] = ()
    has_reviews: bool | None = None
    for key, value in selection.items():
        if value is None or key in _IGNORED:
            continue
        if key.endswith(("_lte", "_gte")):
            name = key[:-4]
            if numeric_field(name) is None:
                raise bad_request(f"{key} is not a filter the sandbox simulates")
            pair = bounds.setdefault(name, [-(2**63), 2**63])
            pair[1 if key.endswith("_lte") else 0] = as_int(value, key)
        elif key in _INT_LISTS or key in _STR_LISTS:
            lists[key] = _list(value, key, key in _STR_LISTS)
        elif key == "title":
            if not isinstance(value, str):
                raise bad_request("title must be a string")
            title = tuple(_WORD.findall(value.lower()))
        elif key == "hasReviews":
            has_reviews = value is True
        else:
            raise bad_request(f"{key} is not a filter the sandbox simulates")
    if not bounds and not lists and not title and has_reviews is None:
        raise bad_request("the query needs at least one filter")
    per_page = max(DEFAULT_PER_PAGE, as_int(selection.get("perPage") or DEFAULT_PER_PAGE, "perPage"))
    page = as_int(selection.get("page") or 0, "page")
    if page < 0 or per_page > MAX_RESULTS or (page > 0 and (page + 1) * per_page > MAX_RESULTS):
        raise out_of_range(f"page and perPage must stay within the first {MAX_RESULTS} results",
                           details=f"page {page}, perPage {per_page}")
    sort = _sort(selection["sort"]) if selection.get("sort") else DEFAULT_SORT
    return FinderQuery(domain, tuple((n, lo, hi) for n, (lo, hi) in bounds.items()), lists,
                       title, has_reviews, sort, page, per_page)


def _matches(s: ProductState, q: FinderQuery) -> bool:
    spec = s.spec
    for name, lo, hi in q.bounds:
        found = numeric_field(name)
        assert found is not None
        value_of, minus_one_is_none = found
        v = value_of(s)
        if (minus_one_is_none and v < 0) or not lo <= v <= hi:
            return False
    lists = q.lists
    cats = {spec.root_category, *spec.categories}
    checks: tuple[tuple[str, Callable[[], bool]], ...] = (
        ("rootCategory", lambda: spec.root_category in lists["rootCategory"]),
        ("categories_include", lambda: bool(set(spec.categories) & lists["categories_include"])),
        ("categories_exclude", lambda: not cats & lists["categories_exclude"]),
        ("productGroup", lambda: spec.product_group.lower() in lists["productGroup"]),
        ("brand", lambda: spec.brand.lower() in lists["brand"]),
        ("availabilityAmazon", lambda: (0 if s.current[AMAZON] > 0 else -1) in lists["availabilityAmazon"]),
        ("productType", lambda: 0 in lists["productType"]),
    )
    if not all(check() for key, check in checks if key in lists):
        return False
    title = _WORD.findall(spec.title.lower())
    if any(w not in title for w in q.title_words):
        return False
    return q.has_reviews is None or (spec.normal[COUNT_REVIEWS] > 0) == q.has_reviews


def _sort_key(s: ProductState, sort: tuple[tuple[str, bool], ...]) -> tuple[Any, ...]:
    key: list[Any] = []
    for name, desc in sort:
        found = numeric_field(name)
        assert found is not None
        v = found[0](s)
        missing = found[1] and v < 0 or (name == "current_SALES" and v < 0)
        key += [missing, -v if desc else v]
    return (*key, s.spec.asin)


def run_finder(q: FinderQuery, catalog: Catalog | None, now_ms: int) -> tuple[dict[str, Any], int]:
    matched: list[ProductState] = []
    if catalog is not None and catalog.domain == q.domain:
        for spec in catalog.products:
            state = catalog.state(spec.asin, now_ms)
            if state is not None and _matches(state, q):
                matched.append(state)
    matched.sort(key=lambda s: _sort_key(s, q.sort))
    page = matched[q.page * q.per_page:(q.page + 1) * q.per_page]
    asins = [s.spec.asin for s in page]
    return {"asinList": asins, "totalResults": len(matched)}, finder_cost(len(asins))

