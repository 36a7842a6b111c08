"""TokenManager: the budget every Keepa call spends through.

``acquire`` asks the store for a lease.  The store answers from its projection
of Keepa; the manager turns that answer into one of four outcomes:

* **grant**: a lease, settled later with the response's status;
* **short wait** (within ``max_wait``): sleep until the projection allows it, and ask again;
  when only the live leases stand in the way (the balance without them would do), ask
  again every ``LEASE_POLL_S`` instead: their settles may free their reservations long
  before a refill (a status read while they were in flight counts their cost twice);
* **unknown state**: ask Keepa (``/token``, free), never throttled, then decide;
* **long wait**: verify with Keepa unless someone asked it seconds ago, then raise
  :class:`TokenRechargeError` carrying ``retry_after``.  The caller releases its
  lock and reschedules itself; nobody sleeps holding a worker, nothing polls.

**One round trip per call.** With ``defer_settle_s`` > 0, ``settle`` keeps the
settle back for at most that long (the manager's clock) so that the next
``acquire`` carries it: the store's combined step settles, then decides on the
state the settle left, in one atomic step.  While a settle is deferred its lease
stays counted, which is conservative; a deferral never outlives half the lease's
TTL, so the lease cannot expire uncounted.  A settle no call picks up is sent
alone: by a timer when the worker is idle, and by :meth:`flush` (before a
snapshot, a sync or an observe, on :meth:`close`, at exit).
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import socket
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
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
#: How long a production manager (``open_budget``) may keep a settle back for the next acquire.
DEFER_SETTLE_S = 1.0
#: Grants remembered for deferral (a lease never settled is forgotten beyond this).
_MAX_GRANTS = 4096
#: How often a call held back only by other calls' live leases asks again (seconds).
LEASE_POLL_S = 0.5


@dataclass(frozen=True, slots=True)
class _Deferred:
    lease: Lease
    status: TokenStatus | None  # as the budget plans on it (effective)
    due_ms: int  # the manager's clock: sent alone by then at the latest
    since: float  # time.monotonic() when deferred (the idle timer's clock)

    def args(self) -> tuple[str, int, TokenStatus | None]:
        return self.lease.id, self.lease.cost * MT, self.status


_MANAGERS: weakref.WeakSet[TokenManager] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for manager in list(_MANAGERS):
        manager.flush()


def _forget_in_child() -> None:
    """A forked child does not own its parent's deferred settles: the parent sends them."""
    for manager in list(_MANAGERS):
        manager._lock = threading.Lock()
        manager._deferred, manager._granted, manager._timer = [], {}, None


