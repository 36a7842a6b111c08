"""The deal store: one canonical schema on SQLite or PostgreSQL, migrated before any write.

::

    store = DealStore.open(settings)          # migrates, then opens
    result = store.save_batch(rows, query="used-books-us", watermark=minute)
    result.added, result.updated

See store/store.py for the operations, store/locks.py for the single-runner
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
from keepa_deals.store.locks import DatabaseLock, LockHolder, RunnerLock
from keepa_deals.store.rows import DealRow
from keepa_deals.store.runs import RunCounts, RunOutcome
from keepa_deals.store.schema import DealRecord, IngestRun, LockRecord, MetricPoint, SystemState
from keepa_deals.store.state import Watermark
from keepa_deals.store.store import DealKey, DealStore, SaveResult, open_store

__all__ = [
    "DatabaseLock",
    "DatabaseUnavailable",
    "DealKey",
    "DealRecord",
    "DealRow",
    "DealStore",
    "IngestRun",
    "InvalidDealRow",
    "LockHolder",
    "LockRecord",
    "MetricPoint",
    "MigrationError",
    "RunCounts",
    "RunOutcome",
    "RunnerLock",
    "SaveResult",
    "SchemaNotCurrent",
    "StoreError",
    "SystemState",
    "Watermark",
    "create_store_engine",
    "database_url",
    "open_store",
    "parse_database_url",
]
