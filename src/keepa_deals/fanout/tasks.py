"""The Celery tasks: thin wrappers around the tick, the batch runner and the janitor.

* ``keepa_deals.ingest_tick(query)``: one tick (tick.py).  When it ended
  waiting for tokens and ``retry_after`` comes before the next beat, one more
  tick is scheduled for then.  A scheduled tick that comes less than half an
  interval after the last one started does nothing (``not due``): the gate is a
  key in Redis that expires by Redis's clock, so ticks that waited in the queue
  (no worker was up) run once, not once each, and no host's clock decides.
* ``keepa_deals.product_batch(query, batch_id, epoch)``: one planned batch
  (worker.py), then its follow-up offers batches are sent.  Waiting for
  tokens, or a batch claimed by another live worker, ends the attempt with a
  retry after ``retry_after`` (countdown, never a sleep in the worker slot);
  an error is retried with backoff a few times, after which the batch waits
  for a tick to send it again.
* ``keepa_deals.janitor()``: one janitor pass over the configured queries,
  under its own lock.
* ``keepa_deals.alerts()``: the health alerts checked and the alert outbox
  drained, in bounded time (docs/alerts.md).  Several at once are harmless:
  messages are leased, and a health event has one message id.

The tasks are functions of this module, registered on every
:class:`~keepa_deals.fanout.app.CeleryModeApp` by :func:`register_tasks`.  A
task reads the settings, the queries and its process's parts (store, Keepa
client, budget, lock: ``app.worker_env()``, opened once per worker process)
from the app it runs on.  Messages carry JSON only (query name, batch id,
epoch).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, cast

from celery import Celery, Task
from kombu.exceptions import KombuError

from keepa_deals.errors import KeepaDealsError
from keepa_deals.fanout.batches import Batch, BatchBook
from keepa_deals.fanout.config import (
    ALERTS_TASK,
    BATCH_QUEUE,
    BATCH_TASK,
    JANITOR_TASK,
    TICK_QUEUE,
    TICK_TASK,
    expiry_s,
)
from keepa_deals.fanout.tick import DispatchError, run_tick
from keepa_deals.fanout.worker import BatchRun, run_batch
from keepa_deals.janitor import run_janitor
from keepa_deals.locks import LockKeeper, lock_name, owner_id
from keepa_deals.store import RunOutcome

if TYPE_CHECKING:
    from keepa_deals.fanout.app import CeleryModeApp

log = logging.getLogger("keepa_deals.fanout")

#: Retries of a batch that failed (Keepa or the database down) before a tick takes over.
ERROR_RETRIES = 5
ERROR_BACKOFF_S = 5.0
#: A scheduled tick within this share of the interval after the last one does nothing.
TICK_GATE_SHARE = 0.5


class TickTaskResult(TypedDict):
    query: str
    outcome: str  # a RunOutcome value, "not due" or "unknown query"
    run_id: NotRequired[int | None]


class BatchTaskResult(TypedDict):
    batch: str
    status: str  # a BatchRun status, or "unknown query"


class JanitorTaskResult(TypedDict):
    outcome: str  # "ok" or "locked"
    removed: NotRequired[int]
    held_back: NotRequired[list[str]]


def _app(task: Task[Any, Any]) -> CeleryModeApp:
    """The app ``task`` runs on: register_tasks registers these tasks on CeleryModeApps only."""
    return cast("CeleryModeApp", task.app)


def send_batch(app: Celery, batch: Batch) -> None:
    """Hand ``batch`` to the broker as a product batch task (DispatchError when it refuses)."""
    try:
        app.tasks[BATCH_TASK].apply_async((batch.query, batch.id, batch.epoch), queue=BATCH_QUEUE)
    except (KombuError, OSError) as exc:
        raise DispatchError(f"the broker refused the task: {type(exc).__name__}") from None


def ingest_tick(task: Task[[str, bool], TickTaskResult], query: str,
                follow_up: bool = False) -> TickTaskResult:
    app = _app(task)
    q = app.query_named(query)
    if q is None:
        return {"query": query, "outcome": "unknown query"}
    env, interval = app.worker_env(), app.settings.ingest_interval_s
    # the gate: taken for half an interval and never released, it expires in Redis
    if not follow_up and not env.lock.acquire(lock_name("tick", query), owner_id(),
                                              interval * TICK_GATE_SHARE):
        log.info("tick of %s: not due (the last one started under %.0f s ago)", query,
                 interval * TICK_GATE_SHARE)
        return {"query": query, "outcome": "not due"}
    report = run_tick(env, q, queries=len(app.queries),
                      send=lambda batch: send_batch(app, batch))
    wait = report.retry_after_s
    if report.outcome is RunOutcome.WAITING_FOR_TOKENS and wait is not None and wait < interval:
        again = max(1.0, wait)
        task.apply_async((query, True), queue=TICK_QUEUE, countdown=again,
                         expires=again + expiry_s(interval))
    return {"query": query, "outcome": report.outcome.value, "run_id": report.run_id}


def product_batch(task: Task[[str, str, int], BatchTaskResult], query: str, batch_id: str,
                  epoch: int) -> BatchTaskResult:
    app = _app(task)
    q = app.query_named(query)
    if q is None:
        return {"batch": batch_id, "status": "unknown query"}
    try:
        run = run_batch(app.worker_env(), q, batch_id, int(epoch))
    except KeepaDealsError as exc:  # the database or Redis, before anything was paid
        run = BatchRun(batch_id, "error", error=f"{type(exc).__name__}: {exc}")
    for follow in run.follow_ups:
        try:
            send_batch(app, follow)
        except DispatchError as exc:
            log.error("could not send follow-up batch %s (a tick sends it later): %s",
                      follow.id, exc)
    longest_countdown = app.settings.celery_visibility_timeout_s / 2
    if run.status in ("waiting", "claimed"):
        countdown = max(1.0, min(run.retry_after_s or 1.0, longest_countdown))
        raise task.retry(countdown=countdown)
    if run.status == "error":
        tries = task.request.retries or 0
        if tries < ERROR_RETRIES:
            countdown = min(longest_countdown, ERROR_BACKOFF_S * 2 ** tries)
            _defer(app, query, batch_id, int(epoch), countdown)
            raise task.retry(countdown=countdown)
        log.error("batch %s failed %d times (%s); a tick sends it again after "
                  "KEEPA_DEALS_CELERY_REDISPATCH_AFTER_S", batch_id, tries + 1, run.error)
    return {"batch": batch_id, "status": run.status}


def _defer(app: CeleryModeApp, query: str, batch_id: str, epoch: int, countdown: float) -> None:
    """Note on the batch record that its task comes back in ``countdown`` seconds."""
    env = app.worker_env()
    due = env.clock.now_ms() + int(countdown * 1000)
    try:
        BatchBook(env.store, query).defer(batch_id, epoch, due)
    except KeepaDealsError as exc:  # the tick may send it again meanwhile: harmless
        log.warning("could not record the retry of batch %s: %s", batch_id, exc)


def janitor(task: Task[[], JanitorTaskResult]) -> JanitorTaskResult:
    app = _app(task)
    env = app.worker_env()
    keeper = LockKeeper(env.lock, lock_name("janitor", "all"), app.settings.ingest_lock_ttl_s)
    if not keeper.acquire():
        return {"outcome": "locked"}
    try:
        reports = run_janitor(env.store, app.settings, [q.name for q in app.queries])
    finally:
        keeper.release()
    return {"outcome": "ok", "removed": sum(r.removed for r in reports),
            "held_back": [r.query for r in reports if r.held_back]}


class AlertsTaskResult(TypedDict):
    sent: int
    failed: int


def alerts(task: Task[[], AlertsTaskResult]) -> AlertsTaskResult:
    from keepa_deals.alerts.service import AlertService

    app = _app(task)
    env = app.worker_env()
    service = getattr(app, "_alerts", None)
    if service is None or service.store is not env.store:
        service = AlertService(app.settings, env.store, budget_store=env.budget.store)
        app._alerts = service  # type: ignore[attr-defined]
    report = service.tick(force_health=True)
    return {"sent": report.sent, "failed": report.failed}


def register_tasks(app: Celery) -> None:
    """Register the four tasks on ``app`` (a CeleryModeApp), under their names."""
    app.task(name=TICK_TASK, bind=True, ignore_result=True, shared=False)(ingest_tick)
    app.task(name=BATCH_TASK, bind=True, ignore_result=True, max_retries=None,
             shared=False)(product_batch)
    app.task(name=JANITOR_TASK, bind=True, ignore_result=True, shared=False)(janitor)
    app.task(name=ALERTS_TASK, bind=True, ignore_result=True, shared=False)(alerts)


__all__ = [
    "AlertsTaskResult",
    "BatchTaskResult",
    "JanitorTaskResult",
    "TickTaskResult",
    "alerts",
    "ingest_tick",
    "janitor",
    "product_batch",
    "register_tasks",
    "send_batch",
]
