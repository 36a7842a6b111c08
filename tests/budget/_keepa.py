"""Keepa as the budget tests see it: a sandbox account on the tests' fake clock.

The account is the sandbox's own (``keepa_deals.sandbox.accounts``): Keepa's
per-minute refill at the account's phase, its cap, admission while positive and
charging after the work.  The budget syncs from :meth:`KeepaAccount.token` and
settles with what :meth:`KeepaAccount.call` returns.
"""

from __future__ import annotations

from keepa_deals.budget.manager import TokenManager
from keepa_deals.clock import FakeClock
from keepa_deals.sandbox.accounts import DEMO_KEY, AccountBook
from keepa_deals.tokens.protocol import Lease
from keepa_deals.tokens.status import TokenStatus


class KeepaAccount:
    """One key's token bucket at Keepa, and the calls that spend it."""

    def __init__(self, clock: FakeClock, *, tokens: int = 200, rate: int = 5,
                 phase_ms: int = 17_000) -> None:
        self.clock = clock
        self.account = AccountBook().create(DEMO_KEY, clock.now_ms(), tokens=tokens,
                                            refill_rate=rate, phase_ms=phase_ms)
        self.token_calls = 0  # /token requests
        self.refused = 0  # 429s

    @property
    def tokens(self) -> int:
        return self.account.state(self.clock.now_ms()).tokens

    def set(self, **changes: int) -> None:
        """Change the balance or the plan now (``tokens=``, ``refill_rate=``, ``phase_ms=``)."""
        self.account.update(self.clock.now_ms(), **changes)  # type: ignore[arg-type]

    def status(self, consumed: int = 0) -> TokenStatus:
        s = self.account.state(self.clock.now_ms())
        return TokenStatus(tokens_left=s.tokens, refill_in_ms=s.refill_in_ms,
                           refill_rate=s.refill_rate, timestamp_ms=s.now_ms,
                           tokens_consumed=consumed)

    def token(self) -> TokenStatus:
        """``GET /token``: free, and counted (Keepa asks clients not to poll it)."""
        self.token_calls += 1
        return self.status()

    def call(self, cost: int) -> TokenStatus:
        """A paid request: admitted while the balance is positive, charged after the work."""
        now = self.clock.now_ms()
        if not self.account.try_admit(now):
            self.refused += 1
            return self.status()
        charged = self.account.charge(cost, now)
        return self.status(consumed=charged)


def spend(manager: TokenManager, keepa: KeepaAccount, cost: int) -> Lease:
    """Acquire ``cost``, make the call at Keepa, settle with its reply."""
    lease = manager.acquire(cost)
    manager.settle(lease, keepa.call(cost))
    return lease
