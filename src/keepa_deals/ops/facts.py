"""What the deal store says about ingestion: the facts status, health and doctor share.

One definition each (docs/failure-classes.md, FC-17): *a deal* is what
:mod:`keepa_deals.deals_view` says (what the dashboard and the API count:
:func:`deal_count`), while :class:`DealStats` counts stored rows; *progress* is a
successful run, a watermark that moved, or a deal row written (see
:func:`progress`).  Every function reads, in one short transaction, and raises
the store's errors.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, overload

from sqlalchemy import Connection, func, literal_column, select

from keepa_deals.store.engine import translate_errors
from keepa_deals.store.runs import RunOutcome
from keepa_deals.store.schema import (
    DEALS,
    INGEST_RUNS,
    METRICS_SERIES,
    SYSTEM_STATE,
    IngestRun,
)
from keepa_deals.store.state import WATERMARK_KEY

if TYPE_CHECKING:
    from keepa_deals.store.store import DealStore


#: A metrics point this far from "24 h ago" still counts as the count then.
TREND_TOLERANCE = timedelta(hours=3)
#: system_state keys whose names start with this are the janitor's.
JANITOR_PREFIX = "janitor"


@contextmanager
def _read(store: DealStore) -> Iterator[Connection]:
    with translate_errors(store.engine.url), store.engine.connect() as conn:
        yield conn


def deal_count(store: DealStore, settings: Any, now: datetime,
               query: str | None = None) -> int:
    """How many current deals there are, by the one definition (keepa_deals.deals_view)."""
    from keepa_deals.deals_view import DealDefinition

    definition = DealDefinition.from_settings(settings)
    with _read(store) as conn:
        return definition.count(conn, now, query=query)


def aged_count(store: DealStore, settings: Any, now: datetime) -> int:
    """Stored deals priced as deals that ingestion has not looked at within the grace.

    They no longer count as deals (the dashboard's count has lost them) while
    the janitor has not deleted them yet: ingestion is not keeping up.
    """
    from sqlalchemy import and_, or_

    from keepa_deals.deals_view import DealDefinition

    definition = DealDefinition.from_settings(settings)
    cutoff = definition.cutoff(now)
    c = DEALS.c
    # not fresh, spelled without NOT over NULLs (SQL's NOT NULL is NULL, never true)
    stale = and_(c.first_seen < cutoff,
                 or_(c.last_seen_in_feed.is_(None), c.last_seen_in_feed < cutoff),
                 or_(c.last_refreshed.is_(None), c.last_refreshed < cutoff))
    stmt = select(func.count()).select_from(DEALS).where(
        and_(definition.priced_clause(), stale))
    with _read(store) as conn:
        return int(conn.execute(stmt).scalar_one())


@dataclass(frozen=True, slots=True)
class DealStats:
    count: int
    newest_first_seen: datetime | None
    newest_seen_in_feed: datetime | None
    newest_refreshed: datetime | None
    newest_written: datetime | None


def deal_stats(store: DealStore) -> DealStats:
    stmt = select(
        func.count(),
        func.max(DEALS.c.first_seen),
        func.max(DEALS.c.last_seen_in_feed),
        func.max(DEALS.c.last_refreshed),
        func.max(DEALS.c.updated_at),
    ).select_from(DEALS)
    with _read(store) as conn:
        row = conn.execute(stmt).one()
        newest = list(row[1:])
        if row[0] and conn.dialect.name == "sqlite":
            newest = [_newest_readable(conn, col) if v is None else v
                      for col, v in zip(_NEWEST, newest, strict=True)]
    return DealStats(int(row[0]), *(utc(v) for v in newest))


_NEWEST = (DEALS.c.first_seen, DEALS.c.last_seen_in_feed, DEALS.c.last_refreshed,
           DEALS.c.updated_at)


def _newest_readable(conn: Connection, column: Any) -> Any:
    """The newest time in ``column`` among values that look like one (SQLite only).

    Asked only when the plain ``max`` read as None: all NULL, or the greatest value is
    corrupt (text sorts above the stored times when it starts with a letter, a blob
    above any text), which must not blank the newest-deal age of health and status.
    """
    return conn.execute(select(func.max(column)).where(column < literal_column("'A'"))).scalar()


def count_at(store: DealStore, at: datetime) -> tuple[int, datetime] | None:
    """The deal count the metrics series recorded closest before ``at`` (within tolerance)."""
    stmt = (
        select(METRICS_SERIES.c.deal_count, METRICS_SERIES.c.at)
        .where(METRICS_SERIES.c.at <= at, METRICS_SERIES.c.at >= at - TREND_TOLERANCE,
               METRICS_SERIES.c.deal_count.is_not(None))
        .order_by(METRICS_SERIES.c.at.desc()).limit(1)
    )
    with _read(store) as conn:
        row = conn.execute(stmt).one_or_none()
    if row is None:
        return None
    return int(row[0]), utc(row[1])


@dataclass(frozen=True, slots=True)
class QueryFacts:
    name: str
    watermark: int | None
    watermark_at: datetime | None
    watermark_moved_at: datetime | None
    last_run_at: datetime | None
    last_run_outcome: str | None
    last_ok_at: datetime | None


def known_queries(store: DealStore, since: datetime) -> list[str]:
    """Queries with a watermark, or with a run since ``since``."""
    with _read(store) as conn:
        names = {r[0] for r in conn.execute(
            select(SYSTEM_STATE.c.query_name).where(SYSTEM_STATE.c.key == WATERMARK_KEY).distinct())}
        names |= {r[0] for r in conn.execute(
            select(INGEST_RUNS.c.query_name).where(INGEST_RUNS.c.started_at >= since).distinct())}
    return sorted(names)


def query_facts(store: DealStore, names: list[str]) -> list[QueryFacts]:
    from keepa_deals.store.state import read_watermark

    out = []
    with _read(store) as conn:
        for name in names:
            wm = read_watermark(conn, name)
            last = conn.execute(
                select(INGEST_RUNS.c.started_at, INGEST_RUNS.c.outcome).where(INGEST_RUNS.c.query_name == name)
                .order_by(INGEST_RUNS.c.started_at.desc(), INGEST_RUNS.c.id.desc()).limit(1)
            ).one_or_none()
            ok = conn.execute(
                select(func.max(INGEST_RUNS.c.ended_at)).where(
                    INGEST_RUNS.c.query_name == name, INGEST_RUNS.c.outcome == RunOutcome.OK.value)
            ).scalar_one()
            out.append(QueryFacts(
                name=name,
                watermark=wm.keepa_minute if wm else None,
                watermark_at=wm.at if wm else None,
                watermark_moved_at=utc(wm.updated_at) if wm else None,
                last_run_at=utc(last[0]) if last else None,
                last_run_outcome=last[1] if last else None,
                last_ok_at=utc(ok),
            ))
    return out


def runs_since(store: DealStore, since: datetime, *, limit: int = 5000) -> list[IngestRun]:
    """Finished and running runs started since ``since``, newest first."""
    from sqlalchemy.orm import Session

    stmt = (select(IngestRun).where(IngestRun.started_at >= since)
            .order_by(IngestRun.started_at.desc(), IngestRun.id.desc()).limit(limit))
    with translate_errors(store.engine.url), Session(store.engine, expire_on_commit=False) as s:
        return list(s.scalars(stmt))


def last_success(store: DealStore) -> datetime | None:
    stmt = select(func.max(INGEST_RUNS.c.ended_at)).where(INGEST_RUNS.c.outcome == RunOutcome.OK.value)
    with _read(store) as conn:
        return _utc_or_none(conn.execute(stmt).scalar_one())


def first_run_at(store: DealStore) -> datetime | None:
    with _read(store) as conn:
        return _utc_or_none(conn.execute(select(func.min(INGEST_RUNS.c.started_at))).scalar_one())


def newest_watermark_move(store: DealStore) -> datetime | None:
    stmt = select(func.max(SYSTEM_STATE.c.updated_at)).where(SYSTEM_STATE.c.key == WATERMARK_KEY)
    with _read(store) as conn:
        return _utc_or_none(conn.execute(stmt).scalar_one())


def janitor_state(store: DealStore) -> list[dict[str, Any]]:
    """The janitor's values in ``system_state`` (keys ``janitor*``), per query."""
    stmt = select(SYSTEM_STATE).where(SYSTEM_STATE.c.key.like(f"{JANITOR_PREFIX}%")).order_by(
        SYSTEM_STATE.c.query_name, SYSTEM_STATE.c.key)
    with _read(store) as conn:
        rows = list(conn.execute(stmt))
    return [
        {"query": r.query_name, "key": r.key,
         "value": r.int_value if r.int_value is not None else r.text_value,
         "updated_at": _iso(utc(r.updated_at))}
        for r in rows
    ]


def run_dict(r: IngestRun) -> dict[str, Any]:
    return {
        "id": r.id, "query": r.query_name, "outcome": r.outcome,
        "started_at": r.started_at.isoformat() if r.started_at else None,
        "ended_at": r.ended_at.isoformat() if r.ended_at else None,
        "pages": r.pages, "added": r.deals_added, "updated": r.deals_updated,
        "rejected": r.deals_rejected, "removed": r.deals_removed,
        "tokens_spent": r.tokens_spent, "retry_after_s": r.retry_after_s,
        "error": (r.error or "")[:300] or None,
        "version": r.version,
    }


# --- progress -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Progress:
    """Whether ingestion has made progress within ``window_s`` (docs/failure-classes.md, FC-18)."""

    ok: bool
    reason: str
    window_s: float
    checked_at: datetime
    last_progress_at: datetime | None
    #: each kind of progress and when it last happened
    signals: dict[str, datetime | None] = field(default_factory=dict)
    #: the runs failing in a row right now, if any
    failures: Failures | None = None

    @property
    def failing(self) -> bool:
        return not self.ok and self.reason.startswith("failing")

    @property
    def stalled_for_s(self) -> float | None:
        if self.last_progress_at is None:
            return None
        return (self.checked_at - self.last_progress_at).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "reason": self.reason,
            "window_s": self.window_s,
            "checked_at": _iso(self.checked_at),
            "last_progress_at": _iso(self.last_progress_at),
            "seconds_since_progress": self.stalled_for_s,
            "signals": {k: _iso(v) for k, v in self.signals.items()},
            "failures": self.failures.as_dict() if self.failures else None,
        }


