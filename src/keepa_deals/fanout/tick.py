"""The ingest tick of Celery mode: fold, scan, plan, record, send; the product calls go to workers.

::

    report = run_tick(env, query, queries=2, send=send_batch)

A tick is a Smart Ingestor run (``smart_ingestor`` with its own stages): it
holds the query's single-runner lock, so a duplicated beat or a manual
``keepa-deals ingest --once`` at the same moment cannot make two ticks of one
query, and it is recorded in ``ingest_runs`` like any run.  Under the lock:

1. **fold** the batches workers finished since the last tick into the scan
   ledger (who was checked, who waits for offers) and delete their records, in
   one transaction with the ledger.  Only the tick writes the ledger;
2. **send again** the open batches nobody claimed or finished within
   ``KEEPA_DEALS_CELERY_REDISPATCH_AFTER_S`` (their message was lost), under a
   new epoch; a batch waiting for its retry (a countdown, held by a worker until
   due) is sent again sooner: :func:`held_grace_s` after it was due, since a worker
   that died took that message with it;
3. **scan** the deal feed down to the watermark (the embedded run's scan,
   paid through the shared budget);
4. **plan** product batches within the query's fair share (planner.py) from
   work no open batch holds, **record** them (one transaction), then **send**
   them.  A batch recorded but never sent is sent again at step 2 of a later
   tick: planned work is never lost, and never held by two batches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from keepa_deals.errors import KeepaDealsError
from keepa_deals.fanout import batches as records
from keepa_deals.fanout.batches import Batch, BatchBook
from keepa_deals.fanout.planner import Planner, tick_allowance
from keepa_deals.ingest.env import IngestEnv
from keepa_deals.ingest.ledger import Candidate
from keepa_deals.ingest.pipeline import Pipeline
from keepa_deals.ingest.plan import Affordable, unit_cost
from keepa_deals.ingest.report import IngestReport
from keepa_deals.ingest.runner import smart_ingestor
from keepa_deals.locks import lock_name
from keepa_deals.query import DealQuery
from keepa_deals.store import Changes

log = logging.getLogger("keepa_deals.fanout")

#: Hands a recorded batch to the broker (raises DispatchError when it cannot).
Send = Callable[[Batch], None]

#: A retry held by a worker is taken for lost this long after it was due, at the least.
HELD_GRACE_MIN_S = 60.0

#: At most this many stored deals are looked at for a refresh per tick.
MAX_REFRESH_LOOKUP = 10_000


def held_grace_s(ingest_interval_s: float) -> float:
    """How long after its due time an unclaimed retry is taken for lost: a live worker runs
    it when due (a busy pool a little later); a dead one took it with it."""
    return max(HELD_GRACE_MIN_S, 3 * ingest_interval_s)


class DispatchError(KeepaDealsError):
    """A task could not be handed to the broker; its batch is recorded and sent again later."""


def run_tick(env: IngestEnv, query: DealQuery, *, queries: int, send: Send) -> IngestReport:
    """One tick of ``query`` (one of ``queries`` sharing the key's budget)."""
    return smart_ingestor(env, query, stages=TickStages(env, queries, send).run)


class TickStages:
    """The stages of one tick (fold, send again, scan, plan and send) on the run's pipeline."""

    def __init__(self, env: IngestEnv, queries: int, send: Send) -> None:
        self.env = env
        self.queries = queries
        self.send = send

    def run(self, pipe: Pipeline) -> None:
        q = pipe.query
        book = BatchBook(pipe.store, q.name)
        pipe.load()
        batches, broken = book.all()
        open_ = [b for b in batches if not b.done]
        self.fold(pipe, [b for b in batches if b.done], broken)
        resent = self.redispatch(book, open_)
        pipe.scan()  # the product calls are the workers'
        planned = self.plan(pipe, open_)
        book.record(planned)
        sent = self.dispatch(planned)
        log.info("query %s: tick planned %d batches (%d tokens), sent %d; %d open, %d sent again",
                 q.name, len(planned), sum(b.cost for b in planned), sent, len(open_), resent)

    # --- 1. fold -----------------------------------------------------------------------

    def fold(self, pipe: Pipeline, done: list[Batch], broken: list[str]) -> None:
        """Apply finished batches to the ledger and the run's counts; delete their records."""
        if not done and not broken:
            return
        ledger, report = pipe.ledger, pipe.report
        for b in done:
            o = b.outcome
            assert o is not None
            for asin, minute in o.finished:
                c = ledger.candidates.get(asin)
                if c is not None and c.last_update == minute:  # the same observation
                    ledger.finish([asin])
            if b.kind == "stats":
                for asin, minute in o.advanced:
                    c = ledger.candidates.get(asin)
                    if c is not None and c.last_update == minute and c.stage == "stats":
                        c.stage = "offers"  # held by the follow-up batch
            _count(report, o)
        if broken:
            log.error("query %s: %d unreadable batch records deleted; their candidates are "
                      "planned again", pipe.query.name, len(broken))
        gone: dict[str, int | str | None] = {b.key: None for b in done}
        gone.update({key: None for key in broken})
        pipe.commit(Changes(state=gone))

    # --- 2. send again what was lost -------------------------------------------------------

    def redispatch(self, book: BatchBook, open_: list[Batch]) -> int:
        settings = self.env.settings
        queued_s = settings.celery_redispatch_after_s
        held_s = min(queued_s, held_grace_s(settings.ingest_interval_s))
        now_ms = self.env.clock.now_ms()
        stale = [b for b in open_
                 if now_ms - b.dispatched_ms >= (held_s if b.deferred else queued_s) * 1000
                 and self.env.lock.holder(lock_name("batch", b.id)) is None]
        if not stale:
            return 0
        held = {b.id for b in stale if b.deferred}
        again = book.send_again(stale, now_ms)  # only those still open
        for b in again:
            log.warning("query %s: batch %s (%s) was not finished %.0f s after it was %s: "
                        "sending it again (epoch %d)", book.query, b.id, b.kind,
                        held_s if b.id in held else queued_s,
                        "due" if b.id in held else "sent", b.epoch)
        return self.dispatch(again)

    # --- 4. plan and send -------------------------------------------------------------

    def plan(self, pipe: Pipeline, open_: list[Batch]) -> list[Batch]:
        settings, q = pipe.settings, pipe.query
        snap = pipe.budget_snapshot()
        spendable = Affordable.from_snapshot(snap, pipe.budget.policy).spendable
        allowance = tick_allowance(spendable, snap, interval_s=settings.ingest_interval_s,
                                   queries=self.queries)
        in_flight = sum(b.cost for b in open_)
        planner = Planner(settings, q.name, tokens=allowance - in_flight, cap=snap.cap,
                          now_ms=pipe.now_ms())
        held = {a for b in open_ for a in b.asins}  # an open batch holds these
        waiting = pipe.ledger.pending("offers")
        fresh = pipe.ledger.pending("stats")
        busy = held | {c.asin for c in (*waiting, *fresh)}  # a refresh leaves these alone

        grace = timedelta(hours=settings.janitor_grace_h)
        self._refresh(pipe, planner, busy, grace / 2)  # deals nearing the janitor's cutoff
        if pipe.fetch_offers:
            planner.take("offers", [c for c in waiting if c.asin not in held], pipe.offers)
        planner.take("stats", [c for c in fresh if c.asin not in held], None)
        self._refresh(pipe, planner, busy, timedelta(hours=settings.ingest_refresh_after_h))
        if planner.planned:
            log.info("query %s: allowance %d tokens, %d in flight, %d planned", q.name,
                     allowance, in_flight, sum(b.cost for b in planner.planned))
        return planner.planned

    @staticmethod
    def _refresh(pipe: Pipeline, planner: Planner, busy: set[str], older_than: timedelta) -> None:
        """Plan re-checks of stored deals not re-checked for ``older_than``, oldest first."""
        if planner.exhausted:
            return
        q = pipe.query
        lookup = min(MAX_REFRESH_LOOKUP, planner.left // unit_cost(None) + len(busy))
        keys = pipe.store.deals_to_refresh(lookup, query=q.name, domain_id=q.domain_id,
                                           not_refreshed_since=pipe.now() - older_than)
        now_ms = pipe.now_ms()
        cands = [Candidate(k.asin, None, "stats", now_ms, None, refresh=True) for k in keys
                 if k.asin not in busy]
        before = len(planner.planned)
        planner.take("refresh", cands, None)
        for b in planner.planned[before:]:
            busy.update(b.asins)

    def dispatch(self, batches: list[Batch]) -> int:
        sent = 0
        for b in batches:
            try:
                self.send(b)
                sent += 1
            except DispatchError as exc:
                log.error("could not send batch %s (it is recorded and will be sent again): %s",
                          b.id, exc)
        return sent


def _count(report: IngestReport, o: records.Outcome) -> None:
    c = report.counts
    c.added += o.added
    c.updated += o.updated
    c.removed += o.removed
    c.rejected += o.rejected
    c.tokens_spent += o.tokens_spent
    report.refreshed += o.refreshed
    report.checked_stats += o.checked_stats
    report.checked_offers += o.checked_offers
    report.reasons.update(o.reasons)
