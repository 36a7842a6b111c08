"""``keepa-deals worker`` and ``keepa-deals beat``: Celery mode's processes.

Thin wrappers around ``celery -A keepa_deals.celery_app worker`` / ``beat``
that check the settings first (Celery mode needs ``REDIS_URL`` and a shared
``DATABASE_URL``; a SQLite database is one host only) and say what to fix.
Options after the verb that are not ours go to Celery unchanged::

    keepa-deals beat                                  # exactly one per deployment
    keepa-deals worker --concurrency 4                # one or more per host
    keepa-deals worker -- --pool solo --hostname w1@%h

``beat`` keeps its schedule in ``<data dir>/beat/celerybeat-schedule-<id>``,
``<id>`` a fingerprint of this deployment's ``DATABASE_URL`` and Redis, made
on first start (``--schedule`` names another); a schedule file that cannot be
read is replaced with a warning; each query's first ingest tick is sent as
soon as beat starts.

Exit 2 when the settings cannot run Celery mode or Celery is not installed
(``pip install 'keepa-deals[celery]'``).  See docs/deploy.md.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from keepa_deals.cli._app import AppContext, app, fail, pass_app
from keepa_deals.errors import KeepaDealsError
from keepa_deals.settings import Settings

log = logging.getLogger("keepa_deals.beat")

if TYPE_CHECKING:
    from keepa_deals.fanout.app import CeleryModeApp

_PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True}


def _celery_app(obj: AppContext) -> CeleryModeApp:
    try:
        import celery  # noqa: F401
    except ImportError:
        fail("Celery mode needs Celery: pip install 'keepa-deals[celery]'")
    from keepa_deals.fanout.app import make_celery_app

    try:
        # the settings' warnings are logged once, when the worker or beat starts
        return make_celery_app(obj.settings)
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
    does no harm: a query's tick runs under its lock, one at a time.  The first
    ingest ticks are sent as soon as beat starts, not after a full interval.
    The schedule file is this deployment's own (see ``schedule_path``); a
    corrupt one is replaced, with a warning.
    """
    celery_app = _celery_app(obj)
    args = list(celery_args)
    if not any(a in ("-s", "--schedule") or a.startswith("--schedule=") for a in args):
        path = schedule_path(obj.settings)
        try:
            problem = prepare_schedule(path)
        except OSError as exc:
            fail(f"cannot create the beat schedule file {path}: {exc.strerror or exc} "
                 "(check KEEPA_DEALS_DATA_DIR)")
        if problem:
            click.echo(f"warning: the beat schedule file {path} was unreadable ({problem}); "
                       "replaced by a fresh one", err=True)
        args = ["--schedule", str(path), *args]
    _send_first_ticks_at_start(celery_app)
    celery_app.start(["beat", "--loglevel", loglevel or "INFO", *args])


def schedule_path(settings: Settings) -> Path:
    """This deployment's beat schedule file: under the data directory, named by a fingerprint
    of its database and Redis (never a URL or a key in clear), so that two deployments on
    one host never share one."""
    return settings.data_dir / "beat" / f"celerybeat-schedule-{settings.deployment_id()}"


def prepare_schedule(path: Path) -> str | None:
    """Make the schedule file's directory; read the file whole.  A file that cannot be read
    is removed (Celery starts a fresh one) and the reason returned; else None."""
    import dbm
    import shelve

    path.parent.mkdir(parents=True, exist_ok=True)
    files = [path.with_name(path.name + suffix) for suffix in _SCHEDULE_SUFFIXES]
    if not any(f.exists() for f in files):
        return None
    try:
        if dbm.whichdb(str(path)) in (None, ""):
            raise ValueError("not a database this Python can read")
        with shelve.open(str(path), flag="r") as db:
            for name in list(db.keys()):
                db[name]
    except Exception as exc:  # noqa: BLE001 - any way a shelf breaks: pickle, dbm, truncation
        for f in files:
            f.unlink(missing_ok=True)
        return f"{type(exc).__name__}: {exc}"[:200]
    return None


#: The files a shelf may consist of, by dbm backend (Celery removes the same ones).
_SCHEDULE_SUFFIXES = ("", ".db", ".dat", ".bak", ".dir")


def _send_first_ticks_at_start(celery_app: Any) -> None:
    """Once beat has started, send each query's ingest tick at once: a fresh schedule
    would otherwise wait a full interval before the first."""
    from celery.signals import beat_init

    from keepa_deals.fanout.config import TICK_TASK

    def send(sender: Any = None, **_: Any) -> None:
        for name, entry in celery_app.conf.beat_schedule.items():
            if entry.get("task") != TICK_TASK:
                continue
            celery_app.send_task(entry["task"], args=entry.get("args", ()),
                                 **entry.get("options", {}))
            log.info("beat: sent the first tick of %s at start", name)

    beat_init.connect(send, weak=False)
