"""Statements compiled once and run at the driver level, for the store's hot paths.

SQLAlchemy builds, caches and type-processes a statement on every
``Connection.execute``; for the statements every ingest commit runs (the deal
upsert on SQLite, the ledger write) that work is done once per dialect here,
and the statement then goes to the driver with its parameters already in the
driver's form.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Dialect, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


@dataclass(frozen=True, slots=True)
class DriverSQL:
    """A statement's SQL text for one dialect, and the order of its parameters when the
    driver takes them by position (``None``: by name)."""

    text: str
    order: tuple[str, ...] | None

    @classmethod
    def compile(cls, stmt: ClauseElement, dialect: Dialect,
                keys: Sequence[str] | None = None) -> DriverSQL:
        compiled = cast(SQLCompiler, stmt.compile(
            dialect=dialect, column_keys=list(keys) if keys is not None else None))
        order = compiled.positiontup if dialect.positional else None
        return cls(str(compiled), tuple(order) if order else None)

    def params(self, rows: Iterable[Mapping[str, Any]]) -> list[Any]:
        """Each row's parameters as the driver takes them."""
        order = self.order
        if order is None:
            return list(rows)
        return [tuple(r[k] for k in order) for r in rows]

    def one(self, row: Mapping[str, Any]) -> Any:
        """One row's parameters as the driver takes them."""
        return row if self.order is None else tuple(row[k] for k in self.order)


def dialect_insert(conn: Connection, table: Table) -> Any:
    """``INSERT`` into ``table`` in ``conn``'s dialect (SQLite or PostgreSQL), for its
    ``ON CONFLICT`` clauses."""
    return (sqlite if conn.dialect.name == "sqlite" else postgresql).insert(table)
