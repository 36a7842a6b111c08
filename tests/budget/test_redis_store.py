"""The Redis store beyond the contract: its clock, round trips, TTLs, faults and hygiene.

The contract suite (test_contract.py) runs on this store too; the Lua is held
to the Python core by test_redis_differential.py.  Here: Redis TIME is the
clock; one FCALL per step (one EVALSHA where Redis has no functions); every key
has a bounded TTL; function and script flushes,
FLUSHALL, a restart, a stall and an outage all recover with no manual step,
and an outage is a clear error, never a fallback (docs/failure-classes.md, FC-1, FC-7, FC-13);
the API key never reaches Redis.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from keepa_deals.budget.core import MT, Policy
from keepa_deals.budget.factory import open_budget
from keepa_deals.budget.manager import TokenManager
from keepa_deals.budget.memory import MemoryStore
from keepa_deals.budget.redis_store import (
    BUDGET_TTL_MS,
    LEASES_TTL_MARGIN_MS,
    RedisStore,
)
from keepa_deals.clock import FakeClock
from keepa_deals.errors import ConfigError
from keepa_deals.redis_db.keys import KeyBuilder, fingerprint
from keepa_deals.settings import Settings
from keepa_deals.tokens.errors import BudgetError, BudgetStoreUnavailable
from keepa_deals.tokens.status import TokenStatus
from tests._services import RedisServer, free_port
from tests.budget._keepa import KeepaAccount, spend

pytestmark = pytest.mark.redis

P = Policy()
FP = fingerprint("redis-store-tests")
API_KEY = "k3epa" + "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklm"[:59]


def status(now: int, tokens: int, *, rate: int = 5, refill_in_ms: int = 30_000) -> TokenStatus:
    return TokenStatus(tokens_left=tokens, refill_in_ms=refill_in_ms, refill_rate=rate,
                       timestamp_ms=now)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStore]:
    s = RedisStore(redis_url, FP)
    yield s
    s.close()


def manager_on(store: RedisStore, keepa: KeepaAccount, clock: FakeClock) -> TokenManager:
    return TokenManager(store, policy=P, sync=keepa.token, clock=clock, max_wait_s=60)


# -- the clock and the round trip ------------------------------------------------


def test_the_clock_is_redis_time(store: RedisStore, client: redis.Redis) -> None:
    sec, usec = client.time()
    before = sec * 1000 + usec // 1000
    store.observe(status(store.now_ms(), 50), P, authoritative=True)
    d = store.acquire("w1", 1 * MT, P)
    sec, usec = client.time()
    after = sec * 1000 + usec // 1000
    assert d.kind == "grant"
    assert d.now_ms is not None and before <= d.now_ms <= after
    assert d.lease_expires_ms == d.now_ms + P.lease_ttl_ms
    assert abs(store.now_ms() - time.time() * 1000) < 5_000  # the same host: loosely equal


#: what the library's functions (or the scripts) call inside Redis
FROM_LUA = {f"cmdstat_{c}" for c in ("time", "hgetall", "hset", "hdel", "pexpire", "pttl", "get",
                                     "set")}


def _count_26_steps(store: RedisStore, c: redis.Redis) -> dict[str, Any]:
    """Redis's command counts for 25 acquires and one combined step, counted from zero."""
    now = store.now_ms()
    c.config_resetstat()
    for i in range(25):
        assert store.acquire(f"w{i}", 1 * MT, P).kind == "grant"
    store.settle_acquire(("w0", 1 * MT, status(now, 474)), "w25", 1 * MT, P)
    return dict(c.info("commandstats"))


