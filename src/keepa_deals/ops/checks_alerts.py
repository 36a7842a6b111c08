"""doctor's check of the alert destinations: the ones that keep refusing messages.

Destinations are shown masked (``json://host/*** (#fingerprint)``): an Apprise URL
holds secrets.  See docs/alerts.md.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from keepa_deals.ops.doctor import Check, CheckResult, Context, ok, skipped, warn
from keepa_deals.ops.sources import DATABASE
from keepa_deals.store.alerting import AlertBook
from keepa_deals.store.destinations import FAILING_AFTER, all_urls, masked, masked_by_fingerprint



def check_alerts(ctx: Context) -> CheckResult:
    name = "alerts"
    store = ctx.sources.deal_store()
    if store is None:
        return skipped(name, f"database: {ctx.sources.errors.get(DATABASE, 'unreachable')}")
    book = AlertBook(store)
    searches = book.searches()
    shown = masked_by_fingerprint(
        all_urls(ctx.settings.alert_urls, (s.destinations for s in searches)))
    counts = book.counts()
    failing = [r for r in book.failing_destinations(ctx.now() - timedelta(hours=24))
               if r.dead or r.attempts >= FAILING_AFTER]
    evidence: dict[str, Any] = {
        "deal_alerts": sum(1 for s in searches if s.is_alert),
        "health_destinations": [masked(u) for u in ctx.settings.alert_urls],
        "outbox": counts,
        "failing": [{"destination": shown.get(r.destination, f"#{r.destination[:8]} (removed)"),
                     "messages": r.failing, "given_up": int(r.dead or 0),
                     "attempts": r.attempts, "since": str(r.since), "last_error": r.error}
                    for r in failing],
    }
    if failing:
        names = ", ".join(f["destination"] for f in evidence["failing"])
        return warn(name, f"{len(failing)} alert destination(s) keep failing: {names}",
                    "check each URL and its service with `keepa-deals alerts test --to URL`; "
                    "`keepa-deals alerts history` shows the errors; messages are retried with "
                    "backoff, then given up on", **evidence)
    pending = counts.get("pending", 0)
    if not shown:
        return ok(name, "no alert destination configured (KEEPA_DEALS_ALERT_URLS, "
                  "`keepa-deals alerts add`)", **evidence)
    return ok(name, f"{len(shown)} destination(s), {pending} message(s) waiting, "
              f"{counts.get('sent', 0)} sent", **evidence)


CHECKS = (Check("alerts", "an alert destination that keeps failing", check_alerts),)
