"""Category names: Keepa's categories cached in the store, and names resolved to ids.

::

    found = search_categories(client, store, domain, "science fiction")  # 1 token, cached
    cat_id = resolve_category(client, store, domain, "Books", where="q.toml: line 9")
    names = category_names(store, domain)                                 # {id: name}

A name is resolved from the cache when exactly one cached category has it
(case-insensitive); otherwise one ``/search?type=category`` (1 token) is made
and cached.  A name that matches nothing, or several categories, is a
ConfigError naming where it was written and the candidates with their ids.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable

from keepa_deals.errors import ConfigError, KeepaDealsError
from keepa_deals.ingest.env import IngestEnv
from keepa_deals.ingest.stages import StageResult
from keepa_deals.keepa.client import KeepaClient
from keepa_deals.keepa.lookups import Category
from keepa_deals.store import DealRow, DealStore, StoreError
from keepa_deals.tokens.costs import CATEGORY_LOOKUP_COST, MAX_CATEGORY_IDS
from keepa_deals.tokens.errors import BudgetError

log = logging.getLogger("keepa_deals.ingest")

#: The cache kind of categories (id → {"name", "parent"}).
CATEGORY_CACHE = "category"


def cache_categories(store: DealStore, domain: int, found: Iterable[Category]) -> None:
    store.cache_write(CATEGORY_CACHE, domain, {
        str(c.cat_id): json.dumps({"name": c.name, "parent": c.parent}) for c in found})


def cached_categories(store: DealStore, domain: int) -> dict[int, tuple[str, int | None]]:
    """Every cached category of ``domain``: id → (name, parent id)."""
    out: dict[int, tuple[str, int | None]] = {}
    for key, entry in store.cache_read(CATEGORY_CACHE, domain).items():
        try:
            raw = json.loads(entry.text)
            out[int(key)] = (str(raw["name"]), raw.get("parent"))
        except (ValueError, KeyError, TypeError):
            continue
    return out


def category_names(store: DealStore, domain: int) -> dict[int, str]:
    return {k: v[0] for k, v in cached_categories(store, domain).items()}


def search_categories(client: KeepaClient, store: DealStore, domain: int,
                      term: str) -> list[Category]:
    """Keepa's categories matching ``term`` (1 token), cached with their parents' ids."""
    result = client.search_categories(term, domain=domain)
    found = sorted(result.categories.values(), key=lambda c: (c.name.lower(), c.cat_id))
    try:
        cache_categories(store, domain, found)
    except StoreError as exc:  # paid for: the answer is used all the same, and asked again
        log.warning("could not cache %d categories found for %r: %s", len(found), term, exc)
    return found


def resolve_category(client: KeepaClient, store: DealStore, domain: int, name: str, *,
                     where: str) -> int:
    """The id of the one category called ``name``; ConfigError naming ``where`` otherwise."""
    wanted = name.strip().lower()

    def exact(pairs: Iterable[tuple[int, str]]) -> list[tuple[int, str]]:
        return sorted((i, n) for i, n in pairs if n.strip().lower() == wanted)

    hits = exact(category_names(store, domain).items())
    if len(hits) == 1:
        return hits[0][0]
    if not hits:
        found = search_categories(client, store, domain, name)
        hits = exact((c.cat_id, c.name) for c in found)
        if not hits:
            near = ", ".join(f"{c.cat_id} {c.name!r}" for c in found[:8])
            raise ConfigError(f"{where}: category name {name!r} matches no category"
                              + (f" (similar: {near})" if near else "")
                              + "; see `keepa-deals categories search`")
    if len(hits) > 1:
        listed = ", ".join(f"{i} {n!r}" for i, n in hits[:10])
        raise ConfigError(f"{where}: category name {name!r} matches {len(hits)} categories "
                          f"({listed}); write the id instead")
    return hits[0][0]




def name_categories(env: IngestEnv, domain: int, result: StageResult) -> tuple[StageResult, int]:
    """``result`` with a category name on every row whose root category has none (listed
    products carry no feed names): from the cache, the unknown ones looked up (1 token per
    10 ids) and cached.  Returns the tokens spent."""
    rows = result.rows + result.refreshed
    ids = {r.root_category for r in rows if r.category_name is None and r.root_category}
    if not ids:
        return result, 0
    try:
        names = category_names(env.store, domain)
    except StoreError as exc:  # the deals are paid for: saved without the names
        log.warning("could not read the category cache (%s): %d categories left unnamed",
                    exc, len(ids))
        return result, 0
    missing = sorted(i for i in ids if i not in names)
    spent = 0
    for i in range(0, len(missing), MAX_CATEGORY_IDS):
        try:
            found = env.client.categories(missing[i:i + MAX_CATEGORY_IDS], domain=domain,
                                          parents=True)  # the tree up to the root, same cost
        except (KeepaDealsError, BudgetError) as exc:  # a name is not worth losing the deals
            log.warning("could not look up category names: %s", exc)
            break
        spent += found.status.tokens_consumed if found.status else CATEGORY_LOOKUP_COST
        try:
            cache_categories(env.store, domain, [*found.parents.values(),
                                                 *found.categories.values()])
        except StoreError as exc:  # looked up again next time; these rows keep their names
            log.warning("could not cache %d category names: %s", len(found.categories), exc)
        names.update({c.cat_id: c.name for c in found.categories.values()})

    def named(row: DealRow) -> DealRow:
        if row.category_name is None and row.root_category in names:
            return dataclasses.replace(row, category_name=names[row.root_category])
        return row

    return dataclasses.replace(result, rows=tuple(map(named, result.rows)),
                               refreshed=tuple(map(named, result.refreshed))), spent


__all__ = ["CATEGORY_CACHE", "cache_categories", "cached_categories", "category_names",
           "name_categories", "resolve_category", "search_categories"]
