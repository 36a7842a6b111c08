"""The parts one ingest process works with, built from the settings.

::

    with open_env(settings) as env:            # store (migrated), Keepa client, budget, lock
        report = smart_ingestor(env, query)

A :class:`~keepa_deals.stop.StopSignal` makes every wait of the process (the
budget's short waits, the HTTP retry backoff, the scheduler's sleeps) end at
once when it is set: the stoppable clock is built first and handed to the
HTTP client and the budget as they are built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from keepa_deals.alerts import attach as attach_alerts
from keepa_deals.budget import TokenManager, open_budget
from keepa_deals.clock import SYSTEM_CLOCK, Clock
from keepa_deals.ingest.progress import AnnouncingClock, ProgressSink
from keepa_deals.keepa import build_http
from keepa_deals.keepa.client import KeepaClient
from keepa_deals.keepa.http import KeepaHTTP
from keepa_deals.locks import open_runner_lock
from keepa_deals.ops import metrics
from keepa_deals.settings import Settings
from keepa_deals.stop import RunStopped, StoppableClock, StopSignal
from keepa_deals.store import DealStore, RunnerLock


@dataclass
class IngestEnv:
    settings: Settings
    store: DealStore
    http: KeepaHTTP
    budget: TokenManager
    client: KeepaClient
    lock: RunnerLock
    clock: Clock = SYSTEM_CLOCK
    stop: StopSignal = field(default_factory=StopSignal)
    #: The run's steps (pages, batches, waits), for whoever listens (``run`` on a terminal).
    progress: ProgressSink = field(default_factory=ProgressSink)

    def close(self) -> None:
        self.http.close()
        closer = getattr(self.lock, "close", None)
        if closer is not None:
            closer()
        flush = getattr(self.budget, "flush", None)
        if flush is not None:
            flush()  # the settle deferred for a next call that will not come
        store_closer = getattr(self.budget.store, "close", None)
        if store_closer is not None:
            store_closer()
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def open_env(settings: Settings, *, clock: Clock | None = None, stop: StopSignal | None = None,
             transport: Any = None, max_wait_s: float | None = None) -> IngestEnv:
    """Open the store (migrating it), the Keepa wire, the shared budget and the runner lock.

    ``transport`` replaces httpx's network transport (tests inject failures with it).
    ``max_wait_s`` bounds the Keepa client's waits for tokens (default: the budget's,
    ``KEEPA_DEALS_BUDGET_MAX_WAIT_S``).
    """
    stop = stop or StopSignal()
    base = clock or SYSTEM_CLOCK
    progress = ProgressSink()
    timed = AnnouncingClock(base, stop, progress)  # a StoppableClock that says when it waits
    store = DealStore.open(settings, clock=base)
    attach_alerts(store, settings)  # every write queues the alerts of its deals (docs/alerts.md)
    try:
        http = build_http(settings, sleep=timed.sleep, transport=transport)
    except BaseException:
        store.close()
        raise
    try:
        # the store keeps the clock it was given (Redis reads its own TIME); the
        # manager's waits run on the stoppable one
        budget = open_budget(settings, sync=http.token_status, clock=clock, wait_clock=timed,
                             timing=http.timing)
        lock = open_runner_lock(settings, store)
    except BaseException:
        http.close()
        store.close()
        raise
    client = KeepaClient(metrics.instrument_http(http), metrics.instrument_budget(budget),
                         max_wait_s=max_wait_s)
    return IngestEnv(settings, store, http, budget, client, lock, base, stop, progress)


__all__ = ["IngestEnv", "RunStopped", "StopSignal", "StoppableClock", "open_env"]
