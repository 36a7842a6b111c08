"""The two incidents this project was started from, replayed on every store.

Both left a stored state that said "wait" while Keepa held tokens, and both
ended in a worker that never asked Keepa.  The invariant they defend (docs/failure-classes.md,
FC-1): missing, stale or old state is unknown, and unknown state is resolved
by asking Keepa (/token, free) before any decision to wait long or give up.
"""

from __future__ import annotations

import pytest

from keepa_deals.budget import core
from keepa_deals.budget.core import MT, Policy
from keepa_deals.budget.manager import TokenManager
from keepa_deals.budget.store import BudgetStore
from keepa_deals.clock import FakeClock
from keepa_deals.tokens import costs
from keepa_deals.tokens.errors import TokenRechargeError
from tests.budget._keepa import KeepaAccount

DEAL_PAGE = costs.DEAL_PAGE_COST


def _assert_repaired(store: BudgetStore, clock: FakeClock, policy: Policy) -> None:
    fields, leases = store.raw()
    st = core.parse(fields, leases, clock.now_ms(), policy)
    assert st.problems == [] and st.dropped_leases == []


@pytest.mark.parametrize("missing", [
    ("anchor_next_refill_ms",),
    ("anchor_seen_ms",),
    ("anchor_next_refill_ms", "anchor_seen_ms", "anchor_server_ts_ms"),
], ids=lambda m: "+".join(m))
def test_seed_stuck_ingestor(store: BudgetStore, clock: FakeClock,
                             missing: tuple[str, ...]) -> None:
    """Tokens -79, the refill timestamp gone, recharge on, 5/min; Keepa really holds 17.

    The old worker took the missing timestamp as "now", projected -79 for ever
    and went back to recharge every minute for days without asking Keepa.
    """
    policy = Policy()
    keepa = KeepaAccount(clock, tokens=17, rate=5, phase_ms=41_000)
    manager = TokenManager(store, policy=policy, sync=keepa.token, clock=clock, max_wait_s=60)
    now = clock.now_ms()
    seed = {
        "anchor_tokens": str(-79 * MT),
        "anchor_rate": str(5 * MT),
        "anchor_next_refill_ms": str(now - 20_000),
        "anchor_server_ts_ms": str(now - 50_000),
        "anchor_seen_ms": str(now - 50_000),
        # recharge as the old worker set it: to 25 tokens, (25 + 79) / 5 min away
        "recharge_since_ms": str(now - 60_000),
        "recharge_deadline_ms": str(now + 21 * 60_000 + policy.recharge_slack_ms),
        "recharge_target": str(25 * MT),
        "last_sync_ms": str(now - 20_000),  # a routine sync would still be throttled
    }
    for name in missing:
        del seed[name]
    store.write_raw(dict(seed), {})

    try:
        lease = manager.acquire(DEAL_PAGE)
    except TokenRechargeError as exc:
        # 17 real tokens reach the burst of 25 in two refills, not in hours
        assert exc.retry_after <= 2 * 60, exc
        assert exc.projected == 17
    else:
        assert lease.cost == DEAL_PAGE
    assert keepa.token_calls == 1, "the first acquire asks Keepa, once"
    assert store.snapshot(policy).tokens == 17
    _assert_repaired(store, clock, policy)


def test_seed_stuck_ingestor_with_no_recharge_grants(store: BudgetStore, clock: FakeClock) -> None:
    """The same missing timestamp without a recharge record: 17 tokens pay for a page now."""
    keepa = KeepaAccount(clock, tokens=17, rate=5)
    manager = TokenManager(store, sync=keepa.token, clock=clock)
    store.write_raw({"anchor_tokens": str(-79 * MT), "anchor_rate": str(5 * MT)}, {})
    start = clock.now_ms()
    assert manager.acquire(DEAL_PAGE).cost == DEAL_PAGE
    assert clock.now_ms() == start and keepa.token_calls == 1


def test_seed_diminishing_deals(store: BudgetStore, clock: FakeClock) -> None:
    """Tokens -65 seen 30 s ago, recharge on, 5/min, burst 40; Keepa really holds 300.

    The old manager computed (40 + 65) / 5 = 21 min, over its 60 s limit, and
    gave up before any sync, every run, while the janitor deleted deals.
    """
    policy = Policy(burst_minutes=8)
    assert policy.burst_mt(5 * MT) == 40 * MT
    keepa = KeepaAccount(clock, tokens=300, rate=5, phase_ms=3_000)
    manager = TokenManager(store, policy=policy, sync=keepa.token, clock=clock, max_wait_s=60)
    now = clock.now_ms()
    seen = now - 30_000
    store.write_raw({
        "anchor_tokens": str(-65 * MT),
        "anchor_rate": str(5 * MT),
        "anchor_next_refill_ms": str(seen + 45_000),
        "anchor_server_ts_ms": str(seen),
        "anchor_seen_ms": str(seen),
        "recharge_since_ms": str(seen),
        "recharge_deadline_ms": str(seen + 21 * 60_000 + policy.recharge_slack_ms),
        "recharge_target": str(40 * MT),
        "last_sync_ms": str(seen),
    }, {})
    # The stored state itself is valid: it is its age that calls for a check.
    assert core.parse(*store.raw(), now, policy).problems == []

    lease = manager.acquire(DEAL_PAGE)

    assert lease.cost == DEAL_PAGE
    assert clock.now_ms() == now, "granted at once, no waiting"
    assert keepa.token_calls == 1, "one sync, before the decision to give up"
    fields, _ = store.raw()
    assert not set(core.RECHARGE_FIELDS) & set(fields), "recharge ended: Keepa holds the burst"
    assert store.snapshot(policy).tokens == 300
    _assert_repaired(store, clock, policy)
