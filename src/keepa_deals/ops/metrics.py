"""Prometheus metrics: one registry, one prefix, a tiny call surface.

Every name starts with ``keepa_deals_``, is in base units (seconds, tokens),
counters end in ``_total``, and no label ever carries an ASIN.  The metrics
live in :data:`REGISTRY`, which ``/metrics`` (the health app, the dashboard)
exposes.  Counters are per process: the process that runs the ingestor is
the one whose counters move, so it serves ``/metrics`` itself (see
docs/operations.md).

What the ingestor calls (each is cheap, thread-safe and never raises)::

    from keepa_deals.ops import metrics

    KeepaClient(metrics.instrument_http(http), metrics.instrument_budget(budget))
                                        # built instrumented: requests, tokens, budget waits
    metrics.deals_added(n)              # rows inserted by a save
    metrics.deals_updated(n)            # rows updated by a save or a refresh
    metrics.deals_rejected(n)           # candidates the filters turned down
    metrics.deals_removed(n)            # rows the janitor deleted
    metrics.run_finished(outcome)       # every run; "ok" also sets the last-success time

``instrument_http`` hooks a :class:`~keepa_deals.keepa.http.KeepaHTTP` (every
attempt, by endpoint and status; every token status) and ``instrument_budget``
wraps a budget (grants, waits, deferrals); the client is built with both, so
nothing is swapped in after it is made.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily

from keepa_deals.clock import SYSTEM_CLOCK, Clock
from keepa_deals.keepa.http import KeepaHTTP
from keepa_deals.store.types import unreadable_counts
from keepa_deals.tokens.errors import TokenRechargeError
from keepa_deals.tokens.protocol import Lease, TokenBudget
from keepa_deals.tokens.status import TokenStatus

log = logging.getLogger(__name__)
T = TypeVar("T")

PREFIX = "keepa_deals"
REGISTRY = CollectorRegistry(auto_describe=True)

_WAIT_BUCKETS = (0.0, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_REQUEST_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)

# --- tokens -----------------------------------------------------------------
TOKENS_BALANCE = Gauge(
    "keepa_deals_tokens_balance", "Token balance (tokensLeft) in the newest Keepa reply.",
    registry=REGISTRY)
TOKENS_REFILL_RATE = Gauge(
    "keepa_deals_tokens_refill_per_minute", "Refill rate Keepa reports (tokens per minute).",
    registry=REGISTRY)
TOKENS_CONSUMED = Counter(
    "keepa_deals_tokens_consumed_total", "Tokens Keepa charged (sum of tokensConsumed).",
    registry=REGISTRY)
TOKENS_REFILLED = Counter(
    "keepa_deals_tokens_refilled_total", "Tokens refilled, where known.", registry=REGISTRY)

# --- the budget ---------------------------------------------------------------
BUDGET_GRANTS = Counter(
    "keepa_deals_budget_grants_total", "Token leases granted.", registry=REGISTRY)
BUDGET_WAITS = Counter(
    "keepa_deals_budget_waits_total", "Grants that had to wait for tokens first.",
    registry=REGISTRY)
BUDGET_DEFERRALS = Counter(
    "keepa_deals_budget_deferrals_total",
    "Acquires that gave up (verified wait too long): the run ended to come back later.",
    registry=REGISTRY)
BUDGET_WAIT_SECONDS = Histogram(
    "keepa_deals_budget_wait_seconds", "Time spent inside budget acquire.",
    buckets=_WAIT_BUCKETS, registry=REGISTRY)

# --- Keepa requests -----------------------------------------------------------
KEEPA_REQUESTS = Counter(
    "keepa_deals_keepa_requests_total",
    "Keepa HTTP attempts by endpoint and status (an HTTP code, 'timeout' or 'error').",
    ["endpoint", "status"], registry=REGISTRY)
KEEPA_REQUEST_SECONDS = Histogram(
    "keepa_deals_keepa_request_duration_seconds", "Keepa HTTP attempt duration.",
    ["endpoint"], buckets=_REQUEST_BUCKETS, registry=REGISTRY)

# --- deals and runs -------------------------------------------------------------
DEALS_ADDED = Counter("keepa_deals_deals_added_total", "Deals inserted.", registry=REGISTRY)
DEALS_UPDATED = Counter("keepa_deals_deals_updated_total", "Deals updated.", registry=REGISTRY)
DEALS_REJECTED = Counter(
    "keepa_deals_deals_rejected_total", "Candidates the filters turned down.", registry=REGISTRY)
DEALS_REMOVED = Counter(
    "keepa_deals_deals_removed_total", "Deals the janitor deleted.", registry=REGISTRY)
RUNS = Counter(
    "keepa_deals_runs_total", "Ingest runs by outcome.", ["outcome"], registry=REGISTRY)
LAST_SUCCESS = Gauge(
    "keepa_deals_last_success_timestamp_seconds",
    "Unix time of the last successful ingest run.", registry=REGISTRY)


# --- the call surface ---------------------------------------------------------------




class _UnreadableValues:
    """``keepa_deals_store_unreadable_values_total{table,column}``: stored values of the
    wrong type read as NULL by this process (store/types.py keeps the counts)."""

    def describe(self) -> list[CounterMetricFamily]:
        return [self._family()]

    def collect(self) -> list[CounterMetricFamily]:
        family = self._family()
        for (table, column), n in sorted(unreadable_counts().items()):
            family.add_metric([table, column], n)
        return [family]

    @staticmethod
    def _family() -> CounterMetricFamily:
        return CounterMetricFamily(
            "keepa_deals_store_unreadable_values",
            "Stored values of the wrong type read as NULL (see `doctor --check corrupt_rows`).",
            labels=["table", "column"])


REGISTRY.register(_UnreadableValues())


def _safe(fn: Callable[[], object]) -> None:
    """Metrics never cost the caller anything: a failure is logged, not raised."""
    try:
        fn()
    except Exception as exc:  # pragma: no cover - prometheus_client does not raise here
        log.debug("metrics update failed: %s", exc)


def _count(counter: Counter, n: int | float) -> None:
    if n and n > 0:
        _safe(lambda: counter.inc(n))


def deals_added(n: int) -> None:
    _count(DEALS_ADDED, n)


def deals_updated(n: int) -> None:
    _count(DEALS_UPDATED, n)


def deals_rejected(n: int) -> None:
    _count(DEALS_REJECTED, n)


def deals_removed(n: int) -> None:
    _count(DEALS_REMOVED, n)


def tokens_refilled(n: int) -> None:
    _count(TOKENS_REFILLED, n)


def run_finished(outcome: str, *, at_s: float | None = None) -> None:
    """Count a finished run; ``"ok"`` also sets the last-success time (unix seconds)."""
    import time

    value = str(getattr(outcome, "value", outcome))
    _safe(lambda: RUNS.labels(outcome=value).inc())
    if value == "ok":
        set_last_success(time.time() if at_s is None else at_s)


def set_last_success(at_s: float) -> None:
    """Move the last-success gauge forward to ``at_s`` (never back)."""
    current = value("keepa_deals_last_success_timestamp_seconds") or 0.0
    _safe(lambda: LAST_SUCCESS.set(max(at_s, current)))


class StatusRecorder:
    """Records the token statuses of one KeepaHTTP (a listener): balance, rate, consumed.

    Replies of one client can arrive out of order; the gauges keep the newest
    balance that client saw (ordering by Keepa's timestamp means nothing across
    clients, so each has its own).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._newest_ms = 0

    def __call__(self, status: TokenStatus) -> None:
        _count(TOKENS_CONSUMED, status.tokens_consumed)
        with self._lock:
            if status.timestamp_ms < self._newest_ms:
                return  # a late reply: the gauges keep the newer balance
            self._newest_ms = status.timestamp_ms
        _heard_from_keepa.set()
        _safe(lambda: TOKENS_BALANCE.set(status.tokens_left))
        _safe(lambda: TOKENS_REFILL_RATE.set(status.refill_rate))


