"""The single-runner lock (docs/failure-classes.md, FC-13; and FC-5 for waits).

Locks have bounded lifetimes, are renewed by a live owner, released only by
their owner, taken over once expired, and a restart never resurrects one.
Both backends: the database lock (on a fake clock) and the Redis lock (on
Redis's clock: expiry is forced with PEXPIREAT instead of waiting).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis

from keepa_deals.clock import FakeClock
from keepa_deals.ingest import IngestEnv, smart_ingestor
from keepa_deals.locks import LockKeeper, lock_name
from keepa_deals.locks.redis_lock import RedisLock
from keepa_deals.query import DealQuery
from keepa_deals.redis_db.keys import fingerprint
from keepa_deals.sandbox import Sandbox
from keepa_deals.store import DealStore, RunnerLock, RunOutcome
from tests._services import RedisServer
from tests.ingest.conftest import KEY, Call, Recorder, stored

FP = fingerprint(KEY)


@dataclass
class Backend:
    lock: RunnerLock
    expire: Callable[[str], None]


@pytest.fixture(params=["database", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest, sqlite_url: str, clock: FakeClock
            ) -> Iterator[Backend]:
    if request.param == "database":
        store = DealStore.open(sqlite_url, clock=clock)
        yield Backend(store.runner_lock(), lambda name: clock.advance(3_600_000))
        store.close()
        return
    url: str = request.getfixturevalue("redis_url")
    client = redis.Redis.from_url(url)
    lk = RedisLock(client, FP)
    yield Backend(lk, lambda name: client.pexpireat(lk.key(name), 1))
    client.close()


def test_fc13_only_the_owner_renews_or_releases(backend: Backend) -> None:
    lk = backend.lock
    assert lk.acquire("ingest.q", "a", 30)
    assert not lk.acquire("ingest.q", "b", 30)
    assert not lk.renew("ingest.q", "b", 30)
    assert not lk.release("ingest.q", "b")
    holder = lk.holder("ingest.q")
    assert holder is not None and holder.owner == "a"
    assert lk.acquire("ingest.q", "a", 30), "the owner may take it again (a renewal)"
    assert lk.release("ingest.q", "a")
    assert lk.holder("ingest.q") is None
    assert lk.acquire("ingest.q", "b", 30)


def test_fc13_an_expired_lock_is_taken_over_and_its_old_owner_cannot_renew_it(
    backend: Backend,
) -> None:
    lk = backend.lock
    assert lk.acquire("ingest.q", "a", 30)
    backend.expire("ingest.q")
    assert lk.holder("ingest.q") is None
    assert not lk.renew("ingest.q", "a", 30), "an expired lock is gone, not renewable"
    assert lk.acquire("ingest.q", "b", 30)
    assert not lk.release("ingest.q", "a")
    holder = lk.holder("ingest.q")
    assert holder is not None and holder.owner == "b"


@pytest.mark.redis
def test_fc13_every_redis_lock_key_has_a_ttl(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    lk = RedisLock(client, FP)
    key = lk.key("ingest.q")
    assert key == f"keepa-deals:{{{FP}}}:lock:ingest.q"
    assert lk.acquire("ingest.q", "a", 30)
    assert 0 < client.pttl(key) <= 30_000
    assert lk.renew("ingest.q", "a", 90)
    assert 30_000 < client.pttl(key) <= 90_000
    # A lock key without a lifetime (restored from an old dump, written by hand) is
    # given one by the next acquire: it can no longer block everyone for ever.
    client.set(lk.key("ingest.old"), "zombie")
    assert not lk.acquire("ingest.old", "a", 30)
    assert 0 < client.pttl(lk.key("ingest.old")) <= 30_000
    assert all(client.pttl(k) > 0 for k in client.scan_iter("keepa-deals:*"))
    client.close()


@pytest.mark.redis
def test_fc13_a_restart_never_resurrects_a_lock_beyond_its_lifetime(
    own_redis: RedisServer,
) -> None:
    client = redis.Redis.from_url(own_redis.url)
    lk = RedisLock(client, FP)
    assert lk.acquire("ingest.q", "a", 60)
    client.save()  # a dump taken while the lock was held...
    client.close()
    own_redis.restart()  # ...is loaded by the restarted server
    client = redis.Redis.from_url(own_redis.url)
    ttl = client.pttl(RedisLock(client, FP).key("ingest.q"))
    assert ttl == -2 or 0 < ttl <= 60_000, "restored with its remaining lifetime, never for ever"
    client.close()


def test_fc13_a_live_owner_keeps_its_lock_and_a_dead_one_loses_it(
    sqlite_url: str, clock: FakeClock,
) -> None:
    with DealStore.open(sqlite_url, clock=clock) as store:
        lk = store.runner_lock()
        keeper = LockKeeper(lk, "ingest.q", 30, renew_every_s=3600)  # the test renews by hand
        assert keeper.acquire()
        clock.advance(20_000)
        assert keeper.renew_now()
        clock.advance(20_000)  # 40 s after taking it: alive only because it was renewed
        assert not lk.acquire("ingest.q", "other", 30)
        clock.advance(31_000)  # the owner stopped renewing (frozen, dead)
        assert lk.acquire("ingest.q", "other", 30)
        assert not keeper.renew_now() and keeper.lost
        keeper.release()
        holder = lk.holder("ingest.q")
        assert holder is not None and holder.owner == "other", "release is for owners only"


def test_fc13_a_second_runner_is_locked_out_and_does_nothing(
    sqlite_url: str, make_env: Callable[..., IngestEnv], sandbox: Sandbox, query: DealQuery,
) -> None:
    rec = Recorder()
    env = make_env(sqlite_url, transport=rec)
    name = lock_name("ingest", query.name)
    assert env.lock.acquire(name, "someone-else-1-abcd", 120)
    report = smart_ingestor(env, query)
    assert report.outcome is RunOutcome.LOCKED and report.retry_after_s == pytest.approx(120)
    assert rec.calls == [] and sandbox.account(KEY).tokens_consumed == 0
    run = env.store.last_run(query.name)
    assert run is not None and run.outcome == "locked"
    holder = env.lock.holder(name)
    assert holder is not None and holder.owner == "someone-else-1-abcd"


def test_fc13_a_run_that_loses_its_lock_stops_before_the_next_call(
    sqlite_url: str, make_env: Callable[..., IngestEnv], clock: FakeClock, query: DealQuery,
) -> None:
    name = lock_name("ingest", query.name)
    stolen: list[bool] = []
    env_box: list[IngestEnv] = []

    def steal(call: Call, _n: int) -> bool:
        # While the first product check is on the wire, the run's process "freezes"
        # past its lock's lifetime and another runner takes the lock over.
        if call.endpoint == "product" and not stolen:
            clock.advance(int(env_box[0].settings.ingest_lock_ttl_s * 1000) + 1000)
            stolen.append(env_box[0].lock.acquire(name, "other-2-beef", 120))
        return False

    env = make_env(sqlite_url, transport=Recorder(fail=steal))
    env_box.append(env)
    report = smart_ingestor(env, query)
    assert stolen == [True]
    assert report.outcome is RunOutcome.ERROR and "lost the lock" in (report.error or "")
    assert report.counts.tokens_spent > 0
    holder = env.lock.holder(name)
    assert holder is not None and holder.owner == "other-2-beef", "never released by a non-owner"


def test_fc5_a_long_wait_releases_the_lock_and_records_when_to_come_back(
    sqlite_url: str, make_env: Callable[..., IngestEnv], sandbox: Sandbox, query: DealQuery,
) -> None:
    sandbox.update_account(KEY, tokens=3, refill_rate=1)
    env = make_env(sqlite_url)
    report = smart_ingestor(env, query)
    assert report.outcome is RunOutcome.WAITING_FOR_TOKENS
    assert report.retry_after_s is not None
    assert report.retry_after_s > env.settings.budget_max_wait_s
    assert env.lock.holder(lock_name("ingest", query.name)) is None, "nobody sleeps holding it"
    run = env.store.last_run(query.name)
    assert run is not None and run.retry_after_s == report.retry_after_s
    assert stored(env.store) == {}


@pytest.mark.redis
def test_with_redis_the_run_locks_in_redis_and_leaves_no_key_behind(
    redis_url: str, sqlite_url: str, make_env: Callable[..., IngestEnv], query: DealQuery,
) -> None:
    env = make_env(sqlite_url, redis_url=redis_url)
    assert isinstance(env.lock, RedisLock)
    report = smart_ingestor(env, query)
    assert report.outcome is RunOutcome.OK, report.error
    client = redis.Redis.from_url(redis_url)
    assert client.exists(env.lock.key(lock_name("ingest", query.name))) == 0, "released"
    # TTLs everywhere but on the budget's marker, which no volatile-* eviction may take
    # (docs/failure-classes.md, FC-25)
    keys = [k.decode() for k in client.scan_iter("keepa-deals:*")]
    assert all(client.pttl(k) > 0 for k in keys if not k.endswith(":budget-marker")), "TTLs"
    assert [k for k in keys if client.pttl(k) < 0] == [env.budget.store.keys.budget_marker]
    client.close()