def test_one_fcall_per_acquire_and_a_function_flush_reloads_the_library(
        own_redis: RedisServer) -> None:
    store = RedisStore(own_redis.url, FP)
    c = redis.Redis.from_url(own_redis.url)
    store.observe(status(store.now_ms(), 500), P, authoritative=True)
    store.acquire("warm", 1 * MT, P)  # connection set-up and the library's load happen here
    stats = _count_26_steps(store, c)
    assert stats["cmdstat_fcall"]["calls"] == 26
    assert set(stats) - FROM_LUA <= {"cmdstat_fcall", "cmdstat_config|resetstat"}, (
        "nothing else on the wire")
    assert stats["cmdstat_time"]["calls"] == 26, "each call read Redis TIME"
    assert store.functions

    c.function_flush()
    c.config_resetstat()
    assert store.acquire("after-flush", 1 * MT, P).kind == "grant"
    assert store.acquire("next", 1 * MT, P).kind == "grant"
    stats = c.info("commandstats")
    assert stats["cmdstat_function|load"]["calls"] == 1, "a missing library is loaded once"
    fcall = stats["cmdstat_fcall"]
    assert fcall["calls"] - fcall["failed_calls"] == 2, "each acquire ran once"
    assert "cmdstat_evalsha" not in stats
    assert len(store.raw()[1]) == 28 + 1, "no state lost with the library (28 leases, the epoch)"
    store.close()
    c.close()


