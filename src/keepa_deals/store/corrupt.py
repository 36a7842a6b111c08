"""Corrupt deal rows: values that are not of their column's type (docs/failure-classes.md).

Reading never fails on one: the deal table's columns are ``Tolerant`` (store/types.py),
so an unreadable value comes out as None, and SQLite decodes invalid UTF-8 with
replacement characters (store/engine.py).  A row whose identity or a required column
came out None cannot be shown or judged; the readers drop it with :func:`readable_rows`
(logged once per process) and go on.

Finding and repairing them is doctor's (``doctor --check corrupt_rows``)::

    found = find_corrupt(conn)        # SQLite: typeof() per column, a full scan
    lines = repair_corrupt(conn, found)  # NULL what may be NULL, delete the rest

PostgreSQL enforces its column types and its text encoding, so there is nothing to
find there; :func:`find_corrupt` says so by returning None.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Row, bindparam, delete, text, update

from keepa_deals.store.schema import DEALS
from keepa_deals.store.types import Tolerant, inner_type, safe_repr

log = logging.getLogger("keepa_deals.store")
R = TypeVar("R", bound=Row[Any])

#: The columns a deal cannot be read without (NOT NULL in the schema).
REQUIRED: frozenset[str] = frozenset(c.name for c in DEALS.columns if not c.nullable)
#: The columns that say which deal a row is: unreadable, the row cannot even be updated
#: by ingestion (its key is lost), so doctor removes it.
IDENTITY = ("id", "asin", "domain_id")

_skipped_lock = threading.Lock()
_skipped_reported = False


def missing_required(row: Mapping[Any, Any]) -> str | None:
    """The first required column of ``row`` (a row mapping) that read as None, if any."""
    for name in REQUIRED:
        if name in row and row[name] is None:
            return name
    return None


def readable_rows(rows: Iterable[R]) -> list[R]:
    """``rows`` without those missing a required value (logged once per process)."""
    out = []
    for row in rows:
        missing = missing_required(row._mapping)
        if missing is None:
            out.append(row)
        else:
            _report_skip(row._mapping, missing)
    return out


def _report_skip(row: Mapping[Any, Any], column: str) -> None:
    global _skipped_reported
    with _skipped_lock:
        first = not _skipped_reported
        _skipped_reported = True
    if first:
        log.warning("skipped an unreadable deal row (id %s: %s unreadable); further ones "
                    "are skipped silently; `keepa-deals doctor --check corrupt_rows` lists "
                    "them and `--fix` repairs them", row.get("id"), column)


# --- finding and repairing (doctor) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CorruptValue:
    """One unreadable value: its row, its column, the value shown safely, what fixes it."""

    id: int | None
    asin: str
    column: str
    value: str
    #: ``null`` (the column may be NULL), ``delete`` (identity or required), or
    #: ``rewrite`` (invalid UTF-8 in an optional text: stored again with replacements)
    action: str

    def describe(self) -> str:
        return f"deal id {self.id} (asin {self.asin}): {self.column} = {self.value}"


def _kind(type_: Any) -> str:
    name = type(inner_type(type_)).__name__
    if name in ("UTCDateTime", "DateTime"):
        return "datetime"
    if name == "Boolean":
        return "boolean"
    if name in ("Float", "Double"):
        return "float"
    if name in ("String", "Text", "Unicode", "UnicodeText"):
        return "text"
    return "integer"


def _bad_sql(column: str, kind: str) -> str:
    """A SQLite condition true when a non-NULL ``column`` does not hold a ``kind``."""
    q = f'"{column}"'
    if kind == "integer":
        return f"typeof({q}) NOT IN ('integer', 'null')"
    if kind == "boolean":
        return f"({q} IS NOT NULL AND (typeof({q}) != 'integer' OR {q} NOT IN (0, 1)))"
    if kind == "float":
        return f"typeof({q}) NOT IN ('real', 'integer', 'null')"
    if kind == "datetime":
        return f"({q} IS NOT NULL AND (typeof({q}) != 'text' OR datetime({q}) IS NULL))"
    return f"typeof({q}) NOT IN ('text', 'null')"


def find_corrupt(conn: Connection, limit: int = 1000) -> list[CorruptValue] | None:
    """Every unreadable value of the deal table (at most ``limit``); None on PostgreSQL,
    whose column types and encoding make them impossible.  A full scan: doctor's only."""
    if conn.dialect.name != "sqlite":
        return None
    kinds = {c.name: _kind(c.type) for c in DEALS.columns}
    found: list[CorruptValue] = []
    for column, kind in kinds.items():
        stmt = (f'SELECT id, CAST(asin AS BLOB), "{column}" FROM deals '
                f"WHERE {_bad_sql(column, kind)} LIMIT {limit}")
        for row_id, asin, value in conn.exec_driver_sql(stmt):
            found.append(_value(row_id, asin, column, value, rewrite=False))
        if kind == "text":  # invalid UTF-8: SQL cannot tell, Python can
            stmt = (f'SELECT id, CAST(asin AS BLOB), CAST("{column}" AS BLOB) FROM deals '
                    f"WHERE typeof(\"{column}\") = 'text'")
            for row_id, asin, raw in conn.exec_driver_sql(stmt):
                try:
                    bytes(raw).decode("utf-8")
                except UnicodeDecodeError:
                    shown = bytes(raw).decode("utf-8", "backslashreplace")
                    found.append(_value(row_id, asin, column, shown, rewrite=True))
        if len(found) >= limit:
            break
    return sorted(found, key=lambda v: (v.id if v.id is not None else -1, v.column))[:limit]


