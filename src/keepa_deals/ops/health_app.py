"""The health and metrics HTTP endpoints: ``/healthz`` and ``/metrics``.

::

    from keepa_deals.ops.health_app import create_health_app, healthz_endpoint, metrics_endpoint

    app = create_health_app(settings)                       # a tiny ASGI app with both routes
    routes += [Route("/healthz", healthz_endpoint(settings)),     # or mount them in
               Route("/metrics", metrics_endpoint(settings))]    # another app (the dashboard)

``/healthz`` answers 200 when ingestion progresses, 503 when it has stalled or
the database cannot be read, with the JSON of
:class:`~keepa_deals.ops.health.HealthReport`.  ``/metrics`` is the Prometheus
text of this process's counters (:data:`keepa_deals.ops.metrics.REGISTRY`)
plus gauges read from the stores at scrape time: the deal count, the newest
deal, each query's watermark, the last success, progress and the projected
token balance.  Database work runs in a thread, so the event loop never
blocks on it; a store that is down is retried at the next request.

``keepa-deals health --serve PORT`` serves this app alone; :func:`serve_in_thread`
runs it beside the ingestor, whose counters then appear on ``/metrics``.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from keepa_deals.clock import Clock
from keepa_deals.errors import ConfigError, KeepaDealsError
from keepa_deals.ops import facts, metrics
from keepa_deals.ops.health import health_report, window_s
from keepa_deals.ops.sources import Sources
from keepa_deals.serving import BackgroundServer, serve_foreground

if TYPE_CHECKING:
    from keepa_deals.budget.store import BudgetStore
    from keepa_deals.settings import Settings
    from keepa_deals.store.store import DealStore

Endpoint = Callable[[Request], Awaitable[Response]]

#: Queries that ran (or hold a watermark) within this horizon get a watermark gauge.
QUERY_HORIZON = timedelta(days=30)


class _Stores:
    """The app's long-lived stores: opened on first use, the deal store reopened after a failure."""

    def __init__(self, settings: Settings, clock: Clock | None) -> None:
        self.settings = settings
        self.clock = clock
        self._deal_store: DealStore | None = None
        self._budget_store: BudgetStore | None = None
        self._lock = threading.Lock()

    def sources(self) -> Sources:
        with self._lock:
            if self._budget_store is None:
                from keepa_deals.budget.factory import open_budget_store

                try:  # connects lazily: a store that is down fails per call, not here
                    self._budget_store = open_budget_store(self.settings, clock=self.clock)
                except KeepaDealsError:
                    pass
            if self._deal_store is None:
                probe = Sources(self.settings, clock=self.clock, budget_store=self._budget_store)
                store = probe.deal_store()
                if store is None:
                    return probe  # carries the error; nothing to keep
                self._deal_store = store
            return Sources(self.settings, clock=self.clock, deal_store=self._deal_store,
                           budget_store=self._budget_store)

    def forget(self) -> None:
        """Drop the deal store (after a failure): the next request opens it again."""
        with self._lock:
            if self._deal_store is not None:
                self._deal_store.close()
            self._deal_store = None

    def close(self) -> None:
        self.forget()
        with self._lock:
            if self._budget_store is not None:
                self._budget_store.close()
            self._budget_store = None


def _healthz(stores: _Stores) -> tuple[int, dict[str, Any]]:
    src = stores.sources()
    try:
        report = health_report(stores.settings, sources=src)
    finally:
        src.close()
    if report.state == "unknown":
        stores.forget()
    return report.http_status, report.as_dict()


def healthz_endpoint(settings: Settings, *, clock: Clock | None = None,
                     _stores: _Stores | None = None) -> Endpoint:
    """``GET /healthz``: 200 and the report when ingestion progresses, else 503."""
    stores = _stores or _Stores(settings, clock)

    async def healthz(request: Request) -> Response:
        status, body = await run_in_threadpool(_healthz, stores)
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    return healthz


