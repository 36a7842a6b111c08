"""``/category`` (lookup by id) and ``/search?type=category`` (by name).

Each marketplace has its own tree (:mod:`.marketplaces`): root categories and
their leaves.  A category object has Keepa's fields ``domainId``, ``catId``,
``name``, ``contextFreeName``, ``children``, ``parent`` (0 for a root),
``highestRank``, ``lowestRank``, ``productCount`` (counted in the
marketplace's catalogue) and ``isBrowseNode``.

Lookup [C: keepa-api.md §3.7]: ``category`` is up to 10 ids (0: every root
category), ``parents=1`` adds ``categoryParents`` (every ancestor of the
categories returned); unknown ids are left out; 1 token whatever the batch.
Search: ``term`` of at least 3 characters, every word of which must occur in
the name (case-insensitive); up to 50 results, most products first; 1 token,
also when nothing matches (``"categories": {}``).  ``type=product`` searches
are not simulated (400).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from keepa_deals.sandbox.catalog import Catalog
from keepa_deals.sandbox.costs import category_lookup_cost, category_search_cost
from keepa_deals.sandbox.marketplaces import Marketplace
from keepa_deals.sandbox.params import domain_param, flag_param
from keepa_deals.sandbox.wire import bad_request, out_of_range

MAX_LOOKUP_IDS = 10
MAX_SEARCH_RESULTS = 50
MIN_TERM_CHARS = 3


@dataclass(frozen=True, slots=True)
class CategoryLookup:
    domain: int
    ids: tuple[int, ...]
    parents: bool


@dataclass(frozen=True, slots=True)
class CategorySearch:
    domain: int
    words: tuple[str, ...]
    parents: bool


def parse_category_lookup(params: Mapping[str, str]) -> CategoryLookup:
    domain = domain_param(params.get("domain"), "domain")
    raw = params.get("category")
    if raw is None or not raw.strip():
        raise bad_request("category is required", type="missingParameter")
    ids: list[int] = []
    for part in raw.split(","):
        try:
            ids.append(int(part.strip()))
        except ValueError:
            raise bad_request("category must be category node ids (integers)",
                              details=f"got {part.strip()[:30]!r}") from None
    if len(ids) > MAX_LOOKUP_IDS:
        raise out_of_range(f"at most {MAX_LOOKUP_IDS} categories per lookup", details=f"got {len(ids)}")
    return CategoryLookup(domain, tuple(dict.fromkeys(ids)), flag_param(params, "parents"))


def parse_category_search(params: Mapping[str, str]) -> CategorySearch:
    domain = domain_param(params.get("domain"), "domain")
    kind = params.get("type")
    if not kind:
        raise bad_request("type is required (category)", type="missingParameter")
    if kind != "category":
        raise bad_request(f"type={kind[:20]} searches are not simulated by the sandbox; use type=category")
    term = (params.get("term") or "").strip()
    if len(term) < MIN_TERM_CHARS:
        raise bad_request(f"term must have at least {MIN_TERM_CHARS} characters", type="missingParameter"
                          if not term else "invalidParameter")
    return CategorySearch(domain, tuple(term.lower().split()), flag_param(params, "parents"))


@lru_cache(maxsize=8)
def _stats(catalog: Catalog) -> dict[int, tuple[int, int, int]]:
    """Per category: (product count, best rank, worst rank)."""
    out: dict[int, list[int]] = {}
    for spec in catalog.products:
        rank = spec.normal[3]
        for c in (spec.root_category, *spec.categories):
            entry = out.setdefault(c, [0, 0, 0])
            entry[0] += 1
            if rank > 0:
                entry[1] = rank if entry[1] == 0 else min(entry[1], rank)
                entry[2] = max(entry[2], rank)
    return {c: (n, hi, lo) for c, (n, hi, lo) in out.items()}


def category_object(market: Marketplace, cat_id: int, catalog: Catalog) -> dict[str, Any] | None:
    parent = market.parent_of(cat_id)
    if parent is None:
        return None
    name = market.names()[cat_id]
    root = market.root_by_id(cat_id)
    count, highest, lowest = _stats(catalog).get(cat_id, (0, 0, 0))
    return {
        "domainId": market.domain,
        "catId": cat_id,
        "name": name,
        "contextFreeName": name,
        "children": [c for c, _ in root.subs] if root is not None else [],
        "parent": parent,
        "highestRank": highest,
        "lowestRank": lowest,
        "productCount": count,
        "isBrowseNode": True,
    }


def _with_parents(payload: dict[str, Any], market: Marketplace, catalog: Catalog) -> None:
    parents: dict[str, Any] = {}
    for obj in payload["categories"].values():
        parent = obj["parent"]
        while parent:
            found = category_object(market, parent, catalog)
            if found is None:
                break
            parents[str(parent)] = found
            parent = found["parent"]
    payload["categoryParents"] = parents


def run_category_lookup(q: CategoryLookup, catalog: Catalog | None) -> tuple[dict[str, Any], int]:
    categories: dict[str, Any] = {}
    payload: dict[str, Any] = {"categories": categories}
    if catalog is not None:
        market = catalog.market
        ids = [r.id for r in market.roots] if 0 in q.ids else []
        ids += [i for i in q.ids if i != 0]
        for cat_id in dict.fromkeys(ids):
            obj = category_object(market, cat_id, catalog)
            if obj is not None:
                categories[str(cat_id)] = obj
        if q.parents:
            _with_parents(payload, market, catalog)
    elif q.parents:
        payload["categoryParents"] = {}
    return payload, category_lookup_cost()


def run_category_search(q: CategorySearch, catalog: Catalog | None) -> tuple[dict[str, Any], int]:
    categories: dict[str, Any] = {}
    payload: dict[str, Any] = {"categories": categories}
    if catalog is not None:
        market = catalog.market
        hits = [obj for cat_id, name in market.names().items()
                if all(w in name.lower() for w in q.words)
                and (obj := category_object(market, cat_id, catalog)) is not None]
        hits.sort(key=lambda o: (-o["productCount"], o["catId"]))
        for obj in hits[:MAX_SEARCH_RESULTS]:
            categories[str(obj["catId"])] = obj
        if q.parents:
            _with_parents(payload, market, catalog)
    elif q.parents:
        payload["categoryParents"] = {}
    return payload, category_search_cost()
