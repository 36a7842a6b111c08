"""``keepa-deals status``: is everything flowing, in one view.

:func:`collect_status` gathers, each part on its own so that one that is down
reads "unreachable" without hiding the others: the token budget (with
reasons), the locks and who holds them, the last runs and their outcomes, the
deal count and its 24 h trend, the age of the newest deal and of each
watermark, the janitor's state, progress (as ``health`` judges it) and the
running version.  Every field is described in docs/operations.md.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from keepa_deals.clock import Clock
from keepa_deals.errors import ConfigError, KeepaDealsError
from keepa_deals.ops import budget_view, facts
from keepa_deals.ops import locks as lockview
from keepa_deals.ops.health import window_s
from keepa_deals.ops.sources import DATABASE, REDIS, Sources
from keepa_deals.ops.version import version_info

if TYPE_CHECKING:
    from keepa_deals.settings import Settings
    from keepa_deals.store.store import DealStore

#: How many runs ``status`` lists.
RUNS_SHOWN = 10


def collect_status(
    settings: Settings, *, clock: Clock | None = None, sources: Sources | None = None
) -> dict[str, Any]:
    """Everything ``status`` shows, as a JSON-able dict; never raises for a broken deployment."""
    own = sources is None
    src = sources if sources is not None else Sources(settings, clock=clock)
    try:
        now = datetime.fromtimestamp(src.now_ms() / 1000, tz=UTC)
        out: dict[str, Any] = {"now": now.isoformat(), "version": version_info().as_dict()}
        out["budget"] = budget_view.budget_view(src)
        out["redis"] = _redis(src)
        store = src.deal_store()
        out["database"] = ({"reachable": True, "url": src.database_display} if store is not None
                           else {"reachable": False, "error": src.errors.get(DATABASE)})
        out["locks"] = _locks(src, now)
        if store is None:
            why = f"unknown: database: {src.errors.get(DATABASE, 'unreachable')}"
            for part in ("runs", "deals", "queries", "janitor", "progress"):
                out[part] = {"unknown": why}
        else:
            out.update(_ingestion(store, now, settings))
        out["new_store"] = _guarded(_new_store, store, src.errors.get(DATABASE), out["budget"],
                                    now)
        return out
    finally:
        if own:
            src.close()


def _redis(src: Sources) -> dict[str, Any]:
    if not src.redis_configured:
        return {"configured": False, "reachable": None}
    client = src.redis()
    if client is None:
        return {"configured": True, "reachable": False, "error": src.errors.get(REDIS)}
    return {"configured": True, "reachable": True, "where": src.redis_where}


def _locks(src: Sources, now: datetime) -> dict[str, Any]:
    listing = lockview.list_locks(src)
    return {"held": [lk.as_dict(now) for lk in listing.locks], "errors": listing.errors}


def _guarded(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except ConfigError as exc:  # a query file of KEEPA_DEALS_QUERIES, say: not the database
        return {"unknown": f"unknown: {exc}"}
    except KeepaDealsError as exc:
        return {"unknown": f"database unreachable: {exc}"}


def _ingestion(store: DealStore, now: datetime, settings: Settings) -> dict[str, Any]:
    return {
        "runs": _guarded(_runs, store),
        "deals": _guarded(_deals, store, now, settings),
        "queries": _guarded(_queries, store, now),
        "janitor": _guarded(_janitor, store, now),
        "progress": _guarded(lambda: facts.progress(store, now, window_s(settings)).as_dict()),
    }


def _new_store(store: DealStore | None, error: str | None, budget: dict[str, Any],
               now: datetime) -> dict[str, Any]:
    """A new deal store on an account in use, now or found by a run of the last day (FC-21)."""
    from keepa_deals.ops import newstore

    names = facts.known_queries(store, now - newstore.SHOWN_FOR) if store is not None else []
    return {"warnings": newstore.findings(store, error, budget, names, now)}


def _runs(store: DealStore) -> list[dict[str, Any]]:
    return [facts.run_dict(r) for r in store.recent_runs(limit=RUNS_SHOWN)]


def _deals(store: DealStore, now: datetime, settings: Settings) -> dict[str, Any]:
    stats = facts.deal_stats(store)
    then = facts.count_at(store, now - timedelta(hours=24))
    count = facts.deal_count(store, settings, now)
    return {
        "count": count,
        "rows": stats.count,
        "count_24h_ago": then[0] if then else None,
        "trend_24h": count - then[0] if then else None,
        "aged_past_grace": facts.aged_count(store, settings, now),
        "newest_deal_age_s": facts.age_s(now, stats.newest_first_seen),
        "newest_in_feed_age_s": facts.age_s(now, stats.newest_seen_in_feed),
        "last_refresh_age_s": facts.age_s(now, stats.newest_refreshed),
        "last_write_age_s": facts.age_s(now, stats.newest_written),
    }


def _queries(store: DealStore, now: datetime) -> list[dict[str, Any]]:
    names = facts.known_queries(store, now - timedelta(days=7))
    return [
        {
            "query": q.name,
            "watermark": q.watermark,
            "watermark_at": q.watermark_at.isoformat() if q.watermark_at else None,
            "watermark_age_s": facts.age_s(now, q.watermark_at),
            "watermark_moved_age_s": facts.age_s(now, q.watermark_moved_at),
            "last_run_outcome": q.last_run_outcome,
            "last_run_age_s": facts.age_s(now, q.last_run_at),
            "last_ok_age_s": facts.age_s(now, q.last_ok_at),
        }
        for q in facts.query_facts(store, names)
    ]


def _janitor(store: DealStore, now: datetime) -> dict[str, Any]:
    runs = facts.runs_since(store, now - timedelta(hours=24))
    return {
        "state": facts.janitor_state(store),
        "removed_24h": sum(int(r.deals_removed or 0) for r in runs),
    }


# --- text ------------------------------------------------------------------------------


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    s = int(seconds)
    if s < 120:
        return f"{s} s ago"
    if s < 7200:
        return f"{s // 60} min ago"
    if s < 172800:
        return f"{s // 3600} h {s % 3600 // 60} min ago"
    return f"{s // 86400} d ago"


def render(status: dict[str, Any]) -> list[str]:
    """The status as lines for people."""
    v = status["version"]
    lines = [f"keepa-deals {v['version']}" + (f" (git {v['git_commit']}"
             f"{'+dirty' if v.get('git_dirty') else ''})" if v.get("git_commit") else "")
             + f"  at {status['now']}", ""]
    b = status["budget"]
    lines.append(f"token budget ({b.get('store')})")
    lines += ["  " + line for line in budget_view.render(b)]
    if b.get("refill_rate") is not None:
        lines.append(f"  rate         {b['refill_rate']}/min, cap {b['cap']}")
    lines.append("")
    r = status["redis"]
    if r["configured"]:
        error = str(r.get("error") or "").removeprefix("unreachable ")
        lines.append("redis        " + (f"reachable at {r['where']}" if r["reachable"]
                                        else f"UNREACHABLE: {error}"))
    else:
        lines.append("redis        not configured (budget and locks in SQLite)")
    d = status["database"]
    lines.append("database     " + (f"reachable ({d['url']})" if d["reachable"]
                                    else f"UNREACHABLE: {d.get('error')}"))
    locks = status["locks"]
    if locks["held"]:
        for lk in locks["held"]:
            exp = lk["expires_in_s"]
            lines.append(f"lock         {lk['backend']} {lk['name']} held by {lk['owner']}"
                         + (f", expires in {exp:.0f} s" if exp is not None else ", NEVER EXPIRES")
                         + (f"  ZOMBIE: {'; '.join(lk['problems'])}" if lk["zombie"] else ""))
    elif not locks["errors"]:
        lines.append("locks        none held")
    for backend, err in locks["errors"].items():
        lines.append(f"locks        {backend}: unknown ({err})")
    lines.append("")
    p = status["progress"]
    if "unknown" in p:
        lines.append(f"progress     {p['unknown']}")
    else:
        word = "ok" if p["ok"] else "FAILING" if p["reason"].startswith("failing") else "STALLED"
        lines.append(f"progress     {word}: {p['reason'].removeprefix('failing: ')}")
    for warning in (status.get("new_store") or {}).get("warnings", []):
        lines.append(f"WARNING      {warning}")
    deals = status["deals"]
    if "unknown" in deals:
        lines.append(f"deals        {deals['unknown']}")
    else:
        trend = deals["trend_24h"]
        lines.append(f"deals        {deals['count']} current of {deals['rows']} stored"
                     + (f" ({trend:+d} stored in 24 h)" if trend is not None
                        else " (24 h trend unknown)")
                     + (f", {deals['aged_past_grace']} aged past the grace"
                        if deals["aged_past_grace"] else "")
                     + f"; newest added {_age(deals['newest_deal_age_s'])}, last refresh "
                     f"{_age(deals['last_refresh_age_s'])}")
    queries = status["queries"]
    if isinstance(queries, dict):
        lines.append(f"queries      {queries['unknown']}")
    for q in queries if isinstance(queries, list) else []:
        lines.append(f"query        {q['query']}: watermark {q['watermark_at'] or 'none'} "
                     f"(data {_age(q['watermark_age_s'])}, "
                     f"moved {_age(q['watermark_moved_age_s'])})"
                     f", last run {q['last_run_outcome'] or 'none'} {_age(q['last_run_age_s'])}")
    j = status["janitor"]
    if "unknown" in j:
        lines.append(f"janitor      {j['unknown']}")
    else:
        lines.append(f"janitor      removed {j['removed_24h']} in 24 h"
                     + ("" if j["state"] else "; has not run yet"))
        lines += [f"  {text}" for text in _janitor_lines(j["state"])]
    runs = status["runs"]
    lines.append("")
    if isinstance(runs, dict):
        lines.append(f"runs         {runs['unknown']}")
    elif not runs:
        lines.append("runs         none recorded")
    else:
        lines.append("last runs")
        for run in runs:
            tail = ""
            if run["retry_after_s"]:
                tail = f", retry in {run['retry_after_s']:.0f} s"
            if run["error"]:
                tail += f", error: {run['error'][:80]}"
            lines.append(f"  #{run['id']} {run['query']} {run['started_at']} {run['outcome']}: "
                         f"{_plural(run['pages'], 'page')}, {run['added']} new, "
                         f"{run['updated']} updated, {run['removed']} removed, "
                         f"{run['rejected']} rejected, {_plural(run['tokens_spent'], 'token')}"
                         + tail)
    return lines


def _plural(n: int | None, word: str) -> str:
    n = n or 0
    return f"{n} {word}{'' if n == 1 else 's'}"


def _janitor_lines(state: list[dict[str, Any]]) -> list[str]:
    """The janitor's stored state per query, in words."""
    by_query: dict[str, dict[str, Any]] = {}
    for row in state:
        by_query.setdefault(row["query"], {})[row["key"]] = row["value"]
    lines = []
    for query, values in sorted(by_query.items()):
        last = values.get("janitor_last_run")
        text = f"{query}: last pass {last or 'never'}"
        if values.get("janitor_held_back"):
            text += f", deleted nothing: {values['janitor_held_back']}"
        elif "janitor_removed" in values:
            text += f", retired {values['janitor_removed']}"
        if "janitor_removed_total" in values:
            text += f" ({values['janitor_removed_total']} in all)"
        lines.append(text)
    return lines
