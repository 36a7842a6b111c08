"""The store interface: each store makes the pure core's steps atomic.

A store persists the flat state of :mod:`keepa_deals.budget.core` (scalar
fields plus leases) and reads the time itself, so that workers with skewed
clocks agree.  Every step reads, decides and writes in one atomic unit: a Lua
script in Redis, an ``IMMEDIATE`` transaction in SQLite, a lock in memory.
"""

from __future__ import annotations

from typing import Protocol

from keepa_deals.budget.core import Decision, Policy, Snapshot
from keepa_deals.tokens.status import TokenStatus


class BudgetStore(Protocol):
    #: a short name for status output ("redis", "sqlite", "memory")
    kind: str

    def now_ms(self) -> int:
        """The store's clock (Redis TIME; the host clock for SQLite)."""

    def acquire(self, lease_id: str, cost_mt: int, policy: Policy) -> Decision: ...

    def settle(self, lease_id: str, cost_mt: int, status: TokenStatus | None, policy: Policy) -> None:
        """Release the lease; without a status, ``cost_mt`` is taken from the anchor."""

    def settle_acquire(self, settled: tuple[str, int, TokenStatus | None], lease_id: str,
                       cost_mt: int, policy: Policy) -> Decision:
        """``settle(*settled)`` then ``acquire(lease_id, cost_mt)``, in one atomic step."""

    def observe(self, status: TokenStatus, policy: Policy, *, authoritative: bool = False) -> None: ...

    def claim_sync(self, policy: Policy) -> bool:
        """True if this caller may make a routine sync now (one per interval, cluster-wide)."""

    def snapshot(self, policy: Policy) -> Snapshot: ...

    def raw(self) -> tuple[dict[str, str], dict[str, str]]:
        """The stored fields and leases, as strings (for doctor and the chaos tests)."""

    def write_raw(self, fields: dict[str, str | None], leases: dict[str, str | None]) -> None:
        """Overwrite stored values (None deletes): repairs, and the chaos tests."""

    def raw_marker(self) -> str | None:
        """The stored marker (``budget.state``), kept apart from the fields and leases."""

    def write_marker(self, value: str | None) -> None:
        """Overwrite the marker (None deletes it): the chaos and state-loss tests."""

    def clear(self) -> None:
        """Forget everything, the marker too; the next acquire asks Keepa (a first start)."""

    def close(self) -> None: ...


class MappingStoreBase:
    """Shared logic for stores that load the whole state, run the core and write back."""

    kind = "mapping"
