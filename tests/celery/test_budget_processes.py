"""The budget's seed and chaos scenarios with the acquires coming from separate processes.

tests/budget/test_seeds.py and test_chaos.py replay the two incidents this
project was started from, and every corruption of the stored state, with one
TokenManager.  Here the same stored states meet four worker processes at
once, each with its own settings, Redis connections and Keepa connection, as
Celery workers on four hosts: one Redis budget, the sandbox Keepa server over
real HTTP on real time (Redis ``TIME`` is the budget's clock).

The invariant (docs/failure-classes.md, FC-1): missing, stale or corrupted state is
unknown, and unknown state is resolved by asking Keepa (free) before any
decision to wait long or give up; a shared budget resolves it for everyone:
no process waits long, none gives up for good while Keepa holds tokens, and
/token is asked at most once per process (Keepa asks clients not to poll it).
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Iterator
from typing import Any

import pytest

from keepa_deals.budget import core
from keepa_deals.budget.core import MT, Policy
from keepa_deals.budget.redis_store import RedisStore
from keepa_deals.redis_db.keys import fingerprint
from keepa_deals.sandbox import Sandbox, SandboxServer
from tests.budget.test_chaos import FIELD_CORRUPTIONS
from tests.celery._budget_procs import pay_for_a_page

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(300)]

KEY = "celeryseedskey" + "3" * 50
PROCESSES = 4
PAGE = 5


@pytest.fixture
def keepa() -> Iterator[tuple[Sandbox, SandboxServer]]:
    """The sandbox on real time (the workers' budget reads Redis TIME)."""
    sandbox = Sandbox(demo_account=False)
    with SandboxServer(sandbox) as server:
        yield sandbox, server


def run_workers(redis_url: str, url: str, **settings: Any) -> list[dict[str, Any]]:
    """Start the workers, let them all connect (a spawned process under load can take
    seconds to import), then start them at once and gather their reports."""
    values = {"redis_url": redis_url, "keepa_api_url": url, "keepa_api_key": KEY,
              "http_retries": 0, **settings}
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    ready: multiprocessing.Queue[int] = ctx.Queue()
    out: multiprocessing.Queue[dict[str, Any]] = ctx.Queue()
    procs = [ctx.Process(target=pay_for_a_page, args=(values, start, ready, out))
             for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            ready.get(timeout=90)
        start.set()
        # a worker may sleep up to budget_max_wait_s (60 s) before it reports: the
        # report says so (waited_s), and the test fails on that, not on a timeout
        results = [out.get(timeout=90) for _ in procs]
    except queue.Empty:
        alive = [p.pid for p in procs if p.is_alive()]
        pytest.fail(f"a worker did not report in time (still running: {alive}); "
                    "their log is in the captured stderr")
    finally:
        start.set()
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    assert not [r for r in results if r["outcome"] == "error"], results
    return results


def assert_shared_and_repaired(store: RedisStore, sandbox: Sandbox, results: list[dict[str, Any]],
                               policy: Policy, token_calls_before: int = 0) -> None:
    account = sandbox.account(KEY)
    syncs = account.requests_to("token") - token_calls_before
    assert 1 <= syncs <= PROCESSES, "Keepa was asked, at most once per process"
    assert sum(r["syncs"] for r in results) == syncs
    assert all(r["waited_s"] < 5 for r in results), "nobody waited long"
    assert account.requests_to("deal", 429) == 0, "no paid call met a 429"
    fields, leases = store.raw()
    st = core.parse(fields, leases, store.now_ms(), policy)
    assert (st.problems, st.dropped_leases) == ([], []), "the state was repaired"


def test_seed_stuck_ingestor_across_processes(
    redis_url: str, keepa: tuple[Sandbox, SandboxServer],
) -> None:
    """Tokens -79 with the refill timestamp gone and recharge on; Keepa really holds 17."""
    sandbox, server = keepa
    sandbox.add_account(KEY, tokens=17, refill_rate=5)
    policy = Policy()
    store = RedisStore(redis_url, fingerprint(KEY))
    now = store.now_ms()
    store.write_raw({
        "anchor_tokens": str(-79 * MT), "anchor_rate": str(5 * MT),
        "anchor_server_ts_ms": str(now - 50_000),
        "recharge_since_ms": str(now - 60_000),
        "recharge_deadline_ms": str(now + 21 * 60_000 + policy.recharge_slack_ms),
        "recharge_target": str(25 * MT),
        "last_sync_ms": str(now - 20_000),
    }, {})

    results = run_workers(redis_url, server.url)

    for r in results:
        if r["outcome"] == "recharge":  # 17 real tokens reach the burst within two refills
            assert r["retry_after"] <= 2 * 60, r
        else:
            assert r["outcome"] == "granted", r
    paid = sum(r["outcome"] == "granted" for r in results)
    assert sandbox.account(KEY).tokens_consumed == paid * PAGE
    assert_shared_and_repaired(store, sandbox, results, policy)
    store.close()


def test_seed_diminishing_deals_across_processes(
    redis_url: str, keepa: tuple[Sandbox, SandboxServer],
) -> None:
    """Tokens -65 seen 30 s ago, recharge on, burst 40; Keepa really holds 300: all pay now."""
    sandbox, server = keepa
    sandbox.add_account(KEY, tokens=300, refill_rate=5)
    policy = Policy(burst_minutes=8)
    store = RedisStore(redis_url, fingerprint(KEY))
    now = store.now_ms()
    seen = now - 30_000
    store.write_raw({
        "anchor_tokens": str(-65 * MT), "anchor_rate": str(5 * MT),
        "anchor_next_refill_ms": str(seen + 45_000), "anchor_server_ts_ms": str(seen),
        "anchor_seen_ms": str(seen), "recharge_since_ms": str(seen),
        "recharge_deadline_ms": str(seen + 21 * 60_000 + policy.recharge_slack_ms),
        "recharge_target": str(40 * MT), "last_sync_ms": str(seen),
    }, {})
    assert core.parse(*store.raw(), now, policy).problems == [], "a valid, old-looking state"

    results = run_workers(redis_url, server.url, budget_burst_minutes=8)

    assert [r["outcome"] for r in results] == ["granted"] * PROCESSES, results
    assert sandbox.account(KEY).tokens_consumed == PROCESSES * PAGE
    fields, _ = store.raw()
    assert not set(core.RECHARGE_FIELDS) & set(fields), "recharge ended: Keepa holds the burst"
    assert_shared_and_repaired(store, sandbox, results, policy)
    store.close()


@pytest.mark.parametrize("corruption", ["deleted", "garbage", "hour-ahead", "ancient",
                                        "minus-ten-thousand-tokens"])
def test_every_field_corrupted_across_processes(
    redis_url: str, keepa: tuple[Sandbox, SandboxServer], corruption: str,
) -> None:
    """The chaos suite's worst case, every stored value corrupted at once, met by four
    processes: Keepa holds tokens, so every one of them pays within one sync."""
    sandbox, server = keepa
    sandbox.add_account(KEY, tokens=250, refill_rate=5)
    policy = Policy()
    store = RedisStore(redis_url, fingerprint(KEY))
    run_workers(redis_url, server.url)  # a real run writes every field...
    before = sandbox.account(KEY).requests_to("token")
    fields, leases = store.raw()
    now = store.now_ms()
    corrupt = FIELD_CORRUPTIONS[corruption]
    store.write_raw({n: corrupt(now, v) for n, v in fields.items() if n in core.FIELDS},
                    {lid: "garbage" for lid in leases})

    results = run_workers(redis_url, server.url)  # ...then four workers meet the wreck

    assert [r["outcome"] for r in results] == ["granted"] * PROCESSES, results
    assert_shared_and_repaired(store, sandbox, results, policy, before)
    store.close()
