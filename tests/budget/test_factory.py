"""open_budget: the store the settings pick, the policy they set, never a fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from keepa_deals.budget import BudgetStoreUnavailable, TokenManager, open_budget, open_budget_store
from keepa_deals.budget.core import MT, Policy
from keepa_deals.budget.sqlite_store import SqliteStore, default_path
from keepa_deals.clock import FakeClock
from keepa_deals.keepa import build_http
from keepa_deals.redis_db.keys import settings_fingerprint
from keepa_deals.settings import Settings
from keepa_deals.tokens.timing import CallTiming
from tests._services import free_port
from tests.budget._keepa import KeepaAccount

KEY = "factorytestkey" + "7" * 50


def test_without_redis_the_budget_is_the_sqlite_file(tmp_path: Path) -> None:
    clock = FakeClock()
    keepa = KeepaAccount(clock)
    settings = Settings(data_dir=tmp_path, budget_floor=-50, budget_min_balance=3,
                        budget_max_wait_s=12.5, budget_lease_ttl_s=30, budget_sync_interval_s=90,
                        budget_anchor_max_age_s=300, budget_burst_minutes=2,
                        http_timeout_s=5, http_retries=0)
    manager = open_budget(settings, sync=keepa.token, clock=clock)
    try:
        assert isinstance(manager, TokenManager)
        assert isinstance(manager.store, SqliteStore)
        assert manager.store.path == default_path(tmp_path, settings_fingerprint(settings))
        assert manager.policy == Policy.from_settings(settings) == Policy(
            floor=-50, min_balance=3, lease_ttl_ms=35_000, anchor_max_age_ms=300_000,
            burst_minutes=2, sync_interval_ms=90_000)
        assert manager.max_wait_s == 12.5
        assert manager.clock is clock
        lease = manager.acquire(4)
        assert lease.expires_ms == clock.now_ms() + 35_000  # the longest call, 5 s + 30 s
        assert keepa.token_calls == 1
    finally:
        manager.store.close()


def test_a_lease_outlives_the_longest_call_it_covers() -> None:
    settings = Settings(budget_lease_ttl_s=10, http_timeout_s=30, http_retries=4)
    assert Policy.from_settings(settings).lease_ttl_ms == (30 * 5 + 10 * 4 + 30) * 1000


def test_the_lease_is_sized_from_the_http_clients_own_timing() -> None:
    settings = Settings(keepa_api_key=KEY, budget_lease_ttl_s=10, http_timeout_s=30,
                        http_retries=4)
    with build_http(settings) as http:
        assert http.timing == CallTiming.from_settings(settings)  # one source for both
        assert (Policy.from_settings(settings, timing=http.timing)
                == Policy.from_settings(settings))


def test_raising_the_backoff_lengthens_the_lease(tmp_path: Path) -> None:
    settings = Settings(keepa_api_key=KEY, data_dir=tmp_path, budget_lease_ttl_s=10,
                        http_timeout_s=30, http_retries=4)
    with build_http(settings) as usual, build_http(settings, backoff_max_s=60.0) as patient:
        short = Policy.from_settings(settings, timing=usual.timing)
        long = Policy.from_settings(settings, timing=patient.timing)
        # four pauses of at most 60 s instead of 10 s
        assert long.lease_ttl_ms - short.lease_ttl_ms == 4 * (60 - 10) * 1000
        manager = open_budget(settings, clock=FakeClock(), timing=patient.timing)
        try:
            assert manager.policy.lease_ttl_ms == long.lease_ttl_ms
        finally:
            manager.store.close()


def test_two_budgets_on_one_data_dir_share_it(tmp_path: Path) -> None:
    clock = FakeClock()
    keepa = KeepaAccount(clock, tokens=10)
    settings = Settings(data_dir=tmp_path)
    a = open_budget(settings, sync=keepa.token, clock=clock)
    b = open_budget(settings, sync=keepa.token, clock=clock)
    try:
        a.acquire(10)
        assert b.snapshot().available == 0
        assert b.store.acquire("x", 1 * MT, b.policy).kind == "wait"
    finally:
        a.store.close()
        b.store.close()


@pytest.mark.redis
def test_redis_down_is_an_error_never_a_fallback(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    store = open_budget_store(settings, clock=FakeClock())
    try:
        assert store.kind == "redis"
        with pytest.raises(BudgetStoreUnavailable):
            store.acquire("w1", 1 * MT, Policy())
    finally:
        store.close()
    assert not list(tmp_path.glob("budget*")), "no local budget was opened instead"
