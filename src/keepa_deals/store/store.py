"""DealStore: everything the ingestor, the janitor and the dashboard ask of the database.

Open it with ``DealStore.open(settings)``: that migrates the schema first (so
no write ever meets an old schema), and the store is a context manager that
disposes of its connections.  Every method runs in its own short transaction
on a connection that is returned to the pool on every path; errors come out
as the store's own (see store/errors.py).

Every write goes through the store's unit of work (store/work.py):
``commit(query, Changes(...))`` or ``with unit_of_work(query) as work: ...``
writes deal rows, retirements, the watermark, the scan ledger and any other
state in ONE transaction, so a crash anywhere loses nothing that was
committed and never leaves a watermark ahead of the saved deals.  The other
write verbs (``save_batch``, ``retire_deals``, ``set_state``, runs, metrics,
locks) are short transactions of their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Self

from sqlalchemy import URL, Connection, Engine, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from keepa_deals import __version__
from keepa_deals.clock import SYSTEM_CLOCK, Clock
from keepa_deals.settings import Settings
from keepa_deals.store import history, migrate, outbox, runs, state, work
from keepa_deals.store.cache import Cached, read_cache, write_cache
from keepa_deals.store.engine import create_store_engine, database_url, translate_errors
from keepa_deals.store.errors import StoreError
from keepa_deals.store.history import DealHistory
from keepa_deals.store.locks import DatabaseLock, delete_expired
from keepa_deals.store.rows import DealRow
from keepa_deals.store.runs import RunCounts, RunOutcome
from keepa_deals.store.schema import DEALS, LOCKS, DealRecord, IngestRun, MetricPoint
from keepa_deals.store.state import Watermark
from keepa_deals.store.upsert import KEEP_WHEN_NONE, UPDATABLE_COLUMNS
from keepa_deals.store.work import Changes, Committed, UnitOfWork


@dataclass(frozen=True, slots=True)
class SaveResult:
    """What ``save_batch`` wrote."""

    added: int
    updated: int
    #: The query's watermark after the save (None when it has none yet).
    watermark: int | None


@dataclass(frozen=True, slots=True)
class Progress:
    """A query's progress as the ingestor left it: one state text and the watermark."""

    text: str | None
    watermark: int | None


@dataclass(frozen=True, slots=True)
class LockRow:
    """One row of the database-backed lock table."""

    name: str
    owner: str
    acquired_at: datetime | None
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class DealKey:
    """A deal to refresh, and when it last was."""

    asin: str
    domain_id: int
    last_refreshed: datetime | None


