"""Validating what we send to Keepa, before a token is spent on it.

A /deal selection is checked field by field (docs/failure-classes.md, FC-10: integers as integers,
exactly one price type), a /product call for its ASINs and options.  Every
problem raises :class:`InvalidQuery` naming the field under Keepa's name.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from enum import IntEnum
from typing import Any

from keepa_deals.keepa.csvtypes import DEAL_PRICE_TYPES
from keepa_deals.keepa.errors import InvalidQuery

#: Amazon locales by Keepa domain id (7, the former .cn, is not served).
DOMAINS: dict[int, str] = {
    1: "com", 2: "co.uk", 3: "de", 4: "fr", 5: "co.jp", 6: "ca",
    8: "it", 9: "es", 10: "in", 11: "com.mx", 12: "com.br",
}
#: /deal serves every locale but Brazil.
DEAL_DOMAINS = frozenset(DOMAINS) - {12}

MAX_ASINS = 100
MAX_CATEGORIES = 500
OFFERS_MIN, OFFERS_MAX = 20, 100

_ASIN = re.compile(r"^[A-Z0-9]{10}$")


class DateRange(IntEnum):
    """The ``dateRange`` of a deal query, and the first index of avg/delta arrays."""

    DAY = 0
    WEEK = 1
    MONTH = 2
    NINETY_DAYS = 3


# --- /deal selections ----------------------------------------------------------

_INT = "int"
_BOOL = "bool"
_RANGE = "range"
_INTS = "ints"
_STR = "str"
_STRS = "strs"

_ATTRIBUTE_FILTERS = (
    "brand", "manufacturer", "productGroup", "model", "color", "size", "author", "binding",
    "format", "languages", "material", "type", "scent", "itemForm", "pattern", "style",
    "unitType", "edition", "itemTypeKeyword", "targetAudienceKeyword", "brandStoreName",
    "brandStoreUrlName", "websiteDisplayGroup", "websiteDisplayGroupName",
    "salesRankDisplayGroup",
)

#: Every key a selection may hold, with the kind of value it takes.
SELECTION_KEYS: dict[str, str] = {
    "page": _INT,
    "domainId": _INT,
    "priceTypes": _INTS,
    "dateRange": _INT,
    "sortType": _INT,
    "isRangeEnabled": _BOOL,
    "currentRange": _RANGE,
    "deltaRange": _RANGE,
    "deltaPercentRange": _RANGE,
    "deltaLastRange": _RANGE,
    "salesRankRange": _RANGE,
    "isFilterEnabled": _BOOL,
    "includeCategories": _INTS,
    "excludeCategories": _INTS,
    "minRating": _INT,
    "hasReviews": _BOOL,
    "filterErotic": _BOOL,
    "singleVariation": _BOOL,
    "isLowest": _BOOL,
    "isLowest90": _BOOL,
    "isLowestOffer": _BOOL,
    "isHighest": _BOOL,
    "isOutOfStock": _BOOL,
    "isBackInStock": _BOOL,
    "isRisers": _BOOL,
    "isPrimeExclusive": _BOOL,
    "mustHaveAmazonOffer": _BOOL,
    "mustNotHaveAmazonOffer": _BOOL,
    "warehouseConditions": _INTS,
    "titleSearch": _STR,
    "categorySearch": _STR,
    **{name: _STRS for name in _ATTRIBUTE_FILTERS},
}

_KIND_TEXT = {
    _INT: "an integer",
    _BOOL: "true or false",
    _RANGE: "a [min, max] pair of integers",
    _INTS: "a list of integers",
    _STR: "a string",
    _STRS: "a list of strings",
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bad(name: str, value: Any, kind: str) -> InvalidQuery:
    return InvalidQuery(name, f"must be {_KIND_TEXT[kind]}, got {type(value).__name__} {value!r}")


def _check(name: str, value: Any, kind: str) -> Any:
    """``value`` in its wire form, or InvalidQuery."""
    if kind == _INT:
        if not _is_int(value):
            raise _bad(name, value, kind)
        return value
    if kind == _BOOL:
        if not isinstance(value, bool):
            raise _bad(name, value, kind)
        return value
    if kind == _STR:
        if not isinstance(value, str):
            raise _bad(name, value, kind)
        return value
    if not isinstance(value, list | tuple):
        raise _bad(name, value, kind)
    if kind == _STRS:
        if not all(isinstance(v, str) for v in value):
            raise _bad(name, value, kind)
        return list(value)
    if not all(_is_int(v) for v in value):
        raise _bad(name, value, kind)
    if kind == _RANGE and len(value) != 2:
        raise _bad(name, value, kind)
    return list(value)


def validate_selection(selection: Mapping[str, Any], *, page: int | None = None) -> dict[str, Any]:
    """A /deal selection checked and in wire form (``priceTypes`` as a one-element list).

    ``page``, when given, replaces the selection's own page.
    """
    if not isinstance(selection, Mapping):
        raise InvalidQuery("selection", f"must be a mapping, got {type(selection).__name__}")
    out: dict[str, Any] = {}
    for name, value in selection.items():
        kind = SELECTION_KEYS.get(name)
        if kind is None:
            near = difflib.get_close_matches(str(name), SELECTION_KEYS, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise InvalidQuery(str(name), f"not a deal selection key{hint}")
        if value is None:
            continue
        if name == "priceTypes" and _is_int(value):
            value = [value]
        out[name] = _check(name, value, kind)
    if page is not None:
        out["page"] = _check("page", page, _INT)

    if "domainId" not in out:
        raise InvalidQuery("domainId", "is required")
    if out["domainId"] not in DEAL_DOMAINS:
        raise InvalidQuery("domainId", f"{out['domainId']} is not a deal locale "
                                       f"(one of {sorted(DEAL_DOMAINS)})")
    types = out.get("priceTypes")
    if not types or len(types) != 1:
        raise InvalidQuery("priceTypes", "exactly one price type is required, "
                                         f"got {types if types is not None else 'none'}")
    if types[0] not in DEAL_PRICE_TYPES:
        raise InvalidQuery("priceTypes", f"{types[0]} is not a deal price type "
                                         f"(one of {sorted(DEAL_PRICE_TYPES)})")
    if out.setdefault("page", 0) < 0:
        raise InvalidQuery("page", f"must be >= 0, got {out['page']}")
    if "dateRange" in out and out["dateRange"] not in {r.value for r in DateRange}:
        raise InvalidQuery("dateRange", f"must be 0-3, got {out['dateRange']}")
    if "sortType" in out and abs(out["sortType"]) not in {1, 2, 3, 4}:
        raise InvalidQuery("sortType", f"must be ±1-4, got {out['sortType']}")
    if "minRating" in out and not -1 <= out["minRating"] <= 50:
        raise InvalidQuery("minRating", f"must be -1 (off) or 0-50, got {out['minRating']}")
    for name in ("includeCategories", "excludeCategories"):
        if len(out.get(name, ())) > MAX_CATEGORIES:
            raise InvalidQuery(name, f"at most {MAX_CATEGORIES} categories, "
                                     f"got {len(out[name])}")
    return out


@dataclass(slots=True)
class DealSelection:
    """A typed /deal selection; ``extra`` holds any other key under Keepa's name.

    ``to_wire()`` gives the JSON object Keepa reads; it is validated the same
    way a plain dict selection is.
    """

    domain_id: int
    price_type: int
    date_range: int = DateRange.DAY
    sort_type: int | None = None
    page: int = 0
    is_range_enabled: bool | None = None
    current_range: tuple[int, int] | None = None
    delta_range: tuple[int, int] | None = None
    delta_percent_range: tuple[int, int] | None = None
    delta_last_range: tuple[int, int] | None = None
    sales_rank_range: tuple[int, int] | None = None
    is_filter_enabled: bool | None = None
    include_categories: list[int] | None = None
    exclude_categories: list[int] | None = None
    min_rating: int | None = None
    has_reviews: bool | None = None
    filter_erotic: bool | None = None
    single_variation: bool | None = None
    title_search: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, IntEnum):
                value = int(value)
            wire[_camel(f.name)] = value
        wire["priceTypes"] = wire.pop("priceType")
        for name, value in self.extra.items():
            if name in wire:
                raise InvalidQuery(name, "is set both as a field and in extra")
            wire[name] = value
        return validate_selection(wire)


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.capitalize() for part in rest)


# --- /product ----------------------------------------------------------------------


def normalize_asins(asins: str | Iterable[str]) -> list[str]:
    """Upper-cased, de-duplicated ASINs (order kept); at most 100."""
    if isinstance(asins, str):
        asins = [asins]
    out: list[str] = []
    seen: set[str] = set()
    for raw in asins:
        if not isinstance(raw, str):
            raise InvalidQuery("asin", f"ASINs are strings, got {type(raw).__name__} {raw!r}")
        asin = raw.strip().upper()
        if not _ASIN.match(asin):
            raise InvalidQuery("asin", f"{raw!r} is not an ASIN (10 letters and digits)")
        if asin not in seen:
            seen.add(asin)
            out.append(asin)
    if not out:
        raise InvalidQuery("asin", "no ASINs given")
    if len(out) > MAX_ASINS:
        raise InvalidQuery("asin", f"at most {MAX_ASINS} ASINs per request, got {len(out)}; "
                                   "split the batch")
    return out


def product_params(
    asins: list[str],
    *,
    domain: int,
    stats: int | str | None,
    history: bool,
    offers: int | None,
    rating: bool,
    buybox: bool,
    update: int | None,
    days: int | None,
) -> dict[str, Any]:
    """The query parameters of a /product call, validated."""
    check_domain(domain)
    for name, flag in (("history", history), ("rating", rating), ("buybox", buybox)):
        if not isinstance(flag, bool):
            raise _bad(name, flag, _BOOL)
    if offers is not None and (not _is_int(offers) or not OFFERS_MIN <= offers <= OFFERS_MAX):
        raise InvalidQuery("offers", f"must be an integer from {OFFERS_MIN} to {OFFERS_MAX}, "
                                     f"got {offers!r}")
    if update is not None and (not _is_int(update) or update < -1):
        raise InvalidQuery("update", f"must be an integer >= -1 (hours), got {update!r}")
    if days is not None and (not _is_int(days) or days < 1):
        raise InvalidQuery("days", f"must be a positive integer, got {days!r}")
    if stats is not None:
        if isinstance(stats, bool) or not isinstance(stats, int | str):
            raise InvalidQuery("stats", f"must be days (int) or 'start,end', got {stats!r}")
        if isinstance(stats, int) and stats < 1:
            raise InvalidQuery("stats", f"must be a positive number of days, got {stats}")
    params: dict[str, Any] = {
        "domain": domain,
        "asin": ",".join(asins),
        "history": history,
        "stats": stats,
        "offers": offers,
        "update": update,
        "days": days,
    }
    if rating:
        params["rating"] = True
    if buybox:
        params["buybox"] = True
    return params


# --- /query, /bestsellers, /seller, /category, /search, /product by code -------------


def check_domain(domain: Any) -> int:
    if not _is_int(domain) or domain not in DOMAINS:
        raise InvalidQuery("domain", f"{domain!r} is not a Keepa domain id "
                                     f"(one of {sorted(DOMAINS)})")
    return int(domain)


def finder_selection(selection: Mapping[str, Any], *, page: int, per_page: int,
                     max_per_page: int) -> dict[str, Any]:
    """A Product Finder selection with its ``page`` and ``perPage``: the keys are Keepa's
    (their meaning is Keepa's to check); the paging is checked here (``perPage`` 50 to
    10,000; past page 0 the pages up to it hold at most 10,000)."""
    if not isinstance(selection, Mapping):
        raise InvalidQuery("selection", f"must be an object, got {type(selection).__name__}")
    if not _is_int(page) or page < 0:
        raise InvalidQuery("page", f"must be an integer ≥ 0, got {page!r}")
    if not _is_int(per_page) or not 50 <= per_page <= max_per_page:
        raise InvalidQuery("perPage", f"must be an integer from 50 to {max_per_page}, "
                                      f"got {per_page!r}")
    if page > 0 and (page + 1) * per_page > max_per_page:
        raise InvalidQuery("page", f"page × perPage is at most {max_per_page} "
                                   f"(Keepa's limit), got {page} × {per_page}")
    for key in ("page", "perPage"):
        if key in selection:
            raise InvalidQuery(f"selection.{key}", "is set by the call, not the selection")
    return {**selection, "page": page, "perPage": per_page}


def seller_ids(ids: str | Iterable[str], *, limit: int) -> list[str]:
    if isinstance(ids, str):
        ids = [ids]
    out = list(dict.fromkeys(i.strip() for i in ids if isinstance(i, str) and i.strip()))
    if not out:
        raise InvalidQuery("seller", "no seller ids given")
    if len(out) > limit:
        raise InvalidQuery("seller", f"at most {limit} sellers per request, got {len(out)}")
    for sid in out:
        if not re.fullmatch(r"[A-Z0-9]{8,20}", sid):
            raise InvalidQuery("seller", f"{sid!r} is not a seller id")
    return out


def category_term(term: str) -> str:
    if not isinstance(term, str) or len(term.strip()) < 3:
        raise InvalidQuery("term", f"a category search needs at least 3 characters, got {term!r}")
    return term.strip()


def code_params(codes: list[str], *, domain: int, code_limit: int, stats: int | None,
                offers: int | None, stock: bool, only_live_offers: bool) -> dict[str, Any]:
    """``/product`` by ``code`` (barcodes already normalised): ``code-limit`` is always
    sent, so a code that matches many products cannot cost many tokens."""
    if not codes:
        raise InvalidQuery("code", "no codes given")
    if len(codes) > MAX_ASINS:
        raise InvalidQuery("code", f"at most {MAX_ASINS} codes per request, got {len(codes)}")
    if not _is_int(code_limit) or not 1 <= code_limit <= 100:
        raise InvalidQuery("code-limit", f"must be an integer from 1 to 100, got {code_limit!r}")
    params = product_params(["X" * 10], domain=domain, stats=stats, history=False,
                            offers=offers, rating=False, buybox=False, update=None, days=None)
    del params["asin"]
    params["code"] = ",".join(codes)
    params["code-limit"] = code_limit
    return {**params, **stock_params(offers=offers, stock=stock,
                                     only_live_offers=only_live_offers)}


def stock_params(*, offers: int | None, stock: bool, only_live_offers: bool) -> dict[str, Any]:
    for name, flag in (("stock", stock), ("only-live-offers", only_live_offers)):
        if not isinstance(flag, bool):
            raise _bad(name, flag, _BOOL)
    if (stock or only_live_offers) and not offers:
        raise InvalidQuery("stock" if stock else "only-live-offers",
                           "only means something with offers")
    out: dict[str, Any] = {}
    if stock:
        out["stock"] = True
    if only_live_offers:
        out["only-live-offers"] = True
    return out
