"""TokenManager: short waits sleep, long waits are verified once and handed back.

Keepa is a sandbox account on the fake clock; the manager's sleeps advance it.
Invariants (docs/failure-classes.md, FC-1, FC-2, FC-5): no give-up without a fresh status from Keepa; a
sync that guards a give-up is never throttled; routine syncs are throttled once
for the whole cluster; nobody sleeps longer than ``max_wait``.
"""

from __future__ import annotations

from typing import Any

import pytest

from keepa_deals.budget.core import MT, Policy
from keepa_deals.budget.manager import STORE_ATTEMPTS, TokenManager
from keepa_deals.budget.memory import MemoryStore
from keepa_deals.budget.store import BudgetStore
from keepa_deals.clock import FakeClock
from keepa_deals.tokens import economics
from keepa_deals.tokens.errors import BudgetError, BudgetStoreUnavailable, TokenRechargeError
from tests.budget._keepa import KeepaAccount, spend
from tests.budget.conftest import StoreOpener


def _manager(store: BudgetStore, keepa: KeepaAccount, clock: FakeClock,
             policy: Policy | None = None, max_wait_s: float = 60) -> TokenManager:
    return TokenManager(store, policy=policy or Policy(), sync=keepa.token, clock=clock,
                        max_wait_s=max_wait_s)


def test_a_short_wait_sleeps_on_the_clock_then_grants(store: BudgetStore, clock: FakeClock) -> None:
    keepa = KeepaAccount(clock, tokens=0, rate=5, phase_ms=25_000)
    manager = _manager(store, keepa, clock, Policy(burst_minutes=1))  # burst: one refill
    start = clock.now_ms()
    refill_in = keepa.status().refill_in_ms
    lease = manager.acquire(3)
    assert clock.now_ms() - start == refill_in, "slept exactly until Keepa's next refill"
    assert lease.cost == 3
    assert keepa.token_calls == 1, "one sync for the unknown state, none for the short wait"
    assert keepa.call(3).tokens_consumed == 3, "Keepa admits the call it was granted for"


def test_the_wait_never_exceeds_max_wait(store: BudgetStore, clock: FakeClock) -> None:
    keepa = KeepaAccount(clock, tokens=0, rate=5, phase_ms=25_000)
    manager = _manager(store, keepa, clock, Policy(burst_minutes=1), max_wait_s=24.999)
    start = clock.now_ms()
    with pytest.raises(TokenRechargeError) as info:
        manager.acquire(3)
    assert clock.now_ms() == start, "a wait beyond max_wait is handed back, not slept"
    assert info.value.retry_after == 25.0


def test_a_long_wait_is_verified_once_then_raised(store: BudgetStore, clock: FakeClock) -> None:
    keepa = KeepaAccount(clock, tokens=-65, rate=5, phase_ms=7_000)
    manager = _manager(store, keepa, clock)
    manager.sync_tokens(force=True)
    clock.advance(10_000)  # the anchor is 10 s old: too old to give up on
    keepa.set(tokens=-70)  # and Keepa has moved on meanwhile
    calls = keepa.token_calls

    with pytest.raises(TokenRechargeError) as info:
        manager.acquire(5)

    assert keepa.token_calls == calls + 1, "exactly one sync before giving up"
    now = clock.now_ms()
    refill_in = keepa.status().refill_in_ms
    # the burst (one refill of 5) counts from -70: the minimum balance of 1 is what binds
    expected = economics.wait_ms_for(-70 * MT, 5 * MT, now + refill_in, now, 1 * MT)
    assert expected is not None
    exc = info.value
    assert exc.retry_after == expected / 1000
    assert (exc.projected, exc.needed) == (-70, 1)
    assert exc.reason == "balance below the minimum"


def test_a_sync_within_the_verify_window_is_not_repeated(store: BudgetStore,
                                                        clock: FakeClock) -> None:
    keepa = KeepaAccount(clock, tokens=-100, rate=5)
    policy = Policy()
    manager = _manager(store, keepa, clock, policy)
    manager.sync_tokens(force=True)
    clock.advance(policy.verify_window_ms)
    with pytest.raises(TokenRechargeError):
        manager.acquire(5)
    assert keepa.token_calls == 1, "a status this fresh is trusted"
    clock.advance(1)
    with pytest.raises(TokenRechargeError):
        manager.acquire(5)
    assert keepa.token_calls == 2, "one millisecond older is verified"
    with pytest.raises(TokenRechargeError):
        manager.acquire(5)
    assert keepa.token_calls == 2, "and then trusted again"


def test_a_sync_dated_ahead_of_the_clock_is_not_a_fresh_check(store: BudgetStore,
                                                              clock: FakeClock) -> None:
    keepa = KeepaAccount(clock, tokens=-100, rate=5)
    manager = _manager(store, keepa, clock)
    manager.sync_tokens(force=True)
    clock.advance(10_000)
    store.write_raw({"last_sync_ms": str(clock.now_ms() + 3_000)}, {})  # damaged, plausible
    keepa.set(tokens=200)
    assert manager.acquire(5).cost == 5
    assert keepa.token_calls == 2, "the give-up was verified, and Keepa said go"


def test_a_forced_sync_is_never_throttled(store: BudgetStore, clock: FakeClock) -> None:
    keepa = KeepaAccount(clock, tokens=50)
    manager = _manager(store, keepa, clock)
    assert manager.sync_tokens() is not None
    assert manager.sync_tokens() is None, "routine: throttled"
    assert manager.sync_tokens(force=True) is not None
    assert manager.sync_tokens(force=True) is not None
    assert keepa.token_calls == 3


