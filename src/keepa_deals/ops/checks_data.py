"""doctor check of the stored data: deal rows whose values are not of their column's type.

SQLite stores any value in any column, so a hand edit, a restored dump or a bug can
leave ``'abc'`` in a price or ``'not a date'`` in a time.  The readers already skip
or blank such values (store/corrupt.py); this check names the rows (a full scan of
``typeof()`` per column, doctor's only), and ``--fix`` sets the unreadable values to
NULL where the column allows it, re-encodes invalid UTF-8, and removes the rows whose
identity or a required column is unreadable, a line per row (also logged).
PostgreSQL enforces its column types and encoding: nothing to find there.
"""

from __future__ import annotations

from keepa_deals.ops.doctor import Check, CheckResult, Context, fail, ok, skipped
from keepa_deals.ops.sources import DATABASE
from keepa_deals.store.corrupt import CorruptValue, find_corrupt, repair_corrupt
from keepa_deals.store.engine import translate_errors

#: Rows named in the summary (all of them are in the evidence, up to the scan's limit).
SHOWN = 10


def _scan(ctx: Context) -> list[CorruptValue] | None | str:
    store = ctx.sources.deal_store()
    if store is None:
        return ctx.sources.errors.get(DATABASE, "unreachable")
    with translate_errors(store.engine.url), store.engine.connect() as conn:
        return find_corrupt(conn)


def check_corrupt_rows(ctx: Context) -> CheckResult:
    found = _scan(ctx)
    if isinstance(found, str):
        return skipped("corrupt_rows", f"the deal store is {found}")
    if found is None:
        return ok("corrupt_rows", "PostgreSQL enforces the column types: no corrupt values "
                  "possible", backend="postgresql")
    if not found:
        return ok("corrupt_rows", "every deal value is of its column's type", corrupt=[])
    rows = sorted({v.id for v in found}, key=lambda i: -1 if i is None else i)
    named = "; ".join(v.describe() for v in found[:SHOWN])
    more = f"; and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    return fail(
        "corrupt_rows",
        f"{len(found)} unreadable value(s) in {len(rows)} deal row(s): {named}{more}",
        "run `keepa-deals doctor --fix --check corrupt_rows`: unreadable values become NULL "
        "(invalid UTF-8 is re-encoded), rows with an unreadable identity or required value "
        "are removed (ingestion buys them again when they are still deals); meanwhile the "
        "pages, API and commands skip or blank them",
        corrupt=[{"id": v.id, "asin": v.asin, "column": v.column, "value": v.value,
                  "fix": v.action} for v in found],
    )


def repair_corrupt_rows(ctx: Context, result: CheckResult) -> list[str]:
    store = ctx.sources.deal_store()
    if store is None:
        return []
    with translate_errors(store.engine.url), store.engine.connect() as conn:
        with conn.begin():
            found = find_corrupt(conn)
            return repair_corrupt(conn, found or [])


CHECKS = (
    Check("corrupt_rows", "corrupt rows (values not of their column's type)",
          check_corrupt_rows, repair_corrupt_rows),
)
