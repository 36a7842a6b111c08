"""Celery mode's configuration, derived from the one Settings object.

* **Broker**: ``KEEPA_DEALS_CELERY_BROKER_URL``, by default ``REDIS_URL``;
  no result backend (tasks report through the deal store and the logs).
* **Delivery**: ``acks_late`` with ``task_reject_on_worker_lost`` (a task
  whose worker dies is delivered again, and the batch records make a second
  delivery harmless), prefetch 1 (a worker holds one task at a time), a Redis
  visibility timeout longer than any task, no Celery rate limits (tasks spend
  through the shared token budget).
* **Queues**: ``keepa-deals.ticks`` (ingest ticks, the janitor) and
  ``keepa-deals.batches`` (product batches of every query, first in first
  out; see planner.py for the fair-share rule).  Workers consume both.
* **Beat**: one ingest tick per query every ``KEEPA_DEALS_INGEST_INTERVAL_S``, the
  janitor every ``KEEPA_DEALS_JANITOR_INTERVAL_S``, the alerts (health checked, the
  outbox drained: docs/alerts.md) every ``KEEPA_DEALS_ALERT_CHECK_INTERVAL_S``.  Ticks never pile up, whatever the
  hosts' clocks say: a tick that comes less than half an interval after the last one
  started does nothing (a gate kept in Redis, which expires by Redis's clock; see
  tasks.py).  Celery's own ``expires`` is judged by the clock of the worker that receives
  the message, so a worker whose clock runs ahead would discard every tick: it is set
  no shorter than :data:`MIN_EXPIRY_S`, only to bound what waits in the queue while no
  worker runs.

:func:`check_settings` refuses to start without Redis or a shared database,
and warns about a SQLite database (one host only).
"""

from __future__ import annotations

from typing import Any

from keepa_deals.errors import ConfigError
from keepa_deals.query import DealQuery, QueryFileError
from keepa_deals.settings import Settings, resolve_queries

#: The shortest ``expires`` of a scheduled message: clocks may disagree by less than this.
MIN_EXPIRY_S = 3600.0

TICK_QUEUE = "keepa-deals.ticks"
BATCH_QUEUE = "keepa-deals.batches"
TICK_TASK = "keepa_deals.ingest_tick"
BATCH_TASK = "keepa_deals.product_batch"
JANITOR_TASK = "keepa_deals.janitor"
ALERTS_TASK = "keepa_deals.alerts"

#: A task still running at this fraction of the visibility timeout is killed (prefork
#: pool): the broker would soon hand it to another worker anyway.
TIME_LIMIT_SHARE = 0.9


class CeleryModeError(ConfigError):
    """The settings cannot run Celery mode (no Redis, no shared database, bad queries)."""


def check_settings(settings: Settings) -> list[str]:
    """Raise CeleryModeError when Celery mode cannot run; return warnings worth printing."""
    if not settings.redis_url:
        raise CeleryModeError(
            "Celery mode needs REDIS_URL: the shared token budget, the locks and (unless "
            "KEEPA_DEALS_CELERY_BROKER_URL says otherwise) the broker live in Redis; "
            "set REDIS_URL=redis://host:6379/0 for beat and every worker")
    if not settings.database_url:
        raise CeleryModeError(
            "Celery mode needs DATABASE_URL: every worker saves deals into one shared "
            "database; set DATABASE_URL=postgresql://user:password@host/db (or "
            "sqlite:////path/file.sqlite3 for workers on this host only)")
    warnings = []
    if settings.database_url.startswith("sqlite"):
        warnings.append(
            "DATABASE_URL is a SQLite file: only workers on this host can share it, and they "
            "take turns to write; use PostgreSQL for workers on several hosts")
    longest = settings.celery_task_max_wait_s + settings.http_timeout_s * (
        settings.http_retries + 1) + settings.save_patience_s
    if settings.celery_visibility_timeout_s < 2 * max(longest, settings.celery_claim_ttl_s):
        warnings.append(
            f"KEEPA_DEALS_CELERY_VISIBILITY_TIMEOUT_S ({settings.celery_visibility_timeout_s:g} s)"
            f" is short: a task may take {longest:g} s (the wait for tokens, the Keepa call "
            "with its retries, KEEPA_DEALS_SAVE_PATIENCE_S for its save); the broker then "
            "hands running tasks to a second worker, and a task is killed at nine tenths of "
            "the timeout, even while it waits to save what it paid for")
    return warnings


def configured_queries(settings: Settings) -> list[DealQuery]:
    """The queries every command runs (:func:`keepa_deals.settings.resolve_queries`), with a
    name given twice reported as Celery mode's error."""
    try:
        return resolve_queries(settings)
    except QueryFileError:
        raise
    except ConfigError as exc:
        raise CeleryModeError(str(exc)) from exc


def expiry_s(interval_s: float) -> float:
    """The ``expires`` of a message sent every ``interval_s``: never short enough that a
    receiver's clock running ahead makes it look expired on arrival."""
    return max(interval_s * 10, MIN_EXPIRY_S)


def beat_schedule(settings: Settings, queries: list[DealQuery]) -> dict[str, dict[str, Any]]:
    every = settings.ingest_interval_s
    schedule: dict[str, dict[str, Any]] = {
        f"ingest {q.name}": {
            "task": TICK_TASK,
            "schedule": every,
            "args": (q.name,),
            "options": {"queue": TICK_QUEUE, "expires": expiry_s(every)},
        }
        for q in queries
    }
    schedule["janitor"] = {
        "task": JANITOR_TASK,
        "schedule": settings.janitor_interval_s,
        "options": {"queue": TICK_QUEUE, "expires": expiry_s(settings.janitor_interval_s)},
    }
    schedule["alerts"] = {
        "task": ALERTS_TASK,
        "schedule": settings.alert_check_interval_s,
        "options": {"queue": TICK_QUEUE, "expires": expiry_s(settings.alert_check_interval_s)},
    }
    return schedule


def celery_config(settings: Settings, queries: list[DealQuery]) -> dict[str, Any]:
    """The Celery configuration of these settings (``app.conf.update(...)``)."""
    from kombu import Queue

    visibility = settings.celery_visibility_timeout_s
    return {
        "broker_url": settings.celery_broker_url or settings.redis_url,
        "broker_transport_options": {"visibility_timeout": int(visibility)},
        "broker_connection_retry_on_startup": True,
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_time_limit": int(visibility * TIME_LIMIT_SHARE),
        "worker_prefetch_multiplier": 1,
        "worker_disable_rate_limits": True,
        "worker_hijack_root_logger": False,
        "task_queues": (Queue(TICK_QUEUE), Queue(BATCH_QUEUE)),
        "task_default_queue": BATCH_QUEUE,
        "task_routes": {TICK_TASK: {"queue": TICK_QUEUE}, JANITOR_TASK: {"queue": TICK_QUEUE},
                        ALERTS_TASK: {"queue": TICK_QUEUE},
                        BATCH_TASK: {"queue": BATCH_QUEUE}},
        "beat_schedule": beat_schedule(settings, queries),
        "beat_schedule_filename": str(settings.data_dir / "celerybeat-schedule"),
        "timezone": "UTC",
        "enable_utc": True,
    }
