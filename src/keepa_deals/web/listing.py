"""The deal list: filters, sorting and paging over the current deals.

Every list starts from :class:`keepa_deals.deals_view.DealDefinition` (which rows are
deals at all) and narrows it with the user's filters.  Sorting always puts unknown
values last and breaks ties by row id, so paging is stable.  Every bound is checked
here (an integer past 32 bits or a NaN never reaches the database).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import ColumnElement, Connection, Row, and_, false, func, select, true
from sqlalchemy.sql.util import ClauseAdapter

from keepa_deals.deals_view import DealDefinition
from keepa_deals.store.corrupt import readable_rows
from keepa_deals.store.schema import DEALS

_C = DEALS.c

INT32 = 2**31 - 1
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_OFFSET = 1_000_000
MAX_SEARCH = 100
#: Counts stop here (see list_deals).
COUNT_LIMIT = 1_000
#: A page is looked for among at most this many rows in sort order before sorting all
#: the matches (see list_deals).
WALK_ROWS = 2_000

#: What a search for an ASIN looks like: an ISBN-10 or a B0… ASIN.
_ASIN = re.compile(r"[0-9]{9}[0-9X]|B[0-9A-Z]{9}")
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
#: A deal query's name (as query files require it).
QUERY_NAME = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class SortKey(StrEnum):
    PROFIT = "profit"
    ROI = "roi"
    MARGIN = "margin"
    RANK = "rank"
    DROPS_30 = "drops30"
    DROPS_90 = "drops90"
    PRICE = "price"
    BELOW_AVG = "below_avg"
    LAST_SEEN = "last_seen"
    SALES = "sales"


class Order(StrEnum):
    ASC = "asc"
    DESC = "desc"


#: Sort key → (column, the order a click on its header starts with).
SORTS: dict[SortKey, tuple[str, Order]] = {
    SortKey.PROFIT: ("profit_cents", Order.DESC),
    SortKey.ROI: ("roi_percent", Order.DESC),
    SortKey.MARGIN: ("margin_percent", Order.DESC),
    SortKey.RANK: ("sales_rank", Order.ASC),
    SortKey.DROPS_30: ("rank_drops_30", Order.DESC),
    SortKey.DROPS_90: ("rank_drops_90", Order.DESC),
    SortKey.PRICE: ("current_price_cents", Order.ASC),
    SortKey.BELOW_AVG: ("percent_below_avg", Order.DESC),
    SortKey.LAST_SEEN: ("last_seen_in_feed", Order.DESC),
    SortKey.SALES: ("sales_per_month", Order.DESC),
}

Cents = Annotated[int, Field(ge=-INT32, le=INT32)]
PositiveCents = Annotated[int, Field(ge=0, le=INT32)]
Count = Annotated[int, Field(ge=0, le=INT32)]
Percent = Annotated[float, Field(ge=-1e9, le=1e9, allow_inf_nan=False)]


class DealFilters(BaseModel):
    """The filters of a deal list; every one left out is off.  Money is whole cents,
    percentages are percent (``50`` = 50 %)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_profit_cents: Cents | None = Field(None, description="Profit at least this (cents).")
    max_profit_cents: Cents | None = Field(None, description="Profit at most this (cents).")
    min_roi: Percent | None = Field(None, description="ROI at least this (percent).")
    max_rank: Annotated[int, Field(ge=1, le=INT32)] | None = Field(
        None, description="Sales rank at most this (1 is the best seller)."
    )
    min_drops_30: Count | None = Field(
        None, description="At least this many rank drops in 30 days.")
    min_drops_90: Count | None = Field(
        None, description="At least this many rank drops in 90 days.")
    min_price_cents: PositiveCents | None = Field(
        None, description="Buy price at least this (cents).")
    max_price_cents: PositiveCents | None = Field(
        None, description="Buy price at most this (cents).")
    min_below_avg: Percent | None = Field(
        None, description="At least this many percent below its average price."
    )
    category: Annotated[int, Field(ge=0, le=2**62)] | None = Field(
        None, description="Keepa root category id."
    )
    min_trust: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] | None = Field(
        None, description="The seller's trust score at least this (0-100: the Wilson lower "
        "bound of its positive ratings; deals without a known seller are left out)."
    )
    q: Annotated[str, Field(max_length=MAX_SEARCH, pattern=NO_CONTROL)] | None = Field(
        None, description="Words in the title, or an ASIN (no control characters)."
    )
    # --- risk signals --------------------------------------------------------------------
    no_amazon: bool | None = Field(
        None, description="True: only deals Amazon itself does not offer now.")
    min_sales: Count | None = Field(
        None, description="At least this many sales a month (Keepa's, else estimated).")
    max_offers_used: Count | None = Field(
        None, description="At most this many used offers.")
    query: Annotated[str, Field(pattern=QUERY_NAME)] | None = Field(
        None, description="Only the deals of this deal query (its name)."
    )
    domain: Annotated[int, Field(ge=1, le=12)] | None = Field(
        None, description="Only this Keepa domain id (1 = amazon.com)."
    )

    @field_validator("q")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        if v is None:
            return None
        return v.strip() or None

    @model_validator(mode="after")
    def _ranges(self) -> Self:
        for low, high in (("min_profit_cents", "max_profit_cents"),
                          ("min_price_cents", "max_price_cents")):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and hi < lo:
                raise ValueError(f"{high} ({hi}) is below {low} ({lo})")
        return self

    def by_asin(self) -> bool:
        """Is the text search an ASIN (looked up through its index)?"""
        return self.q is not None and _is_asin(self.q)

    def active(self) -> dict[str, Any]:
        """The filters that are set."""
        return self.model_dump(exclude_none=True)

    def clause(self) -> ColumnElement[bool]:
        parts: list[ColumnElement[bool]] = []
        if self.min_profit_cents is not None:
            parts.append(_C.profit_cents >= self.min_profit_cents)
        if self.max_profit_cents is not None:
            parts.append(_C.profit_cents <= self.max_profit_cents)
        if self.min_roi is not None:
            parts.append(_C.roi_percent >= self.min_roi)
        if self.max_rank is not None:
            parts.append(_C.sales_rank <= self.max_rank)
        if self.min_drops_30 is not None:
            parts.append(_C.rank_drops_30 >= self.min_drops_30)
        if self.min_drops_90 is not None:
            parts.append(_C.rank_drops_90 >= self.min_drops_90)
        if self.min_price_cents is not None:
            parts.append(_C.current_price_cents >= self.min_price_cents)
        if self.max_price_cents is not None:
            parts.append(_C.current_price_cents <= self.max_price_cents)
        if self.min_below_avg is not None:
            parts.append(_C.percent_below_avg >= self.min_below_avg)
        if self.category is not None:
            parts.append(_C.root_category == self.category)
        if self.min_trust is not None:
            parts.append(_C.seller_trust >= self.min_trust)
        if self.no_amazon:
            parts.append(_C.amazon_in_stock == false())
        if self.min_sales is not None:
            parts.append(_C.sales_per_month >= self.min_sales)
        if self.max_offers_used is not None:
            parts.append(_C.offers_used <= self.max_offers_used)
        if self.query is not None:
            parts.append(_C.query_name == self.query)
        if self.domain is not None:
            parts.append(_C.domain_id == self.domain)
        if self.q is not None:
            parts.append(_search(self.q))
        return and_(true(), *parts)


