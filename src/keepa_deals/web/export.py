"""Every column of the current deals, as CSV or JSON, streamed (``deals export``).

One record per deal: every column of ``deals`` in table order, then what is derived from
them: the profit's breakdown (``buy_item_cents``, ``cost_cents``, ``fees_cents``,
``sale_price_basis``), the risk signals' readings (``offer_condition_name``,
``sales_estimated``) and the links.  Money is whole cents, percentages percent, times
ISO 8601 UTC; an unknown value is an empty CSV field or JSON ``null``.

Rows are read in chunks (``yield_per``) and written as they come: 100,000 deals take
the memory of one chunk.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import IO, Any

from sqlalchemy import Connection, and_, select

from keepa_deals.deals_view import DealDefinition
from keepa_deals.store.corrupt import readable_rows
from keepa_deals.store.links import amazon_url, buy_url, keepa_url
from keepa_deals.store.schema import DEALS
from keepa_deals.web import decide
from keepa_deals.web.listing import SORTS, DealFilters, Order, SortKey

_C = DEALS.c
#: Rows per fetch from the database.
CHUNK = 1000

#: The derived fields, after the table's columns.
DERIVED = (
    "buy_item_cents", "cost_cents", "fees_cents", "sale_price_basis",
    "offer_condition_name", "sales_estimated", "amazon_url", "keepa_url", "buy_url",
)
COLUMNS: tuple[str, ...] = (*(c.name for c in DEALS.columns), *DERIVED)


def record(m: Mapping[Any, Any]) -> dict[str, Any]:
    """One deal's export record (a stored row's mapping)."""
    out = {c.name: m[c.name] for c in DEALS.columns}
    parts = decide.breakdown(m)
    out.update(
        buy_item_cents=None if parts is None else parts["buy_price_cents"],
        cost_cents=None if parts is None else parts["cost_cents"],
        fees_cents=None if parts is None else parts["fees_cents"],
        sale_price_basis=decide.sale_price_basis(m),
        offer_condition_name=decide.condition_name(m["offer_condition"]),
        sales_estimated=decide.sales_estimated(m),
        amazon_url=amazon_url(m["asin"], m["domain_id"]),
        keepa_url=keepa_url(m["asin"], m["domain_id"]),
        buy_url=buy_url(m["asin"], m["domain_id"], m["price_type"]),
    )
    return out


def rows(conn: Connection, definition: DealDefinition, now: datetime, filters: DealFilters,
         sort: SortKey = SortKey.PROFIT, order: Order | None = None,
         limit: int | None = None) -> Iterator[dict[str, Any]]:
    """The current deals matching ``filters``, best first by ``sort``, as records."""
    column = _C[SORTS[sort][0]]
    desc = (order or SORTS[sort][1]) is Order.DESC
    # unknown values last, ties by id: the list's own order
    keys = [column.is_(None), column.desc() if desc else column.asc(),
            _C.id.desc() if desc else _C.id.asc()]
    stmt = select(DEALS).where(and_(definition.where(now), filters.clause())).order_by(*keys)
    if limit is not None:
        stmt = stmt.limit(limit)
    result = conn.execution_options(yield_per=CHUNK).execute(stmt)
    for chunk in result.partitions():
        # a row whose identity or a required value is unreadable is skipped (FC-29)
        for row in readable_rows(chunk):
            yield record(row._mapping)


def _text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def write_csv(records: Iterator[dict[str, Any]], out: IO[str]) -> int:
    """A header line, then one line per record; returns how many records."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    n = 0
    for r in records:
        writer.writerow([_text(r[c]) for c in COLUMNS])
        n += 1
    return n


def write_json(records: Iterator[dict[str, Any]], out: IO[str]) -> int:
    """A JSON array of objects, written one record at a time; returns how many."""
    n = 0
    out.write("[")
    for r in records:
        out.write(",\n " if n else "\n ")
        out.write(json.dumps(r, default=_json_default, ensure_ascii=False))
        n += 1
    out.write("\n]\n" if n else "]\n")
    return n


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot export {type(value).__name__}")