def _value(row_id: Any, asin: Any, column: str, value: Any, *, rewrite: bool) -> CorruptValue:
    shown_asin = _asin(asin)
    if column in IDENTITY or column in REQUIRED:
        action = "delete"
    else:
        action = "rewrite" if rewrite else "null"
    return CorruptValue(row_id if type(row_id) is int else None, shown_asin, column,
                        safe_repr(value), action)


def _asin(raw: Any) -> str:
    try:
        value = bytes(raw).decode("utf-8") if raw is not None else None
    except UnicodeDecodeError:
        value = None
    if value is not None and value.isascii() and value.isalnum() and len(value) <= 10:
        return value
    return safe_repr(raw)


def repair_corrupt(conn: Connection, found: Iterable[CorruptValue]) -> list[str]:
    """Repair ``found`` in one transaction (the caller's): a line per row, also logged."""
    deleted: set[int] = set()
    lines: list[str] = []
    values = list(found)
    for v in values:
        if v.action == "delete" and v.id is not None and v.id not in deleted:
            conn.execute(delete(DEALS).where(DEALS.c.id == v.id))
            deleted.add(v.id)
            lines.append(f"removed deal id {v.id} (asin {v.asin}): its {v.column} is "
                         f"unreadable ({v.value})")
    for v in values:
        if v.id is None or v.id in deleted:
            continue
        if v.action == "null":
            conn.execute(update(DEALS).where(DEALS.c.id == v.id).values({v.column: None}))
            lines.append(f"set deal id {v.id} (asin {v.asin}) {v.column} to NULL "
                         f"(was {v.value})")
        elif v.action == "rewrite":
            conn.execute(
                text(f'UPDATE deals SET "{v.column}" = :v WHERE id = :id').bindparams(
                    bindparam("v"), bindparam("id")),
                {"v": _decoded(conn, v.id, v.column), "id": v.id})
            lines.append(f"re-encoded deal id {v.id} (asin {v.asin}) {v.column}: invalid "
                         f"UTF-8 replaced (was {v.value})")
    for v in values:
        if v.id is None:
            lines.append(f"could not repair {v.describe()}: its id is unreadable")
    for line in lines:
        log.warning("doctor repaired a corrupt row: %s", line)
    return lines


def _decoded(conn: Connection, row_id: int, column: str) -> str | None:
    raw = conn.exec_driver_sql(
        f'SELECT CAST("{column}" AS BLOB) FROM deals WHERE id = ?', (row_id,)).scalar()
    return None if raw is None else bytes(raw).decode("utf-8", "replace")


def tolerant_columns() -> list[str]:
    """The deal table's columns read tolerantly (all of them; a test keeps it so)."""
    return [c.name for c in DEALS.columns if isinstance(c.type, Tolerant)]
