"""``keepa-deals run``: the embedded default, ingesting on a schedule in one process.

One line per run (outcome, deals added and updated, tokens, balance, next
run); the janitor every ``KEEPA_DEALS_JANITOR_INTERVAL_S``; SIGINT or SIGTERM
stops it cleanly between two paid calls (a second one stops it at once).

Every query of ``KEEPA_DEALS_QUERIES`` is ingested in turn (the built-in
default when unset); ``--query`` names one instead.

``--sandbox`` serves the sandbox Keepa server in this process (real clock,
the demo key, a free port) and points this process at it, with a temporary
data directory (its path printed; removed at exit): nothing of a real setup
(``DATABASE_URL``, ``REDIS_URL``, the data directory) is touched.  Its runs
come every ``SANDBOX_INTERVAL_S`` and walk at least ``DEMO_MAX_PAGES`` feed
pages each (docs/operations.md, "The demo").
``--for 90s`` stops after that long.

Exit 0 when stopped or done and at least one run succeeded (``ok``,
``waiting_for_tokens`` or ``locked``) or none was made; 2 when every run
failed (Keepa unreachable, the key refused, the database or Redis down: the
last error is printed) and on a setup error, such as a port in use.  A
``run`` without ``--for`` keeps going through failures; ``keepa-deals
health`` then reports them.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click
from pydantic import SecretStr

from keepa_deals.cli._app import AppContext, app, cannot_listen, clock, fail, pass_app
from keepa_deals.errors import KeepaDealsError
from keepa_deals.settings import Settings
from keepa_deals.stop import RunStopped

if TYPE_CHECKING:
    from keepa_deals.clock import Clock
    from keepa_deals.query import DealQuery
    from keepa_deals.sandbox import Sandbox

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
#: The demo's ingest interval: every run re-reads the feed's newest ``LATE_MINUTES``
#: (ingest/ledger.py) whatever the interval, so fewer, fuller runs are what the refill
#: pays for; 30 s brings a run some 50 new candidates, of which one in twenty is stored.
SANDBOX_INTERVAL_S = 30.0
#: The demo's sandbox world: a catalog large enough, and deal events frequent enough, for
#: a believable pace (a hundred deals in the first two minutes, new ones at most later
#: runs), on a 120-tokens-a-minute plan.  Measured: docs/operations.md ("The demo").
DEMO_SIZE, DEMO_EVENT_INTERVAL_S, DEMO_BACKLOG_S = 20_000, 0.08, 2 * 3600.0
DEMO_RATE = 120
#: The demo walks at least this many feed pages a run: its feed's newest ten minutes
#: (about 900 deals of used-books-us, six pages) are re-read by every run until they
#: settle, and a run, which reads at most the cap + 4 pages while a backlog is left
#: (ingest/scan.py), must get past them to work through the backlog below.
DEMO_MAX_PAGES = 5
#: How many of the best deals the demo shows.
DEMO_BEST = 5


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``5m``, ``1h30m``, ``2d`` → seconds."""
    raw = text.strip().lower()
    try:
        return float(raw)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for m in _PART.finditer(raw):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(raw) or not raw:
        raise ValueError(f"not a duration: {text!r} (try 90s, 5m, 1h30m)")
    return total


class Duration(click.ParamType[float, Any]):
    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        try:
            seconds = parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if seconds <= 0:
            self.fail("must be more than 0", param, ctx)
        return seconds


def demo_world(clock: Clock | None = None) -> Sandbox:
    """The demo's sandbox: a feed that already holds the last hours of deals, as a real
    one does, and the demo key on a 120-tokens-a-minute plan with a full bucket."""
    from keepa_deals.sandbox import CatalogConfig, Sandbox
    from keepa_deals.tokens.economics import cap_for

    return Sandbox(clock=clock, catalog=CatalogConfig(
        size=DEMO_SIZE, event_interval_s=DEMO_EVENT_INTERVAL_S, backlog_s=DEMO_BACKLOG_S),
        demo_rate=DEMO_RATE, demo_tokens=cap_for(DEMO_RATE))


def demo_queries(queries: Sequence[DealQuery]) -> list[DealQuery]:
    """The queries as the demo runs them: a page cap of at least ``DEMO_MAX_PAGES``."""
    return [q if q.run.max_pages >= DEMO_MAX_PAGES else q.model_copy(update={
        "run": q.run.model_copy(update={"max_pages": DEMO_MAX_PAGES})}) for q in queries]


