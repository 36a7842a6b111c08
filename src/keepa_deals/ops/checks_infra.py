"""doctor checks of the infrastructure: database, Redis, locks, running version."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from keepa_deals.ops import locks as lockview
from keepa_deals.ops.doctor import Check, CheckResult, Context, fail, ok, skipped, warn
from keepa_deals.ops.sources import DATABASE, REDIS
from keepa_deals.store import pg_indexes


def check_database(ctx: Context) -> CheckResult:
    src = ctx.sources
    store = src.deal_store()
    if store is None:
        error = src.errors.get(DATABASE, "unreachable")
        if error.startswith("no database yet"):
            return warn("database", error, "start the ingestor or run `keepa-deals db upgrade`",
                        error=error)
        if "schema is at" in error:
            return fail("database", error, "run `keepa-deals db upgrade`", error=error)
        return fail("database", f"the deal store is {error}",
                    "start the database or fix DATABASE_URL; nothing ingests meanwhile",
                    error=error)
    count = store.count_deals()
    if not _title_search_indexed(store.engine):
        return warn("database",
                    f"reachable, schema current, {count} deals; the title search has no index "
                    f"(the {pg_indexes.EXTENSION} extension is missing): searches read every "
                    "title",
                    f"as a user allowed to create extensions: {pg_indexes.MANUAL_SQL}",
                    url=src.database_display, deals=count, title_search_index=False)
    return ok("database", f"reachable, schema current, {count} deals",
              url=src.database_display, deals=count)


def _title_search_indexed(engine: Engine) -> bool:
    """False when PostgreSQL lacks the title search's index (migration 0007_title_search
    skips it without the right to install pg_trgm)."""
    if engine.dialect.name != "postgresql":
        return True
    with engine.connect() as conn:
        return pg_indexes.index_present(conn)


def check_redis(ctx: Context) -> CheckResult:
    src = ctx.sources
    if not src.redis_configured:
        return skipped("redis", "REDIS_URL is not set: the budget and locks live in SQLite")
    client = src.redis()
    if client is None:
        error = src.errors.get(REDIS, "unreachable")
        return fail("redis", f"Redis is {error}",
                    "start Redis or fix REDIS_URL: nothing spends tokens meanwhile (no fallback)",
                    error=error)
    info = _redis_info(client)
    evidence: dict[str, Any] = {"where": src.redis_where, **info}
    policy = info.get("maxmemory_policy")
    if info.get("maxmemory") and policy not in (None, "noeviction"):
        return warn("redis", f"Redis may evict keepa-deals' keys (maxmemory-policy {policy})",
                    "set maxmemory-policy noeviction (or no maxmemory): an evicted budget is "
                    "re-synced, but an evicted lock lets two runners in", **evidence)
    return ok("redis", f"reachable at {evidence['where']}", **evidence)


def _redis_info(client: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        server = client.info("server")
        out["redis_version"] = server.get("redis_version")
        out["uptime_s"] = server.get("uptime_in_seconds")
        memory = client.info("memory")
        out["maxmemory"] = int(memory.get("maxmemory", 0) or 0)
        out["maxmemory_policy"] = memory.get("maxmemory_policy")
    except Exception:  # INFO may be renamed or forbidden: the evidence is optional
        pass
    return out


def check_locks(ctx: Context) -> CheckResult:
    listing = lockview.list_locks(ctx.sources)
    now = ctx.now()
    views = [lk.as_dict(now) for lk in listing.locks]
    if listing.errors and not listing.locks and _all_backends_failed(ctx, listing.errors):
        return skipped("locks", "no lock store reachable", errors=listing.errors)
    zombies = [lk for lk in listing.locks if lk.zombie]
    if not zombies:
        held = ", ".join(f"{lk.name} by {lk.owner}" for lk in listing.locks) or "none held"
        return ok("locks", f"no zombie lock ({held})", locks=views, errors=listing.errors)
    # an orphaned or immortal lock blocks runners; an expired row or a long hold does not yet
    serious = [lk for lk in zombies if lk.owner_alive is False or lk.expires_at is None
               or any(p.startswith("set to live") for p in lk.problems)]
    text = "; ".join(f"{lk.backend} lock {lk.name}: {', '.join(lk.problems)}" for lk in zombies)
    fix = ("`keepa-deals doctor --fix` deletes expired rows, releases locks whose owner is gone "
           "and gives a lock without a lifetime a bounded one; never flush Redis")
    if serious:
        return fail("locks", text, fix, locks=views, errors=listing.errors)
    return warn("locks", text, fix, locks=views, errors=listing.errors)


def _all_backends_failed(ctx: Context, errors: dict[str, str]) -> bool:
    wanted = {lockview.DATABASE} | ({lockview.REDIS} if ctx.sources.redis_configured else set())
    return wanted <= set(errors)


def repair_locks(ctx: Context, result: CheckResult) -> list[str]:
    done = []
    for lock in lockview.list_locks(ctx.sources).locks:
        if lock.zombie:
            action = lockview.repair(ctx.sources, lock)
            if action:
                done.append(action)
    return done


def check_version(ctx: Context) -> CheckResult:
    from keepa_deals.ops.facts import runs_since
    from keepa_deals.ops.version import version_info

    info = version_info()
    store = ctx.sources.deal_store()
    if store is None:
        return skipped("version", f"running {info.describe()}; no database to compare runs with",
                       running=info.as_dict())
    runs = runs_since(store, ctx.now() - timedelta(hours=24), limit=500)
    seen = Counter(r.version or "unknown" for r in runs)
    evidence = {"running": info.as_dict(), "run_versions_24h": dict(seen)}
    if not runs:
        return ok("version", f"running {info.describe()}; no run in 24 h", **evidence)
    latest = runs[0].version or "unknown"
    if latest != info.version:
        return warn("version", f"the latest run was made by version {latest}, this code is "
                    f"{info.version}",
                    "restart the workers after a deploy so they run the current code", **evidence)
    if len(seen) > 1:
        return warn("version", f"runs in 24 h came from versions {', '.join(sorted(seen))}",
                    "a worker may still run old code: restart every worker", **evidence)
    return ok("version", f"running {info.describe()}, as the latest run", **evidence)


CHECKS = (
    Check("database", "the database unreachable or behind", check_database),
    Check("redis", "Redis unreachable or evicting", check_redis),
    Check("locks", "a zombie lock (expired, orphaned, immortal)", check_locks, repair_locks),
    Check("version", "stale code running", check_version),
)
