"""Invariant: locks have bounded lifetimes, are renewed only by a live owner and released
only by their owner (docs/failure-classes.md, FC-13)."""

from __future__ import annotations

import threading

import pytest

from keepa_deals.clock import FakeClock
from keepa_deals.store import DatabaseLock, DealStore, RunnerLock

NAME = "ingest:used-books-us"


@pytest.fixture
def lock(store: DealStore) -> RunnerLock:
    return store.runner_lock()


def test_acquire_is_exclusive_until_released_by_its_owner(lock: RunnerLock) -> None:
    assert lock.acquire(NAME, "a", 60)
    assert not lock.acquire(NAME, "b", 60)
    assert not lock.release(NAME, "b")  # not b's to release
    assert lock.holder(NAME).owner == "a"  # type: ignore[union-attr]
    assert lock.release(NAME, "a")
    assert lock.holder(NAME) is None
    assert not lock.release(NAME, "a")  # already gone
    assert lock.acquire(NAME, "b", 60)


def test_acquiring_again_as_the_owner_extends_it(lock: RunnerLock, clock: FakeClock) -> None:
    assert lock.acquire(NAME, "a", 60)
    clock.advance(50_000)
    assert lock.acquire(NAME, "a", 60)
    clock.advance(50_000)
    assert lock.holder(NAME).owner == "a"  # type: ignore[union-attr]


def test_renew_by_owner_only(lock: RunnerLock, clock: FakeClock) -> None:
    assert lock.acquire(NAME, "a", 60)
    first = lock.holder(NAME)
    assert not lock.renew(NAME, "b", 600)
    clock.advance(30_000)
    assert lock.renew(NAME, "a", 60)
    renewed = lock.holder(NAME)
    assert renewed is not None and first is not None
    assert (renewed.expires_at - first.expires_at).total_seconds() == 30
    assert renewed.acquired_at == first.acquired_at
    clock.advance(59_000)  # 89 s after acquiring: alive only thanks to the renewal
    assert not lock.acquire(NAME, "b", 60)


def test_expired_lock_is_taken_over_and_cannot_be_renewed_or_released_by_the_old_owner(
    lock: RunnerLock, clock: FakeClock
) -> None:
    assert lock.acquire(NAME, "a", 60)
    clock.advance(59_999)
    assert not lock.acquire(NAME, "b", 60)
    clock.advance(1)
    assert lock.holder(NAME) is None  # expired: nobody holds it
    assert not lock.renew(NAME, "a", 60)  # an expired lock is not resurrected
    assert lock.acquire(NAME, "b", 60)
    assert not lock.renew(NAME, "a", 60)
    assert not lock.release(NAME, "a")
    assert lock.holder(NAME).owner == "b"  # type: ignore[union-attr]


def test_locks_are_independent_by_name(lock: RunnerLock) -> None:
    assert lock.acquire("one", "a", 60)
    assert lock.acquire("two", "b", 60)
    assert lock.holder("one").owner == "a"  # type: ignore[union-attr]


def test_bad_arguments(lock: RunnerLock) -> None:
    with pytest.raises(ValueError):
        lock.acquire(NAME, "a", 0)
    with pytest.raises(ValueError):
        lock.acquire(NAME, "", 10)


def test_exactly_one_of_many_concurrent_acquirers_wins(store: DealStore, clock: FakeClock) -> None:
    contenders = 8
    barrier = threading.Barrier(contenders)
    winners: list[str] = []
    errors: list[BaseException] = []

    def contend(owner: str) -> None:
        mine = DatabaseLock(store.engine, clock=clock)
        try:
            barrier.wait()
            if mine.acquire(NAME, owner, 60):
                winners.append(owner)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=contend, args=(f"w{i}",)) for i in range(contenders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(winners) == 1
    assert store.runner_lock().holder(NAME).owner == winners[0]  # type: ignore[union-attr]


def test_exactly_one_concurrent_takeover_of_an_expired_lock(
    store: DealStore, clock: FakeClock
) -> None:
    assert store.runner_lock().acquire(NAME, "dead", 10)
    clock.advance(11_000)
    contenders = 6
    barrier = threading.Barrier(contenders)
    winners: list[str] = []

    def contend(owner: str) -> None:
        barrier.wait()
        if DatabaseLock(store.engine, clock=clock).acquire(NAME, owner, 60):
            winners.append(owner)

    threads = [threading.Thread(target=contend, args=(f"w{i}",)) for i in range(contenders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
