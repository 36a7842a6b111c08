"""The scheduler behind ``keepa-deals run``: ingest on an interval, the janitor now and then.

* A run starts every ``interval_s``.  A run that ended ``waiting_for_tokens``
  is followed by the next one when its ``retry_after`` is up, not before and
  not blindly every minute.
* The janitor runs when its last pass (``janitor_last_run`` in the store) is
  older than ``janitor_interval_s``.
* Sleeps end at once when the stop signal is set (SIGINT/SIGTERM) or the
  ``until`` deadline passes; the run in progress stops between two paid calls.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from keepa_deals.errors import KeepaDealsError
from keepa_deals.ingest.env import IngestEnv
from keepa_deals.ingest.report import IngestReport
from keepa_deals.ingest.runner import smart_ingestor
from keepa_deals.janitor import LAST_RUN_KEY, JanitorReport, run_janitor
from keepa_deals.query import DealQuery
from keepa_deals.store import RunOutcome

log = logging.getLogger("keepa_deals.run")

#: Never start runs closer together than this, whatever retry_after says.
MIN_DELAY_S = 1.0


@dataclass(frozen=True, slots=True)
class ScheduledRun:
    """One run of the loop, as ``on_run`` is told of it."""

    report: IngestReport
    #: When the next run starts (None: the loop is ending).
    next_at: datetime | None


def next_delay(report: IngestReport, interval_s: float) -> float:
    """Seconds until the next run after ``report``."""
    if report.outcome is RunOutcome.WAITING_FOR_TOKENS and report.retry_after_s is not None:
        return max(MIN_DELAY_S, report.retry_after_s)
    return interval_s


def janitor_due(env: IngestEnv, query: str, interval_s: float) -> bool:
    last = env.store.get_state(query, LAST_RUN_KEY)
    if not isinstance(last, str):
        return True
    try:
        at = datetime.fromisoformat(last)
    except ValueError:
        return True
    return env.store.now() - at >= timedelta(seconds=interval_s)


def run_loop(
    env: IngestEnv,
    query: DealQuery | Sequence[DealQuery],
    *,
    interval_s: float,
    janitor_interval_s: float,
    until: datetime | None = None,
    on_run: Callable[[ScheduledRun], None] = lambda run: None,
    on_janitor: Callable[[list[JanitorReport]], None] = lambda reports: None,
) -> int:
    """Ingest ``query`` (or each of several, in turn) until stopped (or ``until``);
    returns how many runs were made."""
    queries = [query] if isinstance(query, DealQuery) else list(query)
    runs = 0
    while not env.stop.is_set and (until is None or env.store.now() < until):
        delays = []
        last = False
        for i, q in enumerate(queries):
            if env.stop.is_set:
                break
            report = smart_ingestor(env, q)
            runs += 1
            delay = next_delay(report, interval_s)
            delays.append(delay)
            next_at: datetime | None = env.store.now() + timedelta(seconds=delay)
            last = env.stop.is_set or (until is not None and next_at is not None
                                       and next_at >= until)
            if last or i < len(queries) - 1:
                next_at = None if last else env.store.now()
            on_run(ScheduledRun(report, next_at))
            if not env.stop.is_set:
                try:
                    if janitor_due(env, q.name, janitor_interval_s):
                        on_janitor(run_janitor(env.store, env.settings, [q.name]))
                except KeepaDealsError as exc:
                    log.error("janitor failed: %s", exc)
        now = env.store.now()
        wake: datetime | None = now + timedelta(seconds=min(delays, default=interval_s))
        if until is not None and wake is not None and wake >= until:
            wake = until
        if env.stop.is_set or wake is None or env.stop.wait((wake - now).total_seconds()) or last:
            break
    return runs
