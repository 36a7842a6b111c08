"""The janitor: retires deals ingestion has stopped re-checking, never because of our own outage.

A deal is retired when ingestion has neither seen it in the feed nor
re-checked it (``last_refreshed``) for the grace period
(``KEEPA_DEALS_JANITOR_GRACE_H``, 72 h): deletion is measured against what
ingestion has actually re-checked, not against the wall clock alone.

docs/failure-classes.md, FC-11: an outage of our own must never shrink the deal set.  So,
per query, the janitor deletes **nothing**, and says why, unless the query's
ingestor is completing healthy cycles:

* a run ended ``ok`` within ``janitor_healthy_intervals`` × the ingest interval;
* its last ``janitor_healthy_intervals`` finished runs did not all fail, wait
  for tokens or die;
* its last run found the refresh capacity covering the retained deals (a
  refresh that cannot keep up would let deals age past the grace unchecked).

What it did is recorded per query in ``system_state`` (keys ``janitor_*``: the
last run, the rows removed then and in total, and why it held back) and as a
metrics point.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from keepa_deals.settings import Settings
from keepa_deals.store import Changes, DealStore, RunOutcome
from keepa_deals.store.state import REFRESH_COVERED_KEY

log = logging.getLogger("keepa_deals.janitor")

LAST_RUN_KEY = "janitor_last_run"
REMOVED_KEY = "janitor_removed"
REMOVED_TOTAL_KEY = "janitor_removed_total"
HELD_BACK_KEY = "janitor_held_back"

_UNHEALTHY = {RunOutcome.ERROR.value, RunOutcome.WAITING_FOR_TOKENS.value,
              RunOutcome.ABANDONED.value}
_UNFINISHED = {RunOutcome.RUNNING.value, RunOutcome.LOCKED.value}


@dataclass(frozen=True, slots=True)
class JanitorReport:
    query: str
    removed: int
    #: Why nothing was deleted (None: the ingestor is healthy and the janitor ran).
    held_back: str | None
    cutoff: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"query": self.query, "removed": self.removed, "held_back": self.held_back,
                "cutoff": self.cutoff.isoformat()}


def ingest_health(store: DealStore, query: str, settings: Settings, now: datetime) -> str | None:
    """None when the query's ingestor completes healthy cycles, else why it does not."""
    n = settings.janitor_healthy_intervals
    window = timedelta(seconds=n * settings.ingest_interval_s)
    last_ok = store.last_run(query, RunOutcome.OK)
    if last_ok is None or last_ok.ended_at is None:
        return "the ingestor has never completed a run for this query"
    age = now - last_ok.ended_at
    if age > window:
        return (f"no successful ingest run for {age.total_seconds() / 60:.0f} min "
                f"(more than {n} intervals of {settings.ingest_interval_s:g} s)")
    finished = [r for r in store.recent_runs(query, limit=10 * n) if r.outcome not in _UNFINISHED]
    recent = finished[:n]
    if len(recent) == n and all(r.outcome in _UNHEALTHY for r in recent):
        return f"the last {n} ingest runs all failed or waited for tokens"
    if store.get_state(query, REFRESH_COVERED_KEY) == 0:
        return "the refresh capacity does not cover the retained deals"
    return None


def run_janitor(store: DealStore, settings: Settings,
                queries: list[str] | None = None) -> list[JanitorReport]:
    """One janitor pass over ``queries`` (default: every query with deals)."""
    now = store.now()
    cutoff = now - timedelta(hours=settings.janitor_grace_h)
    reports = []
    for query in queries if queries is not None else store.query_names():
        why = ingest_health(store, query, settings, now)
        removed = 0
        if why is None:
            removed = store.retire_deals(cutoff, query=query)
            log.info("janitor: query %s: retired %d deals not re-checked since %s", query,
                     removed, cutoff.isoformat(timespec="seconds"))
        else:
            log.warning("janitor: query %s: deleting nothing: %s", query, why)
        total = store.get_state(query, REMOVED_TOTAL_KEY)
        store.commit(query, Changes(state={
            LAST_RUN_KEY: now.isoformat(timespec="seconds"),
            REMOVED_KEY: removed,
            REMOVED_TOTAL_KEY: (total if isinstance(total, int) else 0) + removed,
            HELD_BACK_KEY: why,
        }))
        reports.append(JanitorReport(query, removed, why, cutoff))
    if any(r.removed for r in reports):
        from keepa_deals.ops.facts import deal_count

        store.record_metrics(deal_count=deal_count(store, settings, store.now()))
    return reports
