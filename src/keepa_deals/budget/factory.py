"""Open the shared token budget the settings describe.

``REDIS_URL`` set: the Redis store, shared by every host.  When Redis is down
the budget raises :class:`BudgetStoreUnavailable`; it never falls back to a
local budget, which would let two hosts spend the same tokens.

``REDIS_URL`` unset: the SQLite store in ``data_dir``, one file per API key
(``budget-<fingerprint>.sqlite3``), shared by the processes of this machine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from keepa_deals.budget.core import Policy
from keepa_deals.budget.manager import TokenManager
from keepa_deals.budget.store import BudgetStore
from keepa_deals.clock import SYSTEM_CLOCK, Clock
from keepa_deals.tokens.status import TokenStatus

if TYPE_CHECKING:
    from keepa_deals.settings import Settings


def open_store(settings: Settings, *, clock: Clock | None = None) -> BudgetStore:
    """The budget's store: Redis when ``redis_url`` is set, else SQLite under ``data_dir``.

    The Redis store reads Redis ``TIME``; a ``clock`` given here overrides it
    (tests only).
    """
    if settings.redis_url:
        return _redis_store(settings, clock)
    clock = clock or SYSTEM_CLOCK
    from keepa_deals.redis_db.keys import settings_fingerprint
    from keepa_deals.budget.sqlite_store import SqliteStore, default_path

    return SqliteStore(default_path(settings.data_dir, settings_fingerprint(settings)), clock=clock)


def _redis_store(settings: Settings, clock: Clock | None) -> BudgetStore:
    from keepa_deals.redis_db.keys import settings_fingerprint
    from keepa_deals.budget.redis_store import RedisStore  # imports redis only when used

    assert settings.redis_url
    return RedisStore(settings.redis_url, settings_fingerprint(settings), clock=clock)


def open_budget(
    settings: Settings,
    *,
    sync: Callable[[], TokenStatus] | None = None,
    clock: Clock | None = None,
) -> TokenManager:
    """The TokenManager every Keepa call spends through, on the store the settings pick.

    ``sync`` is the raw ``/token`` call (cost 0); it may also be bound later
    with :meth:`TokenManager.bind_sync`.
    """
    store = open_store(settings, clock=clock)
    clock = clock or SYSTEM_CLOCK
    return TokenManager(
        store,
        policy=Policy.from_settings(settings),
        sync=sync,
        clock=clock,
        max_wait_s=settings.budget_max_wait_s,
    )
