"""TokenManager: the budget every Keepa call spends through.

``acquire`` asks the store for a lease.  The store answers from its projection
of Keepa; the manager turns that answer into one of four outcomes:

* **grant**: a lease, settled later with the response's status;
* **short wait** (within ``max_wait``): sleep until the projection allows it, and ask again;
* **unknown state**: ask Keepa (``/token``, free), never throttled, then decide;
* **long wait**: verify with Keepa unless someone asked it seconds ago, then raise
  :class:`TokenRechargeError` carrying ``retry_after``.  The caller releases its
  lock and reschedules itself; nobody sleeps holding a worker, nothing polls.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from keepa_deals.budget.core import MT, Decision, Policy, Snapshot
from keepa_deals.budget.store import BudgetStore
from keepa_deals.clock import SYSTEM_CLOCK, Clock
from keepa_deals.tokens.economics import net_refill_rate
from keepa_deals.tokens.errors import (
    BudgetError,
    BudgetStoreUnavailable,
    CostExceedsCapError,
    TokenRechargeError,
)
from keepa_deals.tokens.protocol import Lease
from keepa_deals.tokens.status import TokenStatus

log = logging.getLogger("keepa_deals.budget")
T = TypeVar("T")

_HOST = socket.gethostname().split(".")[0][:24] or "host"

#: How often a store call is tried before BudgetStoreUnavailable reaches the caller.
STORE_ATTEMPTS = 3


def effective(status: TokenStatus) -> TokenStatus:
    """The status the budget plans on: the refill rate net of tracking's token flow."""
    if not status.token_flow_reduction:
        return status
    rate = net_refill_rate(status.refill_rate, status.token_flow_reduction)
    return replace(status, refill_rate=rate, token_flow_reduction=0.0)


def new_lease_id() -> str:
    return f"{_HOST}-{os.getpid()}-{secrets.token_hex(4)}"


class TokenManager:
    """The shared token budget (implements :class:`~keepa_deals.tokens.TokenBudget`).

    Built once with what it needs: ``sync`` is the raw ``/token`` call (cost 0;
    None makes a read-only budget, whose steps that must ask Keepa fail), and
    ``clock`` the one its waits run on (a stoppable clock ends them on a stop
    request).  The store reads its own time.
    """

    def __init__(
        self,
        store: BudgetStore,
        *,
        policy: Policy | None = None,
        sync: Callable[[], TokenStatus] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        max_wait_s: float = 60.0,
    ) -> None:
        self.store = store
        self.policy = policy or Policy()
        self._sync_fn = sync
        self.clock = clock
        self.max_wait_s = max_wait_s
        self.syncs = 0  # /token calls this manager made

    # -- the TokenBudget protocol -------------------------------------------

    def acquire(self, cost: int, *, max_wait_s: float | None = None) -> Lease:
        if cost < 0:
            raise ValueError("cost must be >= 0")
        if cost == 0:
            return Lease(id="", cost=0, expires_ms=0)
        max_wait_ms = int(1000 * (self.max_wait_s if max_wait_s is None else max_wait_s))
        deadline = self.clock.now_ms() + max_wait_ms
        lease_id = new_lease_id()
        verified = False
        while True:
            d = self._store(lambda: self.store.acquire(lease_id, cost * MT, self.policy))
            if d.kind == "grant":
                assert d.lease_expires_ms is not None
                return Lease(lease_id, cost, d.lease_expires_ms)
            if d.kind == "too_big":
                raise CostExceedsCapError(cost, (d.cap or 0) // MT)
            if d.kind == "unknown":
                if verified:
                    raise BudgetError(f"token state still unknown after asking Keepa: {d.reason}")
                log.info("token state unknown (%s): asking Keepa", d.reason)
                self._sync()
                verified = True
                continue
            # d.kind == "wait"
            now = self.clock.now_ms()
            if d.wait_ms is not None and now + d.wait_ms <= deadline:
                self.clock.sleep(max(d.wait_ms, 1) / 1000)
                continue
            if not verified and not self._fresh(d):
                log.info("about to wait long (%s): checking with Keepa first", d.reason)
                self._sync()
                verified = True
                continue
            raise self._recharge_error(d)

    def settle(self, lease: Lease, status: TokenStatus | None) -> None:
        if lease.cost == 0:
            if status is not None:
                self.observe(status)
            return
        settled = None if status is None else effective(status)
        self._store(lambda: self.store.settle(lease.id, lease.cost * MT, settled, self.policy))

    def observe(self, status: TokenStatus) -> None:
        status = effective(status)
        self._store(lambda: self.store.observe(status, self.policy))

    # -- syncing with Keepa ---------------------------------------------------

    def sync_tokens(self, *, force: bool = False) -> TokenStatus | None:
        """A routine sync: at most one per interval for the whole cluster, unless forced.

        Returns the status, or None when another worker synced recently.
        """
        if not force and not self._store(lambda: self.store.claim_sync(self.policy)):
            return None
        return self._sync()

    def _sync(self) -> TokenStatus:
        if self._sync_fn is None:
            raise BudgetError("the token budget has no way to ask Keepa (it was built without "
                              "a sync call: a read-only budget)")
        status = self._sync_fn()
        self.syncs += 1
        planned = effective(status)
        self._store(lambda: self.store.observe(planned, self.policy, authoritative=True))
        return status

    # -- views ----------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        return self._store(lambda: self.store.snapshot(self.policy))

    # -- helpers --------------------------------------------------------------

    def _fresh(self, d: Decision) -> bool:
        """Was Keepa asked (by any worker) so recently that asking again tells nothing new?"""
        if d.last_sync_ms is None or d.now_ms is None:
            return False
        # A sync dated ahead of the store's clock is a damaged value, not a fresh check.
        return 0 <= d.now_ms - d.last_sync_ms <= self.policy.verify_window_ms

    def _recharge_error(self, d: Decision) -> TokenRechargeError:
        wait_ms = d.wait_ms if d.wait_ms is not None else self.policy.zero_rate_retry_ms
        return TokenRechargeError(
            wait_ms / 1000,
            d.reason,
            projected=None if d.available is None else d.available // MT,
            needed=None if d.needed is None else -(-d.needed // MT),
        )

    def _store(self, op: Callable[[], T]) -> T:
        delay = 0.1
        for attempt in range(STORE_ATTEMPTS):
            try:
                return op()
            except BudgetStoreUnavailable:
                if attempt == STORE_ATTEMPTS - 1:
                    raise
                log.warning("token budget store unavailable; retrying in %.1f s", delay)
                time.sleep(delay)
                delay *= 4
        raise AssertionError("unreachable")  # pragma: no cover