def test_syncs_that_guard_a_decision_ignore_the_throttle(store: BudgetStore,
                                                        clock: FakeClock) -> None:
    keepa = KeepaAccount(clock, tokens=50)
    manager = _manager(store, keepa, clock)
    assert manager.sync_tokens() is not None  # the interval is now claimed
    store.clear()  # the state is lost
    assert manager.acquire(5).cost == 5
    assert keepa.token_calls == 2, "the unknown state was resolved by asking Keepa"
    keepa.set(tokens=-100)
    manager.observe(keepa.status())
    clock.advance(5_000)
    with pytest.raises(TokenRechargeError):
        manager.acquire(5)
    assert keepa.token_calls == 3, "the give-up was verified despite the throttle"


def test_routine_syncs_are_throttled_cluster_wide(open_store: StoreOpener,
                                                  clock: FakeClock) -> None:
    keepa = KeepaAccount(clock, tokens=50)
    m1 = _manager(open_store(), keepa, clock)
    m2 = _manager(open_store(), keepa, clock)
    assert m1.sync_tokens() is not None
    assert m2.sync_tokens() is None
    assert m1.sync_tokens() is None
    clock.advance(Policy().sync_interval_ms)
    assert m2.sync_tokens() is not None
    assert m1.sync_tokens() is None
    assert keepa.token_calls == 2
    assert (m1.syncs, m2.syncs) == (1, 1)


def test_zero_refill_rate(store: BudgetStore, clock: FakeClock) -> None:
    keepa = KeepaAccount(clock, tokens=0, rate=0)
    policy = Policy()
    manager = _manager(store, keepa, clock, policy)
    with pytest.raises(TokenRechargeError) as info:
        manager.acquire(1)
    assert info.value.retry_after == policy.zero_rate_retry_ms / 1000
    assert info.value.reason == "the refill rate is 0"
    assert keepa.token_calls == 1
    keepa.set(tokens=40)  # the balance itself still pays
    clock.advance(policy.zero_rate_retry_ms)
    assert manager.acquire(10).cost == 10


def test_spend_settles_with_keepas_reply(manager: TokenManager, keepa: KeepaAccount) -> None:
    for _ in range(3):
        spend(manager, keepa, 30)
    snap = manager.snapshot()
    assert snap.tokens == keepa.tokens == 110
    assert snap.leases == ()
    assert keepa.token_calls == 1


def test_zero_cost_touches_nothing(manager: TokenManager, keepa: KeepaAccount) -> None:
    lease = manager.acquire(0)
    assert lease.cost == 0
    assert manager.store.raw() == ({}, {})
    manager.settle(lease, keepa.status())  # a free call's status is still news
    assert manager.snapshot().tokens == 200
    assert keepa.token_calls == 0


def test_negative_cost_is_a_bug(manager: TokenManager) -> None:
    with pytest.raises(ValueError):
        manager.acquire(-1)


def test_no_way_to_ask_keepa_is_an_error(store: BudgetStore, clock: FakeClock) -> None:
    manager = TokenManager(store, clock=clock)
    with pytest.raises(BudgetError, match="built without a sync call"):
        manager.acquire(1)


# -- the store going away ------------------------------------------------------------


class FlakyStore:
    """Forwards to a real store, failing the first ``failures`` calls of each kind."""

    def __init__(self, inner: BudgetStore, failures: int) -> None:
        self.inner = inner
        self.failures = failures
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not callable(target):
            return target

        def call(*args: Any, **kw: Any) -> Any:
            n = self.calls[name] = self.calls.get(name, 0) + 1
            if n <= self.failures:
                raise BudgetStoreUnavailable("the store is down")
            return target(*args, **kw)

        return call


def _flaky_manager(clock: FakeClock, failures: int) -> tuple[TokenManager, FlakyStore]:
    flaky = FlakyStore(MemoryStore(clock), failures)
    keepa = KeepaAccount(clock, tokens=50)
    return _manager(flaky, keepa, clock), flaky  # type: ignore[arg-type]


def test_store_unavailable_is_retried(clock: FakeClock) -> None:
    manager, flaky = _flaky_manager(clock, STORE_ATTEMPTS - 1)
    assert manager.acquire(5).cost == 5
    assert flaky.calls["acquire"] == STORE_ATTEMPTS + 1  # unknown, then granted


def test_store_unavailable_is_raised_after_the_retries(clock: FakeClock) -> None:
    manager, flaky = _flaky_manager(clock, STORE_ATTEMPTS)
    with pytest.raises(BudgetStoreUnavailable):
        manager.acquire(5)
    assert flaky.calls["acquire"] == STORE_ATTEMPTS



def test_a_call_held_back_only_by_live_leases_asks_again_soon(
    store: BudgetStore, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A status read while two calls were in flight already counts their cost; until they
    settle their leases count it again.  The third call must not sleep until the next
    refill (up to a minute) for tokens the settles free within moments."""
    keepa = KeepaAccount(clock, tokens=17, rate=5, phase_ms=(clock.now_ms() + 55_000) % 60_000)
    manager = _manager(store, keepa, clock, Policy(burst_minutes=1))
    manager.sync_tokens(force=True)
    first, second = manager.acquire(5), manager.acquire(5)
    keepa.call(5)
    keepa.call(5)  # both charged by Keepa, their replies not read yet
    manager.observe(keepa.status())  # e.g. another worker's /token: 7 tokens, leases live
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 1:  # the two replies arrive while the third call waits
            manager.settle(first, keepa.status())
            manager.settle(second, keepa.status())
        clock.advance(seconds * 1000)

    monkeypatch.setattr(clock, "sleep", sleep)
    start = clock.now_ms()
    third = manager.acquire(5)
    assert third.cost == 5
    assert clock.now_ms() - start <= 1_000, f"asked again within a second, slept {slept}"
    assert keepa.call(5).tokens_left == 2, "and Keepa admits it: 7 - 5"
