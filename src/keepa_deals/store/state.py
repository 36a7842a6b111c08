"""Per-query state: the watermark and other small values, in ``system_state``.

The keys that more than one package reads or writes are named here, below
them all (the ingestor writes the refresh capacity the janitor reads).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Dialect, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from keepa_deals.keepa.time import keepa_minutes_to_datetime
from keepa_deals.store.driver import DriverSQL, dialect_insert
from keepa_deals.store.schema import SYSTEM_STATE, SystemState
from keepa_deals.store.types import sqlite_datetime

WATERMARK_KEY = "watermark"
#: The scan ledger of a query (JSON; see ingest/ledger.py).
LEDGER_KEY = "ingest_ledger"
#: The listed products (Product Finder, best sellers, list files) a query bought lately
#: (JSON ``{asin: epoch ms}``), so that none is bought twice within the re-check window.
LISTED_KEY = "ingest_listed"
#: Written by the ingestor after each run, read by the janitor: whether the refill can
#: re-check every retained deal within the grace period (1/0), and how many it can.
REFRESH_COVERED_KEY = "ingest_refresh_covered"
REFRESH_CAPACITY_KEY = "ingest_refresh_capacity"
#: What the query's current run has spent, written with every commit of its work (JSON, see
#: :class:`RunSpent`): a run that dies is booked from it by the next one.
RUN_SPENT_KEY = "ingest_run_spent"
#: Written when a run found the deal store new while the account was in use (JSON: ``at``,
#: ``why``); ``status`` and doctor show it for a day (ops/newstore.py).
NEW_STORE_KEY = "ingest_new_store"



@dataclass(frozen=True, slots=True)
class RunSpent:
    """What run ``run_id`` had spent at its last commit (tokens, feed pages)."""

    run_id: int
    tokens: int
    pages: int

    def dumps(self) -> str:
        return json.dumps({"run": self.run_id, "tokens": self.tokens, "pages": self.pages})

    @classmethod
    def loads(cls, text: str | None) -> RunSpent | None:
        """None when there is nothing readable."""
        if not text:
            return None
        try:
            raw = json.loads(text)
            spent = cls(int(raw["run"]), int(raw["tokens"]), int(raw["pages"]))
        except (ValueError, TypeError, KeyError):
            return None
        return spent


@dataclass(frozen=True, slots=True)
class Watermark:
    """The newest deal time (Keepa minutes) scanned and saved for a query."""

    keepa_minute: int
    updated_at: datetime

    @property
    def at(self) -> datetime | None:
        """The watermark as a UTC datetime."""
        return keepa_minutes_to_datetime(self.keepa_minute)


def read_state(conn: Connection, query: str, key: str) -> SystemState | None:
    row = conn.execute(
        select(SYSTEM_STATE).where(SYSTEM_STATE.c.query_name == query, SYSTEM_STATE.c.key == key)
    ).one_or_none()
    if row is None:
        return None
    return SystemState(
        query_name=row.query_name, key=row.key, int_value=row.int_value,
        text_value=row.text_value, updated_at=row.updated_at,
    )


def write_state(
    conn: Connection, query: str, key: str, value: int | str | None, now: datetime
) -> None:
    """Set (or, with None, delete) one value."""
    if value is None:
        conn.execute(delete(SYSTEM_STATE).where(SYSTEM_STATE.c.query_name == query, SYSTEM_STATE.c.key == key))
        return
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"state values are int or str, not {type(value).__name__}")
    int_value = value if isinstance(value, int) else None
    text_value = value if isinstance(value, str) else None
    if now.utcoffset() is None:
        raise ValueError(f"naive datetime {now.isoformat()} (give it a time zone)")
    # every ingest commit writes the ledger here: compiled once, bound at the driver
    sql = _write_sql(conn.dialect)
    at: Any = sqlite_datetime(now) if conn.dialect.name == "sqlite" else now.astimezone(UTC)
    conn.exec_driver_sql(sql.text, sql.one({
        "query_name": query, "key": key, "int_value": int_value, "text_value": text_value,
        "updated_at": at}))


@lru_cache(maxsize=8)
def _write_sql(dialect: Dialect) -> DriverSQL:
    ins = (sqlite if dialect.name == "sqlite" else postgresql).insert(SYSTEM_STATE)
    stmt = ins.on_conflict_do_update(
        index_elements=[SYSTEM_STATE.c.query_name, SYSTEM_STATE.c.key],
        set_={"int_value": ins.excluded.int_value, "text_value": ins.excluded.text_value,
              "updated_at": ins.excluded.updated_at},
    )
    return DriverSQL.compile(stmt, dialect,
                             ("query_name", "key", "int_value", "text_value", "updated_at"))


def advance_watermark(conn: Connection, query: str, keepa_minute: int, now: datetime) -> None:
    """Move the watermark forward to ``keepa_minute``; an older value never moves it back."""
    ins = dialect_insert(conn, SYSTEM_STATE).values(
        query_name=query, key=WATERMARK_KEY, int_value=keepa_minute, text_value=None,
        updated_at=now,
    )
    conn.execute(
        ins.on_conflict_do_update(
            index_elements=[SYSTEM_STATE.c.query_name, SYSTEM_STATE.c.key],
            set_={"int_value": ins.excluded.int_value, "updated_at": ins.excluded.updated_at},
            where=or_(SYSTEM_STATE.c.int_value.is_(None), SYSTEM_STATE.c.int_value < ins.excluded.int_value),
        )
    )


def read_watermark(conn: Connection, query: str) -> Watermark | None:
    state = read_state(conn, query, WATERMARK_KEY)
    if state is None or state.int_value is None:
        return None
    return Watermark(keepa_minute=state.int_value, updated_at=state.updated_at)
