"""Column types of the store, shared by the models and the migrations (keep them stable)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer, TypeDecorator

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
