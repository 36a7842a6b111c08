"""A memory store that counts its steps (the round trips a Redis store would make)."""

from __future__ import annotations

from keepa_deals.budget.core import Decision, Policy
from keepa_deals.budget.memory import MemoryStore
from keepa_deals.clock import SYSTEM_CLOCK, Clock
from keepa_deals.tokens.status import TokenStatus


class CountingStore(MemoryStore):
    """A memory store that records the name of every step it runs."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(clock)
        self.steps: list[str] = []

    def acquire(self, lease_id: str, cost_mt: int, policy: Policy) -> Decision:
        self.steps.append("acquire")
        return super().acquire(lease_id, cost_mt, policy)

    def settle(self, lease_id: str, cost_mt: int, status: TokenStatus | None,
               policy: Policy) -> None:
        self.steps.append("settle")
        super().settle(lease_id, cost_mt, status, policy)

    def settle_acquire(self, settled: tuple[str, int, TokenStatus | None], lease_id: str,
                       cost_mt: int, policy: Policy) -> Decision:
        self.steps.append("settle_acquire")
        return super().settle_acquire(settled, lease_id, cost_mt, policy)

    def observe(self, status: TokenStatus, policy: Policy, *, authoritative: bool = False) -> None:
        self.steps.append("observe")
        super().observe(status, policy, authoritative=authoritative)
