"""Ingest runs and the metrics series: what the health checks and charts read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, func, insert, select, update

from keepa_deals.store.schema import DealRecord, IngestRun, MetricPoint

#: Error text longer than this is cut (the head is what matters).
MAX_ERROR_CHARS = 4000


class RunOutcome(StrEnum):
    """How an ingest run ended."""

    RUNNING = "running"
    OK = "ok"
    #: Stopped early to wait for tokens; ``retry_after_s`` says when to come back.
    WAITING_FOR_TOKENS = "waiting_for_tokens"
    #: Another runner held the lock; nothing was done.
    LOCKED = "locked"
    ERROR = "error"
    #: Found still ``running`` long after it should have ended (its process died).
    ABANDONED = "abandoned"


@dataclass(slots=True)
class RunCounts:
    """What a run did; the ingestor adds to it as it goes."""

    tokens_spent: int = 0
    pages: int = 0
    added: int = 0
    updated: int = 0
    rejected: int = 0
    removed: int = 0

    def __iadd__(self, other: RunCounts) -> RunCounts:
        self.tokens_spent += other.tokens_spent
        self.pages += other.pages
        self.added += other.added
        self.updated += other.updated
        self.rejected += other.rejected
        self.removed += other.removed
        return self


def start_run(conn: Connection, query: str, now: datetime, version: str | None) -> int:
    result = conn.execute(
        insert(IngestRun).values(
            query_name=query, started_at=now, outcome=RunOutcome.RUNNING.value, version=version,
            tokens_spent=0, pages=0, deals_added=0, deals_updated=0, deals_rejected=0,
            deals_removed=0,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def finish_run(
    conn: Connection,
    run_id: int,
    now: datetime,
    outcome: RunOutcome,
    counts: RunCounts,
    retry_after_s: float | None,
    error: str | None,
) -> bool:
    if error is not None and len(error) > MAX_ERROR_CHARS:
        error = error[: MAX_ERROR_CHARS - 1] + "…"
    result = conn.execute(
        update(IngestRun)
        .where(IngestRun.id == run_id)
        .values(
            ended_at=now, outcome=RunOutcome(outcome).value,
            tokens_spent=counts.tokens_spent, pages=counts.pages,
            deals_added=counts.added, deals_updated=counts.updated,
            deals_rejected=counts.rejected, deals_removed=counts.removed,
            retry_after_s=retry_after_s, error=error,
        )
    )
    return result.rowcount == 1


def abandon_stale_runs(conn: Connection, started_before: datetime, now: datetime) -> int:
    result = conn.execute(
        update(IngestRun)
        .where(IngestRun.outcome == RunOutcome.RUNNING.value, IngestRun.started_at < started_before)
        .values(outcome=RunOutcome.ABANDONED.value, ended_at=now)
    )
    return int(result.rowcount)


def record_metrics(
    conn: Connection,
    at: datetime,
    *,
    token_balance: int | None,
    refill_rate: int | None,
    tokens_refilled: int | None,
    deal_count: int | None,
) -> None:
    if deal_count is None:
        deal_count = int(conn.execute(select(func.count()).select_from(DealRecord)).scalar_one())
    conn.execute(
        insert(MetricPoint).values(
            at=at, token_balance=token_balance, refill_rate=refill_rate,
            tokens_refilled=tokens_refilled, deal_count=deal_count,
        )
    )
