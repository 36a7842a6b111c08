"""A stop request is a signal of its own, not an error (keepa_deals/stop.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from keepa_deals.clock import FakeClock
from keepa_deals.errors import KeepaDealsError
from keepa_deals.ingest import IngestEnv, RunStopped, StopSignal, smart_ingestor
from keepa_deals.query import DealQuery
from keepa_deals.sandbox import Sandbox
from keepa_deals.stop import StoppableClock
from keepa_deals.store import RunOutcome
from tests.ingest.conftest import Call, Recorder, stored


def test_except_keepa_deals_error_does_not_swallow_a_stop() -> None:
    assert not issubclass(RunStopped, KeepaDealsError)
    stop = StopSignal()
    stop.set()
    with pytest.raises(RunStopped):
        try:
            stop.check()
        except KeepaDealsError:  # what failure handlers catch
            pytest.fail("a failure handler caught the stop request")


def test_a_stoppable_clock_ends_its_sleep_with_the_stop() -> None:
    stop = StopSignal()
    clock = StoppableClock(FakeClock(), stop)
    clock.sleep(5)  # not stopped: the fake clock just moves
    stop.set()
    with pytest.raises(RunStopped):
        clock.sleep(5)


def test_the_env_is_built_once_with_the_stoppable_clock(
        sqlite_url: str, make_env: Callable[..., IngestEnv], clock: FakeClock) -> None:
    env = make_env(sqlite_url)
    assert isinstance(env.budget.clock, StoppableClock)  # the manager's waits end on a stop
    assert env.budget.clock.now_ms() == clock.now_ms()
    assert env.budget.policy.lease_ttl_ms >= int(env.http.timing.longest_call_s * 1000)


def test_a_stop_during_a_run_ends_it_cleanly_with_everything_bought_saved(
        sqlite_url: str, make_env: Callable[..., IngestEnv], sandbox: Sandbox, clock: FakeClock,
        query: DealQuery) -> None:
    envs: list[IngestEnv] = []

    def stop_after_first_product_call(call: Call, _n: int) -> bool:
        if call.endpoint == "product":
            envs[0].stop.set()  # the operator presses Ctrl+C while this call is in flight
        return False

    rec = Recorder(fail=stop_after_first_product_call)
    env = make_env(sqlite_url, transport=rec)
    envs.append(env)
    report = smart_ingestor(env, query)

    assert report.stopped and report.outcome is RunOutcome.OK, report.error
    products = rec.products()
    assert len(products) == 1, "the stop comes between two paid calls, never in one"
    bought = set(products[0].asins)
    runs = env.store.recent_runs(query.name, limit=5)
    assert runs[0].id == report.run_id and runs[0].outcome == RunOutcome.OK.value
    assert report.counts.tokens_spent > 0

    # everything bought is saved: the next run never buys those product checks again
    first_saved = set(stored(env.store))
    n_calls = len(rec.calls)
    rec2 = Recorder()
    again = make_env(sqlite_url, transport=rec2)
    second = smart_ingestor(again, query)
    assert second.outcome in (RunOutcome.OK, RunOutcome.WAITING_FOR_TOKENS), second.error
    assert len(rec.calls) == n_calls, "the stopped env made no call after it stopped"
    rechecked = {a for c in rec2.products(offers=False) for a in c.asins}
    assert not rechecked & bought, "a product check paid for before the stop was bought again"
    assert first_saved <= set(stored(again.store))
