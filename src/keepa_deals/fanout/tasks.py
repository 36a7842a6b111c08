"""The Celery tasks: thin wrappers around the tick, the batch runner and the janitor.

* ``keepa_deals.ingest_tick(query)``: one tick (tick.py).  When it ended
  waiting for tokens and ``retry_after`` comes before the next beat, one more
  tick is scheduled for then.
* ``keepa_deals.product_batch(query, batch_id, epoch)``: one planned batch
  (worker.py), then its follow-up offers batches are sent.  Waiting for
  tokens, or a batch claimed by another live worker, ends the attempt with a
  retry after ``retry_after`` (countdown, never a sleep in the worker slot);
  an error is retried with backoff a few times, after which the batch waits
  for a tick to send it again.
* ``keepa_deals.janitor()``: one janitor pass over the configured queries,
  under its own lock.

Each worker process opens its parts once (store, Keepa client, budget, lock;
``open_env``) on its first task and closes them when it shuts down.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from celery import Celery, Task
from celery.signals import worker_process_shutdown, worker_shutdown

from keepa_deals.errors import KeepaDealsError
from keepa_deals.fanout.batches import Batch, BatchBook
from keepa_deals.fanout.config import (
    BATCH_QUEUE,
    BATCH_TASK,
    JANITOR_TASK,
    TICK_QUEUE,
    TICK_TASK,
)
from keepa_deals.fanout.tick import DispatchError, run_tick
from keepa_deals.fanout.worker import BatchRun, run_batch
from keepa_deals.ingest.env import IngestEnv, open_env
from keepa_deals.query import DealQuery
from keepa_deals.settings import Settings
from keepa_deals.store import RunOutcome

log = logging.getLogger("keepa_deals.fanout")

#: Retries of a batch that failed (Keepa or the database down) before a tick takes over.
ERROR_RETRIES = 5
ERROR_BACKOFF_S = 5.0

#: (pid, id(settings)) → the parts that process opened for those settings
_envs: dict[tuple[int, int], IngestEnv] = {}
_envs_lock = threading.Lock()


def worker_env(settings: Settings) -> IngestEnv:
    """This process's parts, opened on first use (after the pool forked)."""
    key = (os.getpid(), id(settings))
    with _envs_lock:
        env = _envs.get(key)
        if env is None:
            env = open_env(settings)
            env.client.max_wait_s = settings.celery_task_max_wait_s
            _envs[key] = env
        return env


def close_worker_env(**_: Any) -> None:
    """Close what this process opened (its pool process, or the worker, shuts down)."""
    pid = os.getpid()
    with _envs_lock:
        mine = [_envs.pop(key) for key in [k for k in _envs if k[0] == pid]]
    for env in mine:
        env.stop.set()
        env.close()


worker_process_shutdown.connect(close_worker_env, weak=False)
worker_shutdown.connect(close_worker_env, weak=False)


def register_tasks(app: Celery, settings: Settings, queries: list[DealQuery]) -> None:
    """Define the tasks on ``app`` for these settings and queries."""
    by_name = {q.name: q for q in queries}
    longest_countdown = settings.celery_visibility_timeout_s / 2

    def query_named(name: str) -> DealQuery | None:
        query = by_name.get(name)
        if query is None:
            log.error("no query named %s in KEEPA_DEALS_QUERIES here (%s): beat and every worker "
                      "must share one list", name, ", ".join(sorted(by_name)))
        return query

    def send(batch: Batch) -> None:
        from kombu.exceptions import KombuError

        try:
            product_batch.apply_async((batch.query, batch.id, batch.epoch), queue=BATCH_QUEUE)
        except (KombuError, OSError) as exc:
            raise DispatchError(f"the broker refused the task: {type(exc).__name__}") from None

    def defer(query: DealQuery, batch_id: str, epoch: int, countdown: float) -> None:
        env = worker_env(settings)
        due = env.clock.now_ms() + int(countdown * 1000)
        try:
            BatchBook(env.store, query.name).defer(batch_id, epoch, due)
        except KeepaDealsError as exc:  # the tick may send it again meanwhile: harmless
            log.warning("could not record the retry of batch %s: %s", batch_id, exc)

    @app.task(name=TICK_TASK, bind=True, ignore_result=True, shared=False)
    def ingest_tick(self: Task, query: str) -> dict[str, Any]:
        q = query_named(query)
        if q is None:
            return {"query": query, "outcome": "unknown query"}
        report = run_tick(worker_env(settings), q, queries=len(queries), send=send)
        wait = report.retry_after_s
        if (report.outcome is RunOutcome.WAITING_FOR_TOKENS and wait is not None
                and wait < settings.ingest_interval_s):
            again = max(1.0, wait)
            ingest_tick.apply_async((query,), queue=TICK_QUEUE, countdown=again,
                                    expires=again + settings.ingest_interval_s)
        return {"query": query, "outcome": report.outcome.value, "run_id": report.run_id}

    @app.task(name=BATCH_TASK, bind=True, ignore_result=True, max_retries=None, shared=False)
    def product_batch(self: Task, query: str, batch_id: str, epoch: int) -> dict[str, Any]:
        q = query_named(query)
        if q is None:
            return {"batch": batch_id, "status": "unknown query"}
        try:
            run = run_batch(worker_env(settings), q, batch_id, int(epoch))
        except KeepaDealsError as exc:  # the database or Redis, before anything was paid
            run = BatchRun(batch_id, "error", error=f"{type(exc).__name__}: {exc}")
        for follow in run.follow_ups:
            try:
                send(follow)
            except DispatchError as exc:
                log.error("could not send follow-up batch %s (a tick sends it later): %s",
                          follow.id, exc)
        if run.status in ("waiting", "claimed"):
            countdown = max(1.0, min(run.retry_after_s or 1.0, longest_countdown))
            raise self.retry(countdown=countdown)
        if run.status == "error":
            tries = self.request.retries or 0
            if tries < ERROR_RETRIES:
                countdown = min(longest_countdown, ERROR_BACKOFF_S * 2 ** tries)
                defer(q, batch_id, int(epoch), countdown)
                raise self.retry(countdown=countdown)
            log.error("batch %s failed %d times (%s); a tick sends it again after "
                      "KEEPA_DEALS_CELERY_REDISPATCH_AFTER_S", batch_id, tries + 1, run.error)
        return {"batch": batch_id, "status": run.status}

    @app.task(name=JANITOR_TASK, ignore_result=True, shared=False)
    def janitor() -> dict[str, Any]:
        from keepa_deals.janitor import run_janitor
        from keepa_deals.locks import LockKeeper, lock_name

        env = worker_env(settings)
        keeper = LockKeeper(env.lock, lock_name("janitor", "all"), settings.ingest_lock_ttl_s)
        if not keeper.acquire():
            return {"outcome": "locked"}
        try:
            reports = run_janitor(env.store, settings, [q.name for q in queries])
        finally:
            keeper.release()
        return {"outcome": "ok", "removed": sum(r.removed for r in reports),
                "held_back": [r.query for r in reports if r.held_back]}


__all__ = ["close_worker_env", "register_tasks", "worker_env"]
