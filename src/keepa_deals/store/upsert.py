"""The bulk deal upsert: ``INSERT … ON CONFLICT (asin, domain_id) DO UPDATE``.

The statement is built from the dialect's own ``insert().on_conflict_do_update()``
and compiled once per dialect, never run as per-row ORM merges; it runs at the
driver level with parameters already checked (``rows.row_params``), skipping
SQLAlchemy's per-value type processing: the upsert is the hot path of ingestion.

* SQLite: executemany, after reading (in the same transaction) which keys
  already exist, so the caller learns how many rows were added and updated.
* PostgreSQL: one statement per batch; the rows travel as one JSON array
  (``json_to_recordset``) and ``RETURNING (xmax = 0)`` tells inserts from updates.

Update rule: a row is a complete observation, so its values replace the
stored ones, ``None`` included, except for the columns in ``KEEP_WHEN_NONE``
(and any the caller adds), where ``None`` keeps what is stored.  ``first_seen``
is written once, on insert.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    Dialect,
    Insert,
    bindparam,
    column,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from keepa_deals.store.driver import DriverSQL
from keepa_deals.store.rows import ROW_FIELDS
from keepa_deals.store.schema import DEALS
from keepa_deals.store.types import UTCDateTime, inner_type, sqlite_datetime

#: Columns a ``None`` never erases: a refresh from product data does not know
#: when the feed last listed the deal, and the feed does not know when product
#: data was last fetched.
KEEP_WHEN_NONE: frozenset[str] = frozenset(
    {"title", "image_url", "category_name", "root_category", "seller_id", "seller_trust",
     "last_seen_in_feed", "last_refreshed", "keepa_last_update"}
)

#: Rows per executemany call.
BATCH_SIZE = 1000
#: Keys per ``IN (...)`` lookup.
LOOKUP_CHUNK = 500

_UPDATED_COLUMNS = tuple(n for n in ROW_FIELDS if n not in ("asin", "domain_id")) + (
    "query_name",
    "updated_at",
)
UPDATABLE_COLUMNS: frozenset[str] = frozenset(_UPDATED_COLUMNS)
#: Every parameter of one upserted row, in a fixed order.
_PARAM_KEYS: tuple[str, ...] = (*ROW_FIELDS, "query_name", "first_seen", "updated_at")
_TIME_KEYS = tuple(
    k for k in _PARAM_KEYS if isinstance(inner_type(getattr(DEALS.c, k).type), UTCDateTime)
)


def _set_clause(excluded: Any, keep_when_none: frozenset[str]) -> dict[str, Any]:
    """The update rule: every column but the key and ``first_seen`` takes the new value;
    those in ``keep_when_none`` keep the stored one when the new one is None."""
    set_: dict[str, Any] = {}
    for name in _UPDATED_COLUMNS:
        if name in keep_when_none:
            set_[name] = func.coalesce(excluded[name], DEALS.c[name])
        else:
            set_[name] = excluded[name]
    return set_


@lru_cache(maxsize=32)
def upsert_statement(dialect: str, keep_when_none: frozenset[str] = KEEP_WHEN_NONE) -> Insert:
    """The upsert for ``dialect`` ("sqlite" or "postgresql"), built once."""
    if dialect == "sqlite":
        ins: Any = sqlite.insert(DEALS)
    elif dialect == "postgresql":
        ins = postgresql.insert(DEALS)
    else:  # pragma: no cover - the engine factory accepts only these two
        raise ValueError(f"no upsert for dialect {dialect!r}")
    stmt: Insert = ins.on_conflict_do_update(
        index_elements=[DEALS.c.asin, DEALS.c.domain_id],
        set_=_set_clause(ins.excluded, keep_when_none),
    )
    return stmt


@lru_cache(maxsize=32)
def _driver_sql(dialect: Dialect, keep_when_none: frozenset[str]) -> DriverSQL:
    """The upsert as driver SQL (SQLite; PostgreSQL's is ``_postgres_json_sql``)."""
    return DriverSQL.compile(upsert_statement(dialect.name, keep_when_none), dialect,
                             _PARAM_KEYS)


def _sqlite_params(params: Sequence[dict[str, Any]], sql: DriverSQL) -> list[Any]:
    """Parameters as sqlite3 takes them: times as the text SQLAlchemy's column type writes."""
    texts: dict[datetime, str] = {}  # a batch shares most of its times (``now``)
    for p in params:
        for k in _TIME_KEYS:
            v = p[k]
            if v is not None:
                text = texts.get(v)
                if text is None:
                    text = texts[v] = sqlite_datetime(v)
                p[k] = text
    return sql.params(params)


def dedupe(params: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (asin, domain_id); the last one given wins."""
    by_key: dict[tuple[str, int], dict[str, Any]] = {}
    for p in params:
        key = (p["asin"], p["domain_id"])
        by_key.pop(key, None)  # keep the order of the last occurrence
        by_key[key] = p
    return list(by_key.values())


def existing_keys(conn: Connection, params: Sequence[dict[str, Any]]) -> set[tuple[str, int]]:
    """Which of the rows' (asin, domain_id) keys are already stored."""
    by_domain: dict[int, list[str]] = {}
    for p in params:
        by_domain.setdefault(p["domain_id"], []).append(p["asin"])
    found: set[tuple[str, int]] = set()
    # driver SQL: one statement text on PostgreSQL (an array parameter), so the server
    # plans it once; SQLAlchemy's expanding IN would render and plan every batch anew
    postgres = conn.dialect.name == "postgresql"
    for domain, asins in by_domain.items():
        for i in range(0, len(asins), LOOKUP_CHUNK):
            chunk = asins[i : i + LOOKUP_CHUNK]
            if postgres:
                rows = conn.exec_driver_sql(
                    "SELECT asin FROM deals WHERE domain_id = %(domain)s"
                    " AND asin = ANY(%(asins)s::varchar[])", {"domain": domain, "asins": chunk})
            else:
                marks = ",".join("?" * len(chunk))
                rows = conn.exec_driver_sql(
                    f"SELECT asin FROM deals WHERE domain_id = ? AND asin IN ({marks})",
                    (domain, *chunk))
            found.update((asin, domain) for (asin,) in rows)
    return found


def upsert_deals(
    conn: Connection,
    params: Sequence[dict[str, Any]],
    *,
    query: str,
    now: datetime,
    keep_when_none: frozenset[str] = KEEP_WHEN_NONE,
) -> tuple[int, int]:
    """Upsert checked, de-duplicated row params; returns (added, updated).

    Runs inside the caller's transaction: nothing commits here.
    """
    if not params:
        return 0, 0
    for p in params:
        p["query_name"] = query
        p["first_seen"] = now
        p["updated_at"] = now
    if conn.dialect.name == "postgresql":
        return _upsert_postgres(conn, params, keep_when_none)
    existing = existing_keys(conn, params)
    sql = _driver_sql(conn.dialect, keep_when_none)
    data = _sqlite_params(params, sql)
    for i in range(0, len(data), BATCH_SIZE):
        conn.exec_driver_sql(sql.text, data[i : i + BATCH_SIZE])
    updated = len(existing)
    return len(params) - updated, updated


@lru_cache(maxsize=32)
def _postgres_json_sql(dialect: Dialect, keep_when_none: frozenset[str]) -> str:
    """The PostgreSQL upsert of a whole batch in one statement: the rows travel as one
    JSON array (``json_to_recordset``), and ``RETURNING (xmax = 0)`` says which rows were
    inserted (a row an ``ON CONFLICT`` updated carries the updating transaction in xmax)."""
    rows = func.json_to_recordset(bindparam("rows", type_=postgresql.JSON)).table_valued(
        *(column(k, DEALS.c[k].type) for k in _PARAM_KEYS), name="batch"
    ).render_derived(with_types=True)
    ins = postgresql.insert(DEALS).from_select(
        list(_PARAM_KEYS), select(*(rows.c[k] for k in _PARAM_KEYS)))
    set_ = _set_clause(ins.excluded, keep_when_none)
    stmt: Any = ins.on_conflict_do_update(
        index_elements=[DEALS.c.asin, DEALS.c.domain_id], set_=set_
    ).returning(literal_column("(xmax = 0)"))
    return str(stmt.compile(dialect=dialect))


def _upsert_postgres(
    conn: Connection, params: Sequence[dict[str, Any]], keep_when_none: frozenset[str]
) -> tuple[int, int]:
    sql = _postgres_json_sql(conn.dialect, keep_when_none)
    added = 0
    for i in range(0, len(params), BATCH_SIZE):
        # orjson writes aware datetimes as RFC 3339 and floats exactly (shortest repr);
        # the rows were checked (rows.row_params): times are aware, numbers finite
        payload = orjson.dumps(params[i : i + BATCH_SIZE]).decode()
        added += sum(1 for (inserted,) in conn.exec_driver_sql(sql, {"rows": payload})
                     if inserted)
    return added, len(params) - added