def test_a_library_another_worker_loaded_meanwhile_is_used(
        own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RedisStore(own_redis.url, FP)
    store.observe(status(store.now_ms(), 500), P, authoritative=True)
    real = store._client.fcall
    missed: list[str] = []

    def racing(function: str, *args: object) -> object:
        if not missed:  # this worker finds it missing; another loads it before this one
            missed.append(function)
            raise redis.ResponseError("Function not found")
        return real(function, *args)

    monkeypatch.setattr(store._client, "fcall", racing)
    assert store.acquire("w1", 1 * MT, P).kind == "grant", "'already exists' is no error"
    assert missed and store.functions
    c = redis.Redis.from_url(own_redis.url)
    assert len(c.function_list()) == 1, "one library, loaded once"
    store.close()
    c.close()


def test_a_redis_without_functions_gets_one_evalsha_per_step() -> None:
    """Redis 5 and 6 have no FCALL (here: renamed away): the same Lua runs as scripts."""
    server = RedisServer(options=("--rename-command", "FCALL", "")).start()
    try:
        store = RedisStore(server.url, FP)
        c = redis.Redis.from_url(server.url)
        store.observe(status(store.now_ms(), 500), P, authoritative=True)
        assert store.functions is False, "FCALL refused once: EVALSHA for good"
        store.acquire("warm", 1 * MT, P)  # each script loaded before counting
        store.settle_acquire(("warm", 1 * MT, None), "warm2", 1 * MT, P)
        stats = _count_26_steps(store, c)
        assert stats["cmdstat_evalsha"]["calls"] == 26
        assert set(stats) - FROM_LUA <= {"cmdstat_evalsha", "cmdstat_config|resetstat"}
        assert stats["cmdstat_time"]["calls"] == 26

        c.script_flush()
        c.config_resetstat()
        assert store.acquire("after-flush", 1 * MT, P).kind == "grant"
        assert store.acquire("next", 1 * MT, P).kind == "grant"
        stats = c.info("commandstats")
        assert stats["cmdstat_script|load"]["calls"] == 1, "NOSCRIPT reloads once"
        evalsha = stats["cmdstat_evalsha"]
        assert evalsha["calls"] - evalsha["failed_calls"] == 2, "each acquire ran once"
        assert len(store.raw()[1]) == 28 + 1, "no state lost with the scripts (28 leases, the epoch)"
        store.close()
        c.close()
    finally:
        server.stop()


def test_script_and_function_flushes_between_every_call_change_nothing(
        store: RedisStore, client: redis.Redis) -> None:
    def flush() -> None:
        client.script_flush()
        client.function_flush()

    flush()
    store.observe(status(store.now_ms(), 20), P, authoritative=True)
    for i in range(5):
        flush()
        assert store.acquire(f"w{i}", 2 * MT, P).kind == "grant"
        flush()
        store.settle(f"w{i}", 2 * MT, None, P)
        flush()
    assert store.snapshot(P).tokens == 10
    flush()
    assert store.claim_sync(P) is True
    flush()
    assert store.claim_sync(P) is False
    assert store.functions


# -- TTLs and number formatting ----------------------------------------------------


def test_every_written_key_has_a_bounded_ttl(store: RedisStore, client: redis.Redis) -> None:
    store.observe(status(store.now_ms(), 100), P, authoritative=True)
    store.acquire("w1", 3 * MT, P)
    budget_ttl = client.pttl(store.keys.budget)
    leases_ttl = client.pttl(store.keys.leases)
    assert BUDGET_TTL_MS - 5_000 < budget_ttl <= BUDGET_TTL_MS
    assert 0 < leases_ttl <= P.lease_ttl_ms + LEASES_TTL_MARGIN_MS
    assert leases_ttl > P.lease_ttl_ms, "the leases hash outlives its longest lease"

    long = Policy(lease_ttl_ms=600_000)
    store.acquire("w2", 1 * MT, long)
    assert client.pttl(store.keys.leases) > 600_000
    store.acquire("w3", 1 * MT, P)
    assert client.pttl(store.keys.leases) > 600_000, "a shorter lease TTL never cuts the hash's"

    store.write_raw({"last_sync_ms": "1"}, {"x": "1000:1"})
    for key in (store.keys.budget, store.keys.leases):
        assert 0 < client.pttl(key) <= BUDGET_TTL_MS
    assert client.pttl(store.keys.budget_marker) == -1, (
        "the marker alone has no TTL: no volatile-* eviction may take it (budget.state)")


def test_numbers_are_written_as_integers_never_as_floats(redis_url: str) -> None:
    clock = FakeClock(start_ms=2**52 + 1)  # beyond 1e15: tostring() would print 4.5e+15
    store = RedisStore(redis_url, FP, clock=clock)
    store.observe(status(clock.now_ms(), -180), P, authoritative=True)
    d = store.acquire("w", 1 * MT, P)
    fields, _ = store.raw()
    now = clock.now_ms()
    assert fields["anchor_seen_ms"] == str(now)
    assert fields["anchor_next_refill_ms"] == str(now + 30_000)
    assert fields["anchor_tokens"] == "-180000"
    assert fields["recharge_since_ms"] == str(now)
    assert d.now_ms == now and d.kind == "wait"
    store.close()


@pytest.mark.parametrize("functions", [True, False], ids=["fcall", "evalsha"])
def test_the_combined_step_carries_any_lease_ids(redis_url: str, functions: bool) -> None:
    """Its ids travel in one argument with the numbers: ids with blanks, newlines, digits,
    colons and non-ASCII come back whole, as the in-memory store holds them."""
    clock = FakeClock()
    store = RedisStore(redis_url, FP, clock=clock, functions=functions)
    store.clear()
    memory = MemoryStore(clock)
    ids = ["plain", "a b\nc", "12 34\n", "\n", "ünï cödé:7", " ", "x" * 300, "1000:99"]
    for s in (store, memory):
        s.observe(status(clock.now_ms(), 500), P, authoritative=True)
        assert s.acquire(ids[0], MT, P).kind == "grant"
    for before, after in pairwise(ids):
        clock.advance(7)
        st = status(clock.now_ms(), 480) if len(after) % 2 else None
        d = store.settle_acquire((before, 2 * MT, st), after, 3 * MT, P)
        assert d == memory.settle_acquire((before, 2 * MT, st), after, 3 * MT, P)
        assert store.raw() == memory.raw()
        assert set(store.raw()[1]) == {"#epoch", after}  # the settled lease went, whole
    store.clear()
    store.close()


# -- Redis faults: each recovers with no manual step -----------------------------------


def test_flushall_makes_the_state_unknown_and_the_manager_syncs(redis_url: str,
                                                                client: redis.Redis) -> None:
    clock = FakeClock()
    keepa = KeepaAccount(clock)
    store = RedisStore(redis_url, FP, clock=clock)
    manager = manager_on(store, keepa, clock)
    spend(manager, keepa, 10)
    assert keepa.token_calls == 1
    client.flushall()
    assert store.acquire("probe", 1 * MT, P).kind == "unknown"
    spend(manager, keepa, 10)
    assert keepa.token_calls == 2, "state gone: asked Keepa once, then spent"
    assert store.snapshot(P).tokens == keepa.tokens
    store.close()


def test_a_redis_restart_recovers_with_no_manual_step(own_redis: RedisServer) -> None:
    clock = FakeClock()
    keepa = KeepaAccount(clock)
    store = RedisStore(own_redis.url, FP, clock=clock)
    manager = manager_on(store, keepa, clock)
    spend(manager, keepa, 10)
    own_redis.restart()  # no persistence: the state is gone, the pooled connections dead
    spend(manager, keepa, 10)
    assert keepa.token_calls == 2
    assert store.snapshot(P).known
    store.close()


def test_redis_down_is_a_clear_error_never_a_fallback_and_up_again_just_works(
        own_redis: RedisServer) -> None:
    clock = FakeClock()
    keepa = KeepaAccount(clock)
    store = RedisStore(own_redis.url, FP, clock=clock)
    manager = manager_on(store, keepa, clock)
    spend(manager, keepa, 10)

    own_redis.stop()
    with pytest.raises(BudgetStoreUnavailable) as info:
        manager.acquire(1)
    message = str(info.value)
    assert f"127.0.0.1:{own_redis.port}" in message
    assert "does not fall back" in message
    assert info.value.__cause__ is None, "redis-py's exception does not leak"
    with pytest.raises(BudgetStoreUnavailable):
        store.snapshot(P)
    on_redis_time = RedisStore(own_redis.url, FP)
    with pytest.raises(BudgetStoreUnavailable):
        on_redis_time.now_ms()
    on_redis_time.close()

    own_redis.start()  # same port, empty
    spend(manager, keepa, 10)
    assert keepa.token_calls == 2, "the lost state was re-synced, nothing else needed"
    store.close()


def test_the_error_never_shows_the_redis_password() -> None:
    port = free_port()  # nothing listens here
    store = RedisStore(f"redis://user:hunter2-s3cret@127.0.0.1:{port}/0", FP)
    with pytest.raises(BudgetStoreUnavailable) as info:
        store.acquire("w", 1 * MT, P)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "hunter2" not in str(info.value) and "hunter2" not in repr(info.value)
    assert "hunter2" not in repr(store)
    store.close()


def test_a_redis_busy_with_a_runaway_script_is_unavailable_then_recovers(
        own_redis: RedisServer) -> None:
    admin = redis.Redis.from_url(own_redis.url)
    admin.config_set("busy-reply-threshold", 20)  # ms before others get BUSY
    store = RedisStore(redis.Redis.from_url(own_redis.url, socket_timeout=0.5,
                                            retry=Retry(NoBackoff(), 0)), FP)
    store.observe(status(store.now_ms(), 50), P, authoritative=True)
    runaway = threading.Thread(target=_run_forever, args=(own_redis.url,))
    runaway.start()
    try:
        with pytest.raises(BudgetStoreUnavailable, match="BUSY|TimeoutError"):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # until the runaway script holds the server
                store.acquire("w", 1 * MT, P)
    finally:
        _kill_script(admin)
        runaway.join(10)
    assert store.acquire("w2", 1 * MT, P).kind == "grant"
    store.close()
    admin.close()


def _run_forever(url: str) -> None:
    c = redis.Redis.from_url(url, socket_timeout=30)
    with contextlib.suppress(redis.ResponseError):
        c.eval("while true do end", 0)
    c.close()


def _kill_script(admin: redis.Redis) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            admin.script_kill()
            return
        except redis.ResponseError:  # NOTBUSY: the runaway has not started yet
            continue


def test_a_redis_that_never_answers_times_out_as_unavailable() -> None:
    with socket.socket() as silent:  # accepts connections, never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.2,
                             socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
        store = RedisStore(client, FP)
        with pytest.raises(BudgetStoreUnavailable, match=f"127.0.0.1:{port}.*Timeout"):
            store.acquire("w", 1 * MT, P)
        client.close()


def test_open_budget_with_an_unreachable_redis_fails_and_creates_no_local_budget() -> None:
    settings = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0",
                        keepa_api_key=API_KEY)
    keepa = KeepaAccount(FakeClock())
    manager = open_budget(settings, sync=keepa.token)
    assert isinstance(manager.store, RedisStore)
    with pytest.raises(BudgetStoreUnavailable):
        manager.acquire(1)
    assert keepa.token_calls == 0
    assert not list(settings.data_dir.glob("budget*")), "no silent local fallback"
    manager.store.close()


