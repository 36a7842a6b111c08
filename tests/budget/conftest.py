"""Fixtures of the budget tests: every store on one fake clock, Keepa as a sandbox account.

``store`` runs a test once per entry of :data:`STORE_FACTORIES`.  A factory
receives the test's request and clock and returns an *opener*: a callable that
opens another handle on the same stored budget (another process's view, for
SQLite and Redis; the same object for the in-memory store).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from keepa_deals.budget.core import Policy
from keepa_deals.budget.manager import TokenManager
from keepa_deals.budget.memory import MemoryStore
from keepa_deals.budget.sqlite_store import FILENAME, SqliteStore
from keepa_deals.budget.store import BudgetStore
from keepa_deals.clock import FakeClock
from tests.budget._keepa import KeepaAccount

StoreOpener = Callable[[], BudgetStore]
StoreFactory = Callable[[pytest.FixtureRequest, FakeClock], StoreOpener]


def _memory(request: pytest.FixtureRequest, clock: FakeClock) -> StoreOpener:
    store = MemoryStore(clock)
    return lambda: store


def _sqlite(request: pytest.FixtureRequest, clock: FakeClock) -> StoreOpener:
    path = request.getfixturevalue("tmp_path") / FILENAME
    return lambda: SqliteStore(path, clock=clock)


def _redis(request: pytest.FixtureRequest, clock: FakeClock) -> StoreOpener:
    from keepa_deals.budget.redis_store import RedisStore
    from keepa_deals.redis_db.keys import fingerprint

    url = request.getfixturevalue("redis_url")
    return lambda: RedisStore(url, fingerprint("contract-suite-key"), clock=clock)


#: Every store the contract, seed and chaos suites run on, by name.
#: The Redis store registers here, with its marks in STORE_MARKS
#: (its factory takes the ``redis_url`` fixture through ``request``).
STORE_FACTORIES: dict[str, StoreFactory] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "redis": _redis,
}
STORE_MARKS: dict[str, tuple[pytest.MarkDecorator, ...]] = {"redis": (pytest.mark.redis,)}

STORE_PARAMS = [pytest.param(name, marks=STORE_MARKS.get(name, ()), id=name)
                for name in STORE_FACTORIES]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=STORE_PARAMS)
def open_store(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[StoreOpener]:
    """Opens handles on one stored budget; every handle is closed after the test."""
    opener = STORE_FACTORIES[request.param](request, clock)
    opened: list[BudgetStore] = []

    def open_one() -> BudgetStore:
        store = opener()
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: StoreOpener) -> BudgetStore:
    return open_store()


@pytest.fixture
def policy() -> Policy:
    return Policy()


@pytest.fixture
def keepa(clock: FakeClock) -> KeepaAccount:
    """Keepa's side: a sandbox account with 200 tokens at 5/min (cap 300)."""
    return KeepaAccount(clock)


@pytest.fixture
def manager(store: BudgetStore, keepa: KeepaAccount, clock: FakeClock,
            policy: Policy) -> TokenManager:
    """A TokenManager on ``store`` that asks the sandbox account when it syncs."""
    return TokenManager(store, policy=policy, sync=keepa.token, clock=clock, max_wait_s=60)
