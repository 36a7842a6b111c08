"""The interface the Keepa client spends through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from keepa_deals.tokens.status import TokenStatus


@dataclass(frozen=True, slots=True)
class Lease:
    """A reservation of ``cost`` tokens, released by settling it or by expiring."""

    id: str
    cost: int
    expires_ms: int


class TokenBudget(Protocol):
    def acquire(self, cost: int, *, max_wait_s: float | None = None) -> Lease:
        """Reserve ``cost`` tokens, waiting at most ``max_wait_s``.

        Raises TokenRechargeError (with retry_after) when the verified wait is
        longer, CostExceedsCapError when the cost can never be granted, and
        BudgetStoreUnavailable when the shared store is down.
        """

    def settle(self, lease: Lease, status: TokenStatus | None) -> None:
        """Release ``lease`` and reconcile with the status of its response.

        ``None`` means the response carried no token information; the lease's
        cost is then assumed spent.
        """

    def observe(self, status: TokenStatus) -> None:
        """Reconcile with a status not tied to a lease (a /token sync, a 429)."""
