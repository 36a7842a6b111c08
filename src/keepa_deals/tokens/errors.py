"""Errors a TokenBudget raises (the shared token budget in ``budget/`` implements it).

::

    BudgetError
    ├── TokenRechargeError        the verified wait exceeds max_wait; .retry_after (s)
    ├── CostExceedsCapError       one call costs more than the bucket can ever hold
    └── BudgetStoreUnavailable    Redis (or the SQLite file) cannot be reached
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from keepa_deals.errors import KeepaDealsError


class BudgetError(KeepaDealsError):
    """Base class of token-budget errors."""


class TokenRechargeError(BudgetError):
    """Not enough tokens within the caller's maximum wait.

    The wait has been verified against Keepa (a fresh /token status) before
    this is raised.  The caller releases its lock and comes back after
    ``retry_after`` seconds; it never sleeps holding a worker.
    """

    def __init__(self, retry_after: float, reason: str, *, projected: int | None = None,
                 needed: int | None = None) -> None:
        self.retry_after = max(0.0, float(retry_after))
        self.reason = reason
        self.projected = projected
        self.needed = needed
        super().__init__(f"waiting for tokens: {reason}; retry in {self.retry_after:.0f} s")

    @property
    def retry_at(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.retry_after)


class CostExceedsCapError(BudgetError):
    """A single call costs more than the bucket holds (60 × refill rate): split it."""

    def __init__(self, cost: int, cap: int) -> None:
        self.cost = cost
        self.cap = cap
        super().__init__(
            f"a call costing {cost} tokens can never be granted: the bucket holds at most "
            f"{cap} tokens (60 × refill rate); split the request"
        )


class BudgetStoreUnavailable(BudgetError):
    """The budget's store cannot be reached; nothing falls back to a local budget."""
