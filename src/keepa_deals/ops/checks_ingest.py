"""doctor checks of ingestion: progress, the deal count, the yield, empty queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from keepa_deals.ops import facts
from keepa_deals.ops.doctor import Check, CheckResult, Context, fail, ok, skipped, warn
from keepa_deals.ops.health import window_s
from keepa_deals.ops.sources import DATABASE
from keepa_deals.store.runs import RunOutcome
from keepa_deals.store.schema import IngestRun
from keepa_deals.store.store import DealStore

#: Consecutive runs ending like this are worth a warning even while progress is fine.
STUCK_RUNS = 3
#: Fewer candidates than this in a window say nothing about the yield.
MIN_RECENT_CANDIDATES = 20
MIN_BASELINE_CANDIDATES = 50
#: A query needs this many successful runs without a candidate to be "returning nothing".
EMPTY_QUERY_RUNS = 3


def _store(ctx: Context, name: str) -> DealStore | CheckResult:
    """The deal store, or the skipped result that says why there is none."""
    store = ctx.sources.deal_store()
    if store is None:
        return skipped(name, f"database: {ctx.sources.errors.get(DATABASE, 'unreachable')}")
    return store


def check_ingestion(ctx: Context) -> CheckResult:
    name = "ingestion"
    store = _store(ctx, name)
    if isinstance(store, CheckResult):
        return store
    now = ctx.now()
    prog = facts.progress(store, now, window_s(ctx.settings))
    recent = store.recent_runs(limit=10)
    evidence: dict[str, Any] = {"progress": prog.as_dict(),
                                "last_runs": [facts.run_dict(r) for r in recent]}
    finished = [r for r in recent if r.outcome != RunOutcome.RUNNING.value]
    if prog.failing:
        return fail(name, f"ingestion is {prog.reason}", _stall_fix(finished), **evidence)
    if not prog.ok:
        return fail(name, f"ingestion is stalled: {prog.reason}", _stall_fix(finished), **evidence)
    stale_running = [r for r in recent if r.outcome == RunOutcome.RUNNING.value
                     and r.started_at is not None
                     and now - facts.utc(r.started_at) > timedelta(seconds=prog.window_s)]
    if stale_running:
        return warn(name, f"{len(stale_running)} run(s) still marked running after "
                    f"{prog.window_s:.0f} s: their process died",
                    "the ingestor marks them abandoned at its next start; check its logs for "
                    "the crash", **evidence)
    streak = _streak(finished)
    if streak and streak[1] >= STUCK_RUNS and streak[0] != RunOutcome.OK.value:
        return warn(name, f"the last {streak[1]} runs ended {streak[0]} ({prog.reason})",
                    _stall_fix(finished), **evidence)
    return ok(name, prog.reason, **evidence)


def _streak(runs: Sequence[IngestRun]) -> tuple[str, int] | None:
    if not runs:
        return None
    first = runs[0].outcome
    n = 0
    for r in runs:
        if r.outcome != first:
            break
        n += 1
    return first, n


def _stall_fix(runs: Sequence[IngestRun]) -> str:
    if not runs:
        return "no run was recorded: is the scheduler (the worker, cron, the beat) running?"
    outcome = runs[0].outcome
    if outcome == RunOutcome.WAITING_FOR_TOKENS.value:
        return ("runs keep waiting for tokens: see the token_state and recharge checks; "
                "`keepa-deals doctor --fix` forces a /token sync")
    if outcome == RunOutcome.LOCKED.value:
        return "runs find the ingest lock taken: see the locks check"
    if outcome == RunOutcome.ERROR.value and (runs[0].error or "").startswith(facts.KEY_REFUSED):
        return "Keepa refuses the key: see the key check"
    if outcome == RunOutcome.ERROR.value:
        return f"runs fail: {(runs[0].error or 'see the logs')[:200]}"
    if outcome == RunOutcome.ABANDONED.value:
        return "runs die before finishing: check the worker's logs and memory"
    return "no run has been scheduled lately: is the scheduler running?"


def _sum(runs: Sequence[IngestRun], attr: str) -> int:
    return sum(int(getattr(r, attr) or 0) for r in runs)


def check_deal_count(ctx: Context) -> CheckResult:
    """The stored count against 24 h ago (the metrics series counts rows), and deals aging
    past the janitor's grace unchecked (the dashboard's count falls before any deletion)."""
    name = "deal_count"
    store = _store(ctx, name)
    if isinstance(store, CheckResult):
        return store
    now = ctx.now()
    limit = ctx.settings.doctor_deal_drop_percent
    rows = store.count_deals()
    then = facts.count_at(store, now - timedelta(hours=24))
    aged = facts.aged_count(store, ctx.settings, now)
    runs = facts.runs_since(store, now - timedelta(hours=24))
    evidence: dict[str, Any] = {
        "count": facts.deal_count(store, ctx.settings, now),
        "rows": rows,
        "count_24h_ago": then[0] if then else None,
        "measured_at": then[1].isoformat() if then else None,
        "aged_past_grace": aged,
        "added_24h": _sum(runs, "deals_added"),
        "updated_24h": _sum(runs, "deals_updated"),
        "removed_24h": _sum(runs, "deals_removed"),
        "ok_runs_24h": sum(1 for r in runs if r.outcome == RunOutcome.OK.value),
        "janitor": facts.janitor_state(store),
    }
    problems = []
    count = evidence["count"]
    if then is not None and then[0] > 0 and count < then[0]:
        drop = 100.0 * (then[0] - count) / then[0]
        evidence["drop_percent"] = round(drop, 2)
        if drop > limit:
            problems.append(f"the deals fell from {then[0]} to {count} in 24 h "
                            f"(-{drop:.1f} %)")
    if rows and 100.0 * aged / rows > limit:
        problems.append(f"{aged} of {rows} stored deals were not seen or refreshed within the "
                        "janitor's grace: they no longer count as deals")
    trend = "no count recorded 24 h ago" if then is None else f"{count - then[0]:+d} in 24 h"
    if not problems:
        return ok(name, f"{evidence['count']} deals, {rows} stored ({trend})", **evidence)
    text = "; ".join(problems)
    refreshed = evidence["added_24h"] + evidence["updated_24h"]
    if evidence["ok_runs_24h"] == 0 or evidence["removed_24h"] > refreshed:
        return fail(name, text + ": ingestion is not keeping the deals it has",
                    "fix ingestion first (see the ingestion check); the janitor must not delete "
                    "what ingestion has not re-checked (docs/failure-classes.md, FC-11)", **evidence)
    return warn(name, text, "ingestion is running: check whether the feed itself shrank "
                "(the yield and queries checks), whether refreshes keep up with the stored "
                "deals, or the janitor's grace is too short", **evidence)


def _rate(runs: Sequence[IngestRun]) -> tuple[int, int]:
    accepted = _sum(runs, "deals_added") + _sum(runs, "deals_updated")
    return accepted, accepted + _sum(runs, "deals_rejected")


def check_yield(ctx: Context) -> CheckResult:
    name = "yield"
    store = _store(ctx, name)
    if isinstance(store, CheckResult):
        return store
    now = ctx.now()
    recent_span = max(timedelta(hours=1), timedelta(seconds=3 * ctx.settings.ingest_interval_s))
    runs = [r for r in facts.runs_since(store, now - timedelta(hours=24))
            if r.outcome == RunOutcome.OK.value]
    cut = now - recent_span
    recent = [r for r in runs if facts.utc(r.started_at) >= cut]
    baseline = [r for r in runs if facts.utc(r.started_at) < cut]
    r_acc, r_all = _rate(recent)
    b_acc, b_all = _rate(baseline)
    evidence: dict[str, Any] = {
        "recent": {"since": cut.isoformat(), "runs": len(recent), "accepted": r_acc,
                   "candidates": r_all},
        "baseline": {"runs": len(baseline), "accepted": b_acc, "candidates": b_all},
        "alert_below_fraction": ctx.settings.doctor_yield_drop,
    }
    if b_all < MIN_BASELINE_CANDIDATES or b_acc == 0:
        return skipped(name, f"not enough history for a baseline ({b_all} candidates in 24 h)",
                       **evidence)
    if r_all < MIN_RECENT_CANDIDATES:
        return skipped(name, f"too few recent candidates to judge ({r_all})", **evidence)
    r_rate, b_rate = r_acc / r_all, b_acc / b_all
    evidence["recent"]["rate"] = round(r_rate, 4)
    evidence["baseline"]["rate"] = round(b_rate, 4)
    text = f"acceptance {100 * r_rate:.1f} % recently vs {100 * b_rate:.1f} % baseline"
    fix = ("the filters now reject what they accepted: look at the rejection reasons in the "
           "logs, the query file and Keepa's data (missing prices are rejected, never invented)")
    if r_acc == 0:
        return fail(name, f"yield collapsed: nothing accepted ({text})", fix, **evidence)
    if r_rate < ctx.settings.doctor_yield_drop * b_rate:
        return warn(name, f"yield dropped: {text}", fix, **evidence)
    return ok(name, text, **evidence)


def check_queries(ctx: Context) -> CheckResult:
    name = "queries"
    broken = _configured(ctx)
    if broken is not None:
        return broken
    store = _store(ctx, name)
    if isinstance(store, CheckResult):
        return store
    now = ctx.now()
    since = now - timedelta(hours=24)
    names = facts.known_queries(store, now - timedelta(days=7))
    if not names:
        return skipped(name, "no query has run in 7 days")
    runs = facts.runs_since(store, since)
    by_query: dict[str, list[IngestRun]] = {}
    for r in runs:
        by_query.setdefault(r.query_name, []).append(r)
    rows: list[dict[str, Any]] = []
    empty: list[str] = []
    quiet: list[str] = []
    failing: list[str] = []
    for q in facts.query_facts(store, names):
        ok_runs = [r for r in by_query.get(q.name, []) if r.outcome == RunOutcome.OK.value]
        candidates = sum(_rate([r])[1] for r in ok_runs)
        deals = store.count_deals(q.name)
        rows.append({"query": q.name, "ok_runs_24h": len(ok_runs), "candidates_24h": candidates,
                     "deals": deals, "watermark_at": _iso(q.watermark_at),
                     "watermark_moved_at": _iso(q.watermark_moved_at),
                     "last_run_outcome": q.last_run_outcome})
        if len(ok_runs) >= EMPTY_QUERY_RUNS and candidates == 0:
            (empty if deals == 0 else quiet).append(q.name)
        elif not ok_runs and deals == 0 and q.name in by_query:
            failing.append(f"{q.name} (last run {q.last_run_outcome})")
    fix = ("check the query's selection (`keepa-deals` query file): Keepa returns no deal for it; "
           "a category, price range or title filter may exclude everything")
    if failing:
        return warn(name, f"no successful run in 24 h and no deal: {', '.join(failing)}",
                    "see the ingestion check for why the runs fail", queries=rows)
    if empty:
        return warn(name, f"returns nothing: {', '.join(empty)} (≥ {EMPTY_QUERY_RUNS} successful "
                    "runs in 24 h, no candidate, no deal stored)", fix, queries=rows)
    if quiet:
        return warn(name, f"no new candidate in 24 h: {', '.join(quiet)}", fix, queries=rows)
    return ok(name, f"{len(names)} quer{'y' if len(names) == 1 else 'ies'} finding deals",
              queries=rows)


def _configured(ctx: Context) -> CheckResult | None:
    """A failed result when the effective queries cannot be read, else None."""
    from keepa_deals.errors import ConfigError
    from keepa_deals.settings import resolve_queries

    try:
        resolve_queries(ctx.settings)
    except ConfigError as exc:
        return fail("queries", f"a query cannot be used: {exc}",
                    "fix the query file or KEEPA_DEALS_QUERIES (`keepa-deals settings` shows "
                    "the effective queries)", queries=ctx.settings.query_specs())
    return None


def check_new_store(ctx: Context) -> CheckResult:
    """An empty deal store while the budget shows the account in use (FC-21)."""
    from keepa_deals.ops import budget_view, newstore

    name = "new_store"
    store = ctx.sources.deal_store()
    error = ctx.sources.errors.get(DATABASE)
    now = ctx.now()
    names = facts.known_queries(store, now - newstore.SHOWN_FOR) if store is not None else []
    found = newstore.findings(store, error, budget_view.budget_view(ctx.sources), names, now)
    if found:
        return warn(name, "; ".join(found), "check DATABASE_URL and that the database is the "
                    "one in use; restore it from a backup before a run buys the feed again",
                    findings=found)
    if store is None:
        return skipped(name, f"database: {error or 'unreachable'}")
    return ok(name, "the deal store is not new, or nothing says the account was used before")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


CHECKS = (
    Check("ingestion", "stalled ingestion", check_ingestion),
    Check("deal_count", "a diminishing deal count", check_deal_count),
    Check("yield", "a yield collapse", check_yield),
    Check("queries", "a query that returns nothing", check_queries),
    Check("new_store", "a new deal store on an account in use", check_new_store),
)