@contextmanager
def _sandbox() -> Iterator[Settings]:
    """Serve a sandbox here and yield settings pointing at it (with a temporary data dir)."""
    from keepa_deals.sandbox import DEMO_KEY, SandboxServer

    world = demo_world()
    with tempfile.TemporaryDirectory(prefix="keepa-deals-demo-",
                                     ignore_cleanup_errors=True) as data_dir, \
            SandboxServer(world) as server:
        os.environ["KEEPA_API_URL"] = server.url  # this process only
        os.environ["KEEPA_API_KEY"] = DEMO_KEY
        click.echo(f"sandbox Keepa server  {server.url}  (demo key; no real Keepa account used)")
        click.echo(f"data directory        {data_dir}  (temporary, removed at exit)")
        # Init arguments win over the environment and .env: the demo never touches a real setup.
        yield Settings(keepa_api_url=server.url, keepa_api_key=SecretStr(DEMO_KEY),
                       data_dir=Path(data_dir),
                       database_url=None, redis_url=None)


@contextmanager
def _signals(stop: Any) -> Iterator[None]:
    """SIGINT/SIGTERM set ``stop``; a second one exits at once."""
    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set:
            raise SystemExit(130 if signum == signal.SIGINT else 143)
        click.echo(f"\n{signal.Signals(signum).name}: stopping after the current call "
                   "(again to quit now)", err=True)
        stop.set()

    old = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@app.command("run")
@click.option("--query", "query_spec", default=None, metavar="FILE",
              help="A query file, or the name of a built-in query "
                   "(default: every query of KEEPA_DEALS_QUERIES, else used-books-us).")
@click.option("--sandbox", is_flag=True,
              help="Run against a sandbox Keepa server started in this process (no key needed; "
                   f"at least {DEMO_MAX_PAGES} feed pages a run).")
@click.option("--for", "duration", type=Duration(), default=None,
              help="Stop after this long (90s, 5m, 1h...).")
@click.option("--interval", type=Duration(), default=None,
              help="Seconds between runs (default KEEPA_DEALS_INGEST_INTERVAL_S; "
                   f"{SANDBOX_INTERVAL_S:g} s with --sandbox).")
@click.option("--web", is_flag=True,
              help="Also serve the dashboard (KEEPA_DEALS_WEB_HOST:KEEPA_DEALS_WEB_PORT).")
@click.option("--metrics", is_flag=True,
              help="Also serve /healthz and /metrics of this process on KEEPA_DEALS_METRICS_PORT.")