#: This many failed runs in a row fail health even within the window (a refused key: one).
FAILED_RUNS = 3
#: How a stored run error begins when Keepa refused the key (the exception's class name).
KEY_REFUSED = ("PaymentRequired", "InvalidKey")
_FAILED = (RunOutcome.ERROR.value, RunOutcome.ABANDONED.value)
_RUNNING = RunOutcome.RUNNING.value


@dataclass(frozen=True, slots=True)
class Failures:
    """The runs of one query that failed in a row, newest first, since its last run that
    did not fail."""

    count: int
    since: datetime | None
    cause: str
    #: True when Keepa refused the key (402 no plan, 400 bad key): no retry will help
    key_refused: bool
    #: the count is at least this (the query was capped: more may have failed)
    capped: bool = False
    #: the failing query, named when the store holds the runs of several
    query: str | None = None

    def describe(self) -> str:
        if self.count == 1:
            runs = "the last run failed"
        else:
            runs = f"the last {'50+' if self.capped else self.count} runs failed in a row"
        if self.query is not None:
            runs = f"query {self.query}: {runs}"
        if self.key_refused:
            return f"Keepa refuses the key (KEEPA_API_KEY): {runs}: {self.cause}"
        return f"{runs}: {self.cause}"

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "since": _iso(self.since), "cause": self.cause,
                "key_refused": self.key_refused, "query": self.query}


