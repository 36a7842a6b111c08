"""``smart_ingestor``: one ingest run of one query, from lock to run record.

::

    with open_env(settings) as env:
        report = smart_ingestor(env, query)
        report.outcome, report.counts.added, report.retry_after_s

A run takes the query's single-runner lock (renewed in the background while
it works), records itself in ``ingest_runs``, runs its work on a
:class:`~keepa_deals.ingest.pipeline.Pipeline` (source, stages, sink), and
ends as one of:

* ``ok``: the work there was is done (or the process was asked to stop;
  everything bought so far is saved);
* ``waiting_for_tokens``: the budget's verified wait is longer than its
  bound, or Keepa answered 429; the lock is released and ``retry_after_s``
  says when to come back (docs/failure-classes.md, FC-5);
* ``locked``: another live runner holds the lock; nothing was done;
* ``error``: Keepa, the database or the lock failed; the message says what.

Every run row records the tokens spent, pages, deals added, updated,
rejected and removed, and the error; a metrics point (token balance, deal
count) is added per run for the charts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from keepa_deals.errors import KeepaDealsError
from keepa_deals.ingest.env import IngestEnv
from keepa_deals.ingest.pipeline import LockLost, Pipeline
from keepa_deals.ingest.report import IngestReport
from keepa_deals.keepa.errors import NotEnoughTokens
from keepa_deals.locks import LockKeeper, lock_name
from keepa_deals.ops import facts, metrics, newstore
from keepa_deals.ops import logging as ops_logging
from keepa_deals.query import DealQuery, default_query
from keepa_deals.stop import RunStopped
from keepa_deals.store import RunCounts, RunOutcome
from keepa_deals.store.state import RUN_SPENT_KEY, RunSpent
from keepa_deals.tokens.economics import wait_ms_for
from keepa_deals.tokens.errors import BudgetError, TokenRechargeError

log = logging.getLogger("keepa_deals.ingest")

#: When Keepa says 429 without a usable status, come back after this long.
DEFAULT_RETRY_S = 60.0


#: The work of one run on its pipeline, once the lock is held and the run recorded.
Stages = Callable[[Pipeline], None]


def all_stages(pipe: Pipeline) -> None:
    """The embedded run: every stage, every paid call made in this process."""
    grace = timedelta(hours=pipe.settings.janitor_grace_h)
    pipe.load()
    pipe.check_pending()  # work left by earlier runs first: those deals are found already
    pipe.refresh(grace / 2)  # then deals nearing the janitor's cutoff
    pipe.scan_and_check()
    pipe.check_pending()
    pipe.refresh(timedelta(hours=pipe.settings.ingest_refresh_after_h))


def smart_ingestor(env: IngestEnv, query: DealQuery | None = None, *,
                   stages: Stages = all_stages) -> IngestReport:
    """Run the Smart Ingestor once for ``query`` (default: the built-in query).

    ``stages`` is the run's work (default :func:`all_stages`); Celery mode's
    tick passes its own, which scans and plans and leaves the product calls to
    the workers (keepa_deals/fanout/tick.py).
    """
    query = query or default_query()
    report = IngestReport(query.name)
    try:
        keeper = LockKeeper(env.lock, lock_name("ingest", query.name),
                            env.settings.ingest_lock_ttl_s)
        if not keeper.acquire():
            return _locked(env, keeper, report)
        try:
            _run(env, query, keeper, report, stages)
        finally:
            keeper.release()
    except KeepaDealsError as exc:
        # Our own parts (Redis, the database) unreachable: a failed run, reported and
        # retried at the next tick, never an exception that ends the scheduler.
        report.outcome = RunOutcome.ERROR
        report.error = f"{type(exc).__name__}: {exc}"
        log.error("query %s: run could not start or finish: %s", query.name, report.error)
    return report


def _locked(env: IngestEnv, keeper: LockKeeper, report: IngestReport) -> IngestReport:
    holder = keeper.holder()
    now = env.store.now()
    report.outcome = RunOutcome.LOCKED
    if holder is not None:
        report.retry_after_s = max(0.0, (holder.expires_at - now).total_seconds())
        report.error = f"another runner ({holder.owner}) holds the lock"
    else:
        report.error = "another runner held the lock"
    report.run_id = env.store.start_run(report.query)
    env.store.finish_run(report.run_id, RunOutcome.LOCKED, report.counts,
                         retry_after_s=report.retry_after_s, error=report.error)
    log.info("query %s: %s; nothing done", report.query, report.error)
    return report


def _abandon_dead_runs(env: IngestEnv, query: str, current: int) -> None:
    """Runs of this query still marked running died with their process: we hold the lock.
    Each is booked with what it had spent by its last commit (docs/failure-classes.md, FC-22)."""
    spent = RunSpent.loads(env.store.state_text(query, RUN_SPENT_KEY))
    for run in env.store.recent_runs(query, limit=50):
        if run.id != current and run.outcome == RunOutcome.RUNNING.value:
            counts = None
            if spent is not None and spent.run_id == run.id:
                counts = RunCounts(tokens_spent=spent.tokens, pages=spent.pages)
            env.store.finish_run(run.id, RunOutcome.ABANDONED, counts,
                                 error="its process died; found by the next run")


def _warn_if_store_lost(env: IngestEnv, query: str, report: IngestReport) -> None:
    """A new deal store on an account in use: said loudly before the run pays
    (docs/failure-classes.md, FC-21); the run goes on."""
    deals, runs = newstore.store_is_new(env.store, current_run=report.run_id)
    if deals or runs:
        return
    known = env.budget.snapshot().known
    try:
        env.budget.sync_tokens(force=True)  # free: the balance says whether someone spent
    except (BudgetError, KeepaDealsError) as exc:
        log.debug("could not ask Keepa for the token status: %s", exc)
    snap = env.budget.snapshot()
    why = newstore.earlier_activity(deals=deals, earlier_runs=runs, budget_known=known,
                                    balance=snap.projected, cap=snap.cap)
    if why is not None:
        report.warnings.append(why)
        log.warning("query %s: %s", query, why)
        newstore.record(env.store, query, why)


def _run(env: IngestEnv, query: DealQuery, keeper: LockKeeper, report: IngestReport,
         stages: Stages) -> None:
    store = env.store
    report.run_id = store.start_run(query.name)
    with ops_logging.run_context(run_id=report.run_id, query=query.name):
        try:
            _abandon_dead_runs(env, query.name, report.run_id)
        except KeepaDealsError as exc:
            report.outcome = RunOutcome.ERROR
            report.error = f"{type(exc).__name__}: {exc}"
            log.error("query %s: run failed: %s", query.name, report.error)
            _finish(env, query, report, None)
            return
        _stages(env, query, keeper, report, stages)


def _stages(env: IngestEnv, query: DealQuery, keeper: LockKeeper, report: IngestReport,
            stages: Stages) -> None:
    def checkpoint() -> None:
        """Between two paid calls: stop if asked to, renew the lock, stop if it was lost."""
        env.stop.check()
        keeper.renew_now()
        if keeper.lost:
            raise LockLost(f"lost the lock {keeper.name}: it expired before it was renewed")

    def lock_renewed() -> bool:
        """Before a save is tried again: True once the lock is renewed, False while its store
        does not answer (the database, without Redis), LockLost once it has expired (another
        runner may have the query now: a late save would overwrite its ledger)."""
        held = keeper.confirm()
        if held is False:
            raise LockLost(f"lost the lock {keeper.name} while the database was unavailable: "
                           "what this run was saving is left to the next run")
        return held is True

    pipe: Pipeline | None = None
    try:
        pipe = Pipeline(env, query, report, checkpoint, lock_renewed=lock_renewed)
        _warn_if_store_lost(env, query.name, report)  # before the first paid call
        stages(pipe)
        report.outcome = RunOutcome.OK
    except TokenRechargeError as exc:
        report.outcome = RunOutcome.WAITING_FOR_TOKENS
        report.retry_after_s = exc.retry_after
        report.error = None
        log.info("query %s: waiting for tokens (%s); back in %.0f s", query.name, exc.reason,
                 exc.retry_after)
    except NotEnoughTokens as exc:
        report.outcome = RunOutcome.WAITING_FOR_TOKENS
        report.retry_after_s = retry_after_429(exc)
        log.info("query %s: Keepa answered 429; back in %.0f s", query.name, report.retry_after_s)
    except RunStopped:
        report.outcome = RunOutcome.OK
        report.stopped = True
        log.info("query %s: stopped on request; everything bought so far is saved", query.name)
    except KeepaDealsError as exc:
        report.outcome = RunOutcome.ERROR
        report.error = f"{type(exc).__name__}: {exc}"
        log.error("query %s: run failed: %s", query.name, report.error)
    except BaseException as exc:
        report.outcome = RunOutcome.ERROR
        report.error = f"unexpected {type(exc).__name__}: {exc}"
        _finish(env, query, report, None)
        raise
    _finish(env, query, report, pipe)


def retry_after_429(exc: NotEnoughTokens) -> float:
    """When to come back after Keepa's 429: when its token status says one token is there."""
    st = exc.token_status
    if st is None:
        return DEFAULT_RETRY_S
    wait = wait_ms_for(st.tokens_left, st.refill_rate, st.next_refill_ms, st.timestamp_ms, 1)
    return DEFAULT_RETRY_S if wait is None else max(1.0, wait / 1000)


