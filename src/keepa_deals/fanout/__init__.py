"""Celery mode: the ingest tick fans product batches out to any number of workers.

::

    tick (one per query, under its lock)      worker (any, many)
    ───────────────────────────────────       ─────────────────────────────────────
    fold finished batches into the ledger
    send again batches whose task was lost
    scan the feed down to the watermark
    plan batches within the fair share  ──▶   claim, pay through the shared budget,
    record them, then send them               save deals + record done in ONE
                                              transaction; send follow-up offers

Modules: ``batches`` (the durable batch records), ``planner`` (fair share,
batch cuts), ``tick``, ``worker`` (one batch), ``tasks`` (the three Celery
tasks, module-level functions), ``config`` (Celery settings, checks, beat
schedule), ``app`` (``CeleryModeApp``: the settings, the tasks, and the parts
each worker process opens once).  See docs/deploy.md.
"""

from keepa_deals.fanout.batches import Batch, BatchBook, Outcome
from keepa_deals.fanout.config import CeleryModeError, check_settings, configured_queries
from keepa_deals.fanout.planner import tick_allowance
from keepa_deals.fanout.tick import DispatchError, run_tick
from keepa_deals.fanout.worker import BatchRun, run_batch

__all__ = [
    "Batch",
    "BatchBook",
    "BatchRun",
    "CeleryModeError",
    "DispatchError",
    "Outcome",
    "check_settings",
    "configured_queries",
    "run_batch",
    "run_tick",
    "tick_allowance",
]
