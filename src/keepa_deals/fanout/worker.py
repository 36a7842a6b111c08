"""Running one planned product batch on any worker: claim it, pay for it, save it once.

::

    run = run_batch(env, query, batch_id, epoch)
    run.status        # done | already_done | obsolete | claimed | waiting | error | lost
    run.follow_ups    # offers batches recorded with it, to send now

1. **Skip what is settled.**  The record is gone or done (a second delivery
   after a crash between the commit and the ack): nothing to do.  The message
   is of an older epoch (the batch was sent again since): nothing to do.
2. **Claim** the batch (a Redis lock ``batch.<id>``, renewed while the worker
   lives): a batch is paid for by one worker at a time.  A batch claimed by a
   live worker is left to it (``claimed``, with when the claim would expire).
3. **Pay** through the shared budget (the Keepa client's budget path; no
   Celery rate limit) and **evaluate** with the embedded run's own stage
   (:mod:`keepa_deals.ingest.stages`: ``check_stats``, ``check_offers``,
   ``recheck``), on just these candidates.
   A wait longer than ``KEEPA_DEALS_CELERY_TASK_MAX_WAIT_S`` ends the attempt
   (``waiting`` with ``retry_after``, which the record notes): no worker slot
   sleeps.
4. **Save** in ONE transaction on the store's unit of work
   (:meth:`~keepa_deals.fanout.batches.BatchBook.settle`), tried again while the database
   is unreachable (``KEEPA_DEALS_SAVE_PATIENCE_S``): the deals bought,
   the rows retired, the record marked done with what was decided per ASIN,
   and the follow-up offers batches for the survivors of a product check.  If the record turns out to
   be done already (two workers paid, which only a claim that expired under a
   stalled worker allows), nothing is written twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from keepa_deals.errors import KeepaDealsError
from keepa_deals.fanout.batches import Batch, BatchBook, Observation, Outcome, new_batch_id
from keepa_deals.fanout.planner import offers_batch_limit
from keepa_deals.ingest.env import IngestEnv
from keepa_deals.ingest.ledger import Candidate
from keepa_deals.ingest.paid import buy_products, save_paid
from keepa_deals.ingest.pipeline import log_result
from keepa_deals.ingest.plan import call_limit, unit_cost
from keepa_deals.ingest.report import IngestReport
from keepa_deals.ingest.categories import name_categories
from keepa_deals.ingest.runner import retry_after_429
from keepa_deals.ingest.sellers import rate_sellers
from keepa_deals.ingest.stages import StageResult, check_offers, check_stats, recheck
from keepa_deals.keepa.client import may_have_run
from keepa_deals.keepa.errors import KeepaError, NotEnoughTokens
from keepa_deals.locks import LockKeeper, lock_name
from keepa_deals.query import DealQuery
from keepa_deals.stop import RunStopped
from keepa_deals.tokens.errors import TokenRechargeError

log = logging.getLogger("keepa_deals.fanout")

#: When a batch stopped on request comes back (another worker takes it).
STOPPED_RETRY_S = 1.0

Status = Literal["done", "already_done", "obsolete", "claimed", "waiting", "error", "lost"]

@dataclass(frozen=True, slots=True)
class BatchRun:
    """How one delivery of a batch task ended."""

    batch_id: str
    status: Status
    retry_after_s: float | None = None
    outcome: Outcome | None = None
    follow_ups: tuple[Batch, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Evaluated:
    """A batch paid for and evaluated: the stage's result, booked in a report of its own."""

    result: StageResult
    report: IngestReport


def run_batch(env: IngestEnv, query: DealQuery, batch_id: str, epoch: int, *,
              claim_ttl_s: float | None = None) -> BatchRun:
    """One delivery of the batch task for ``batch_id`` (sent with ``epoch``)."""
    book = BatchBook(env.store, query.name)
    batch = book.get(batch_id)
    if batch is None or batch.done:
        return BatchRun(batch_id, "already_done")
    if epoch < batch.epoch:
        return BatchRun(batch_id, "obsolete")
    ttl = claim_ttl_s if claim_ttl_s is not None else env.settings.celery_claim_ttl_s
    keeper = LockKeeper(env.lock, lock_name("batch", batch_id), ttl)
    if not keeper.acquire():
        holder = keeper.holder()
        wait = None if holder is None else (holder.expires_at - env.store.now()).total_seconds()
        return BatchRun(batch_id, "claimed", retry_after_s=max(1.0, (wait or 0.0) + 1.0))
    try:
        batch = book.get(batch_id)  # what it is now that it is ours
        if batch is None or batch.done:
            return BatchRun(batch_id, "already_done")
        run = _buy(env, query, book, batch)
        if run.status == "waiting" and run.retry_after_s is not None:
            # its task comes back then: no tick may take the wait for a lost message
            book.defer(batch_id, epoch, env.clock.now_ms() + int(run.retry_after_s * 1000))
        return run
    finally:
        keeper.release()


def evaluate_batch(env: IngestEnv, query: DealQuery, batch: Batch) -> Evaluated:
    """Make the batch's one paid call and run its stage on the reply (nothing is saved)."""
    fetch_offers = query.filters.offers.fetch_offers
    report = IngestReport(query.name)
    if batch.kind == "refresh":
        asins = batch.asins
        paid = buy_products(env.client, query, asins, None)
        result = recheck(asins, paid.reply, query, env.clock.now_ms())
    else:
        offers = (query.filters.offers.offers if fetch_offers else None
                  ) if batch.kind == "offers" else None
        cands = batch.candidates[:call_limit(offers)]  # a tick never plans more
        paid = buy_products(env.client, query, [c.asin for c in cands], offers)
        stage = check_offers if batch.kind == "offers" else check_stats
        result = stage(cands, paid.reply, query, env.clock.now_ms())
        if batch.kind == "offers":
            result, spent = rate_sellers(env, query, result, paid.reply)
            report.counts.tokens_spent += spent
    result, spent = name_categories(env, query.domain_id, result)
    report.counts.tokens_spent += spent + paid.tokens
    log_result(query.name, result)
    result.count_into(report)
    return Evaluated(result, report)


