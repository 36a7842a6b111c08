"""The store's unit of work: every write of the application, in one transaction at a time.

::

    with store.unit_of_work("used-books-us") as work:
        work.save_deals(rows, refreshed=rows_rechecked)   # (added, updated)
        work.retire([("B00...", 1)])
        work.advance_watermark(minute)                    # only ever forward
        work.set_state(LEDGER_KEY, ledger_text)           # None deletes the value

or, for the common case, a :class:`Changes` value applied at once::

    done = store.commit("used-books-us", Changes(rows=rows, watermark=minute, state=...))
    done.added, done.updated, done.removed, done.watermark

A unit of work is ONE write transaction (SQLite takes its write lock at
BEGIN): everything in it is committed together or not at all, so a crash
never leaves a watermark ahead of the deals it covers, nor a batch record
marked done without the deals it bought.  Rows are checked
(``rows.row_params``) before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, and_, delete, select

from keepa_deals.store import state
from keepa_deals.store.rows import DealRow, row_params
from keepa_deals.store.schema import DEALS, SYSTEM_STATE
from keepa_deals.store.upsert import KEEP_WHEN_NONE, dedupe, existing_keys, upsert_deals

#: Re-check rows do not know how far below average the feed listed the deal.
REFRESH_KEEP = KEEP_WHEN_NONE | frozenset({"percent_below_avg"})

#: (asin, domain_id): names one stored deal.
DealKeyPair = tuple[str, int]
StateValue = int | str | None


@dataclass(frozen=True, slots=True)
class Changes:
    """What one paid-for call (or one bookkeeping step) writes, all in one transaction."""

    #: New observations of deals: inserted, or replacing the stored values.
    rows: tuple[DealRow, ...] = ()
    #: Re-checks of stored deals: they update a stored deal, never bring back a retired one.
    refreshed: tuple[DealRow, ...] = ()
    #: Stored deals a re-check found no longer a deal.
    retire: tuple[DealKeyPair, ...] = ()
    #: Advance the query's watermark to this Keepa minute (never backwards); None: leave it.
    watermark: int | None = None
    #: ``system_state`` values of the query (the scan ledger, batch records...); None deletes.
    state: Mapping[str, StateValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Committed:
    """What a commit wrote."""

    added: int
    updated: int
    removed: int
    #: The stored watermark after a commit that advanced it; None when the commit did not
    #: touch it.
    watermark: int | None


class UnitOfWork:
    """The write verbs of one open transaction on the deal store, for one query."""

    def __init__(self, conn: Connection, query: str, now: datetime) -> None:
        self._conn = conn
        self.query = query
        self.now = now
        #: (asin, domain_id) of every deal row this unit wrote (for the alerts' outbox).
        self.written: set[DealKeyPair] = set()

    # --- deals -----------------------------------------------------------------------

    def save_deals(self, rows: Iterable[DealRow] = (), *, refreshed: Iterable[DealRow] = (),
                   keep_when_none: frozenset[str] = KEEP_WHEN_NONE) -> tuple[int, int]:
        """Upsert new observations and re-checks: (added, updated)."""
        new = dedupe(row_params(r) for r in rows)
        again = dedupe(row_params(r) for r in refreshed)
        added, updated = upsert_deals(self._conn, new, query=self.query, now=self.now,
                                      keep_when_none=keep_when_none)
        if again:  # a re-check updates a stored deal; it never brings back a retired one
            stored = existing_keys(self._conn, again)
            again = [p for p in again if (p["asin"], p["domain_id"]) in stored]
        self.written.update((p["asin"], p["domain_id"]) for p in (*new, *again))
        a2, u2 = upsert_deals(self._conn, again, query=self.query, now=self.now,
                              keep_when_none=REFRESH_KEEP)
        return added + a2, updated + u2

    def retire(self, keys: Iterable[DealKeyPair]) -> int:
        """Delete these stored deals; returns how many there were."""
        removed = 0
        for asin, domain in sorted(set(keys)):
            removed += int(self._conn.execute(delete(DEALS).where(
                and_(DEALS.c.asin == asin, DEALS.c.domain_id == domain))).rowcount)
        return removed

    # --- the watermark and state -------------------------------------------------------

    def advance_watermark(self, keepa_minute: int) -> None:
        state.advance_watermark(self._conn, self.query, keepa_minute, self.now)

    def watermark(self) -> int | None:
        mark = state.read_watermark(self._conn, self.query)
        return mark.keepa_minute if mark else None

    def set_state(self, key: str, value: StateValue) -> None:
        """Set (None: delete) one ``system_state`` value of the query."""
        state.write_state(self._conn, self.query, key, value, self.now)

    def delete_state(self, keys: Iterable[str]) -> int:
        keys = list(keys)
        if not keys:
            return 0
        return int(self._conn.execute(delete(SYSTEM_STATE).where(
            SYSTEM_STATE.c.query_name == self.query, SYSTEM_STATE.c.key.in_(keys))).rowcount)

    def read_text(self, key: str, *, for_update: bool = False) -> str | None:
        """One text value; ``for_update`` locks its row until the commit (PostgreSQL)."""
        stmt = select(SYSTEM_STATE.c.text_value).where(SYSTEM_STATE.c.query_name == self.query,
                                                 SYSTEM_STATE.c.key == key)
        if for_update:
            stmt = stmt.with_for_update()
        text = self._conn.execute(stmt).scalar_one_or_none()
        return None if text is None else str(text)

    # --- the whole of it ---------------------------------------------------------------

    def apply(self, changes: Changes) -> Committed:
        """Write ``changes``: deals, retirements, the watermark (forward), state values."""
        added, updated = self.save_deals(changes.rows, refreshed=changes.refreshed)
        removed = self.retire(changes.retire)
        if changes.watermark is not None:
            self.advance_watermark(changes.watermark)
        for key, value in changes.state.items():
            self.set_state(key, value)
        mark = self.watermark() if changes.watermark is not None else None
        return Committed(added, updated, removed, mark)


def read_texts(conn: Connection, query: str, prefix: str) -> list[tuple[str, str | None]]:
    """Every ``system_state`` text value of ``query`` whose key starts with ``prefix``."""
    stmt = (select(SYSTEM_STATE.c.key, SYSTEM_STATE.c.text_value)
            .where(SYSTEM_STATE.c.query_name == query, SYSTEM_STATE.c.key.startswith(prefix))
            .order_by(SYSTEM_STATE.c.key))
    return [(r.key, r.text_value) for r in conn.execute(stmt)]