def _finish(env: IngestEnv, query: DealQuery, report: IngestReport,
            pipe: Pipeline | None) -> None:
    store = env.store
    ledger = pipe.ledger if pipe is not None else None
    if ledger is not None:
        report.pending_stats = ledger.count("stats")
        report.pending_offers = ledger.count("offers")
    try:
        if pipe is not None and report.outcome is not RunOutcome.ERROR:
            report.refresh = pipe.record_refresh_capacity()
        snap = env.budget.snapshot()
        report.balance, report.refill_rate = snap.projected, snap.rate
    except KeepaDealsError as exc:
        log.warning("query %s: could not read the budget after the run: %s", query.name, exc)
    assert report.run_id is not None
    try:
        store.finish_run(report.run_id, report.outcome, report.counts,
                         retry_after_s=report.retry_after_s, error=report.error)
    except KeepaDealsError as exc:
        # the row must say what the command says (docs/failure-classes.md, FC-23): one more
        # try with the error; if that fails too, the next run books the row as abandoned
        log.error("query %s: could not record the run: %s", query.name, exc)
        if report.outcome is not RunOutcome.ERROR:
            report.outcome = RunOutcome.ERROR
            report.error = f"could not record the run: {exc}"
        try:
            store.finish_run(report.run_id, report.outcome, report.counts,
                             retry_after_s=report.retry_after_s, error=report.error)
        except KeepaDealsError as again:
            log.error("query %s: could not record the run's error either: %s", query.name,
                      again)
    try:
        # the one definition of a deal (docs/failure-classes.md, FC-17), as the dashboard counts it
        report.deal_count = facts.deal_count(store, env.settings, store.now())
        store.record_metrics(token_balance=report.balance, refill_rate=report.refill_rate,
                             deal_count=report.deal_count)
    except KeepaDealsError as exc:  # a chart point, not the run: its row stands as written
        log.warning("query %s: could not record the metrics point of the run: %s",
                    query.name, exc)
    c = report.counts
    metrics.deals_added(c.added)
    metrics.deals_updated(c.updated)
    metrics.deals_rejected(c.rejected)
    metrics.deals_removed(c.removed)
    metrics.run_finished(report.outcome.value)
    log.info("query %s: run %s %s: +%d new, %d updated, %d rejected, %d removed, %d tokens, "
             "%d pages", query.name, report.run_id, report.outcome.value, c.added, c.updated,
             c.rejected, c.removed, c.tokens_spent, c.pages)
