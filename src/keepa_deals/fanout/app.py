"""The Celery app of Celery mode: built from the settings, which it carries to its tasks.

::

    app = make_celery_app(settings)     # keepa_deals.celery_app holds a deployment's one
    app.settings, app.queries           # what every task of this app runs with
    env = app.worker_env()              # this process's parts, opened once

**One environment per worker process.**  The parts a task works with (store,
Keepa client, budget, lock; ``ingest.env.open_env``) are opened once per
process, on its first task (after the prefork pool forked it), from the app's
settings, with the Keepa client's wait for tokens bounded at construction by
``KEEPA_DEALS_CELERY_TASK_MAX_WAIT_S``; they are closed when the process shuts
down (``worker_process_shutdown`` in a pool process, ``worker_shutdown`` in a
solo worker).  Several apps in one process (tests) each have their own.
"""

from __future__ import annotations

import logging
import os
import threading

from celery import Celery
from celery.signals import (
    beat_init,
    setup_logging,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)

from keepa_deals.fanout.config import celery_config, check_settings, configured_queries
from keepa_deals.fanout.tasks import register_tasks
from keepa_deals.ingest.env import IngestEnv, open_env
from keepa_deals.query import DealQuery
from keepa_deals.settings import Settings

log = logging.getLogger("keepa_deals.fanout")


class CeleryModeApp(Celery):
    """A Celery app configured from ``settings``, with the three tasks of Celery mode.

    Raises CeleryModeError (a ConfigError) when Celery mode cannot run: no
    REDIS_URL, no DATABASE_URL, or a query file that cannot be read.
    """

    def __init__(self, settings: Settings) -> None:
        self.warnings = check_settings(settings)
        queries = configured_queries(settings)
        super().__init__("keepa_deals", set_as_current=False)
        self.settings = settings
        self.queries: tuple[DealQuery, ...] = tuple(queries)
        self._env: IngestEnv | None = None
        self._env_pid = 0
        self._env_lock = threading.Lock()
        self.conf.update(celery_config(settings, queries))
        register_tasks(self)
        # bound methods, held weakly: they go when the app goes
        setup_logging.connect(self._configure_logging)
        worker_ready.connect(self._log_start)  # worker_init comes before Celery sets up logging
        beat_init.connect(self._prepare_beat)
        worker_process_shutdown.connect(self.close_worker_env)
        worker_shutdown.connect(self.close_worker_env)

    def query_named(self, name: str) -> DealQuery | None:
        """The configured query called ``name`` (None, logged, when there is none)."""
        for query in self.queries:
            if query.name == name:
                return query
        log.error("no query named %s in KEEPA_DEALS_QUERIES here (%s): beat and every worker "
                  "must share one list", name, ", ".join(sorted(q.name for q in self.queries)))
        return None

    def worker_env(self) -> IngestEnv:
        """This process's parts, opened on first use (in a forked process: its own, anew)."""
        with self._env_lock:
            if self._env is None or self._env_pid != os.getpid():
                self._env = open_env(self.settings,
                                     max_wait_s=self.settings.celery_task_max_wait_s)
                self._env_pid = os.getpid()
            return self._env

    def close_worker_env(self, **_: object) -> None:
        """Close the parts this process opened, if any (the process shuts down)."""
        with self._env_lock:
            env, self._env = self._env, None
            mine = self._env_pid == os.getpid()
        if env is not None and mine:  # a forked copy of the parent's is the parent's to close
            env.stop.set()
            env.close()

    # --- signal handlers -------------------------------------------------------------------

    def _configure_logging(self, **_: object) -> None:
        from keepa_deals.ops import logging as ops_logging

        ops_logging.configure(self.settings)

    def _log_start(self, **_: object) -> None:
        for text in self.warnings:
            log.warning("%s", text)
        log.info("Celery mode: queries %s; ingest tick every %g s; janitor every %g s",
                 ", ".join(q.name for q in self.queries), self.settings.ingest_interval_s,
                 self.settings.janitor_interval_s)

    def _prepare_beat(self, **kwargs: object) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)  # the schedule file lives there
        self._log_start(**kwargs)


def make_celery_app(settings: Settings | None = None) -> CeleryModeApp:
    """The Celery app of these settings (default: the environment's)."""
    return CeleryModeApp(settings or Settings())


__all__ = ["CeleryModeApp", "make_celery_app"]