#: A query with no run for this long beside the others' has stopped running.
GONE_AFTER = timedelta(days=1)


def failures(store: DealStore, limit: int = 50) -> Failures | None:
    """The worst streak of failed runs (``error``, ``abandoned``) ending with a query's
    newest finished run: a refused key first, then the longest; None when no query's
    newest finished run failed.

    Streaks are counted per query: one query failing at every run beside another that
    succeeds is a failure, not a streak broken at every other run.  A query whose newest
    run is more than :data:`GONE_AFTER` older than the newest run of all has stopped
    running (removed from the configuration) and is not counted."""
    with _read(store) as conn:
        queries = [q for q in conn.execute(select(INGEST_RUNS.c.query_name).distinct()).scalars()
                   if q is not None]
        found = []
        newest = []  # when each query's newest finished run started
        for query in queries:
            stmt = (select(INGEST_RUNS.c.outcome, INGEST_RUNS.c.started_at, INGEST_RUNS.c.error)
                    .where(INGEST_RUNS.c.query_name == query, INGEST_RUNS.c.outcome != _RUNNING)
                    .order_by(INGEST_RUNS.c.started_at.desc(), INGEST_RUNS.c.id.desc())
                    .limit(limit))
            rows = conn.execute(stmt).all()
            if rows and rows[0].started_at is not None:
                newest.append(utc(rows[0].started_at))
            streak = _failed_streak(rows)
            if streak:
                found.append((query, streak))
    if newest:
        latest = max(newest)
        found = [(q, s) for q, s in found
                 if s[0].started_at is None or latest - utc(s[0].started_at) <= GONE_AFTER]
    if not found:
        return None
    query, streak = max(found, key=lambda f: (_refused(f[1]), len(f[1])))
    cause = next((r.error for r in streak if r.error), None) or "see the logs"
    cause = " ".join(cause.split())
    return Failures(len(streak), utc(streak[-1].started_at),
                    cause if len(cause) <= 240 else cause[:239] + "…",
                    key_refused=_refused(streak), capped=len(streak) == limit,
                    query=query if len(queries) > 1 else None)


