"""Building the Celery app from the settings (``keepa_deals.celery_app`` holds the one instance)."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import beat_init, setup_logging, worker_init

from keepa_deals.fanout.config import celery_config, check_settings, configured_queries
from keepa_deals.fanout.tasks import register_tasks
from keepa_deals.settings import Settings

log = logging.getLogger("keepa_deals.fanout")


def create_app(settings: Settings | None = None) -> Celery:
    """The Celery app of these settings (default: the environment).

    Raises CeleryModeError (a ConfigError) when Celery mode cannot run: no
    REDIS_URL, no DATABASE_URL, or a query file that cannot be read.
    """
    settings = settings or Settings()
    warnings = check_settings(settings)
    queries = configured_queries(settings)
    app = Celery("keepa_deals", set_as_current=False)
    app.conf.update(celery_config(settings, queries))
    register_tasks(app, settings, queries)

    def configure_logging(**_: Any) -> None:
        from keepa_deals.ops import logging as ops_logging

        ops_logging.configure(settings)

    def starting(**_: Any) -> None:
        for text in warnings:
            log.warning("%s", text)
        log.info("Celery mode: queries %s; ingest tick every %g s; janitor every %g s",
                 ", ".join(q.name for q in queries), settings.ingest_interval_s,
                 settings.janitor_interval_s)

    def beat_starting(**kwargs: Any) -> None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)  # the schedule file lives there
        starting(**kwargs)

    # weak=False: the handlers are closures that would otherwise be collected at once
    setup_logging.connect(configure_logging, weak=False)
    worker_init.connect(starting, weak=False)
    beat_init.connect(beat_starting, weak=False)
    return app