def _search(text: str) -> ColumnElement[bool]:
    """An ASIN finds its deal (through the unique index); anything else is title words."""
    if _is_asin(text):
        return _C.asin == text.upper()
    return func.lower(_C.title).contains(text.lower(), autoescape=True)


def _is_asin(text: str) -> bool:
    upper = text.upper()
    return bool(_ASIN.fullmatch(upper)) and any(ch.isdigit() for ch in upper)


class ListRequest(DealFilters):
    """A page of the deal list: the filters, the order, the page."""

    sort: SortKey = Field(SortKey.PROFIT, description="The column to sort by.")
    order: Order | None = Field(
        None, description="asc or desc (default: the column's natural order, best first)."
    )
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = Field(
        DEFAULT_LIMIT, description="Deals per page."
    )
    offset: Annotated[int, Field(ge=0, le=MAX_OFFSET)] = Field(
        0, description="How many deals to skip."
    )

    @property
    def effective_order(self) -> Order:
        return self.order or SORTS[self.sort][1]

    def filters(self) -> DealFilters:
        return DealFilters.model_validate(self.model_dump(include=set(DealFilters.model_fields)))


#: The columns a list item carries.
LIST_COLUMNS = (
    "id", "asin", "domain_id", "query_name", "title", "image_url", "root_category",
    "category_name", "current_price_cents", "price_includes_shipping", "avg90_cents",
    "percent_below_avg", "sales_rank", "rank_drops_30", "rank_drops_90", "offers_used",
    "est_sale_price_cents", "profit_cents", "roi_percent", "margin_percent",
    "first_seen", "last_seen_in_feed", "last_refreshed", "currency", "seller_id", "seller_trust",
    "price_type", "amazon_in_stock", "offers_new", "offers_fba", "offer_condition",
    "monthly_sold", "sales_per_month", "price_changed_at",
)


