"""``keepa-deals worker`` and ``keepa-deals beat``: Celery mode's processes.

Thin wrappers around ``celery -A keepa_deals.celery_app worker`` / ``beat``
that check the settings first (Celery mode needs ``REDIS_URL`` and a shared
``DATABASE_URL``; a SQLite database is one host only) and say what to fix.
Options after the verb that are not ours go to Celery unchanged::

    keepa-deals beat                                  # exactly one per deployment
    keepa-deals worker --concurrency 4                # one or more per host
    keepa-deals worker -- --pool solo --hostname w1@%h

Exit 2 when the settings cannot run Celery mode or Celery is not installed
(``pip install 'keepa-deals[celery]'``).  See docs/deploy.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from keepa_deals.cli._app import AppContext, app, fail, pass_app
from keepa_deals.errors import KeepaDealsError

if TYPE_CHECKING:
    from keepa_deals.fanout.app import CeleryModeApp

_PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True}


def _celery_app(obj: AppContext) -> CeleryModeApp:
    try:
        import celery  # noqa: F401
    except ImportError:
        fail("Celery mode needs Celery: pip install 'keepa-deals[celery]'")
    from keepa_deals.fanout.app import make_celery_app
    from keepa_deals.fanout.config import check_settings

    try:
        settings = obj.settings
        for warning in check_settings(settings):
            click.echo(f"warning: {warning}", err=True)
        return make_celery_app(settings)
    except KeepaDealsError as exc:
        fail(str(exc))
        raise  # not reached: fail() exits


@app.command("worker", context_settings=_PASS_THROUGH)
@click.option("--concurrency", "-c", type=click.IntRange(1), default=None,
              help="Tasks this worker runs at once (default: Celery's, the number of CPUs). "
                   "Offer requests wait 2-20 s on Keepa, so more than the CPUs is fine.")
@click.option("--loglevel", "-l", default=None, help="Celery's log level (default: INFO).")
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
@pass_app
def worker_command(obj: AppContext, concurrency: int | None, loglevel: str | None,
                   celery_args: tuple[str, ...]) -> None:
    """Run a Celery worker: product batches, ingest ticks and the janitor."""
    celery_app = _celery_app(obj)
    argv = ["worker", "--loglevel", loglevel or "INFO"]
    if concurrency is not None:
        argv += ["--concurrency", str(concurrency)]
    celery_app.worker_main([*argv, *celery_args])


@app.command("beat", context_settings=_PASS_THROUGH)
@click.option("--loglevel", "-l", default=None, help="Celery's log level (default: INFO).")
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
@pass_app
def beat_command(obj: AppContext, loglevel: str | None, celery_args: tuple[str, ...]) -> None:
    """Run Celery beat: an ingest tick per query every interval, the janitor now and then.

    Run exactly one.  A second one (or a manual `keepa-deals ingest --once`)
    does no harm: a query's tick runs under its lock, one at a time.
    """
    celery_app = _celery_app(obj)
    celery_app.start(["beat", "--loglevel", loglevel or "INFO", *celery_args])
