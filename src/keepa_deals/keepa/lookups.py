"""Typed results of Keepa's lookups beyond deals and products.

* :class:`FinderPage` — one ``/query`` (Product Finder) page: ``asinList`` and
  ``totalResults``.
* :class:`BestSellerList` — ``/bestsellers``: ``bestSellersList`` (none when
  Keepa has no list for the category: an empty list, which costs nothing).
* :class:`Seller` — ``/seller``: ``sellers`` by id (a seller Keepa does not know
  is left out); rating 0-100 (percent positive) and the rating count.
* :class:`Category` — ``/category`` and ``/search?type=category``:
  ``categories`` by id (with ``categoryParents`` when parents were asked for).

A body of the wrong shape raises MalformedResponse naming the place, as the
deal and product parsers do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from keepa_deals.keepa import _shape
from keepa_deals.tokens.status import TokenStatus


@dataclass(frozen=True, slots=True)
class FinderPage:
    asins: tuple[str, ...]
    #: How many products match the selection (all pages).
    total_results: int
    page: int
    per_page: int
    status: TokenStatus | None

    @property
    def is_last(self) -> bool:
        return (self.page + 1) * self.per_page >= self.total_results or \
            len(self.asins) < self.per_page


@dataclass(frozen=True, slots=True)
class BestSellerList:
    category_id: int | None
    asins: tuple[str, ...]
    last_update: datetime | None
    status: TokenStatus | None


@dataclass(frozen=True, slots=True)
class Seller:
    seller_id: str
    name: str | None
    domain_id: int | None
    #: Percent positive ratings (0-100), None when Keepa has none.
    rating: int | None
    rating_count: int | None
    last_update: datetime | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Category:
    cat_id: int
    name: str
    parent: int | None
    children: tuple[int, ...]
    domain_id: int | None
    product_count: int | None


@dataclass(frozen=True, slots=True)
class Categories:
    categories: dict[int, Category]
    #: With ``parents``: every parent of the categories asked for, by id.
    parents: dict[int, Category]
    status: TokenStatus | None


def _asins(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if type(value) is not list or not all(isinstance(a, str) for a in value):
        _shape.fail(what, "expected a list of ASINs")
    return tuple(value)


def parse_finder_page(body: Mapping[str, Any], status: TokenStatus | None, *, page: int,
                      per_page: int) -> FinderPage:
    asins = _asins(body.get("asinList"), "/query asinList")
    total = _shape.opt_int(body, "totalResults", "/query")
    return FinderPage(asins, total if total is not None else len(asins), page, per_page, status)


def parse_best_sellers(body: Mapping[str, Any], status: TokenStatus | None) -> BestSellerList:
    raw = body.get("bestSellersList")
    if raw is None:
        return BestSellerList(None, (), None, status)
    d = _shape.obj(raw, "/bestsellers bestSellersList")
    cat = _shape.opt_int(d, "categoryId", "/bestsellers")
    return BestSellerList(cat, _asins(d.get("asinList"), "/bestsellers asinList"),
                          _shape.opt_time(d, "lastUpdate", "/bestsellers"), status)


def _rating(d: Mapping[str, Any], key: str, csv_index: int, what: str) -> int | None:
    value = _shape.opt_int(d, key, what)
    if value is None:  # older replies: the newest point of csv[RATING] / csv[RATING_COUNT]
        csv = d.get("csv")
        if isinstance(csv, list) and len(csv) > csv_index:
            series = csv[csv_index]
            if isinstance(series, list) and len(series) >= 2 and type(series[-1]) is int:
                value = series[-1]
    return value if value is not None and value >= 0 else None


def parse_seller(value: Any) -> Seller:
    d = _shape.obj(value, "/seller seller")
    sid = d.get("sellerId")
    if not isinstance(sid, str) or not sid:
        _shape.fail("/seller seller", "no sellerId")
    what = f"/seller {sid}"
    return Seller(sid, _shape.opt_str(d, "sellerName", what),
                  _shape.opt_int(d, "domainId", what),
                  _rating(d, "currentRating", 0, what), _rating(d, "currentRatingCount", 1, what),
                  _shape.opt_time(d, "lastUpdate", what), d)


def parse_sellers(body: Mapping[str, Any]) -> dict[str, Seller]:
    raw = body.get("sellers")
    if raw is None:
        return {}
    sellers = _shape.obj(raw, "/seller sellers")
    return {str(k): parse_seller(v) for k, v in sellers.items() if v is not None}


def parse_category(value: Any) -> Category:
    d = _shape.obj(value, "category")
    cat = _shape.opt_int(d, "catId", "category")
    name = d.get("name")
    if cat is None or not isinstance(name, str):
        _shape.fail("category", "expected catId and name")
    what = f"category {cat}"
    children = _shape.opt_int_list(d, "children", what) or []
    parent = _shape.opt_int(d, "parent", what)
    return Category(cat, name, parent or None, tuple(children),
                    _shape.opt_int(d, "domainId", what),
                    _shape.opt_int(d, "productCount", what))


def _category_map(raw: Any, what: str) -> dict[int, Category]:
    if raw is None:
        return {}
    parsed = (parse_category(v) for v in _shape.obj(raw, what).values() if v is not None)
    return {c.cat_id: c for c in parsed}


def parse_categories(body: Mapping[str, Any], status: TokenStatus | None) -> Categories:
    return Categories(_category_map(body.get("categories"), "categories"),
                      _category_map(body.get("categoryParents"), "categoryParents"), status)


__all__ = ["BestSellerList", "Categories", "Category", "FinderPage", "Seller",
           "parse_best_sellers", "parse_categories", "parse_category", "parse_finder_page",
           "parse_seller", "parse_sellers"]
