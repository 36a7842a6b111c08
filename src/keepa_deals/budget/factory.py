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
from keepa_deals.budget.manager import DEFER_SETTLE_S, TokenManager
from keepa_deals.budget.store import BudgetStore
from keepa_deals.clock import SYSTEM_CLOCK, Clock
from keepa_deals.tokens.status import TokenStatus
from keepa_deals.tokens.timing import CallTiming

if TYPE_CHECKING:
    from keepa_deals.settings import Settings


def open_budget_store(settings: Settings, *, clock: Clock | None = None) -> BudgetStore:
    """The budget's store: Redis when ``redis_url`` is set, else SQLite under ``data_dir``.

    The Redis store reads Redis ``TIME``; a ``clock`` given here overrides it
    (tests only).
    """
    if settings.redis_url:
        return _redis_store(settings, clock)
    clock = clock or SYSTEM_CLOCK
    from keepa_deals.budget.sqlite_store import SqliteStore, default_path
    from keepa_deals.redis_db.keys import settings_fingerprint

    return SqliteStore(default_path(settings.data_dir, settings_fingerprint(settings)), clock=clock)


def _redis_store(settings: Settings, clock: Clock | None) -> BudgetStore:
    from keepa_deals.budget.redis_store import RedisStore  # imports redis only when used
    from keepa_deals.redis_db.keys import settings_fingerprint

    assert settings.redis_url
    return RedisStore(settings.redis_url, settings_fingerprint(settings), clock=clock)


def open_budget(
    settings: Settings,
    *,
    sync: Callable[[], TokenStatus] | None = None,
    clock: Clock | None = None,
    wait_clock: Clock | None = None,
    timing: CallTiming | None = None,
) -> TokenManager:
    """The TokenManager every Keepa call spends through, on the store the settings pick.

    ``sync`` is the raw ``/token`` call (cost 0; without it the budget only
    reads, and a step that must ask Keepa fails).  ``clock`` is the store's
    (see :func:`open_budget_store`) and, unless ``wait_clock`` is given, the
    one the manager waits on; a stoppable ``wait_clock`` ends those waits.
    ``timing`` is the HTTP client's (``KeepaHTTP.timing``): leases outlive
    the longest call it allows.
    """
    store = open_budget_store(settings, clock=clock)
    return TokenManager(
        store,
        policy=Policy.from_settings(settings, timing=timing),
        sync=sync,
        clock=wait_clock or clock or SYSTEM_CLOCK,
        max_wait_s=settings.budget_max_wait_s,
        defer_settle_s=DEFER_SETTLE_S,
    )
