"""The health page's data: the budget now, the deal count and its trend, runs, alerts.

Each part is read on its own, and a part that cannot be read says why instead of
failing the whole page: an unreachable budget store still leaves the deal count and
the runs to look at.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Row, select

from keepa_deals import __version__
from keepa_deals.budget.core import Policy, Snapshot
from keepa_deals.errors import KeepaDealsError
from keepa_deals.store.runs import RunOutcome
from keepa_deals.store.schema import INGEST_RUNS, IngestRun
from keepa_deals.web import models, series
from keepa_deals.web.context import WebContext

log = logging.getLogger(__name__)


#: The trend compares the count now with the count recorded this many hours ago.
TREND_HOURS = (1.0, 24.0)
#: A recorded count this far from the wanted time still counts as the count then.
TREND_TOLERANCE = timedelta(hours=3)


def run_item(row: Row[Any] | IngestRun) -> models.RunItem:
    return models.RunItem(
        id=row.id, query_name=row.query_name, started_at=row.started_at, ended_at=row.ended_at,
        outcome=row.outcome, version=row.version, tokens_spent=row.tokens_spent,
        pages=row.pages, deals_added=row.deals_added, deals_updated=row.deals_updated,
        deals_rejected=row.deals_rejected, deals_removed=row.deals_removed,
        retry_after_s=row.retry_after_s, error=row.error,
    )


def list_runs(
    conn: Connection, *, limit: int, offset: int = 0, query: str | None = None,
    outcome: str | None = None,
) -> list[models.RunItem]:
    stmt = select(INGEST_RUNS)
    if query is not None:
        stmt = stmt.where(INGEST_RUNS.c.query_name == query)
    if outcome is not None:
        stmt = stmt.where(INGEST_RUNS.c.outcome == outcome)
    stmt = stmt.order_by(INGEST_RUNS.c.started_at.desc(), INGEST_RUNS.c.id.desc()).limit(limit).offset(offset)
    return [run_item(r) for r in conn.execute(stmt)]


def tokens(ctx: WebContext, snap: Snapshot | None, error: str | None) -> models.Tokens:
    floor = ctx.settings.budget_floor
    kind = ctx.budget_kind()
    if snap is None:
        return models.Tokens(available=False, error=error, store=kind, state="unreachable",
                             why=error, floor=floor)
    state, why = _explain(ctx, snap, kind)
    return models.Tokens(
        available=True, store=kind, state=state, why=why, known=snap.known,
        problems=list(snap.problems), projected=snap.projected, spendable=snap.available,
        anchor_tokens=snap.tokens, anchor_age_s=snap.anchor_age_s, refill_rate=snap.rate,
        cap=snap.cap, floor=floor, next_refill_in_ms=snap.next_refill_in_ms,
        leases=len(snap.leases), last_sync_age_s=snap.last_sync_age_s,
        recharge=None if snap.recharge is None else snap.recharge.as_dict(),
    )


def _explain(ctx: WebContext, snap: Snapshot, kind: str) -> tuple[str | None, str | None]:
    """The budget's state and its reason, as ``keepa-deals status`` words them."""
    try:
        from keepa_deals.ops.budget_view import explain
    except ImportError:  # pragma: no cover - the operations package ships with the web
        return None, None
    view = explain(snap, Policy.from_settings(ctx.settings), kind,
                   ctx.settings.budget_sync_interval_s)
    return str(view["state"]), str(view["why"])


def deal_count(ctx: WebContext, conn: Connection) -> models.DealCount:
    now = ctx.now()
    by_query = ctx.definition.count_by_query(conn, now)
    count = sum(by_query.values())
    trend = []
    for hours in TREND_HOURS:
        then = series.count_near(conn, now - timedelta(hours=hours), TREND_TOLERANCE)
        trend.append(models.Trend(
            hours=hours, then=None if then is None else then[0],
            at=None if then is None else then[1],
            change=None if then is None else count - then[0],
        ))
    return models.DealCount(count=count, by_query=by_query, trend=trend,
                            definition=ctx.definition.describe())


def alerts(ctx: WebContext) -> tuple[list[models.Alert], str]:
    if ctx.alerts is None:
        return [], "none: no alert source"
    try:
        return ctx.alerts(), "doctor"
    except KeepaDealsError as exc:
        return [], f"unavailable: {exc}"
    except Exception as exc:  # a crashing check must not take the health page down
        log.exception("collecting alerts failed")
        return [], f"unavailable: {type(exc).__name__}"


def health(
    ctx: WebContext, snapshot: tuple[Snapshot | None, str | None] | None = None
) -> models.Health:
    """The health report; ``snapshot`` is the budget's, when the caller has read it."""
    snap, error = snapshot if snapshot is not None else ctx.snapshot()
    with ctx.read() as conn:
        deals = deal_count(ctx, conn)
        last_runs = list_runs(conn, limit=10)
        ok = list_runs(conn, limit=1, outcome=RunOutcome.OK.value)
    found, source = alerts(ctx)
    return models.Health(
        now=ctx.now(), version=__version__, tokens=tokens(ctx, snap, error), deals=deals,
        last_runs=last_runs, last_ok_run=ok[0] if ok else None, alerts=found,
        alerts_source=source,
    )
