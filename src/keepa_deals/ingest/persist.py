"""Saving what a paid-for call bought: deals, retirements, the watermark and the ledger, at once.

Every commit is ONE transaction on the deal store: the upserted deal rows,
the rows a re-check retired, the watermark (only forward) and the whole scan
ledger.  A crash before the commit loses only the call it was for; a crash
after it loses nothing, and the next run neither skips a deal nor pays for
one twice (see docs/ingest.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, delete

from keepa_deals.ingest.ledger import LEDGER_KEY, Ledger, LedgerError
from keepa_deals.store import DealRow, DealStore
from keepa_deals.store import state as store_state
from keepa_deals.store.engine import translate_errors
from keepa_deals.store.rows import row_params
from keepa_deals.store.schema import DealRecord
from keepa_deals.store.upsert import KEEP_WHEN_NONE, dedupe, existing_keys, upsert_deals

_DEALS = DealRecord.__table__
#: Re-check rows do not know how far below average the feed listed the deal.
_REFRESH_KEEP = KEEP_WHEN_NONE | frozenset({"percent_below_avg"})


@dataclass(frozen=True, slots=True)
class Committed:
    added: int
    updated: int
    removed: int
    #: The stored watermark after a commit that was given one to advance to; None when
    #: the commit did not touch it (it is then what it was: only the runner holding the
    #: query's lock writes it).
    watermark: int | None


@contextmanager
def _write(store: DealStore) -> Iterator[Connection]:
    with translate_errors(store.engine.url), store.engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            yield conn


def load(store: DealStore, query: str) -> tuple[Ledger, int | None, str | None]:
    """(ledger, watermark, problem): a ledger that cannot be read is replaced by an empty one
    (the watermark alone still stops the scan), and ``problem`` says why."""
    with translate_errors(store.engine.url), store.engine.connect() as conn, conn.begin():
        row = store_state.read_state(conn, query, LEDGER_KEY)
        mark = store_state.read_watermark(conn, query)
    watermark = mark.keepa_minute if mark else None
    try:
        return Ledger.loads(row.text_value if row else None), watermark, None
    except LedgerError as exc:
        return Ledger(), watermark, str(exc)


def commit(
    store: DealStore,
    query: str,
    ledger: Ledger,
    *,
    rows: Iterable[DealRow] = (),
    refreshed: Iterable[DealRow] = (),
    retire: Iterable[tuple[str, int]] = (),
    watermark: int | None = None,
    extra_state: dict[str, int | str | None] | None = None,
) -> Committed:
    """Write it all in one transaction; rows are checked before anything is written."""
    text = ledger.dumps()
    now = store.now()
    with _write(store) as conn:
        added, updated, removed = save_results(conn, query, now, rows=rows, refreshed=refreshed,
                                               retire=retire)
        if watermark is not None:
            store_state.advance_watermark(conn, query, watermark, now)
        store_state.write_state(conn, query, LEDGER_KEY, text, now)
        for key, value in (extra_state or {}).items():
            store_state.write_state(conn, query, key, value, now)
        mark = store_state.read_watermark(conn, query) if watermark is not None else None
    return Committed(added, updated, removed, mark.keepa_minute if mark else None)


def save_results(
    conn: Connection,
    query: str,
    now: datetime,
    *,
    rows: Iterable[DealRow] = (),
    refreshed: Iterable[DealRow] = (),
    retire: Iterable[tuple[str, int]] = (),
) -> tuple[int, int, int]:
    """The deal part of a commit, inside the caller's transaction: (added, updated, removed).

    ``commit`` uses it with the ledger; Celery mode's batch tasks use it with
    their batch record (fanout/worker.py).
    """
    new = dedupe(row_params(r) for r in rows)
    again = dedupe(row_params(r) for r in refreshed)
    added, updated = upsert_deals(conn, new, query=query, now=now)
    if again:  # a re-check updates a stored deal; it never brings back a retired one
        stored = existing_keys(conn, again)
        again = [p for p in again if (p["asin"], p["domain_id"]) in stored]
    a2, u2 = upsert_deals(conn, again, query=query, now=now, keep_when_none=_REFRESH_KEEP)
    removed = 0
    for asin, domain in sorted(set(retire)):
        removed += int(conn.execute(delete(_DEALS).where(
            and_(_DEALS.c.asin == asin, _DEALS.c.domain_id == domain))).rowcount)
    return added + a2, updated + u2, removed


def write_state(store: DealStore, query: str, values: dict[str, int | str | None],
                at: datetime | None = None) -> None:
    """A few ``system_state`` values in one transaction."""
    now = at or store.now()
    with _write(store) as conn:
        for key, value in values.items():
            store_state.write_state(conn, query, key, value, now)
