"""Batch planning: how many ASINs the next paid call may carry.

A batch is sized from the budget's projection (``TokenManager.snapshot()``):
what the budget would grant right now without waiting (``budget.core.spendable``:
the admission rule ``acquire`` decides by), never more than the bucket cap
(60 × refill rate: docs/failure-classes.md, FC-8), never more ASINs than Keepa takes in one
call (100; 20 with offers, per Keepa's Java client).  When even one ASIN is
not affordable, the batch is one ASIN and the budget decides: wait a little,
or end the run with ``TokenRechargeError`` and the time to come back.
"""

from __future__ import annotations

from dataclasses import dataclass

from keepa_deals.budget.core import Policy, Snapshot, spendable
from keepa_deals.tokens.costs import estimate_product_cost

#: Keepa takes at most 100 ASINs per /product call...
MAX_STATS_BATCH = 100
#: ...and Keepa's Java client says at most 20 when offers are requested.
MAX_OFFERS_BATCH = 20


@dataclass(frozen=True, slots=True)
class Affordable:
    """What the budget can give right now, in tokens."""

    #: Tokens a call may cost now without waiting (0 when nothing is grantable).
    spendable: int
    #: The bucket cap (None: unknown).
    cap: int | None

    @classmethod
    def from_snapshot(cls, snap: Snapshot, policy: Policy) -> Affordable:
        """The budget's own admission rule, asked of its snapshot."""
        return cls(spendable(snap, policy), snap.cap)


def unit_cost(offers: int | None) -> int:
    """The estimated cost of one product in a call: 1, or the offer pages' cost."""
    return estimate_product_cost(1, offers=offers)


def call_limit(offers: int | None) -> int:
    """At most this many ASINs in one /product call."""
    return MAX_OFFERS_BATCH if offers else MAX_STATS_BATCH


def batch_size(pending: int, *, offers: int | None, affordable: Affordable) -> int:
    """ASINs for the next call (0 when nothing is pending; at least 1 otherwise)."""
    if pending <= 0:
        return 0
    per = unit_cost(offers)
    n = min(pending, call_limit(offers), affordable.spendable // per)
    if affordable.cap:
        n = min(n, affordable.cap // per)
    return max(1, n)
