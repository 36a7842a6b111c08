"""An in-memory store: one process, for the pure-core tests and the sandbox demo."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from keepa_deals.budget import core
from keepa_deals.budget.core import Changes, Decision, Policy, Snapshot, State
from keepa_deals.budget.changes import apply_changes
from keepa_deals.budget.store import MappingStoreBase
from keepa_deals.clock import SYSTEM_CLOCK, Clock
from keepa_deals.tokens.status import TokenStatus

T = TypeVar("T")


class MemoryStore(MappingStoreBase):
    kind = "memory"

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self.fields: dict[str, str] = {}
        self.leases: dict[str, str] = {}
        self.marker: str | None = None
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def _txn(self, policy: Policy, step: Callable[[State, int], tuple[T, Changes]]) -> T:
        with self._lock:
            now = self.clock.now_ms()
            st = core.parse(self.fields, self.leases, now, policy, self.marker)
            result, ch = step(st, now)
            self._write(ch)
            return result

    def _write(self, ch: Changes) -> None:
        apply_changes(self.fields, self.leases, ch)
        if ch.marker is not None:
            self.marker = ch.marker

    def acquire(self, lease_id: str, cost_mt: int, policy: Policy) -> Decision:
        return self._txn(policy, lambda st, now: core.acquire(st, lease_id, cost_mt, now, policy))

    def settle(self, lease_id: str, cost_mt: int, status: TokenStatus | None, policy: Policy) -> None:
        self._txn(policy, lambda st, now: (None, core.settle(st, lease_id, cost_mt, status, now)))

    def settle_acquire(self, settled: tuple[str, int, TokenStatus | None], lease_id: str,
                       cost_mt: int, policy: Policy) -> Decision:
        with self._lock:
            now = self.clock.now_ms()
            d, ch = core.settle_acquire(self.fields, self.leases, settled, lease_id, cost_mt,
                                        now, policy, self.marker)
            self._write(ch)
            return d

    def observe(self, status: TokenStatus, policy: Policy, *, authoritative: bool = False) -> None:
        self._txn(policy, lambda st, now: (None, core.observe(st, status, now, authoritative=authoritative)))

    def claim_sync(self, policy: Policy) -> bool:
        return self._txn(policy, lambda st, now: core.claim_sync(st, now, policy))

    def snapshot(self, policy: Policy) -> Snapshot:
        with self._lock:
            now = self.clock.now_ms()
            return core.snapshot(core.parse(self.fields, self.leases, now, policy, self.marker),
                                 now)

    def raw(self) -> tuple[dict[str, str], dict[str, str]]:
        with self._lock:
            return dict(self.fields), dict(self.leases)

    def write_raw(self, fields: dict[str, str | None], leases: dict[str, str | None]) -> None:
        with self._lock:
            for target, updates in ((self.fields, fields), (self.leases, leases)):
                for k, v in updates.items():
                    if v is None:
                        target.pop(k, None)
                    else:
                        target[k] = v

    def raw_marker(self) -> str | None:
        with self._lock:
            return self.marker

    def write_marker(self, value: str | None) -> None:
        with self._lock:
            self.marker = value

    def clear(self) -> None:
        with self._lock:
            self.fields.clear()
            self.leases.clear()
            self.marker = None

    def close(self) -> None:
        pass