def _buy(env: IngestEnv, query: DealQuery, book: BatchBook, batch: Batch) -> BatchRun:
    try:
        done = evaluate_batch(env, query, batch)
    except TokenRechargeError as exc:
        log.info("batch %s (%s, %d ASINs): waiting for tokens (%s); again in %.0f s",
                 batch.id, batch.kind, len(batch.candidates), exc.reason, exc.retry_after)
        return BatchRun(batch.id, "waiting", retry_after_s=exc.retry_after)
    except NotEnoughTokens as exc:
        wait = retry_after_429(exc)
        log.warning("batch %s: Keepa answered 429; again in %.0f s", batch.id, wait)
        return BatchRun(batch.id, "waiting", retry_after_s=wait)
    except RunStopped:
        # not a failure: the stop came before the batch's one paid call was saved; it comes back
        log.info("batch %s: stopped on request; sent again", batch.id)
        return BatchRun(batch.id, "waiting", retry_after_s=STOPPED_RETRY_S)
    except KeepaDealsError as exc:
        if isinstance(exc, KeepaError) and may_have_run(exc):
            # the client sent it once more already: a task retry would buy it a third time
            log.error("batch %s (%s): Keepa's reply was lost twice (%s: %s); it waits for a "
                      "tick to send it again", batch.id, batch.kind, type(exc).__name__, exc)
            return BatchRun(batch.id, "lost", error=f"{type(exc).__name__}: {exc}")
        log.error("batch %s (%s) failed: %s: %s", batch.id, batch.kind, type(exc).__name__, exc)
        return BatchRun(batch.id, "error", error=f"{type(exc).__name__}: {exc}")
    now_ms = env.clock.now_ms()
    outcome, survivors = decide(batch, done.result)
    follow = _follow_ups(env, query, batch, survivors, now_ms)
    r = done.report
    outcome.follow_ups = [f.id for f in follow]
    outcome.rejected = r.counts.rejected
    outcome.refreshed = r.refreshed
    outcome.checked_stats = r.checked_stats
    outcome.checked_offers = r.checked_offers
    outcome.tokens_spent = r.counts.tokens_spent
    outcome.reasons = dict(r.reasons)
    outcome.done_ms = now_ms
    try:
        saved = _settle(env, book, batch, done.result, outcome, follow)
    except KeepaDealsError as exc:
        log.error("batch %s (%s) failed: %s: %s", batch.id, batch.kind, type(exc).__name__, exc)
        return BatchRun(batch.id, "error", error=f"{type(exc).__name__}: {exc}")
    if saved is None:
        log.warning("batch %s was saved by another worker meanwhile; nothing written twice",
                    batch.id)
        return BatchRun(batch.id, "already_done")
    log.info("batch %s (%s, %d ASINs): +%d new, %d updated, %d rejected, %d removed, "
             "%d tokens", batch.id, batch.kind, len(batch.candidates), saved.added,
             saved.updated, saved.rejected, saved.removed, saved.tokens_spent)
    return BatchRun(batch.id, "done", outcome=saved, follow_ups=tuple(follow))


def decide(batch: Batch, result: StageResult) -> tuple[Outcome, list[Candidate]]:
    """Per candidate, what the paid call decided; and who waits for offers now."""
    out = Outcome()
    survivors = {c.asin: c for c in result.survivors}
    finished = set(result.finished)
    if batch.kind == "refresh":
        for asin in batch.asins:
            obs: Observation = (asin, None)
            (out.advanced if asin in survivors else out.finished).append(obs)
        return out, [survivors[a] for a in batch.asins if a in survivors]
    advanced: list[Candidate] = []
    for c in batch.candidates:
        obs = (c.asin, c.last_update)
        if c.asin in finished:
            out.finished.append(obs)
        elif batch.kind == "stats" and c.asin in survivors:
            out.advanced.append(obs)
            advanced.append(survivors[c.asin])
        else:  # still waiting for offers: Keepa could not fetch them
            out.failed.append(obs)
    return out, advanced


def _follow_ups(env: IngestEnv, query: DealQuery, batch: Batch, survivors: list[Candidate],
                now_ms: int) -> list[Batch]:
    if not survivors or not query.filters.offers.fetch_offers:
        return []
    offers = query.filters.offers.offers
    size = offers_batch_limit(env.settings)
    per = unit_cost(offers)
    out = []
    for i in range(0, len(survivors), size):
        part = survivors[i:i + size]
        out.append(Batch(new_batch_id(), batch.query, "offers", part, offers, per * len(part),
                         now_ms, now_ms, parent=batch.id))
    return out


def _settle(env: IngestEnv, book: BatchBook, batch: Batch, result: StageResult,
            outcome: Outcome, follow: list[Batch]) -> Outcome | None:
    """The batch's one transaction, tried again while the database is unreachable
    (:func:`~keepa_deals.ingest.paid.save_paid`): the claim stays ours meanwhile."""
    changes = result.changes()
    return save_paid(lambda: book.settle(batch.id, changes, outcome, follow),
                     what=f"batch {batch.id}", patience_s=env.settings.save_patience_s)
