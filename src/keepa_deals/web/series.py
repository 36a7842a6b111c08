"""Time series for the charts: the token balance and the deal count, with the runs.

Points come from ``metrics_series`` (one per ingest run); a window with more of them
than a chart can show is thinned into buckets (the last value of each, with the lowest
and highest balance seen in it, so a dip below the floor is never smoothed away).
The periods spent waiting for tokens are the runs that ended ``waiting_for_tokens``,
each from its end for its ``retry_after_s``, merged when they touch; and, while the
budget is in recharge mode, that too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, select

from keepa_deals.budget.core import Snapshot
from keepa_deals.store.runs import RunOutcome
from keepa_deals.store.schema import INGEST_RUNS, METRICS_SERIES
from keepa_deals.tokens.economics import cap_for
from keepa_deals.web import models

#: At most this many points per chart.
MAX_POINTS = 500
#: At most this many metrics rows read for one chart (a month at one a minute).
MAX_ROWS = 50_000
#: At most this many runs listed for one chart (the newest).
MAX_RUNS = 1_000
#: How far before the window a run may have started and still end inside it.
RUN_LOOKBACK = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime

    @classmethod
    def last(cls, now: datetime, hours: float) -> Window:
        return cls(now - timedelta(hours=hours), now)


def _metrics(conn: Connection, window: Window, *columns: str) -> list[Row[Any]]:
    stmt = (
        select(METRICS_SERIES.c.at, *(METRICS_SERIES.c[c] for c in columns))
        .where(METRICS_SERIES.c.at >= window.start, METRICS_SERIES.c.at <= window.end)
        .order_by(METRICS_SERIES.c.at.desc())
        .limit(MAX_ROWS)
    )
    rows = list(conn.execute(stmt))
    rows.reverse()
    return rows


def _buckets(rows: Sequence[Row[Any]], window: Window) -> list[list[Row[Any]]]:
    """``rows`` (oldest first) in at most MAX_POINTS time buckets."""
    if len(rows) <= MAX_POINTS:
        return [[r] for r in rows]
    span = (window.end - window.start) / MAX_POINTS
    out: list[list[Row[Any]]] = []
    current: list[Row[Any]] = []
    edge = window.start + span
    for row in rows:
        while row.at >= edge:
            if current:
                out.append(current)
                current = []
            edge += span
        current.append(row)
    if current:
        out.append(current)
    return out


def token_series(
    conn: Connection, window: Window, *, floor: int, snapshot: Snapshot | None, now: datetime
) -> models.TokenSeries:
    rows = _metrics(conn, window, "token_balance", "refill_rate")
    points = []
    for bucket in _buckets([r for r in rows if r.token_balance is not None], window):
        balances = [r.token_balance for r in bucket]
        last = bucket[-1]
        points.append(models.TokenPoint(
            at=last.at, balance=last.token_balance, low=min(balances), high=max(balances),
            refill_rate=last.refill_rate,
        ))
    rate = snapshot.rate if snapshot is not None and snapshot.rate is not None else None
    if rate is None:
        rate = next((r.refill_rate for r in reversed(rows) if r.refill_rate is not None), None)
    cap = None if rate is None else cap_for(rate)
    if len(points) <= MAX_POINTS // 2:
        points = sorted(points + run_starts(conn, window, points, cap),
                        key=lambda p: (p.at, not p.run_start))
    return models.TokenSeries(
        start=window.start, end=window.end, points=points, floor=floor, cap=cap,
        recharge_periods=recharge_periods(conn, window, snapshot, now),
    )


#: A metrics point this soon after a run's end is the balance that run left.
AFTER_RUN = timedelta(seconds=60)


def run_starts(conn: Connection, window: Window, after: Sequence[models.TokenPoint],
               cap: int | None) -> list[models.TokenPoint]:
    """The balance at the start of each run that spent tokens, estimated from the point
    recorded after it: that balance, plus the tokens spent, less the refill during the
    run (never above the cap).  Without them a chart of one point per run hides the
    dip each run makes."""
    stmt = (
        select(INGEST_RUNS.c.started_at, INGEST_RUNS.c.ended_at, INGEST_RUNS.c.tokens_spent)
        .where(INGEST_RUNS.c.started_at >= window.start, INGEST_RUNS.c.started_at <= window.end,
               INGEST_RUNS.c.ended_at.is_not(None), INGEST_RUNS.c.tokens_spent > 0)
        .order_by(INGEST_RUNS.c.started_at)
        .limit(MAX_POINTS)
    )
    out: list[models.TokenPoint] = []
    i = 0
    for r in conn.execute(stmt):
        while i < len(after) and after[i].at < r.ended_at:
            i += 1
        if i == len(after):
            break
        p = after[i]
        if p.balance is None or p.at - r.ended_at > AFTER_RUN:
            continue
        minutes = (r.ended_at - r.started_at).total_seconds() / 60
        refilled = int((p.refill_rate or 0) * minutes)
        est = p.balance + r.tokens_spent - refilled
        if cap is not None:
            est = min(est, cap)
        out.append(models.TokenPoint(at=r.started_at, balance=est, low=est, high=est,
                                     refill_rate=p.refill_rate, run_start=True))
    return out


def recharge_periods(
    conn: Connection, window: Window, snapshot: Snapshot | None, now: datetime
) -> list[models.Period]:
    stmt = (
        select(INGEST_RUNS.c.started_at, INGEST_RUNS.c.ended_at, INGEST_RUNS.c.retry_after_s)
        .where(
            INGEST_RUNS.c.started_at >= window.start - RUN_LOOKBACK,
            INGEST_RUNS.c.started_at <= window.end,
            INGEST_RUNS.c.outcome == RunOutcome.WAITING_FOR_TOKENS.value,
        )
        .order_by(INGEST_RUNS.c.started_at)
        .limit(MAX_RUNS * 10)
    )
    spans: list[tuple[datetime, datetime]] = []
    for r in conn.execute(stmt):
        start = r.ended_at or r.started_at
        spans.append((start, start + timedelta(seconds=max(0.0, r.retry_after_s or 0.0))))
    periods = [
        models.Period(start=max(s, window.start), end=min(e, window.end), ongoing=e > now,
                      source="run")
        for s, e in _merge(spans)
        if e >= window.start and s <= window.end
    ]
    if snapshot is not None and snapshot.recharge is not None:
        since = now - timedelta(seconds=snapshot.recharge.since_s_ago)
        periods.append(models.Period(start=max(since, window.start), end=now, ongoing=True,
                                     source="budget"))
    return periods


def _merge(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Overlapping or touching spans as one (a run re-tried while still waiting)."""
    out: list[tuple[datetime, datetime]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def deal_series(conn: Connection, window: Window, *, current: int) -> models.DealSeries:
    rows = [r for r in _metrics(conn, window, "deal_count") if r.deal_count is not None]
    points = [
        models.CountPoint(at=b[-1].at, count=b[-1].deal_count) for b in _buckets(rows, window)
    ]
    stmt = (
        select(INGEST_RUNS)
        .where(INGEST_RUNS.c.started_at >= window.start, INGEST_RUNS.c.started_at <= window.end)
        .order_by(INGEST_RUNS.c.started_at.desc(), INGEST_RUNS.c.id.desc())
        .limit(MAX_RUNS)
    )
    runs = [
        models.RunChange(
            id=r.id, query_name=r.query_name, started_at=r.started_at, ended_at=r.ended_at,
            outcome=r.outcome, added=r.deals_added, removed=r.deals_removed,
            updated=r.deals_updated,
        )
        for r in conn.execute(stmt)
    ]
    runs.reverse()
    return models.DealSeries(start=window.start, end=window.end, points=points, runs=runs,
                             current=current)


def count_near(conn: Connection, at: datetime, tolerance: timedelta) -> tuple[int, datetime] | None:
    """The deal count recorded closest before ``at`` (no older than ``tolerance``)."""
    stmt = (
        select(METRICS_SERIES.c.deal_count, METRICS_SERIES.c.at)
        .where(METRICS_SERIES.c.at <= at, METRICS_SERIES.c.at >= at - tolerance,
               METRICS_SERIES.c.deal_count.is_not(None))
        .order_by(METRICS_SERIES.c.at.desc())
        .limit(1)
    )
    row = conn.execute(stmt).first()
    return None if row is None else (int(row.deal_count), row.at)
