"""Running one planned product batch on any worker: claim it, pay for it, save it once.

::

    run = run_batch(env, query, batch_id, epoch)
    run.status        # done | already_done | obsolete | claimed | waiting | error
    run.follow_ups    # offers batches recorded with it, to send now

1. **Skip what is settled.**  The record is gone or done (a second delivery
   after a crash between the commit and the ack): nothing to do.  The message
   is of an older epoch (the batch was sent again since): nothing to do.
2. **Claim** the batch (a Redis lock ``batch.<id>``, renewed while the worker
   lives): a batch is paid for by one worker at a time.  A batch claimed by a
   live worker is left to it (``claimed``, with when the claim would expire).
3. **Pay** through the shared budget (the Keepa client's budget path; no
   Celery rate limit): the same evaluation as the embedded run
   (:class:`~keepa_deals.ingest.stages.Pipeline`), on just these candidates.
   A wait longer than ``KEEPA_DEALS_CELERY_TASK_MAX_WAIT_S`` ends the attempt
   (``waiting`` with ``retry_after``, which the record notes): no worker slot
   sleeps.
4. **Save** in ONE transaction: the deals bought, the rows retired, the
   record marked done with what was decided per ASIN, and the follow-up offers
   batches for the survivors of a product check.  If the record turns out to
   be done already (two workers paid, which only a claim that expired under a
   stalled worker allows), nothing is written twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from keepa_deals.tokens.errors import TokenRechargeError
from keepa_deals.errors import KeepaDealsError
from keepa_deals.fanout import batches as records
from keepa_deals.fanout.batches import Batch, BatchBook, Observation, Outcome, new_batch_id
from keepa_deals.fanout.planner import offers_batch_limit
from keepa_deals.ingest import persist
from keepa_deals.ingest.env import IngestEnv
from keepa_deals.ingest.ledger import Candidate, Ledger
from keepa_deals.ingest.plan import Affordable, unit_cost
from keepa_deals.ingest.report import IngestReport
from keepa_deals.ingest.runner import _retry_after_429 as retry_after_429
from keepa_deals.ingest.stages import Pipeline
from keepa_deals.keepa.errors import NotEnoughTokens
from keepa_deals.locks import LockKeeper, lock_name
from keepa_deals.query import DealQuery
from keepa_deals.stop import RunStopped
from keepa_deals.store import DatabaseUnavailable, DealRow

log = logging.getLogger("keepa_deals.fanout")

#: when a batch stopped on request comes back (another worker takes it)
STOPPED_RETRY_S = 1.0

Status = Literal["done", "already_done", "obsolete", "claimed", "waiting", "error"]

#: Tries of a batch's save when the database is unreachable (a deadlock, a restart).
SAVE_ATTEMPTS = 4

#: A planned batch is sized by its tick; the worker's pipeline buys exactly it.
_WHOLE_BATCH = Affordable(spendable=1 << 40, cap=None)


@dataclass(frozen=True, slots=True)
class BatchRun:
    """How one delivery of a batch task ended."""

    batch_id: str
    status: Status
    retry_after_s: float | None = None
    outcome: Outcome | None = None
    follow_ups: tuple[Batch, ...] = ()
    error: str | None = None


class BatchPipeline(Pipeline):
    """The embedded run's evaluation of one planned batch, saved with its record.

    The ledger holds only the batch's candidates; ``affordable`` lets the
    pipeline buy the whole batch (the tick sized it from the budget); the
    commit is the batch's own (:meth:`_commit`).
    """

    def __init__(self, *, batch: Batch, save: Callable[..., None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batch = batch
        self.ledger = Ledger(candidates={c.asin: c for c in batch.candidates})
        self._save = save

    def affordable(self) -> Affordable:
        return _WHOLE_BATCH

    def _commit(self, **kwargs: Any) -> None:  # the pipeline's one write per paid call
        self._save(self, **kwargs)

    def buy(self) -> None:
        """Make the batch's one paid call and save what it bought."""
        b = self.batch
        if b.kind == "stats":
            self._stats_batch(list(b.candidates))
        elif b.kind == "offers":
            self._offers_batch(list(b.candidates))
        else:
            self._refresh_batch(b.asins)


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
        run = _buy(env, query, batch)
        if run.status == "waiting" and run.retry_after_s is not None:
            # its task comes back then: no tick may take the wait for a lost message
            book.defer(batch_id, epoch, env.clock.now_ms() + int(run.retry_after_s * 1000))
        return run
    finally:
        keeper.release()


