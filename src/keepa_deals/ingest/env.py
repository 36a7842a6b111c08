"""The parts one ingest process works with, built from the settings.

::

    with open_env(settings) as env:            # store (migrated), Keepa client, budget, lock
        report = smart_ingestor(env, query)

A :class:`StopSignal` makes every wait of the process (the budget's short
waits, the HTTP retry backoff, the scheduler's sleeps) end at once when it is
set: a SIGINT or SIGTERM stops the process within moments, between two paid
calls, with everything bought so far saved.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from keepa_deals.budget import TokenManager, open_budget
from keepa_deals.clock import SYSTEM_CLOCK, Clock
from keepa_deals.errors import KeepaDealsError
from keepa_deals.keepa import build_http
from keepa_deals.keepa.client import KeepaClient
from keepa_deals.keepa.http import KeepaHTTP
from keepa_deals.locks import open_runner_lock
from keepa_deals.ops import metrics
from keepa_deals.settings import Settings
from keepa_deals.store import DealStore, RunnerLock


class RunStopped(KeepaDealsError):
    """The process was asked to stop (SIGINT/SIGTERM, or ``run --for`` ran out)."""


class StopSignal:
    """A flag every wait of the process watches."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when the stop was asked for."""
        return self._event.wait(max(0.0, seconds))

    def check(self) -> None:
        if self._event.is_set():
            raise RunStopped("stopped on request")


class StoppableClock:
    """``clock``'s time, with sleeps that end (raising RunStopped) when ``stop`` is set."""

    def __init__(self, clock: Clock, stop: StopSignal) -> None:
        self._clock = clock
        self._stop = stop

    def now_ms(self) -> int:
        return self._clock.now_ms()

    def sleep(self, seconds: float) -> None:
        self._stop.check()
        if self._clock is SYSTEM_CLOCK:
            if self._stop.wait(seconds):
                raise RunStopped("stopped on request")
        else:
            self._clock.sleep(seconds)


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

    def close(self) -> None:
        self.http.close()
        closer = getattr(self.lock, "close", None)
        if closer is not None:
            closer()
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
    timed = StoppableClock(base, stop)
    store = DealStore.open(settings, clock=base)
    try:
        http = build_http(settings, sleep=timed.sleep, transport=transport)
    except BaseException:
        store.close()
        raise
    try:
        budget = open_budget(settings, sync=http.token_status, clock=clock)
        budget.clock = StoppableClock(budget.clock, stop)  # the store keeps its own clock
        lock = open_runner_lock(settings, store)
    except BaseException:
        http.close()
        store.close()
        raise
    client = metrics.instrument_client(KeepaClient(http, budget, max_wait_s=max_wait_s))
    return IngestEnv(settings, store, http, budget, client, lock, base, stop)