def test_redis_errors_reach_callers_as_ours(store: RedisStore) -> None:
    def raising(exc: Exception):  # type: ignore[no-untyped-def]
        def op() -> None:
            raise exc
        return op

    for exc in (redis.BusyLoadingError("Redis is loading the dataset in memory"),
                redis.ConnectionError("Error 111 connecting"),
                redis.TimeoutError("Timeout reading from socket"),
                redis.ReadOnlyError("READONLY You can't write against a read only replica."),
                redis.ResponseError("BUSY Redis is busy running a script."),
                redis.ResponseError("MASTERDOWN Link with MASTER is down"),
                redis.ResponseError("OOM command not allowed")):
        with pytest.raises(BudgetStoreUnavailable, match=store.where):
            store._guard("acquire", raising(exc))
    with pytest.raises(BudgetError) as info:
        store._guard("acquire", raising(redis.ResponseError("ERR user_script:1: boom")))
    assert not isinstance(info.value, BudgetStoreUnavailable), "a script bug is not an outage"


def test_a_malformed_url_is_a_config_error_that_does_not_echo_it() -> None:
    with pytest.raises(ConfigError) as info:
        RedisStore("http://user:hunter2@example.invalid/0", FP)
    assert "hunter2" not in str(info.value)


# -- hygiene ---------------------------------------------------------------------------