@pass_app
def run_command(obj: AppContext, query_spec: str | None, sandbox: bool, duration: float | None,
                interval: float | None, web: bool, metrics: bool) -> None:
    """Ingest on a schedule (and run the janitor) until stopped."""
    from keepa_deals.ingest import StopSignal, open_env
    from keepa_deals.ingest.loop import ScheduledRun, run_loop
    from keepa_deals.ingest.pipeline import check_queries
    from keepa_deals.janitor import JanitorReport
    from keepa_deals.ops import logging as ops_logging
    from keepa_deals.settings import resolve_queries

    from keepa_deals.cli._progress import ProgressView

    stop = StopSignal()
    runs: dict[str, int] = {"made": 0, "succeeded": 0}
    last_error: list[str] = []
    view = ProgressView()
    shown_best: list[bool] = []
    best: list[Any] = []

    courier: list[Any] = []

    def tick(t: ScheduledRun) -> None:
        view.clear()
        for c in courier:  # alerts are checked and sent off the ingest path
            c.poke()
        r = t.report
        c = r.counts
        runs["made"] += 1
        if r.ok:
            runs["succeeded"] += 1
        elif r.error:
            last_error[:] = [f"{r.query}: {r.error}"]
        line = (f"{clock(datetime.now().astimezone())}  {r.outcome.value:<18} "
                f"+{c.added:<3} new  {c.updated:>3} updated  {c.tokens_spent:>5} tokens  "
                f"balance {'?' if r.balance is None else r.balance:>5}  "
                f"deals {'?' if r.deal_count is None else r.deal_count:>4}  "
                f"next {clock(t.next_at)}")
        if r.error:
            line += f"  ({r.error})"
        click.echo(line)
        if best and c.added and not shown_best:
            shown_best.append(True)
            best[0]()

    def janitor(reports: list[JanitorReport]) -> None:
        view.clear()
        for j in reports:
            what = f"held back: {j.held_back}" if j.held_back else f"retired {j.removed}"
            click.echo(f"{clock(datetime.now().astimezone())}  janitor            {what}")

    try:
        settings = obj.settings
        with _signals(stop), (_sandbox() if sandbox else _plain(settings)) as settings:
            # every query file read and checked before the first token is spent
            queries = resolve_queries(settings, query_spec)
            if sandbox:
                queries = demo_queries(queries)
            check_queries(queries)
            # the run's one line per run is the console; logs below WARNING only when asked
            explicit = "log_level" in settings.model_fields_set
            ops_logging.configure(settings, level=None if explicit else "WARNING", force=True)
            every = interval or (SANDBOX_INTERVAL_S if sandbox else settings.ingest_interval_s)
            with open_env(settings, stop=stop) as env, ExitStack() as servers:
                env.progress.listen(view)
                if sandbox:
                    best.append(lambda: show_best(env, settings))
                if web:
                    from keepa_deals.web import create_app
                    from keepa_deals.web.server import WebServer

                    dashboard = create_app(settings, engine=env.store.engine, budget=env.budget)
                    try:
                        started = servers.enter_context(
                            WebServer(dashboard, host=settings.web_host, port=settings.web_port))
                    except OSError as exc:
                        if not sandbox or "web_port" in settings.model_fields_set:
                            fail(cannot_listen("the dashboard (--web)", settings.web_host,
                                               settings.web_port, exc))
                        # the demo, on the default port, takes a free one rather than fail
                        started = servers.enter_context(
                            WebServer(dashboard, host=settings.web_host, port=0))
                    click.echo(f"dashboard at {started.url}  (open it in a browser)")
                if metrics:
                    from keepa_deals.ops.health_app import serve_in_thread

                    try:
                        health = serve_in_thread(settings)
                    except OSError as exc:
                        fail(cannot_listen("/healthz and /metrics (--metrics)", "127.0.0.1",
                                           settings.metrics_port, exc))
                    servers.callback(health.stop)
                    click.echo(f"health and metrics at {health.url}/healthz, {health.url}/metrics")
                courier.append(_start_alerts(settings, env, servers))
                until = env.store.now() + timedelta(seconds=duration) if duration else None
                click.echo(f"ingesting {', '.join(q.name for q in queries)} every {every:g} s"
                           + (f" for {duration:g} s" if duration else "") + "; Ctrl+C to stop")
                try:
                    run_loop(env, queries, interval_s=every,
                             janitor_interval_s=settings.janitor_interval_s, until=until,
                             on_run=tick, on_janitor=janitor)
                finally:
                    view.clear()
                if best:
                    best[0]()
    except RunStopped:
        pass  # asked for: the run in progress ended cleanly, everything bought is saved
    except KeepaDealsError as exc:
        fail(str(exc))
    click.echo("stopped" if stop.is_set else "done")
    sys.stdout.flush()
    if runs["made"] and not runs["succeeded"]:
        why = f": last error {last_error[0]}" if last_error else ""
        fail(f"all {runs['made']} run{'s' if runs['made'] != 1 else ''} failed{why}")


@contextmanager
def _plain(settings: Settings) -> Iterator[Settings]:
    yield settings


def show_best(env: Any, settings: Settings, n: int = DEMO_BEST) -> None:
    """The best few current deals by profit, as ``deals list`` prints them."""
    from keepa_deals.cli.deals_cmd import table
    from keepa_deals.deals_view import DealDefinition
    from keepa_deals.web.api import deal_item
    from keepa_deals.web.listing import ListRequest, list_deals

    definition = DealDefinition.from_settings(settings)
    with env.store.engine.connect() as conn:
        found = list_deals(conn, definition, env.store.now(),
                           ListRequest.model_validate({"limit": n}))
    if not found.rows:
        return
    click.echo(f"the best {len(found.rows)} deals by profit (keepa-deals deals list for more):")
    for line in table([deal_item(r) for r in found.rows]):
        click.echo(f"  {line}")


def _start_alerts(settings: Settings, env: Any, servers: ExitStack) -> Any:
    """The courier thread: health alerts and the outbox, drained between runs."""
    from keepa_deals.alerts.courier import CourierThread
    from keepa_deals.alerts.service import AlertService

    service = AlertService(settings, env.store, budget_store=env.budget.store,
                           clock=env.clock)
    thread = CourierThread(service.tick, settings.alert_check_interval_s).start()
    servers.callback(thread.close)
    return thread