def _buy(env: IngestEnv, query: DealQuery, batch: Batch) -> BatchRun:
    saved: dict[str, Any] = {}

    def save(pipe: BatchPipeline, **kwargs: Any) -> None:
        saved.update(_save(env, query, pipe, **kwargs))

    pipe = BatchPipeline(
        batch=batch, save=save, settings=env.settings, store=env.store, client=env.client,
        budget=env.budget, query=query, report=IngestReport(query.name),
        checkpoint=env.stop.check, now_ms=env.clock.now_ms,
    )
    try:
        pipe.buy()
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
        log.error("batch %s (%s) failed: %s: %s", batch.id, batch.kind, type(exc).__name__, exc)
        return BatchRun(batch.id, "error", error=f"{type(exc).__name__}: {exc}")
    if saved.get("already"):
        log.warning("batch %s was saved by another worker meanwhile; nothing written twice",
                    batch.id)
        return BatchRun(batch.id, "already_done")
    outcome: Outcome = saved["outcome"]
    log.info("batch %s (%s, %d ASINs): +%d new, %d updated, %d rejected, %d removed, "
             "%d tokens", batch.id, batch.kind, len(batch.candidates), outcome.added,
             outcome.updated, outcome.rejected, outcome.removed, outcome.tokens_spent)
    return BatchRun(batch.id, "done", outcome=outcome, follow_ups=tuple(saved["follow_ups"]))


def _decide(pipe: BatchPipeline) -> tuple[Outcome, list[Candidate]]:
    """Per candidate, what the paid call decided; and who waits for offers now."""
    b = pipe.batch
    out = Outcome()
    survivors: list[Candidate] = []
    if b.kind == "refresh":
        waiting = {c.asin: c for c in pipe.ledger.pending("offers") if c.refresh}
        for asin in b.asins:
            obs: Observation = (asin, None)
            if asin in waiting:
                out.advanced.append(obs)
                survivors.append(waiting[asin])
            else:
                out.finished.append(obs)
        return out, survivors
    for c in b.candidates:
        obs = (c.asin, c.last_update)
        now = pipe.ledger.candidates.get(c.asin)
        if now is None or now.stage == "done":
            out.finished.append(obs)
        elif b.kind == "stats" and now.stage == "offers":
            out.advanced.append(obs)
            survivors.append(now)
        else:  # still waiting for offers: Keepa could not fetch them
            out.failed.append(obs)
    return out, survivors


def _follow_ups(pipe: BatchPipeline, survivors: list[Candidate], now_ms: int) -> list[Batch]:
    b = pipe.batch
    if not survivors or not pipe.fetch_offers:
        return []
    size = offers_batch_limit(pipe.settings)
    per = unit_cost(pipe.offers)
    out = []
    for i in range(0, len(survivors), size):
        part = survivors[i:i + size]
        out.append(Batch(new_batch_id(), b.query, "offers", part, pipe.offers, per * len(part),
                         now_ms, now_ms, parent=b.id))
    return out


def _save(env: IngestEnv, query: DealQuery, pipe: BatchPipeline, *,
          rows: list[DealRow] | tuple[DealRow, ...] = (),
          refreshed: list[DealRow] | tuple[DealRow, ...] = (),
          retire: list[tuple[str, int]] | tuple[tuple[str, int], ...] = (),
          **_: Any) -> dict[str, Any]:
    """The batch's one transaction: deals, retirements, its record done, its follow-ups."""
    store = env.store
    now_ms = env.clock.now_ms()
    outcome, survivors = _decide(pipe)
    follow = _follow_ups(pipe, survivors, now_ms)
    r = pipe.report
    outcome.follow_ups = [f.id for f in follow]
    outcome.rejected = r.counts.rejected
    outcome.refreshed = r.refreshed
    outcome.checked_stats = r.checked_stats
    outcome.checked_offers = r.checked_offers
    outcome.tokens_spent = r.counts.tokens_spent
    outcome.reasons = dict(r.reasons)
    outcome.done_ms = now_ms
    delay = 0.2
    for attempt in range(SAVE_ATTEMPTS):  # what was paid for is worth a few tries
        try:
            with records.write_transaction(store) as conn:
                current = records.read_batch(conn, query.name, pipe.batch.id, for_update=True)
                if current is None or current.done:
                    return {"already": True}
                added, updated, removed = persist.save_results(
                    conn, query.name, store.now(), rows=rows, refreshed=refreshed,
                    retire=retire)
                outcome.added, outcome.updated, outcome.removed = added, updated, removed
                current.outcome = outcome
                records.write_batches(conn, [current, *follow], store)
            return {"outcome": outcome, "follow_ups": follow}
        except DatabaseUnavailable as exc:
            if attempt == SAVE_ATTEMPTS - 1:
                raise
            log.warning("batch %s: could not save (%s); again in %.1f s", pipe.batch.id, exc,
                        delay)
            env.stop.wait(delay)
            delay *= 4
    raise AssertionError("unreachable")  # pragma: no cover