os.register_at_fork(after_in_child=_forget_in_child)


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
        defer_settle_s: float = 0.0,
    ) -> None:
        self.store = store
        self.policy = policy or Policy()
        self._sync_fn = sync
        self.clock = clock
        self.max_wait_s = max_wait_s
        self.syncs = 0  # /token calls this manager made
        #: how long a settle may wait for the next acquire to carry it (0: sent at once)
        self.defer_settle_ms = max(0, int(defer_settle_s * 1000))
        self._lock = threading.Lock()
        self._granted: dict[str, int] = {}  # lease id -> the manager's clock at the grant
        self._deferred: list[_Deferred] = []
        self._timer: threading.Timer | None = None
        if self.defer_settle_ms:
            _MANAGERS.add(self)

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
        carried = self._take_deferred()
        while True:
            if carried is not None:
                d = self._carry(carried, lease_id, cost)
                carried = None
            else:
                d = self._store(lambda: self.store.acquire(lease_id, cost * MT, self.policy))
            if d.kind == "grant":
                assert d.lease_expires_ms is not None
                if self.defer_settle_ms:
                    self._remember_grant(lease_id)
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
            nap = self._nap_ms(d)
            if nap is not None and now + nap <= deadline:
                self.clock.sleep(max(nap, 1) / 1000)
                continue
            if not verified and not self._fresh(d):
                log.info("about to wait long (%s): checking with Keepa first", d.reason)
                self._sync()
                verified = True
                continue
            raise self._recharge_error(d)

    @staticmethod
    def _nap_ms(d: Decision) -> int | None:
        """How long to sleep before asking again: until the store can grant (None: it never
        will on this anchor), or at most ``LEASE_POLL_S`` when only live leases hold the call
        back (the projected balance alone would grant it)."""
        if d.projected is not None and d.available is not None and d.needed is not None \
                and d.available < d.needed <= d.projected:
            poll = int(LEASE_POLL_S * 1000)
            return poll if d.wait_ms is None else min(poll, d.wait_ms)
        return d.wait_ms

    def settle(self, lease: Lease, status: TokenStatus | None) -> None:
        if lease.cost == 0:
            if status is not None:
                self.observe(status)
            return
        settled = None if status is None else effective(status)
        if not self._defer(lease, settled):
            self._store(lambda: self.store.settle(lease.id, lease.cost * MT, settled, self.policy))

    def observe(self, status: TokenStatus) -> None:
        self.flush()
        status = effective(status)
        self._store(lambda: self.store.observe(status, self.policy))

    # -- deferred settles -------------------------------------------------------

    def flush(self) -> None:
        """Send every deferred settle now, alone (failures are logged: the leases expire)."""
        if not self._deferred and self._timer is None:
            return
        with self._lock:
            pending, self._deferred = self._deferred, []
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        for p in pending:
            self._settle_alone(p)

    def _settle_alone(self, p: _Deferred) -> None:
        try:
            self._store(lambda: self.store.settle(*p.args(), self.policy))
        except BudgetError as exc:
            log.warning("could not settle token lease %s: %s", p.lease.id, exc)

    def close(self) -> None:
        """Flush the deferred settles and close the store."""
        self.flush()
        _MANAGERS.discard(self)
        self.store.close()

    def _remember_grant(self, lease_id: str) -> None:
        with self._lock:
            if len(self._granted) >= _MAX_GRANTS:
                self._granted.clear()
            self._granted[lease_id] = self.clock.now_ms()

    def _defer(self, lease: Lease, status: TokenStatus | None) -> bool:
        """Keep ``lease``'s settle for the next acquire; False: send it now."""
        if not self.defer_settle_ms:
            return False
        now = self.clock.now_ms()
        with self._lock:
            granted = self._granted.pop(lease.id, None)
            if granted is None:
                return False
            # never past half the lease's TTL: until settled the lease must stay counted
            due = min(now + self.defer_settle_ms, granted + self.policy.lease_ttl_ms // 2)
            if due <= now:
                return False
            self._deferred.append(_Deferred(lease, status, due, time.monotonic()))
            if self._timer is None:
                self._arm((due - now) / 1000)
        return True

    def _arm(self, delay_s: float) -> None:
        self._timer = threading.Timer(max(delay_s, 0.001), self._flush_idle)
        self._timer.daemon = True
        self._timer.start()

    def _flush_idle(self) -> None:
        """The timer: send alone what is due, by the manager's clock or by real time."""
        now, mono = self.clock.now_ms(), time.monotonic()
        limit_s = self.defer_settle_ms / 1000
        with self._lock:
            self._timer = None
            due = [p for p in self._deferred if p.due_ms <= now or mono - p.since >= limit_s]
            self._deferred = [p for p in self._deferred if p not in due]
            if self._deferred:
                self._arm(min(min(p.due_ms - now for p in self._deferred) / 1000,
                              min(limit_s - (mono - p.since) for p in self._deferred)))
        for p in due:
            self._settle_alone(p)

    def _take_deferred(self) -> _Deferred | None:
        """The oldest deferred settle, for this acquire to carry; overdue ones are sent alone."""
        if not self._deferred:  # read without the lock: a miss only costs a round trip
            return None
        now = self.clock.now_ms()
        with self._lock:
            if not self._deferred:
                return None
            overdue = any(p.due_ms <= now for p in self._deferred[1:])
            carried = self._deferred.pop(0)
        if overdue:
            self.flush()
        return carried

    def _carry(self, carried: _Deferred, lease_id: str, cost: int) -> Decision:
        """One step: settle the carried lease, then decide on ``lease_id``."""
        try:
            return self._store(lambda: self.store.settle_acquire(
                carried.args(), lease_id, cost * MT, self.policy))
        except BudgetError as exc:
            log.warning("could not settle token lease %s: %s", carried.lease.id, exc)
            raise

    # -- syncing with Keepa ---------------------------------------------------

    def sync_tokens(self, *, force: bool = False) -> TokenStatus | None:
        """A routine sync: at most one per interval for the whole cluster, unless forced.

        Returns the status, or None when another worker synced recently.
        """
        self.flush()
        if not force and not self._store(lambda: self.store.claim_sync(self.policy)):
            return None
        return self._sync()

    def _sync(self) -> TokenStatus:
        if self._sync_fn is None:
            raise BudgetError("the token budget has no way to ask Keepa (it was built without "
                              "a sync call: a read-only budget)")
        self.flush()
        status = self._sync_fn()
        self.syncs += 1
        planned = effective(status)
        self._store(lambda: self.store.observe(planned, self.policy, authoritative=True))
        return status

    # -- views ----------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        self.flush()
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