#: Set once a Keepa reply was recorded in this process: its gauges are then first-hand.
_heard_from_keepa = threading.Event()


def seed_tokens(tokens_left: int | None, refill_rate: int | None) -> None:
    """The balance and rate last stored in the shared budget (Keepa's word at the last sync),
    for a process that has not heard from Keepa itself (``health --serve``): without it the
    gauges would read 0.  A reply this process receives always wins."""
    if _heard_from_keepa.is_set():
        return
    if tokens_left is not None:
        _safe(lambda: TOKENS_BALANCE.set(tokens_left))
    if refill_rate is not None:
        _safe(lambda: TOKENS_REFILL_RATE.set(refill_rate))


def keepa_request(endpoint: str, status: str, seconds: float) -> None:
    """Record one Keepa HTTP attempt (a KeepaHTTP request listener)."""
    _safe(lambda: KEEPA_REQUESTS.labels(endpoint=endpoint, status=status).inc())
    _safe(lambda: KEEPA_REQUEST_SECONDS.labels(endpoint=endpoint).observe(max(seconds, 0.0)))


# --- instrumenting the client -----------------------------------------------------------

_instrumented: weakref.WeakSet[Any] = weakref.WeakSet()
_instrument_lock = threading.Lock()


def instrument_http(http: KeepaHTTP) -> KeepaHTTP:
    """Count every attempt and token status of a KeepaHTTP (once per object)."""
    with _instrument_lock:
        if http in _instrumented:
            return http
        _instrumented.add(http)
    http.add_listener(StatusRecorder())
    http.add_request_listener(keepa_request)
    return http