def test_clear_deletes_only_this_budget(store: RedisStore, client: redis.Redis) -> None:
    other = RedisStore(client, fingerprint("another key"))
    for s in (store, other):
        s.observe(status(s.now_ms(), 50), P, authoritative=True)
        s.acquire("w", 1 * MT, P)
    client.set("unrelated", "1")
    store.clear()
    assert store.raw() == ({}, {})
    assert other.raw()[0] and other.raw()[1]
    assert client.get("unrelated") == b"1"


def test_the_api_key_never_reaches_redis(redis_url: str, client: redis.Redis) -> None:
    settings = Settings(redis_url=redis_url, keepa_api_key=API_KEY)
    clock = FakeClock()
    keepa = KeepaAccount(clock)
    manager = open_budget(settings, sync=keepa.token, clock=clock)
    for _ in range(3):
        spend(manager, keepa, 7)
    lease = manager.acquire(3)
    manager.settle(lease, None)
    manager.sync_tokens()
    manager.store.write_raw({"anchor_tokens": "garbage"}, {})
    manager.acquire(1)  # unknown -> sync -> grant

    fp = fingerprint(API_KEY)
    assert isinstance(manager.store, RedisStore) and manager.store.keys.fingerprint == fp
    keys = [k.decode() for k in client.scan_iter(count=1000)]
    assert keys and all(k.startswith(f"keepa-deals:{{{fp}}}:") for k in keys)
    needles = [API_KEY.encode(), API_KEY[:16].encode(), API_KEY[-16:].encode()]
    for key in keys:
        assert not any(n.decode() in key for n in needles)
        kind = client.type(key)
        if key == manager.store.keys.budget_marker:
            assert kind == b"string" and not any(n in client.get(key) for n in needles)
            continue
        assert kind == b"hash"
        for name, value in client.hgetall(key).items():
            assert not any(n in name or n in value for n in needles)
        assert 0 < client.pttl(key) <= BUDGET_TTL_MS, f"{key} has no bounded TTL"
    assert not any(API_KEY in str(x) for x in (manager.store, manager.store.keys,
                                               KeyBuilder(fp)))
    manager.store.close()
