"""No statement of ours carries a table hint.

SQLAlchemy's SQLite compiler leaves ``with_hint`` out of the SQL it writes: a hint in
the code reads as a plan choice the database never saw (the deal list once held
``NOT INDEXED`` and ``INDEXED BY`` hints that SQLite never received; its speed was
measured with SQLite's own plans).  A plan the list needs must be written where it
reaches the database, and measured there.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from keepa_deals.store.schema import DEALS

SRC = Path(__file__).resolve().parents[2] / "src" / "keepa_deals"


def test_the_sqlite_compiler_leaves_table_hints_out() -> None:
    stmt = select(DEALS.c.id).with_hint(DEALS, "NOT INDEXED", "sqlite")
    assert "INDEXED" not in str(stmt.compile(dialect=sqlite.dialect()))


def test_no_source_file_writes_a_table_hint() -> None:
    hinted = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if "with_hint(" in p.read_text()]
    assert hinted == []
