"""The deal store: one canonical schema on SQLite or PostgreSQL, migrated before any write.

::

    store = DealStore.open(settings)          # migrates, then opens
    done = store.commit("used-books-us", Changes(rows=rows, watermark=minute))
    done.added, done.updated

    with store.unit_of_work("used-books-us") as work:   # several verbs, one transaction
        work.save_deals(rows); work.set_state(key, text)

See store/store.py for the operations, store/work.py for the unit of work, store/locks.py for the single-runner
lock and store/errors.py for the errors.
"""

from keepa_deals.store.engine import create_store_engine, database_url, parse_database_url
from keepa_deals.store.errors import (
    DatabaseUnavailable,
    InvalidDealRow,
    MigrationError,
    SchemaNotCurrent,
    StoreError,
)
from keepa_deals.store.history import DealHistory
from keepa_deals.store.locks import DatabaseLock, LockHolder, RunnerLock
from keepa_deals.store.rows import DealRow
from keepa_deals.store.runs import RunCounts, RunOutcome
from keepa_deals.store.schema import DealRecord, IngestRun, LockRecord, MetricPoint, SystemState
from keepa_deals.store.state import Watermark
from keepa_deals.store.store import (
    DealKey,
    DealStore,
    LockRow,
    Progress,
    SaveResult,
    open_deal_store,
)
from keepa_deals.store.work import Changes, Committed, UnitOfWork

__all__ = [
    "Changes",
    "Committed",
    "DatabaseLock",
    "DatabaseUnavailable",
    "DealHistory",
    "DealKey",
    "DealRecord",
    "DealRow",
    "DealStore",
    "IngestRun",
    "InvalidDealRow",
    "LockHolder",
    "LockRecord",
    "LockRow",
    "MetricPoint",
    "MigrationError",
    "Progress",
    "RunCounts",
    "RunOutcome",
    "RunnerLock",
    "SaveResult",
    "SchemaNotCurrent",
    "StoreError",
    "SystemState",
    "UnitOfWork",
    "Watermark",
    "create_store_engine",
    "database_url",
    "open_deal_store",
    "parse_database_url",
]