class InstrumentedBudget:
    """A TokenBudget that counts grants, waits and deferrals of the budget it wraps.

    Everything else (``snapshot``, ``sync_tokens``, ...) is the wrapped budget's.
    """

    def __init__(self, inner: TokenBudget, clock: Clock | None = None) -> None:
        self.inner = inner
        self.clock: Clock = clock or getattr(inner, "clock", None) or SYSTEM_CLOCK

    def acquire(self, cost: int, *, max_wait_s: float | None = None) -> Lease:
        if cost <= 0:
            return self.inner.acquire(cost, max_wait_s=max_wait_s)
        start = self.clock.now_ms()
        try:
            lease = self.inner.acquire(cost, max_wait_s=max_wait_s)
        except TokenRechargeError:
            _count(BUDGET_DEFERRALS, 1)
            self._observe_wait(start)
            raise
        _count(BUDGET_GRANTS, 1)
        if self._observe_wait(start) > 0:
            _count(BUDGET_WAITS, 1)
        return lease

    def settle(self, lease: Lease, status: TokenStatus | None) -> None:
        self.inner.settle(lease, status)

    def observe(self, status: TokenStatus) -> None:
        self.inner.observe(status)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"InstrumentedBudget({self.inner!r})"

    def _observe_wait(self, start_ms: int) -> float:
        waited = max(0, self.clock.now_ms() - start_ms) / 1000
        _safe(lambda: BUDGET_WAIT_SECONDS.observe(waited))
        return waited


def instrument_budget(budget: TokenBudget) -> TokenBudget:
    """``budget`` wrapped to count grants, waits and deferrals (idempotent)."""
    if isinstance(budget, InstrumentedBudget):
        return budget
    return InstrumentedBudget(budget)


# --- reading and exposing -------------------------------------------------------------------


def value(name: str, **labels: str) -> float | None:
    """A sample's value from :data:`REGISTRY` by full name (``..._total`` for counters)."""
    return REGISTRY.get_sample_value(name, labels or None)


def samples(prefix: str = PREFIX) -> Iterator[tuple[str, dict[str, str], float]]:
    """Every sample whose name starts with ``prefix``."""
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name.startswith(prefix) and not sample.name.endswith("_created"):
                yield sample.name, dict(sample.labels), float(sample.value)


def exposition(registry: CollectorRegistry | None = None) -> bytes:
    """The Prometheus text format of ``registry`` (default: :data:`REGISTRY`)."""
    return generate_latest(registry or REGISTRY)


__all__ = [
    "CONTENT_TYPE",
    "REGISTRY",
    "InstrumentedBudget",
    "deals_added",
    "deals_rejected",
    "deals_removed",
    "deals_updated",
    "exposition",
    "instrument_budget",
    "instrument_http",
    "keepa_request",
    "run_finished",
    "samples",
    "set_last_success",
    "StatusRecorder",
    "tokens_refilled",
    "value",
]
