"""Indexes of the deal list that only PostgreSQL has (migration ``0007_title_search``).

**The title search.**  The deal list searches titles with ``lower(title) LIKE '%words%'``
(:meth:`keepa_deals.web.listing.DealFilters.clause`).  Without an index that reads every
title; a GIN index of the trigrams of ``lower(title)`` (the ``pg_trgm`` extension) finds
the matching rows instead.  The migration creates it when ``pg_trgm`` is installed or can
be installed by the migrating user; when it cannot (no privilege, or the server does not
ship the extension), it logs a warning and goes on without it: the search gives the same
results, reading every title, and ``doctor`` says so.

**Sorts by a column of few values.**  A page sorted by sales a month, by rank drops (a
few dozen distinct values) or by percent below average (one decimal) is ordered by the
value and then by id.  With an index of the value alone, PostgreSQL reads every row tied
at the page's values to order them by id: thousands to tens of thousands of rows at a
million deals.  An index of (value, id) hands the rows over in the page's order.

None of these is part of the models (:mod:`keepa_deals.store.schema`, the same on both
databases): :func:`include_object` keeps schema comparisons from reporting them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

#: The title search's index (``lower(deals.title)`` with ``gin_trgm_ops``).
TITLE_INDEX = "ix_deals_title_trgm"
EXTENSION = "pg_trgm"

#: name → the sort column of few values it orders by (value, id).
TIE_BROKEN: dict[str, str] = {
    "ix_deals_sales_per_month_id": "sales_per_month",
    "ix_deals_rank_drops_30_id": "rank_drops_30",
    "ix_deals_rank_drops_90_id": "rank_drops_90",
    "ix_deals_percent_below_id": "percent_below_avg",
}

#: Every index of ``deals`` only PostgreSQL has.
NAMES = frozenset({TITLE_INDEX, *TIE_BROKEN})

#: What an administrator runs to add the index later (as a user allowed to create
#: extensions, connected to the deal store's database and schema).
MANUAL_SQL = (f"CREATE EXTENSION IF NOT EXISTS {EXTENSION}; "
              f"CREATE INDEX IF NOT EXISTS {TITLE_INDEX} ON deals "
              "USING gin (lower(title) gin_trgm_ops);")


def extension_schema(conn: Connection) -> str | None:
    """The schema pg_trgm is installed in; None when it is not installed."""
    found = conn.execute(
        text("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
             " WHERE e.extname = :name"), {"name": EXTENSION}
    ).scalar_one_or_none()
    return None if found is None else str(found)


def install_extension(conn: Connection) -> str | None:
    """Install pg_trgm unless it is there; None when done, else why it could not be.

    Runs in a savepoint, so a refusal leaves the caller's transaction usable."""
    if extension_schema(conn) is not None:
        return None
    try:
        with conn.begin_nested():
            conn.execute(text(f"CREATE EXTENSION IF NOT EXISTS {EXTENSION}"))
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise
        return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    return None


def create_title_index(conn: Connection) -> str | None:
    """Create the title search's index (and the extension if needed); None when done,
    else why not."""
    problem = install_extension(conn)
    if problem is not None:
        return problem
    schema = extension_schema(conn)
    if schema is None:  # pragma: no cover - installed just above
        return f"the {EXTENSION} extension is not installed"
    opclass = f"{conn.dialect.identifier_preparer.quote(schema)}.gin_trgm_ops"
    conn.execute(text(f"CREATE INDEX IF NOT EXISTS {TITLE_INDEX} ON deals "
                      f"USING gin (lower(title) {opclass})"))
    return None


def index_present(conn: Connection, name: str = TITLE_INDEX) -> bool:
    """Whether the ``deals`` table the connection sees has the index ``name`` (PostgreSQL)."""
    return bool(conn.execute(
        text("SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
             " WHERE i.indrelid = to_regclass('deals') AND c.relname = :name)"),
        {"name": name}).scalar_one())


def include_object(obj: Any, name: str | None, type_: str, reflected: bool,
                   compare_to: Any) -> bool:
    """Alembic's ``include_object``: everything but the indexes only PostgreSQL has."""
    return not (type_ == "index" and name in NAMES)
