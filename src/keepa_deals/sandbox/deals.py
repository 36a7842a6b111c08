"""``/deal``: the selection, its filters and sort orders, and deal objects.

Validation follows Keepa: a selection that is not a JSON object, a missing
``domainId`` or a ``priceTypes`` without exactly one entry is a 400 (the bare
int keepa-py sends counts as one entry); a ``page``, ``dateRange`` or
``sortType`` outside its range is a 405.  Pages hold 150 deals; a page past
the end of the results is empty and still costs 5 tokens; pages past the
10 000th result are a 405.

Supported: sortType 1 (newest first by ``lastUpdate``), 2 (absolute delta),
3 (sales rank, low to high; no rank last), 4 (percent delta), negated to
invert, 0 meaning 1; ``currentRange``, ``deltaRange``, ``deltaPercentRange``,
``deltaLastRange`` and ``salesRankRange`` when ``isRangeEnabled`` is true;
``includeCategories``, ``excludeCategories``, ``titleSearch``,
``mustHaveAmazonOffer`` and ``mustNotHaveAmazonOffer`` whether or not
``isFilterEnabled`` is set.  Other selection keys are accepted and ignored.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from keepa_deals.keepa.csvtypes import DEAL_PRICE_TYPES
from keepa_deals.keepa.time import unix_ms_to_keepa_minutes
from keepa_deals.sandbox.catalog import Catalog, ProductState
from keepa_deals.sandbox.history import normal_since_ms
from keepa_deals.sandbox.params import DEAL_DOMAINS, as_int, domain_param
from keepa_deals.sandbox.universe import AMAZON, CSV_TYPES, SALES
from keepa_deals.sandbox.wire import bad_request, out_of_range

PAGE_SIZE = 150
MAX_RESULTS = 10_000
MAX_PAGE = MAX_RESULTS // PAGE_SIZE  # pages 0..66 reach the 10 000th result
RANGE_KEYS = ("currentRange", "deltaRange", "deltaPercentRange", "deltaLastRange", "salesRankRange")
DATE_RANGES = 4


@dataclass(frozen=True, slots=True)
class DealQuery:
    domain: int
    price_type: int
    date_range: int = 0
    sort_type: int = 1
    page: int = 0
    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)
    include_categories: frozenset[int] = frozenset()
    exclude_categories: frozenset[int] = frozenset()
    title_words: tuple[str, ...] = ()
    must_have_amazon: bool = False
    must_not_have_amazon: bool = False


def selection_from_text(text: str | bytes | None) -> dict[str, Any]:
    if text is None or (isinstance(text, str | bytes) and not text.strip()):
        raise bad_request("selection is required", type="missingParameter")
    try:
        selection = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("selection is not valid JSON") from None
    if not isinstance(selection, dict):
        raise bad_request("selection must be a JSON object")
    return selection


def _int_list(value: Any, name: str) -> list[int]:
    if not isinstance(value, list):
        raise bad_request(f"{name} must be an array of integers")
    return [as_int(v, name) for v in value]


def _range(value: Any, name: str) -> tuple[int, int]:
    items = _int_list(value, name)
    if len(items) != 2:
        raise bad_request(f"{name} must be [min, max]")
    return items[0], items[1]


def parse_selection(selection: dict[str, Any], domain: str | None = None) -> DealQuery:
    """Validate a selection as Keepa does; ``domain`` is the GET parameter, if any."""
    if "domainId" not in selection:
        raise bad_request("domainId is required", type="missingParameter")
    dom = domain_param(selection["domainId"], "domainId", DEAL_DOMAINS)
    if domain not in (None, "") and domain_param(domain, "domain", DEAL_DOMAINS) != dom:
        raise bad_request("domain and selection.domainId disagree")
    raw_types = selection.get("priceTypes", 0)
    types = [raw_types] if not isinstance(raw_types, list) else raw_types
    if len(types) != 1:
        raise bad_request("priceTypes must have exactly one entry", details=f"got {len(types)}")
    price_type = as_int(types[0], "priceTypes")
    if price_type not in DEAL_PRICE_TYPES:
        raise bad_request(f"priceTypes: {price_type} is not a deal price type")
    date_range = as_int(selection.get("dateRange", 0), "dateRange")
    if not 0 <= date_range < DATE_RANGES:
        raise out_of_range("dateRange must be 0, 1, 2 or 3")
    sort_type = as_int(selection.get("sortType", 0), "sortType") or 1
    if not 1 <= abs(sort_type) <= 4:
        raise out_of_range("sortType must be 1-4 (negative to invert)")
    page = as_int(selection.get("page", 0), "page")
    if not 0 <= page <= MAX_PAGE:
        raise out_of_range(f"page must be between 0 and {MAX_PAGE}", details=f"got {page}")
    ranges = {}
    if selection.get("isRangeEnabled") is True:
        ranges = {k: _range(selection[k], k) for k in RANGE_KEYS if selection.get(k) is not None}
    title = selection.get("titleSearch") or ""
    if not isinstance(title, str):
        raise bad_request("titleSearch must be a string")
    return DealQuery(
        domain=dom,
        price_type=price_type,
        date_range=date_range,
        sort_type=sort_type,
        page=page,
        ranges=ranges,
        include_categories=frozenset(_int_list(selection.get("includeCategories") or [], "includeCategories")),
        exclude_categories=frozenset(_int_list(selection.get("excludeCategories") or [], "excludeCategories")),
        title_words=tuple(w.lower() for w in title.split()),
        must_have_amazon=selection.get("mustHaveAmazonOffer") is True,
        must_not_have_amazon=selection.get("mustNotHaveAmazonOffer") is True,
    )


# --- deal values ----------------------------------------------------------------
def avg_row(state: ProductState, t: int) -> list[int]:
    """The weighted means over [day (48 h), week, month, 90 days] for csv type ``t``."""
    normal = state.spec.normal[t]
    avg30, avg90 = state.spec.avgs[t][0], state.spec.avgs[t][1]
    if normal > 0 and avg30 > 0:
        week = round((normal + avg30) / 2)
    else:
        week = avg30
    return [normal, week, avg30, avg90]


def delta_of(avg: int, current: int) -> int:
    """avg − current: positive when the value went down; 0 without data."""
    return avg - current if avg > 0 and current > 0 else 0


def delta_percent_of(avg: int, current: int) -> int:
    return round(delta_of(avg, current) * 100 / avg) if avg > 0 and current > 0 else 0


def _deal_last(state: ProductState, t: int) -> int:
    return state.spec.normal[t] - state.current[t] if state.lowered(t) else 0


@dataclass(frozen=True, slots=True)
class _Row:
    state: ProductState
    current: int
    delta: int
    delta_percent: int
    delta_last: int
    rank: int
    last_update: int


def _row(state: ProductState, q: DealQuery) -> _Row:
    p, r = q.price_type, q.date_range
    avg = avg_row(state, p)[r]
    cur = state.current[p]
    assert state.event is not None
    return _Row(state, cur, delta_of(avg, cur), delta_percent_of(avg, cur), _deal_last(state, p),
                state.current[SALES], state.event.time_ms)


def _passes_ranges(row: _Row, ranges: dict[str, tuple[int, int]]) -> bool:
    values = {"currentRange": row.current, "deltaRange": row.delta,
              "deltaPercentRange": row.delta_percent, "deltaLastRange": row.delta_last}
    for key, (lo, hi) in ranges.items():
        if key == "salesRankRange":
            if row.rank < 0 or row.rank < lo or (hi != -1 and row.rank > hi):
                return False
        elif not lo <= values[key] <= hi:
            return False
    return True


def _passes_filters(row: _Row, q: DealQuery) -> bool:
    title = row.state.spec.title.lower()
    if any(w not in title for w in q.title_words):
        return False
    has_amazon = row.state.current[AMAZON] > 0
    if (q.must_have_amazon and not has_amazon) or (q.must_not_have_amazon and has_amazon):
        return False
    return _passes_ranges(row, q.ranges)


def _in_categories(state: ProductState, cats: frozenset[int]) -> bool:
    spec = state.spec
    return spec.root_category in cats or any(c in cats for c in spec.categories)


def _sort_key(row: _Row, sort_type: int) -> tuple[int, ...]:
    kind = abs(sort_type)
    if kind == 1:
        return (-row.last_update,)
    if kind == 2:
        return (-row.delta,)
    if kind == 3:
        return (row.rank < 0, row.rank)
    return (-row.delta_percent,)


@lru_cache(maxsize=8192)
def render_deal(state: ProductState, start_ms: int) -> dict[str, Any]:
    """The deal object of a product in the feed (a function of its state: cached).

    The returned dict is shared between responses; callers must not change it.
    """
    spec = state.spec
    assert state.event is not None
    event_min = unix_ms_to_keepa_minutes(state.event.time_ms)
    normal_min = unix_ms_to_keepa_minutes(normal_since_ms(state, start_ms))
    avgs = [avg_row(state, t) for t in range(CSV_TYPES)]
    current = list(state.current)
    return {
        "asin": spec.asin,
        "parentAsin": None,
        "title": spec.title,
        "rootCat": spec.root_category,
        "categories": list(spec.categories),
        "image": [ord(c) for c in spec.image],
        "current": current,
        "currentSince": [
            -1 if current[t] < 0 else (event_min if state.lowered(t) else normal_min)
            for t in range(CSV_TYPES)
        ],
        "deltaLast": [_deal_last(state, t) for t in range(CSV_TYPES)],
        "delta": [[delta_of(avgs[t][r], current[t]) for t in range(CSV_TYPES)] for r in range(DATE_RANGES)],
        "deltaPercent": [
            [delta_percent_of(avgs[t][r], current[t]) for t in range(CSV_TYPES)] for r in range(DATE_RANGES)
        ],
        "avg": [[avgs[t][r] for t in range(CSV_TYPES)] for r in range(DATE_RANGES)],
        "lastUpdate": event_min,
        "creationDate": event_min,
        "lightningEnd": 0,
        "warehouseCondition": 0,
        "warehouseConditionComment": None,
    }


def run_deals(q: DealQuery, catalog: Catalog | None, now_ms: int) -> dict[str, Any]:
    """The ``/deal`` payload: one page of deals and the root-category facets.

    ``catalog`` is the marketplace's (None, or another marketplace's: an empty feed).
    """
    if catalog is None or catalog.domain != q.domain:
        return {"deals": {"dr": [], "categoryIds": [], "categoryNames": [], "categoryCount": []}}
    feed = catalog.feed(now_ms, q.price_type)
    names = catalog.market.names()
    rows = [row for row in (_row(s, q) for s in feed) if _passes_filters(row, q)]
    facets = Counter(r.state.spec.root_category for r in rows)
    if q.include_categories:
        rows = [r for r in rows if _in_categories(r.state, q.include_categories)]
    if q.exclude_categories:
        rows = [r for r in rows if not _in_categories(r.state, q.exclude_categories)]
    rows.sort(key=lambda r: (_sort_key(r, q.sort_type), r.state.asin), reverse=q.sort_type < 0)
    page = rows[q.page * PAGE_SIZE:(q.page + 1) * PAGE_SIZE]
    ordered = sorted(facets.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "deals": {
            "dr": [render_deal(r.state, catalog.start_ms) for r in page],
            "categoryIds": [c for c, _ in ordered],
            "categoryNames": [names[c] for c, _ in ordered],
            "categoryCount": [n for _, n in ordered],
        }
    }
