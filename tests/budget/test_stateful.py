"""The budget's invariants under random interleavings (hypothesis, pure core).

Workers acquire, get charged by a Keepa account with the sandbox's own
arithmetic, settle in any order, or die mid-lease; the plan's rate changes and
time jumps.  After every step:

* Keepa never answers 429 to a call granted on fresh information;
* the real balance never falls below the floor through such a call;
* whenever the real balance could pay (after what live leases hold), a caller
  is granted within one sync (unless a state loss left leases held: they are
  held, conservatively, until the last of them could have ended).

The stored fields and leases may vanish at any step (the marker kept), as an
evicting Redis would delete them.

"Fresh" means every charge Keepa made is either in the anchor or held by a live
lease, and the anchor knows the current rate: a worker that died after being
charged, or a plan change, leaves the projection optimistic until Keepa's next
status, which no design can see.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from keepa_deals.budget.core import LOST_PREFIX, MT, Policy
from keepa_deals.budget.manager import TokenManager
from keepa_deals.budget.memory import MemoryStore
from keepa_deals.clock import FakeClock
from keepa_deals.sandbox.accounts import DEMO_KEY, AccountBook
from keepa_deals.tokens.errors import CostExceedsCapError, TokenRechargeError
from keepa_deals.tokens.protocol import Lease
from keepa_deals.tokens.status import TokenStatus

HTTP_TIMEOUT_MS = 30_000
POLICY = Policy(floor=-60, min_balance=1, lease_ttl_ms=90_000, burst_minutes=3)


@dataclass
class InFlight:
    lease: Lease
    charged_ms: int
    status: TokenStatus | None


class BudgetMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.book = AccountBook()
        self.account = self.book.create(DEMO_KEY, self.clock.now_ms(), tokens=40,
                                        refill_rate=10, phase_ms=12_345)
        self.store = MemoryStore(self.clock)
        self.manager = TokenManager(self.store, policy=POLICY, sync=self.keepa_token,
                                    clock=self.clock, max_wait_s=0)
        self.inflight: list[InFlight] = []
        self.dead: list[InFlight] = []
        self.rate_changed_ms: int | None = None

    # -- Keepa ------------------------------------------------------------

    def status_now(self, consumed: int = 0) -> TokenStatus:
        now = self.clock.now_ms()
        s = self.account.state(now)
        return TokenStatus(tokens_left=s.tokens, refill_in_ms=s.refill_in_ms,
                           refill_rate=s.refill_rate, timestamp_ms=now, tokens_consumed=consumed)

    def keepa_token(self) -> TokenStatus:
        return self.status_now()

    # -- what we know -----------------------------------------------------

    def anchor_ts(self) -> int:
        fields, _ = self.store.raw()
        try:
            return int(fields["anchor_server_ts_ms"])
        except (KeyError, ValueError):
            return -1

    def fresh(self) -> bool:
        ts = self.anchor_ts()
        now = self.clock.now_ms()
        if self.rate_changed_ms is not None and self.rate_changed_ms >= ts:
            return False  # a change in the same millisecond as the status is not in it
        # A charge whose lease expired before its reply was settled (the worker died,
        # or outlived its lease) is invisible until a later status.
        return all(f.charged_ms <= ts or f.lease.expires_ms > now for f in self.dead + self.inflight)

    def held_by_live_leases(self) -> int:
        now = self.clock.now_ms()
        return sum(f.lease.cost for f in self.inflight + self.dead if f.lease.expires_ms > now)

    # -- rules ------------------------------------------------------------

    @rule(cost=st.one_of(st.integers(1, 30), st.integers(60, 120)),
          real_share=st.sampled_from([1.0, 1.0, 0.8, 0.3]))
    def acquire(self, cost: int, real_share: float) -> None:
        was_fresh = self.fresh()
        before = self.account.state(self.clock.now_ms()).tokens
        try:
            lease = self.manager.acquire(cost)
        except TokenRechargeError:
            self.check_liveness(cost)
            return
        except CostExceedsCapError as exc:
            assert cost > exc.cap == 60 * (self.manager.snapshot().rate or 0)
            return
        fresh = was_fresh or self.fresh()  # a sync inside acquire makes it fresh
        now = self.clock.advance(1)  # the request reaches Keepa after the decision
        admitted = self.account.try_admit(now)
        if fresh:
            assert admitted, f"429 on a call granted on fresh information (balance {before})"
        if not admitted:
            self.manager.settle(lease, self.status_now())
            return
        self.account.charge(max(1, int(cost * real_share)), now)
        if fresh:
            real = self.account.state(now).tokens
            assert real >= POLICY.floor, f"balance {real} below the floor {POLICY.floor}"
        self.inflight.append(InFlight(lease, now, self.status_now(consumed=cost)))

    def check_liveness(self, cost: int) -> None:
        if not self.fresh():
            return
        now = self.clock.now_ms()
        real = self.account.state(now).tokens
        usable = real - self.held_by_live_leases()
        need = max(POLICY.min_balance, POLICY.floor + cost)
        fields, leases = self.store.raw()
        if any(lid.startswith(LOST_PREFIX) for lid in leases):
            return  # what lost leases held is held until the last could end: more, never less
        if "recharge_target" in fields:
            need = max(need, int(fields["recharge_target"]) // MT)
        assert usable < need, (
            f"refused although Keepa holds {real} ({usable} after live leases) and {need} is needed"
        )

    @precondition(lambda self: self.inflight)
    @rule(data=st.data(), with_status=st.booleans())
    def deliver(self, data: st.DataObject, with_status: bool) -> None:
        i = data.draw(st.integers(0, len(self.inflight) - 1))
        f = self.inflight.pop(i)
        if self.clock.now_ms() - f.charged_ms > HTTP_TIMEOUT_MS:
            with_status = False  # the client timed out: it settles with no status
        self.manager.settle(f.lease, f.status if with_status else None)

    @precondition(lambda self: self.inflight)
    @rule(data=st.data())
    def worker_dies(self, data: st.DataObject) -> None:
        i = data.draw(st.integers(0, len(self.inflight) - 1))
        self.dead.append(self.inflight.pop(i))

    @rule(ms=st.one_of(st.integers(1, 90_000), st.integers(90_000, 4 * 3_600_000)))
    def time_passes(self, ms: int) -> None:
        self.clock.advance(ms)

    @rule(rate=st.integers(0, 30))
    def plan_changes(self, rate: int) -> None:
        now = self.clock.now_ms()
        self.account.update(now, refill_rate=rate)
        self.rate_changed_ms = now

    @rule()
    def routine_sync(self) -> None:
        self.manager.sync_tokens()

    @rule(fields=st.booleans(), leases=st.booleans())
    def state_lost(self, fields: bool, leases: bool) -> None:
        """The stored fields, leases or both vanish (an eviction, a DEL); the marker stays.

        Here Keepa charges a call when it admits it, so a sync after the loss already
        sees it; the deletion storm (``test_state_loss.py``) is where charges land late.
        """
        stored_fields, stored_leases = self.store.raw()
        self.store.write_raw(dict.fromkeys(stored_fields) if fields else {},
                             dict.fromkeys(stored_leases) if leases else {})

    @invariant()
    def state_is_valid_or_resolvable(self) -> None:
        snap = self.manager.snapshot()
        if snap.known:
            assert snap.cap is not None and snap.rate is not None


BudgetMachine.TestCase.settings = settings(
    max_examples=300, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestBudgetInvariants = BudgetMachine.TestCase
TestBudgetInvariants = pytest.mark.timeout(300)(TestBudgetInvariants)
