"""What every request of the dashboard reads from: the store, the budget, the clock.

The web tier only reads, in short transactions on connections returned to the pool on
every path (docs/failure-classes.md, FC-16).  On PostgreSQL each transaction is ``READ ONLY`` with a
statement timeout, so a slow query ends instead of holding a connection; on SQLite (WAL)
readers never wait for the writer.  Nothing here waits on the ingestor: the budget is
only read (``snapshot``), never acquired.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import Connection, Engine

from keepa_deals.clock import Clock
from keepa_deals.deals_view import DealDefinition
from keepa_deals.errors import KeepaDealsError
from keepa_deals.settings import Settings
from keepa_deals.store import migrate
from keepa_deals.store.engine import translate_errors

if TYPE_CHECKING:
    from keepa_deals.budget.core import Snapshot
    from keepa_deals.budget.manager import TokenManager
    from keepa_deals.web.alerts import AlertSource

T = TypeVar("T")

#: A dashboard query that runs longer than this is cancelled (PostgreSQL).
STATEMENT_TIMEOUT_MS = 5_000


@dataclass
class WebContext:
    settings: Settings
    engine: Engine
    clock: Clock
    definition: DealDefinition
    budget: TokenManager | None = None
    #: Why there is no budget to read (it could not be opened).
    budget_error: str | None = None
    alerts: AlertSource | None = None
    owns_engine: bool = False
    owns_budget: bool = False
    _schema_ok: bool = field(default=False, repr=False)
    _cache: dict[str, tuple[int, Any]] = field(default_factory=dict, repr=False)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now_ms() / 1000, tz=UTC)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A short read-only transaction; the store's errors come out translated."""
        self._check_schema()
        with translate_errors(self.engine.url), self.engine.connect() as conn, conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
            yield conn

    def cached(self, name: str, ttl_s: float, compute: Callable[[], T]) -> T:
        """``compute()``, kept for ``ttl_s`` (for what a page shows around the data, such
        as the filter form's category list: not worth a table scan per page view)."""
        now = self.clock.now_ms()
        with self._cache_lock:
            hit = self._cache.get(name)
        if hit is not None and 0 <= now - hit[0] < ttl_s * 1000:
            return cast(T, hit[1])
        value = compute()
        with self._cache_lock:
            self._cache[name] = (now, value)
        return value

    def _check_schema(self) -> None:
        """SchemaNotCurrent until the database is at the code's revision (checked once)."""
        if not self._schema_ok:
            migrate.ensure_current(self.engine)
            self._schema_ok = True

    def snapshot(self) -> tuple[Snapshot | None, str | None]:
        """The budget's snapshot, or None and why not; never raises."""
        if self.budget is None:
            return None, self.budget_error or "no token budget configured"
        try:
            return self.budget.snapshot(), None
        except KeepaDealsError as exc:
            return None, str(exc)

    def budget_kind(self) -> str:
        store: Any = getattr(self.budget, "store", None)
        return str(getattr(store, "kind", "redis" if self.settings.redis_url else "sqlite"))

    def close(self) -> None:
        if self.owns_budget and self.budget is not None:
            closer = getattr(self.budget.store, "close", None)
            if closer is not None:
                closer()
        if self.owns_engine:
            self.engine.dispose()