@dataclass(frozen=True, slots=True)
class Listing:
    #: How many deals match: exact when ``total_exact``, else a lower bound.
    total: int
    total_exact: bool
    rows: list[Row[Any]]
    #: Whether more rows follow this page.
    more: bool


def list_deals(
    conn: Connection,
    definition: DealDefinition,
    now: datetime,
    request: ListRequest,
    *,
    count_limit: int = COUNT_LIMIT,
) -> Listing:
    """One page of current deals matching the request, and how many match.

    The count stops at ``count_limit`` (then ``total_exact`` is False): past that, an
    exact figure costs a scan of the whole table and tells the reader nothing more.
    Rows whose sort value is unknown come after all the others, in id order.

    Up to ``count_limit`` matches, one pass finds them all (id and sort value), the
    page is cut from them here, and its rows are read by id.  Past it, the page is
    looked for along the sort column's index (see _walk).
    """
    filters = request.filters()
    where = and_(definition.where(now), filters.clause())
    if conn.dialect.name == "postgresql":
        custom_plans(conn)
    # No table hints: SQLAlchemy's SQLite compiler leaves them out of the SQL (they would
    # read as a choice the planner never saw), and SQLite's own plans are what the list's
    # speed was measured with (docs/dashboard.md, "Speed").
    column = _C[SORTS[request.sort][0]]
    desc = request.effective_order is Order.DESC
    limit, offset = request.limit, request.offset
    matches = _matches(conn, where, column, count_limit)
    if len(matches) <= count_limit:
        ids = _in_order(matches, desc)[offset: offset + limit + 1]
        return Listing(len(matches), True, _by_id(conn, ids[:limit]), len(ids) > limit)
    # One row more than the page: whether another page follows.
    want = limit + 1
    known = and_(where, column.is_not(None))
    rows = None
    for budget in (2 * (offset + want), WALK_ROWS + 2 * offset):
        rows = _walk(conn, known, column, desc, want, offset, budget)
        if rows is not None:
            break
    if rows is None:
        rows = _page(conn, known, [column, _C.id], desc, want, offset)
    if len(rows) < want:
        # Past the known values: the rows where the sort column is NULL.
        if rows or offset == 0:
            null_offset = 0
        else:
            n_known = select(func.count()).select_from(DEALS).where(known)
            null_offset = offset - int(conn.execute(n_known).scalar_one())
        rows += _page(conn, and_(where, column.is_(None)), [_C.id], desc,
                      want - len(rows), max(0, null_offset))
    return Listing(count_limit, False, rows[:limit], len(rows) > limit)


def custom_plans(conn: Connection) -> None:
    """Plan this transaction's statements for their values (PostgreSQL).

    psycopg prepares a statement on the server once it has run five times, and after
    five more runs PostgreSQL may keep one generic plan for it, made without the values.
    For the list's range filters that plan guesses every range selective (0.5 % of the
    rows): at a million deals it intersected two indexes of most of the table, 100 ms,
    where a scan finds the page's matches in 2 ms.  The filters' values decide the plan,
    so every statement of the list is planned with them (a fraction of a millisecond).
    """
    conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")


