"""Column types of the store, shared by the models and the migrations (keep them stable)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    Integer,
    String,
    Table,
    TypeDecorator,
)
from sqlalchemy.types import NullType, TypeEngine

_log = logging.getLogger("keepa_deals.store")

#: An autoincrementing 64-bit key (SQLite's rowid alias must be spelled INTEGER).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on the way in and out, on SQLite and PostgreSQL alike.

    Naive datetimes are refused: a time without a zone is a bug waiting to happen.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} (give it a time zone)")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value
        if stored.tzinfo is None:
            return stored.replace(tzinfo=UTC)
        return stored.astimezone(UTC)


def sqlite_datetime(value: datetime) -> str:
    """An aware datetime as SQLite stores it: naive UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``.

    The same text SQLAlchemy writes for ``UTCDateTime`` on SQLite (a test keeps
    the two equal), for the upsert, which binds at the driver level.
    """
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


# --- values of the wrong type ---------------------------------------------------------------
#
# SQLite stores any value in any column: a hand edit, a restored dump or a bug elsewhere can
# leave ``'abc'`` in an integer, a blob in a rank or ``'not a date'`` in a datetime.  Such a
# value must cost its own row only (docs/failure-classes.md, FC-29), so the deal
# table's columns are wrapped in ``Tolerant``: a value of the wrong type, or one the inner
# type cannot parse, comes out as None (reported once per column per process, and counted),
# and the readers treat a None in a required column as a row to skip.  A value of the right
# type costs one ``type(value) in`` test; nothing is checked in SQL.

_unreadable_lock = threading.Lock()
_unreadable: dict[tuple[str, str], int] = {}


def unreadable_counts() -> dict[tuple[str, str], int]:
    """Values read as None because they were unreadable, by (table, column), this process."""
    with _unreadable_lock:
        return dict(_unreadable)


def _report(table: str, column: str, value: Any, why: str) -> None:
    key = (table, column)
    with _unreadable_lock:
        first = key not in _unreadable
        _unreadable[key] = _unreadable.get(key, 0) + 1
    if first:
        _log.warning(
            "unreadable value in %s.%s read as NULL (%s: %s); further ones in this column "
            "are counted, not logged; `keepa-deals doctor --check corrupt_rows` lists the rows",
            table, column, why, safe_repr(value))


def safe_repr(value: Any, limit: int = 40) -> str:
    """A stored value shown safely: printable, bounded, blobs as hex."""
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        shown = raw[:limit // 2].hex()
        return f"blob x'{shown}{'…' if len(raw) > limit // 2 else ''}' ({len(raw)} bytes)"
    text = value if isinstance(value, str) else repr(value)
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    text = "".join(c if c.isprintable() else "?" for c in text)
    return repr(text[:limit] + ("…" if len(text) > limit else ""))


def _accepted(inner: TypeEngine[Any]) -> tuple[type, ...]:
    """The Python types a driver hands back for ``inner`` (SQLite and psycopg alike)."""
    if isinstance(inner, UTCDateTime | DateTime):
        return (str, datetime)
    if isinstance(inner, Boolean):
        return (bool, int)
    if isinstance(inner, Integer):  # BigInteger and SmallInteger too
        return (int,)
    if isinstance(inner, Float):
        return (float, int)
    if isinstance(inner, String):  # Text too
        return (str,)
    raise TypeError(f"no tolerant reading for {inner!r}")


class Tolerant(TypeDecorator[Any]):
    """``inner``, except that an unreadable stored value reads as None (see above).

    Writing, comparing and the DDL are the inner type's; on PostgreSQL, which enforces
    the column types, so is reading.
    """

    impl: TypeEngine[Any] | type[TypeEngine[Any]] = NullType
    cache_ok = True

    def __init__(self, inner: TypeEngine[Any], table: str, column: str) -> None:
        super().__init__()
        self.impl = inner
        self.inner = inner
        self.table = table
        self.column = column
        self.accepted = _accepted(inner)

    def __repr__(self) -> str:
        return f"Tolerant({self.inner!r})"

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        inner = self.impl_instance.result_processor(dialect, coltype)
        if dialect.name != "sqlite":
            return inner  # the server enforces the column types: nothing to tolerate
        accepted, table, column = self.accepted, self.table, self.column
        boolean = bool in accepted

        if inner is None:
            def plain(value: Any) -> Any:
                if value is None or type(value) in accepted:
                    return value
                _report(table, column, value, f"a {type(value).__name__}")
                return None
            return plain

        def process(value: Any) -> Any:
            if value is None:
                return None
            if type(value) not in accepted or (boolean and value not in (0, 1)):
                _report(table, column, value, f"a {type(value).__name__}")
                return None
            try:
                return inner(value)
            except (ValueError, TypeError, OverflowError, AttributeError) as exc:
                _report(table, column, value, str(exc) or type(exc).__name__)
                return None
        return process


def make_tolerant(table: Table) -> None:
    """Wrap every column type of ``table`` in Tolerant (columns added later included)."""
    for column in table.columns:
        if not isinstance(column.type, Tolerant):
            column.type = Tolerant(column.type, table.name, column.name)


def inner_type(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    """The type a Tolerant wraps (``type_`` itself otherwise)."""
    return type_.inner if isinstance(type_, Tolerant) else type_