def _failed_streak(rows: Sequence[Any]) -> list[Any]:
    streak = []
    for row in rows:
        if row.outcome not in _FAILED:
            break
        streak.append(row)
    return streak


def _refused(streak: Sequence[Any]) -> bool:
    return any((r.error or "").startswith(KEY_REFUSED) for r in streak[:1])


def progress(store: DealStore, now: datetime, window_s: float) -> Progress:
    """Progress is a successful run, a watermark move or a deal row written within the window.

    A system whose first run started less than a window ago is still starting
    and counts as progressing, unless a run has failed since; one that never ran
    has not progressed.  Runs that keep failing (:data:`FAILED_RUNS` in a row, or
    one refused key) are no progress whatever the other signals say.
    """
    failed = failures(store)
    result = _progress(store, now, window_s, failed)
    if failed is None:
        return result
    failing = failed.key_refused or failed.count >= FAILED_RUNS or (
        not result.ok or result.reason.startswith("starting"))
    if not failing:
        return result
    return Progress(False, f"failing: {failed.describe()}", window_s, now,
                    result.last_progress_at, result.signals, failed)


def _progress(store: DealStore, now: datetime, window_s: float,
              failed: Failures | None) -> Progress:
    stats = deal_stats(store)
    signals = {
        "successful_run": last_success(store),
        "watermark_moved": newest_watermark_move(store),
        "deal_written": stats.newest_written,
    }
    seen = [t for t in signals.values() if t is not None]
    last = max(seen) if seen else None
    window = timedelta(seconds=window_s)
    if last is not None and now - last <= window:
        kind = next(k for k, v in signals.items() if v == last)
        return Progress(True, f"progress {_ago(now - last)} ago ({kind.replace('_', ' ')})",
                        window_s, now, last, signals, failed)
    first = first_run_at(store)
    if last is None and first is not None and now - first <= window:
        return Progress(True, f"starting: the first run began {_ago(now - first)} ago",
                        window_s, now, last, signals)
    if last is None:
        why = ("no progress ever recorded: no successful run, watermark or deal"
               + ("" if first is not None else " (no run has ever started)"))
        return Progress(False, why, window_s, now, None, signals)
    return Progress(False, f"no progress for {_ago(now - last)} (more than {_ago(window)})",
                    window_s, now, last, signals)


# --- helpers ---------------------------------------------------------------------------------


@overload
def utc(value: datetime) -> datetime: ...
@overload
def utc(value: None) -> None: ...
@overload
def utc(value: datetime | None) -> datetime | None: ...
def utc(value: datetime | None) -> datetime | None:
    """``value`` as an aware UTC time (a database may hand back naive UTC), None as None."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _utc_or_none(value: datetime | None) -> datetime | None:
    """A MAX/MIN over a possibly empty table, as an aware UTC time or None."""
    return utc(value)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _ago(td: timedelta) -> str:
    s = int(td.total_seconds())
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d"


def age_s(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else round((now - then).total_seconds(), 3)