class DealStore:
    """The deal store on one engine.  Thread-safe: each call takes its own connection."""

    def __init__(self, engine: Engine, *, clock: Clock = SYSTEM_CLOCK, owns_engine: bool = False):
        self.engine = engine
        self.clock = clock
        self._owns_engine = owns_engine
        #: Compiles an alert's filter; with it, every unit of work queues the alert
        #: messages of the deals it wrote (store/outbox.py).  Set by ``keepa_deals.alerts``.
        self.matcher: outbox.Matcher | None = None

    # --- opening and closing ------------------------------------------------

    @classmethod
    def open(
        cls,
        source: Settings | URL | str | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        migrate_schema: bool = True,
    ) -> DealStore:
        """Open the store for settings (default: the environment) or a database URL.

        With ``migrate_schema`` (the default) pending migrations are applied
        first; without it, a schema that is not current raises SchemaNotCurrent.
        """
        if source is None:
            source = Settings()
        url = database_url(source) if isinstance(source, Settings) else source
        engine = create_store_engine(url)
        try:
            if migrate_schema:
                migrate.upgrade(engine)
            else:
                migrate.ensure_current(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, clock=clock, owns_engine=True)

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def runner_lock(self) -> DatabaseLock:
        """The database-backed single-runner lock on this store's database."""
        return DatabaseLock(self.engine, clock=self.clock)

    def lock_rows(self) -> list[LockRow]:
        """Every row of the database-backed lock table (for the doctor)."""
        with self._read() as conn:
            return [LockRow(r.name, r.owner, r.acquired_at, r.expires_at)
                    for r in conn.execute(select(LOCKS))]

    def delete_expired_lock(self, name: str, owner: str, now: datetime) -> bool:
        """Delete the row of lock ``name`` if ``owner`` still holds it and it expired."""
        with self._write() as conn:
            return delete_expired(conn, name, owner, now)

    # --- plumbing ------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now_ms() / 1000, tz=UTC)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction (on SQLite it takes the write lock at BEGIN)."""
        with translate_errors(self.engine.url), self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with translate_errors(self.engine.url), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with translate_errors(self.engine.url), Session(
            self.engine, expire_on_commit=False
        ) as session:
            yield session

    # --- the unit of work ------------------------------------------------------

    @contextmanager
    def unit_of_work(self, query: str) -> Iterator[UnitOfWork]:
        """One write transaction for ``query``: its verbs commit together or not at all."""
        _check_query_name(query)
        with self._write() as conn:
            uow = UnitOfWork(conn, query, self.now())
            yield uow
            outbox.announce(conn, uow.written, uow.now, self.matcher)

    def commit(self, query: str, changes: Changes) -> Committed:
        """Write ``changes`` (deals, retirements, watermark, state) in one transaction."""
        with self.unit_of_work(query) as uow:
            return uow.apply(changes)

    def read_progress(self, query: str, key: str) -> Progress:
        """The state text under ``key`` and the watermark, read together."""
        with self._read() as conn:
            row = state.read_state(conn, query, key)
            mark = state.read_watermark(conn, query)
        return Progress(row.text_value if row else None, mark.keepa_minute if mark else None)

    def state_texts(self, query: str, prefix: str) -> list[tuple[str, str | None]]:
        """Every state text of ``query`` whose key starts with ``prefix``, by key."""
        with self._read() as conn:
            return work.read_texts(conn, query, prefix)

    def state_text(self, query: str, key: str) -> str | None:
        with self._read() as conn:
            row = state.read_state(conn, query, key)
        return row.text_value if row else None

    # --- Keepa's answers, cached -----------------------------------------------

    def cache_read(self, kind: str, domain_id: int,
                   keys: Iterable[str] | None = None) -> dict[str, Cached]:
        """Cached answers of ``kind`` among ``keys`` (None: all of them); store/cache.py."""
        with self._read() as conn:
            return read_cache(conn, kind, domain_id, keys)

    def cache_write(self, kind: str, domain_id: int, items: Mapping[str, str]) -> None:
        with self._write() as conn:
            write_cache(conn, kind, domain_id, items, self.now())

    # --- deals ---------------------------------------------------------------

    def save_batch(
        self,
        rows: Iterable[DealRow],
        *,
        query: str,
        watermark: int | None = None,
        keep_when_none: Iterable[str] = (),
    ) -> SaveResult:
        """Upsert ``rows`` and advance ``query``'s watermark, in one transaction.

        ``watermark`` is a Keepa minute; it only moves forward (an older value
        is ignored), and None leaves it alone.  Pass it only once every deal
        newer than it has been saved: for a scan of several pages, that is the
        batch that ends the scan, not the first page.  Rows are checked before
        anything is written (InvalidDealRow); when one (asin, domain) appears
        twice, the last row wins.  ``keep_when_none`` names more columns where
        ``None`` keeps the stored value (see store/upsert.py).
        """
        _check_query_name(query)
        keep = _keep_set(keep_when_none)
        if watermark is not None and (type(watermark) is not int or watermark <= 0):
            raise StoreError(f"the watermark must be a positive Keepa minute, got {watermark!r}")
        with self.unit_of_work(query) as uow:
            added, updated = uow.save_deals(rows, keep_when_none=keep)
            if watermark is not None:
                uow.advance_watermark(watermark)
            current = uow.watermark()
        return SaveResult(added, updated, current)

    def upsert_deals(self, rows: Iterable[DealRow], *, query: str) -> SaveResult:
        """``save_batch`` without touching the watermark (refreshes, imports)."""
        return self.save_batch(rows, query=query)

    def get_deal(self, asin: str, domain_id: int = 1) -> DealRecord | None:
        with self._session() as session:
            return session.scalars(
                select(DealRecord).where(DealRecord.asin == asin, DealRecord.domain_id == domain_id)
            ).one_or_none()

    def query_names(self) -> list[str]:
        """Every query that has stored deals."""
        stmt = select(DEALS.c.query_name).distinct().order_by(DEALS.c.query_name)
        with self._read() as conn:
            return [name for (name,) in conn.execute(stmt)]

    def count_deals(self, query: str | None = None) -> int:
        stmt = select(func.count()).select_from(DEALS)
        if query is not None:
            stmt = stmt.where(DEALS.c.query_name == query)
        with self._read() as conn:
            return int(conn.execute(stmt).scalar_one())

    def deals_to_refresh(
        self,
        limit: int,
        *,
        query: str | None = None,
        domain_id: int | None = None,
        not_refreshed_since: datetime | None = None,
    ) -> list[DealKey]:
        """Up to ``limit`` deals, least recently refreshed first (never refreshed first of all).

        ``domain_id`` is filtered in SQL, before the limit: a query whose marketplace
        changed keeps its old marketplace's deals until the janitor retires them, and
        those (the oldest) must not fill every page of candidates."""
        stmt = select(DEALS.c.asin, DEALS.c.domain_id, DEALS.c.last_refreshed)
        if query is not None:
            stmt = stmt.where(DEALS.c.query_name == query)
        if domain_id is not None:
            stmt = stmt.where(DEALS.c.domain_id == domain_id)
        if not_refreshed_since is not None:
            stmt = stmt.where(
                or_(DEALS.c.last_refreshed.is_(None),
                    DEALS.c.last_refreshed < not_refreshed_since)
            )
        stmt = stmt.order_by(
            DEALS.c.last_refreshed.asc().nulls_first(), DEALS.c.first_seen.asc(), DEALS.c.id
        ).limit(max(0, int(limit)))
        with self._read() as conn:
            # A row whose key is unreadable (docs/failure-classes.md, FC-29) cannot be
            # refreshed; doctor's corrupt_rows check removes it.
            return [DealKey(r.asin, r.domain_id, r.last_refreshed) for r in conn.execute(stmt)
                    if r.asin is not None and r.domain_id is not None]

    def checked_since(self, query: str, domain_id: int, asins: Iterable[str],
                      since: datetime) -> dict[str, datetime]:
        """The stored deals among ``asins`` re-checked at or after ``since``: each with the
        Keepa ``lastUpdate`` it was checked at (one read for the whole batch)."""
        keys = sorted(set(asins))
        if not keys:
            return {}
        stmt = select(DEALS.c.asin, DEALS.c.keepa_last_update).where(
            DEALS.c.query_name == query, DEALS.c.domain_id == domain_id,
            DEALS.c.asin.in_(keys), DEALS.c.last_refreshed >= since,
            DEALS.c.keepa_last_update.is_not(None))
        with self._read() as conn:
            return {r.asin: r.keepa_last_update for r in conn.execute(stmt)
                    if r.asin is not None and r.keepa_last_update is not None}

    def newest_last_update(self, query: str) -> datetime | None:
        """The newest Keepa ``lastUpdate`` among the query's stored deals (None: no deal)."""
        stmt = select(func.max(DEALS.c.keepa_last_update)).where(DEALS.c.query_name == query)
        with self._read() as conn:
            newest = conn.execute(stmt).scalar_one_or_none()
        return newest if isinstance(newest, datetime) else None

    def retire_deals(
        self, older_than: datetime, *, query: str | None = None, limit: int | None = None
    ) -> int:
        """Delete deals that ingestion has neither seen in the feed nor refreshed since
        ``older_than`` (and first saw before it); returns how many were deleted.

        ``limit`` caps the deletion (the oldest go first).
        """
        cutoff = older_than
        stale = and_(
            DEALS.c.first_seen < cutoff,
            or_(DEALS.c.last_seen_in_feed.is_(None), DEALS.c.last_seen_in_feed < cutoff),
            or_(DEALS.c.last_refreshed.is_(None), DEALS.c.last_refreshed < cutoff),
        )
        if query is not None:
            stale = and_(stale, DEALS.c.query_name == query)
        if limit is None:
            stmt = delete(DEALS).where(stale)
        else:
            oldest = (
                select(DEALS.c.id).where(stale)
                .order_by(DEALS.c.last_refreshed.asc().nulls_first(), DEALS.c.id)
                .limit(max(0, int(limit)))
            )
            stmt = delete(DEALS).where(DEALS.c.id.in_(oldest.scalar_subquery()))
        with self._write() as conn:
            removed = int(conn.execute(stmt).rowcount)
            if removed:
                history.delete_orphan_histories(conn)
            return removed

    def deal_history(self, asin: str, domain_id: int = 1) -> DealHistory | None:
        """A stored deal's price, rank and offer-count history (None: none stored)."""
        with self._read() as conn:
            found = history.load_history(conn, asin, domain_id)
        return None if found is None else found[0]

    # --- watermark and state -----------------------------------------------

    def get_watermark(self, query: str) -> Watermark | None:
        with self._read() as conn:
            return state.read_watermark(conn, query)

    def set_watermark(self, query: str, keepa_minute: int | None) -> None:
        """Set the watermark to any value, backwards too (None clears it): for resets."""
        _check_query_name(query)
        with self._write() as conn:
            state.write_state(conn, query, state.WATERMARK_KEY, keepa_minute, self.now())

    def get_state(self, query: str, key: str) -> int | str | None:
        with self._read() as conn:
            row = state.read_state(conn, query, key)
        if row is None:
            return None
        return row.int_value if row.int_value is not None else row.text_value

    def set_state(self, query: str, key: str, value: int | str | None) -> None:
        _check_query_name(query)
        with self._write() as conn:
            state.write_state(conn, query, key, value, self.now())

    # --- ingest runs and metrics ----------------------------------------------

    def start_run(self, query: str, *, version: str | None = __version__) -> int:
        """Record a run as started (outcome ``running``); returns its id."""
        _check_query_name(query)
        with self._write() as conn:
            return runs.start_run(conn, query, self.now(), version)

    def finish_run(
        self,
        run_id: int,
        outcome: RunOutcome | str,
        counts: RunCounts | None = None,
        *,
        retry_after_s: float | None = None,
        error: str | None = None,
    ) -> None:
        outcome = RunOutcome(outcome)
        with self._write() as conn:
            found = runs.finish_run(
                conn, run_id, self.now(), outcome, counts or RunCounts(), retry_after_s, error
            )
        if not found:
            raise StoreError(f"no ingest run with id {run_id}")

    def abandon_stale_runs(self, started_before: datetime) -> int:
        """Mark runs still ``running`` that started before the cutoff as abandoned."""
        with self._write() as conn:
            return runs.abandon_stale_runs(conn, started_before, self.now())

    def recent_runs(self, query: str | None = None, limit: int = 20) -> list[IngestRun]:
        stmt = select(IngestRun).order_by(IngestRun.started_at.desc(), IngestRun.id.desc())
        if query is not None:
            stmt = stmt.where(IngestRun.query_name == query)
        with self._session() as session:
            return list(session.scalars(stmt.limit(limit)))

    def last_run(self, query: str, outcome: RunOutcome | str | None = None) -> IngestRun | None:
        stmt = select(IngestRun).where(IngestRun.query_name == query)
        if outcome is not None:
            stmt = stmt.where(IngestRun.outcome == RunOutcome(outcome).value)
        stmt = stmt.order_by(IngestRun.started_at.desc(), IngestRun.id.desc()).limit(1)
        with self._session() as session:
            return session.scalars(stmt).first()

    def record_metrics(
        self,
        *,
        token_balance: int | None = None,
        refill_rate: int | None = None,
        tokens_refilled: int | None = None,
        deal_count: int | None = None,
        at: datetime | None = None,
    ) -> None:
        """Append a metrics point; ``deal_count`` None means count the deals now."""
        with self._write() as conn:
            runs.record_metrics(
                conn, at or self.now(), token_balance=token_balance, refill_rate=refill_rate,
                tokens_refilled=tokens_refilled, deal_count=deal_count,
            )

    def metrics_since(self, since: datetime, *, limit: int = 10_000) -> list[MetricPoint]:
        stmt = select(MetricPoint).where(MetricPoint.at >= since).order_by(MetricPoint.at)
        with self._session() as session:
            return list(session.scalars(stmt.limit(limit)))

    def prune_metrics(self, before: datetime) -> int:
        with self._write() as conn:
            return int(conn.execute(delete(MetricPoint).where(MetricPoint.at < before)).rowcount)


def _check_query_name(query: str) -> None:
    if not isinstance(query, str) or not query or len(query) > 64:
        raise StoreError(f"a query name is 1-64 characters, got {query!r}")


def _keep_set(extra: Iterable[str]) -> frozenset[str]:
    extra = frozenset(extra)
    unknown = extra - UPDATABLE_COLUMNS
    if unknown:
        raise StoreError(f"keep_when_none names unknown columns: {sorted(unknown)}")
    return KEEP_WHEN_NONE | extra if extra else KEEP_WHEN_NONE


def open_deal_store(
    source: Settings | URL | str | None = None, *, clock: Clock = SYSTEM_CLOCK
) -> DealStore:
    """``DealStore.open``: migrate, then return the store."""
    return DealStore.open(source, clock=clock)


__all__ = ["Changes", "Committed", "DealKey", "DealStore", "LockRow", "Progress", "SaveResult",
           "UnitOfWork", "open_deal_store"]
