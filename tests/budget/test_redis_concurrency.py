"""Shared-budget races (docs/failure-classes.md, FC-7): reservations are atomic across processes.

Several processes, each with its own connection pool, draw 1-token leases from
one Redis bucket of known balance as fast as they can and never settle.  The
grants add up to exactly what the policy allows, not one more.
"""

from __future__ import annotations

import multiprocessing

import pytest

from keepa_deals.budget import core
from keepa_deals.budget.core import MT, Policy
from keepa_deals.budget.redis_store import RedisStore
from keepa_deals.redis_db.keys import fingerprint
from keepa_deals.tokens.status import TokenStatus
from tests.budget._redis_workers import EXTRA_ATTEMPTS, grab_leases

pytestmark = [pytest.mark.redis, pytest.mark.slow]

PROCESSES = 4


@pytest.mark.parametrize(
    ("balance", "policy", "allowed"),
    [
        # the minimum balance binds: grants while the projection stays >= 5 tokens
        (400, Policy(floor=-180, min_balance=5), 400 - 5 + 1),
        # Keepa's own rule (positive), the default
        (150, Policy(), 150),
    ],
    ids=["min-balance-5", "default-policy"],
)
def test_processes_never_get_one_grant_more_than_the_policy_allows(
        redis_url: str, balance: int, policy: Policy, allowed: int) -> None:
    fp = fingerprint("exact-count-key")
    store = RedisStore(redis_url, fp)
    now = store.now_ms()
    # the next refill is a minute away: nothing refills while the workers draw
    store.observe(TokenStatus(tokens_left=balance, refill_in_ms=60_000, refill_rate=20,
                              timestamp_ms=now), policy, authoritative=True)

    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    out: multiprocessing.Queue[tuple[int, int]] = ctx.Queue()
    procs = [ctx.Process(target=grab_leases, args=(redis_url, fp, policy, start, out))
             for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    start.set()
    results = [out.get(timeout=45) for _ in procs]
    for p in procs:
        p.join(10)
        assert p.exitcode == 0
    elapsed_ms = store.now_ms() - now
    assert elapsed_ms < 55_000, "the test must finish before the bucket's next refill"

    granted = sum(g for g, _ in results)
    assert granted == allowed, f"per process: {results}"
    assert all(r == EXTRA_ATTEMPTS + 1 for _, r in results)
    fields, leases = store.raw()
    leases.pop(core.EPOCH_LEASE)
    assert len(leases) == allowed
    assert {v.split(":")[0] for v in leases.values()} == {str(MT)}
    assert fields["anchor_tokens"] == str(balance * MT), "leases reserve, never rewrite the anchor"
    snap = store.snapshot(policy)
    assert snap.available == balance - allowed
    store.close()
