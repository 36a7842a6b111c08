"""doctor's infrastructure checks: database, Redis, zombie locks, the running version.

Invariants defended: a store that is down is reported, never a traceback;
a lock never outlives its owner unnoticed, and --fix frees only what is
safe to free (docs/failure-classes.md, FC-13); stale code is visible (FC-14).
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from keepa_deals.ops.doctor import CheckResult, Verdict, run_checks
from keepa_deals.ops.locks import owner_id, parse_owner, short_host
from keepa_deals.redis_db.keys import KeyBuilder, settings_fingerprint
from keepa_deals.store.locks import DatabaseLock
from tests._services import RedisServer, free_port
from tests.ops.conftest import Deployment, deal, make_settings


def one(dep: Deployment, name: str, **kwargs: object) -> CheckResult:
    [result] = run_checks(dep.settings, only=[name], clock=dep.clock,
                          **kwargs)  # type: ignore[arg-type]
    return result


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --- database ------------------------------------------------------------------------------


def test_database_ok_missing_behind_and_unreachable(deployment: Deployment) -> None:
    missing = one(deployment, "database")
    assert missing.verdict == Verdict.WARN and "no database yet" in missing.summary
    assert not Path(deployment.settings.database_url[len("sqlite:///"):]).exists()  # not created
    deployment.store().save_batch([deal(1)], query="test-books")
    assert one(deployment, "database").verdict == Verdict.OK

    empty = Path(deployment.settings.data_dir) / "empty.sqlite3"
    empty.parent.mkdir(parents=True, exist_ok=True)
    import sqlite3

    sqlite3.connect(empty).execute("CREATE TABLE other (x)").connection.close()
    behind = deployment.with_settings(database_url=f"sqlite:///{empty}")
    result = one(behind, "database")
    assert result.verdict == Verdict.FAIL and "db upgrade" in result.fix

    down = deployment.with_settings(
        database_url=f"postgresql://nobody@127.0.0.1:{free_port()}/nothing")
    result = one(down, "database")
    assert result.verdict == Verdict.FAIL and "unreachable" in result.summary


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("deployment", ["sqlite"], indirect=True)
def test_database_warns_when_postgresql_lacks_the_title_search_index(
    deployment: Deployment, db_url: str,
) -> None:
    """Migration 0007 goes on without the index when pg_trgm cannot be installed; doctor
    says so, with the SQL that adds it."""
    from keepa_deals.store import DealStore, pg_indexes

    pg = deployment.with_settings(database_url=db_url)
    with DealStore.open(db_url) as store:
        store.save_batch([deal(1)], query="test-books")
    assert one(pg, "database").verdict == Verdict.OK
    with DealStore.open(db_url) as store, store.engine.begin() as conn:
        conn.exec_driver_sql(f"DROP INDEX {pg_indexes.TITLE_INDEX}")
    result = one(pg, "database")
    assert result.verdict == Verdict.WARN and "title search has no index" in result.summary
    assert "CREATE EXTENSION" in result.fix and pg_indexes.TITLE_INDEX in result.fix
    assert result.evidence["deals"] == 1


# --- redis ------------------------------------------------------------------------------------


def test_redis_not_configured_is_skipped(tmp_path: Path, keepa_url: str) -> None:
    [result] = run_checks(make_settings(tmp_path, keepa_url, None), only=["redis"])
    assert result.verdict == Verdict.SKIPPED


@pytest.mark.redis
def test_redis_down_fails_and_up_is_ok(own_redis: RedisServer, tmp_path: Path,
                                       keepa_url: str) -> None:
    settings = make_settings(tmp_path, keepa_url, own_redis.url)
    [up] = run_checks(settings, only=["redis"])
    assert up.verdict == Verdict.OK and up.evidence["redis_version"]
    own_redis.stop()
    try:
        [down] = run_checks(settings, only=["redis"])
        assert down.verdict == Verdict.FAIL
        assert "unreachable" in down.summary and "no fallback" in down.fix
    finally:
        own_redis.start()


@pytest.mark.redis
def test_redis_that_may_evict_warns(own_redis: RedisServer, tmp_path: Path,
                                    keepa_url: str) -> None:
    client = redis.Redis.from_url(own_redis.url)
    client.config_set("maxmemory", "100mb")
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.close()
    [result] = run_checks(make_settings(tmp_path, keepa_url, own_redis.url), only=["redis"])
    assert result.verdict == Verdict.WARN and "allkeys-lru" in result.summary


# --- locks ---------------------------------------------------------------------------------------


def test_owner_ids_are_parsed() -> None:
    host = short_host()
    assert parse_owner(owner_id())[0] == host  # type: ignore[index]
    assert parse_owner("web-01-1234-ab12cd") == ("web-01", 1234)
    assert parse_owner("worker:77") == ("worker", 77)
    assert parse_owner("celery@host") is None


def test_database_lock_expired_row_warns_and_fix_deletes_it(deployment: Deployment) -> None:
    store = deployment.store()
    lock = DatabaseLock(store.engine, clock=deployment.clock)
    assert lock.acquire("ingest.test-books", "elsewhere-42-beef", ttl_s=60)
    assert one(deployment, "locks").verdict == Verdict.OK
    deployment.clock.advance(120_000)
    result = one(deployment, "locks")
    assert result.verdict == Verdict.WARN and "expired 60 s ago" in result.summary
    fixed = one(deployment, "locks", fix=True)
    assert fixed.verdict == Verdict.OK
    assert fixed.repaired == ["deleted the expired row of ingest.test-books"]


def test_database_lock_of_a_dead_owner_fails_and_fix_releases_it(deployment: Deployment) -> None:
    store = deployment.store()
    lock = DatabaseLock(store.engine, clock=deployment.clock)
    orphan = f"{short_host()}-{dead_pid()}-cafe"
    live = owner_id()
    assert lock.acquire("ingest.orphan", orphan, ttl_s=300)
    assert lock.acquire("ingest.live", live, ttl_s=300)
    result = one(deployment, "locks")
    assert result.verdict == Verdict.FAIL and "is gone" in result.summary
    fixed = one(deployment, "locks", fix=True)
    assert fixed.verdict == Verdict.OK
    assert lock.holder("ingest.orphan") is None
    holder = lock.holder("ingest.live")
    assert holder is not None and holder.owner == live  # a live owner's lock is never touched


def test_lock_held_too_long_warns_without_repair(deployment: Deployment) -> None:
    store = deployment.store()
    lock = DatabaseLock(store.engine, clock=deployment.clock)
    assert lock.acquire("ingest.slow", "otherhost-1-aa", ttl_s=120)
    for _ in range(40):  # a live owner renewing for 80 minutes
        deployment.clock.advance(120_000 - 1)
        assert lock.renew("ingest.slow", "otherhost-1-aa", ttl_s=120)
    result = one(deployment, "locks", fix=True)
    assert result.verdict == Verdict.WARN and "held for" in result.summary
    assert result.repaired == []
    assert lock.holder("ingest.slow") is not None


@pytest.mark.redis
def test_redis_lock_without_ttl_fails_and_fix_bounds_it(redis_deployment: Deployment,
                                                        redis_url: str) -> None:
    deployment = redis_deployment
    key = KeyBuilder(settings_fingerprint(deployment.settings)).lock("ingest.test-books")
    client = redis.Redis.from_url(redis_url)
    client.set(key, "otherhost-99-abcd")  # restored from a dump: no TTL
    result = one(deployment, "locks")
    assert result.verdict == Verdict.FAIL and "never expires" in result.summary
    fixed = one(deployment, "locks", fix=True)
    assert fixed.verdict == Verdict.OK, fixed
    assert "gave ingest.test-books a lifetime of 3600 s" in fixed.repaired[0]
    assert 0 < client.pttl(key) <= 3_600_000
    assert client.get(key) == b"otherhost-99-abcd"
    client.close()


@pytest.mark.redis
def test_redis_lock_of_a_dead_owner_fails_and_fix_releases_it(redis_deployment: Deployment,
                                                              redis_url: str) -> None:
    deployment = redis_deployment
    kb = KeyBuilder(settings_fingerprint(deployment.settings))
    client = redis.Redis.from_url(redis_url)
    client.set(kb.lock("ingest.orphan"), f"{short_host()}-{dead_pid()}-beef", px=300_000)
    client.set(kb.lock("ingest.live"), owner_id(), px=300_000)
    result = one(deployment, "locks")
    assert result.verdict == Verdict.FAIL and "ingest.orphan" in result.summary
    assert "ingest.live" not in result.summary
    fixed = one(deployment, "locks", fix=True)
    assert fixed.verdict == Verdict.OK
    assert client.get(kb.lock("ingest.orphan")) is None
    assert client.get(kb.lock("ingest.live")) is not None
    client.close()


# --- version -----------------------------------------------------------------------------------


def test_runs_by_another_version_warn(deployment: Deployment) -> None:
    from keepa_deals import __version__

    store = deployment.store()
    store.finish_run(store.start_run("test-books", version=__version__), "ok")
    assert one(deployment, "version").verdict == Verdict.OK
    deployment.clock.advance(int(timedelta(minutes=5).total_seconds() * 1000))
    store.finish_run(store.start_run("test-books", version="0.0.1"), "ok")
    result = one(deployment, "version")
    assert result.verdict == Verdict.WARN and "0.0.1" in result.summary
    assert result.evidence["run_versions_24h"] == {__version__: 1, "0.0.1": 1}