class _StoreCollector:
    """Gauges read from the stores at scrape time (no per-ASIN label anywhere)."""

    def __init__(self, stores: _Stores) -> None:
        self.stores = stores

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        src = self.stores.sources()
        try:
            yield from self._collect(src)
        finally:
            src.close()

    def _collect(self, src: Sources) -> Iterator[GaugeMetricFamily]:
        now = datetime.fromtimestamp(src.now_ms() / 1000, tz=UTC)
        up = GaugeMetricFamily("keepa_deals_database_up", "1 when the deal store can be read.")
        store = src.deal_store()
        if store is None:
            up.add_metric([], 0)
            yield up
            return
        try:
            stats = facts.deal_stats(store)
            current = facts.deal_count(store, self.stores.settings, now)
            success = facts.last_success(store)
            queries = facts.query_facts(store, facts.known_queries(store, now - QUERY_HORIZON))
            prog = facts.progress(store, now, window_s(self.stores.settings))
        except ConfigError:  # a query file of KEEPA_DEALS_QUERIES: the database is fine
            up.add_metric([], 1)
            yield up
            return
        except KeepaDealsError:
            self.stores.forget()
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield _gauge("keepa_deals_deals", "Current deals (the one definition of a deal).",
                     current)
        yield _gauge("keepa_deals_deal_rows", "Rows in the deals table.", stats.count)
        yield _gauge("keepa_deals_newest_deal_timestamp_seconds",
                     "Unix time the newest deal was first seen.", _ts(stats.newest_first_seen))
        yield _gauge("keepa_deals_last_refresh_timestamp_seconds",
                     "Unix time a deal was last re-checked.", _ts(stats.newest_refreshed))
        yield _gauge("keepa_deals_progress_timestamp_seconds",
                     "Unix time of the last ingestion progress.", _ts(prog.last_progress_at))
        yield _gauge("keepa_deals_healthy", "1 when ingestion progresses (as /healthz).",
                     1 if prog.ok else 0)
        wm = GaugeMetricFamily("keepa_deals_watermark_timestamp_seconds",
                               "Unix time of each query's watermark.", labels=["query"])
        for q in queries:
            if q.watermark_at is not None:
                wm.add_metric([q.name], q.watermark_at.timestamp())
        yield wm
        if success is not None:
            metrics.set_last_success(success.timestamp())
        yield from _budget_gauges(src)


def _budget_gauges(src: Sources) -> Iterator[GaugeMetricFamily]:
    from keepa_deals.budget.core import Policy

    store = src.budget_store()
    if store is None:
        return
    try:
        snap = store.snapshot(Policy.from_settings(src.settings))
    except KeepaDealsError:
        return
    metrics.seed_tokens(snap.tokens, snap.rate)
    yield _gauge("keepa_deals_budget_state_known", "1 when the token state is known.",
                 1 if snap.known else 0)
    if snap.projected is not None:
        yield _gauge("keepa_deals_tokens_projected", "Projected token balance.", snap.projected)
    yield _gauge("keepa_deals_budget_leases", "Live token leases.", len(snap.leases))
    yield _gauge("keepa_deals_budget_recharging", "1 while in recharge mode.",
                 1 if snap.recharge else 0)


def _gauge(name: str, doc: str, value: float | None) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc)
    if value is not None:
        g.add_metric([], float(value))
    return g


def _ts(dt: datetime | None) -> float | None:
    return dt.timestamp() if dt is not None else None


def metrics_endpoint(settings: Settings, *, clock: Clock | None = None,
                     _stores: _Stores | None = None) -> Endpoint:
    """``GET /metrics``: this process's counters and the stores' gauges, Prometheus text."""
    stores = _stores or _Stores(settings, clock)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StoreCollector(stores))

    def render() -> bytes:
        stored = metrics.exposition(registry)  # first: it may move the last-success gauge
        return metrics.exposition() + stored

    async def metrics_view(request: Request) -> Response:
        body = await run_in_threadpool(render)
        return Response(body, media_type=metrics.CONTENT_TYPE)

    return metrics_view


def create_health_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Starlette:
    """A tiny ASGI app: ``/healthz`` and ``/metrics`` (and ``/`` listing them)."""
    if settings is None:
        from keepa_deals.settings import Settings

        settings = Settings()
    stores = _Stores(settings, clock)

    async def index(request: Request) -> Response:
        return JSONResponse({"endpoints": ["/healthz", "/metrics"]})

    app = Starlette(routes=[
        Route("/", index),
        Route("/healthz", healthz_endpoint(settings, _stores=stores)),
        Route("/metrics", metrics_endpoint(settings, _stores=stores)),
    ])
    app.state.stores = stores
    return app


class HealthServer(BackgroundServer):
    """The health app on a port, in a background thread (beside the ingestor)."""

    what = "the health server"

    def __init__(self, settings: Settings, *, host: str = "127.0.0.1", port: int | None = None,
                 clock: Clock | None = None) -> None:
        self.settings = settings
        super().__init__(create_health_app(settings, clock=clock), host=host,
                         port=settings.metrics_port if port is None else port)

    def stop(self) -> None:
        super().stop()
        self.app.state.stores.close()


def serve_in_thread(settings: Settings, *, host: str = "127.0.0.1",
                    port: int | None = None) -> HealthServer:
    """Serve ``/healthz`` and ``/metrics`` beside the caller (``port`` default: metrics_port)."""
    return HealthServer(settings, host=host, port=port).start()


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int | None = None,
          on_ready: Callable[[str], None] | None = None) -> None:
    """Serve in the foreground until interrupted."""
    app = create_health_app(settings)
    try:
        serve_foreground(app, host=host, port=settings.metrics_port if port is None else port,
                         on_ready=on_ready)
    finally:
        app.state.stores.close()
