"""A deferred settle rides on the next acquire: one store step per Keepa call.

The manager keeps a settle back for at most ``defer_settle_s`` (and never past
half the lease's TTL); while it waits its lease stays counted.  The next
acquire carries it in the store's combined step; a settle no call picks up is
sent alone: by the idle timer, before a snapshot, a sync or an observe, and on
close.
"""

from __future__ import annotations

import time

from keepa_deals.budget.core import EPOCH_LEASE, Policy
from keepa_deals.budget.manager import TokenManager
from keepa_deals.clock import FakeClock
from keepa_deals.tokens.protocol import Lease
from tests.budget._counting import CountingStore
from tests.budget._keepa import KeepaAccount


def _setup(defer_s: float = 60.0, policy: Policy | None = None,
           ) -> tuple[FakeClock, CountingStore, KeepaAccount, TokenManager]:
    clock = FakeClock()
    store = CountingStore(clock)
    keepa = KeepaAccount(clock, tokens=200, rate=5)
    manager = TokenManager(store, policy=policy or Policy(), sync=keepa.token, clock=clock,
                           defer_settle_s=defer_s)
    return clock, store, keepa, manager


def _call(manager: TokenManager, keepa: KeepaAccount, clock: FakeClock, cost: int) -> Lease:
    lease = manager.acquire(cost)
    clock.advance(400)  # the HTTP call
    manager.settle(lease, keepa.call(cost))
    return lease


def test_steady_state_is_one_store_step_per_call() -> None:
    clock, store, keepa, manager = _setup()
    manager.sync_tokens(force=True)
    store.steps.clear()
    for _ in range(10):
        _call(manager, keepa, clock, 5)
    assert store.steps == ["acquire"] + ["settle_acquire"] * 9, "each settle rode the next call"
    manager.close()
    assert store.steps[-1] == "settle" and store.leases.keys() <= {EPOCH_LEASE}, (
        "the last one is sent on close")
    assert manager.snapshot().tokens == keepa.tokens


def test_a_deferred_settle_keeps_its_lease_counted_until_sent() -> None:
    clock, store, keepa, manager = _setup()
    manager.sync_tokens(force=True)
    lease = _call(manager, keepa, clock, 20)
    assert lease.id in store.leases, "deferred: the lease still reserves its 20 tokens"
    snap = manager.snapshot()  # a decision that reads the state sends it first
    assert lease.id not in store.leases
    assert (snap.tokens, snap.leases) == (keepa.tokens, ())


def test_the_settle_is_sent_alone_once_half_the_lease_ttl_has_passed() -> None:
    clock, store, keepa, manager = _setup(policy=Policy(lease_ttl_ms=10_000))
    manager.sync_tokens(force=True)
    lease = manager.acquire(5)
    clock.advance(5_000)  # a slow call: the lease has half its life left
    manager.settle(lease, keepa.call(5))
    assert store.steps[-1] == "settle" and lease.id not in store.leases


def test_a_lease_this_manager_did_not_grant_is_settled_at_once() -> None:
    clock, store, keepa, manager = _setup()
    manager.sync_tokens(force=True)
    other = TokenManager(store, sync=keepa.token, clock=clock)
    lease = other.acquire(5)
    manager.settle(lease, keepa.call(5))
    assert store.steps[-1] == "settle" and store.leases.keys() <= {EPOCH_LEASE}


def test_an_observe_and_a_sync_send_the_deferred_settle_first() -> None:
    clock, store, keepa, manager = _setup()
    manager.sync_tokens(force=True)
    _call(manager, keepa, clock, 5)
    manager.observe(keepa.status())
    assert store.steps[-2:] == ["settle", "observe"]
    _call(manager, keepa, clock, 5)
    manager.sync_tokens(force=True)
    assert store.steps[-2:] == ["settle", "observe"]


def test_an_idle_worker_sends_its_settle_within_the_bound() -> None:
    clock, store, keepa, manager = _setup(defer_s=0.05)
    manager.sync_tokens(force=True)
    lease = _call(manager, keepa, clock, 5)  # the fake clock stands still: real time bounds it
    deadline = time.monotonic() + 10
    while lease.id in store.leases and time.monotonic() < deadline:
        time.sleep(0.01)
    assert lease.id not in store.leases and store.steps[-1] == "settle"


def test_without_deferral_every_settle_is_sent_at_once() -> None:
    clock, store, keepa, manager = _setup(defer_s=0)
    manager.sync_tokens(force=True)
    store.steps.clear()
    for _ in range(3):
        _call(manager, keepa, clock, 5)
    assert store.steps == ["acquire", "settle"] * 3


def test_a_forked_child_does_not_send_its_parents_deferred_settle() -> None:
    import os

    clock, store, keepa, manager = _setup()
    manager.sync_tokens(force=True)
    _call(manager, keepa, clock, 5)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, str(len(manager._deferred)).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 16) == b"0", "the child starts with nothing deferred"
    os.close(read)
    os.close(write)
    assert len(manager._deferred) == 1, "the parent still sends its own"
    manager.close()
    assert store.leases.keys() <= {EPOCH_LEASE}
