"""How much one tick may plan, and how it cuts the work into product batches.

**The fair-share rule.**  All queries of a deployment spend one Keepa key.
Each query's tick may have at most its share of what the budget can give
over one ingest interval planned and not yet finished::

    allowance = (spendable now + refill rate × interval) / number of queries
    plan now  ≤ allowance − estimated cost of this query's open batches

*Spendable now* is the budget's projection (the balance less the live
leases, down to the deficit floor, never above the bucket cap; 0 while the
budget waits in recharge mode), the same figure the embedded run sizes its
batches from (``ingest/plan.py``).  Every query's batch tasks go to one
queue, and since no query has more than its share in it, first-in first-out
gives each query its share of the workers and of the tokens.  A query with
nothing to do leaves its share in the balance, which grows every query's
allowance at the next ticks: no token is held back for good.

Within a tick the order is the embedded run's: stored deals close to the
janitor's cutoff, candidates waiting for offers (their product check is paid
for), candidates waiting for their product check, then the routine refresh.
A batch never holds more ASINs than Keepa takes in one call (100; 20 with
offers), than ``KEEPA_DEALS_CELERY_MAX_BATCH``, or than the bucket holds.
"""

from __future__ import annotations

from collections.abc import Sequence

from keepa_deals.budget.core import Snapshot
from keepa_deals.fanout.batches import Batch, Kind, new_batch_id
from keepa_deals.ingest.ledger import Candidate
from keepa_deals.ingest.plan import (
    MAX_OFFERS_BATCH,
    MAX_STATS_BATCH,
    Affordable,
    batch_size,
    unit_cost,
)
from keepa_deals.settings import Settings


def stats_batch_limit(settings: Settings) -> int:
    return min(MAX_STATS_BATCH, settings.celery_max_batch)


def offers_batch_limit(settings: Settings) -> int:
    return min(MAX_OFFERS_BATCH, settings.celery_max_batch)


def tick_allowance(spendable: int, snap: Snapshot, *, interval_s: float, queries: int) -> int:
    """Tokens one query may have planned and unfinished (the fair-share rule above)."""
    refill = int((snap.rate or 0) * interval_s / 60) if snap.known else 0
    return max(0, spendable + refill) // max(1, queries)


class Planner:
    """Cuts work into batches until the tick's tokens run out."""

    def __init__(self, settings: Settings, query: str, *, tokens: int, cap: int | None,
                 now_ms: int) -> None:
        self.settings = settings
        self.query = query
        self.left = tokens
        self.cap = cap
        self.now_ms = now_ms
        self.planned: list[Batch] = []

    def take(self, kind: Kind, candidates: Sequence[Candidate], offers: int | None) -> int:
        """Plan batches of ``candidates`` while tokens last; returns how many were planned."""
        per = unit_cost(offers)
        limit = offers_batch_limit(self.settings) if offers else stats_batch_limit(self.settings)
        i = 0
        while i < len(candidates) and self.left >= per:
            n = batch_size(len(candidates) - i, offers=offers,
                           affordable=Affordable(self.left, self.cap))
            n = min(n, limit)
            part = list(candidates[i:i + n])
            self.planned.append(Batch(new_batch_id(), self.query, kind, part, offers, per * n,
                                      self.now_ms, self.now_ms))
            self.left -= per * n
            i += n
        return i

    @property
    def exhausted(self) -> bool:
        return self.left < unit_cost(None)
