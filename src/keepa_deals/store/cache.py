"""Keepa's answers kept in the store: barcodes' ASINs, sellers, categories (``keepa_cache``).

One row per (kind, domain, key), its JSON text and when Keepa gave it; the
callers decide what is stale (a seller is asked again after a day, a
barcode's ASINs never change, a category name rarely).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from keepa_deals.store.driver import dialect_insert
from keepa_deals.store.schema import KEEPA_CACHE

#: Keys per ``IN (...)`` read.
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Cached:
    text: str
    fetched_at: datetime


def read_cache(conn: Connection, kind: str, domain_id: int,
               keys: Iterable[str] | None) -> dict[str, Cached]:
    """The cached entries among ``keys`` (None: every entry of the kind and domain)."""
    c = KEEPA_CACHE.c
    base = select(c.key, c.text_value, c.fetched_at).where(c.kind == kind,
                                                            c.domain_id == domain_id)
    if keys is None:
        return {r.key: Cached(r.text_value, r.fetched_at) for r in conn.execute(base)}
    wanted = sorted(set(keys))
    out: dict[str, Cached] = {}
    for i in range(0, len(wanted), _CHUNK):
        rows = conn.execute(base.where(c.key.in_(wanted[i:i + _CHUNK])))
        out.update({r.key: Cached(r.text_value, r.fetched_at) for r in rows})
    return out


def write_cache(conn: Connection, kind: str, domain_id: int, items: Mapping[str, str],
                now: datetime) -> None:
    """Set each key's text (replacing what was there), fetched ``now``."""
    if not items:
        return
    ins = dialect_insert(conn, KEEPA_CACHE)
    stmt = ins.on_conflict_do_update(
        index_elements=[KEEPA_CACHE.c.kind, KEEPA_CACHE.c.domain_id, KEEPA_CACHE.c.key],
        set_={"text_value": ins.excluded.text_value, "fetched_at": ins.excluded.fetched_at})
    conn.execute(stmt, [{"kind": kind, "domain_id": domain_id, "key": k, "text_value": v,
                         "fetched_at": now} for k, v in items.items()])


__all__ = ["Cached", "read_cache", "write_cache"]