def _matches(
    conn: Connection, where: ColumnElement[bool], column: Any, limit: int
) -> list[Row[Any]]:
    """(id, sort value) of up to ``limit + 1`` matching rows, in no particular order."""
    stmt = select(_C.id, column.label("key")).where(where).limit(limit + 1)
    return list(conn.execute(stmt))


def _in_order(matches: list[Row[Any]], desc: bool) -> list[int]:
    """The ids in list order: by sort value (ties by id), then the unknown values by id."""
    known = sorted(((m.key, m.id) for m in matches if m.key is not None), reverse=desc)
    unknown = sorted((m.id for m in matches if m.key is None), reverse=desc)
    return [i for _, i in known] + unknown


def _by_id(conn: Connection, ids: list[int]) -> list[Row[Any]]:
    if not ids:
        return []
    stmt = select(*(_C[name] for name in LIST_COLUMNS)).where(_C.id.in_(ids))
    found = {row.id: row for row in readable_rows(conn.execute(stmt))}
    return [found[i] for i in ids if i in found]


def _order(keys: list[Any], desc: bool) -> list[Any]:
    # No NULLS FIRST/LAST: the rows ordered never have a NULL key, and each dialect's own
    # default is what an index scan (forward or backward) yields, on SQLite and
    # PostgreSQL alike.
    return [k.desc() if desc else k.asc() for k in keys]


def _walk(
    conn: Connection,
    where: ColumnElement[bool],
    column: Any,
    desc: bool,
    limit: int,
    offset: int,
    budget: int,
) -> list[Row[Any]] | None:
    """The page from the first ``budget`` rows in sort order (read through the sort
    column's index), or None when they hold too few matches (filters the sort order
    works against, such as a minimum price with the highest ROI first)."""
    prefix = (
        select(DEALS).where(column.is_not(None)).order_by(*_order([column, _C.id], desc))
        .limit(budget)
    )
    walked = prefix.subquery("walked")
    adapt = ClauseAdapter(walked).traverse
    stmt = (
        select(*(walked.c[name] for name in LIST_COLUMNS))
        .where(adapt(where))
        .order_by(*_order([walked.c[column.name], walked.c.id], desc))
        .limit(limit)
        .offset(offset)
    )
    rows = list(conn.execute(stmt))
    return readable_rows(rows) if len(rows) == limit else None


def _page(
    conn: Connection,
    where: ColumnElement[bool],
    keys: list[Any],
    desc: bool,
    limit: int,
    offset: int,
) -> list[Row[Any]]:
    stmt = (
        select(*(_C[name] for name in LIST_COLUMNS))
        .where(where)
        .order_by(*_order(keys, desc))
        .limit(limit)
        .offset(offset)
    )
    return readable_rows(conn.execute(stmt))


def find_deal(conn: Connection, asin: str, domain: int | None) -> Row[Any] | None:
    """The stored row of ``asin`` (on ``domain``, or on the lowest domain id storing it);
    an unreadable row (a required value corrupt) is not shown."""
    stmt = select(DEALS).where(_C.asin == asin)
    if domain is not None:
        stmt = stmt.where(_C.domain_id == domain)
    rows = readable_rows(conn.execute(stmt.order_by(_C.domain_id)))
    return rows[0] if rows else None


def categories(conn: Connection, definition: DealDefinition, now: datetime) -> list[Row[Any]]:
    """The root categories of the current deals, with their names and counts."""
    stmt = (
        select(_C.root_category, func.max(_C.category_name).label("name"),
               func.count().label("deals"))
        .where(definition.where(now), _C.root_category.is_not(None))
        .group_by(_C.root_category)
        .order_by(func.count().desc())
        .limit(200)
    )
    return list(conn.execute(stmt))


def count_new(conn: Connection, definition: DealDefinition, now: datetime, since: datetime,
              *, limit: int = COUNT_LIMIT) -> int:
    """How many current deals were first seen after ``since`` (up to ``limit``)."""
    recent = (
        select(_C.id).where(_C.first_seen > since, definition.where(now)).limit(limit)
        .subquery()
    )
    return int(conn.execute(select(func.count()).select_from(recent)).scalar_one())
